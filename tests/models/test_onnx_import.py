"""``edgecascade models import`` with ``.onnx`` edge and cloud tiers (the mcu tier stays
int8 TFLite): real files, the real importer, the workload then served by ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecascade.cli import main
from edgecascade.models.errors import ModelError
from edgecascade.models.runtime import RuntimeSettings, open_runner
from edgecascade.models.workload import get_workload
from edgecascade.tools.models.onnx_convert import tflite_to_onnx
from tests.workloads.synthetic import build

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def test_edge_and_cloud_tiers_import_as_onnx_and_run_on_onnxruntime(tmp_path: Path,
                                                                     capsys) -> None:
    src = build(tmp_path / "in")
    for tier in ("edge", "cloud"):
        path = src[tier].with_suffix(".onnx")
        onnx.save(tflite_to_onnx(src[tier]), str(path))
        src[tier] = path
    args = ["models", "import", "--name", "onx", "--edge", str(src["edge"]), "--cloud",
            str(src["cloud"]), "--data", str(src["calib"]), "--test", str(src["test"])]
    bad = main([*args, "--mcu", str(src["edge"]), "--out", str(tmp_path / "bad")])
    assert bad == 2 and "mcu tier is an int8 .tflite" in capsys.readouterr().out
    assert not (tmp_path / "bad").exists()  # nothing written
    out = tmp_path / "out"
    assert main([*args, "--mcu", str(src["mcu"]), "--out", str(out)]) == 0
    reg = get_workload(out).registry(verify=True)
    edge, cloud = reg.for_tier("edge"), reg.for_tier("cloud")
    assert (edge.file, edge.format, cloud.format) == ("onx-edge.onnx", "onnx", "onnx")
    assert reg.for_tier("mcu").format == "tflite" and reg.onnx == ()
    assert edge.onnx is not None and edge.onnx.parity is None  # nothing to compare with
    assert "converted from b.tflite" in edge.onnx.made_by
    assert edge.input.layout == "series" and edge.input.dtype == "float32"
    with pytest.raises(ModelError, match="LiteRT runs .tflite"):
        open_runner(edge.path, RuntimeSettings(runtime="litert"))
    runner = open_runner(edge.path, RuntimeSettings(runtime="auto"))
    assert runner.info.backend == "onnxruntime" and runner.model_id == "onx-edge"
