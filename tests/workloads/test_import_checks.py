"""``models import`` refuses tiers that cannot work together, naming every problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgecascade.cli import main
from edgecascade.tools.models.dense_tflite import dense_tflite
from edgecascade.tools.models.importer import ImportRequest, ModelImportError, run_import

from .synthetic import build


def test_mismatched_tiers_and_a_float_mcu_are_refused(tmp_path: Path) -> None:
    src = build(tmp_path / "in")
    rng = np.random.default_rng(0)
    other = tmp_path / "other.tflite"  # 5 classes on a (4, 8) input
    other.write_bytes(dense_tflite([(rng.normal(0, 0.1, (5, 32)).astype(np.float32),
                                     np.zeros(5, np.float32))], (4, 8)))
    with pytest.raises(ModelImportError) as err:
        run_import(ImportRequest("bad", src["mcu"], other, src["cloud"], src["calib"],
                                 tmp_path / "out"), log=lambda _: None)
    text = str(err.value)
    assert "different inputs" in text and "different class counts" in text
    assert not (tmp_path / "out").exists()  # nothing written on failure
    float_mcu = src["edge"]  # a float32 model cannot be the mcu tier
    with pytest.raises(ModelImportError, match="mcu: .*int8"):
        run_import(ImportRequest("bad", float_mcu, src["edge"], src["cloud"], src["calib"],
                                 tmp_path / "out2"), log=lambda _: None)


def test_the_command_reports_problems_and_exits_2(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    src = build(tmp_path / "in")
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")  # two names for three classes
    rc = main(["models", "import", "--mcu", str(src["mcu"]), "--edge", str(src["edge"]),
               "--cloud", str(src["cloud"]), "--data", str(src["calib"]),
               "--labels", str(labels), "--out", str(tmp_path / "out")])
    assert rc == 2
    assert "2 labels for 3 classes" in capsys.readouterr().out
