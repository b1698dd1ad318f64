"""Bad input to `models import` and `demo --workload` ends in one line naming the file and
the problem, exit 2, and writes nothing: a truncated model, an unreadable split, a label
outside the class range, --edge and --cloud swapped, a workload named instead of its
folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgecascade.cli import main
from tests.workloads.synthetic import CLASSES, build, windows, write_npz


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build(tmp_path_factory.mktemp("in"))


def import_(src: dict[str, Path], out: Path, **swap: Path) -> list[str]:
    files = {**src, **swap}
    return ["models", "import", "--name", "bad", "--mcu", str(files["mcu"]),
            "--edge", str(files["edge"]), "--cloud", str(files["cloud"]),
            "--data", str(files["calib"]), "--out", str(out)]


def last_line(capsys: pytest.CaptureFixture[str]) -> str:
    got = capsys.readouterr()
    lines = (got.out + got.err).strip().splitlines()
    assert "Traceback" not in got.out + got.err
    return lines[-1]


@pytest.mark.parametrize("which,flag,keep,problem", [
    ("mcu", "--mcu", 500, "damaged or truncated .tflite (500 bytes"),
    ("edge", "--edge", 900, "damaged or truncated .tflite (900 bytes"),
    ("calib", "--data", 300, "not a readable .npz split"),
])
def test_a_truncated_file_is_named(src: dict[str, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str], which: str, flag: str,
                                   keep: int, problem: str) -> None:
    cut = tmp_path / f"cut{src[which].suffix}"
    cut.write_bytes(src[which].read_bytes()[:keep])
    assert main(import_(src, tmp_path / "out", **{which: cut})) == 2
    line = last_line(capsys)
    assert line.startswith(f"edgecascade models import: {flag} {cut}: {problem}"), line
    assert not (tmp_path / "out").exists()


def test_a_label_out_of_range_names_the_file_and_the_class_count(
        src: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x, y, groups = windows(120, 5)
    y[7] = 19
    bad = write_npz(tmp_path / "labels19.npz", x, y, groups)
    assert main(import_(src, tmp_path / "out", calib=bad)) == 2
    line = last_line(capsys)
    assert f"--data {bad}: label 19 out of range: the models give {CLASSES} classes" in line
    assert not (tmp_path / "out").exists()


def test_swapped_edge_and_cloud_are_refused_unless_allowed(
        src: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = import_(src, tmp_path / "out", edge=src["cloud"], cloud=src["edge"])
    assert main(args) == 2
    line = last_line(capsys)
    assert f"--cloud {src['edge']}: less accurate than --edge {src['cloud']}" in line
    assert "swapped" in line and not (tmp_path / "out").exists()
    assert main([*args, "--allow-weaker-cloud"]) == 0
    # an imported model's host latency is measured (it was 0.0 for every one)
    latencies = [m["host_latency_ms"] for m in
                 json.loads((tmp_path / "out" / "registry.json").read_text())["models"]]
    assert all(v > 0 for v in latencies) and np.isfinite(latencies).all()


def test_demo_workload_by_name_is_one_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--workload", "synth", "--no-live", "--out", str(tmp_path)]) == 2
    line = last_line(capsys)
    assert line.startswith("demo: --workload synth:") and "models/NAME" in line


def test_the_arena_probe_says_why_its_child_failed(tmp_path: Path) -> None:
    """A child that cannot run (here: not a model) is reported with its own words, so a
    broken install is not mistaken for a model that does not fit."""
    from edgecascade.tools.models.arena_probe import min_arena_bytes

    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match=r"262144-byte arena \(probe: arena probe failed: "):
        min_arena_bytes(junk)


def test_devices_workload_by_name_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "--workload", "synth", "--count", "1"]) == 2
    line = last_line(capsys)
    assert line.startswith("edgecascade devices: synth: unknown workload")
