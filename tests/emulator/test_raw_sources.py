"""Raw sensor input end to end: ordinary photographs (scikit-image's samples, different
sizes, plus photos of handwritten digits on paper) and a recorded MPU-6050 log go through
the board's preprocessing (edgecascade.models.preprocess, byte-identical to the C core)
into emulated devices -> real mosquitto -> gateway (edge model) -> cloud worker, and
every answer equals the offline cascade's answer on the same preprocessed input."""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgecascade.emulator.fleet import Fleet
from edgecascade.emulator.ledger import GroundTruth
from edgecascade.emulator.model import FrameSource
from edgecascade.emulator.sources import SourceError, load_source, write_imu_csv
from edgecascade.models import preprocess
from edgecascade.models.cascade import load_settings, run_cascade
from edgecascade.models.workload import Workload, get_workload
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import Result, TopicKind
from tests.support import Collector
from tests.workloads.conftest import closing  # noqa: F401  (the fixture)
from tests.workloads.test_end_to_end import start_gateway, start_worker

Image = pytest.importorskip("PIL.Image")
skdata = pytest.importorskip("skimage.data")

PHOTOS = {"astronaut.png": "astronaut", "chelsea.png": "chelsea", "coffee.jpg": "coffee",
          "rocket.jpg": "rocket", "camera.png": "camera"}  # 512x512 ... 427x640, gray too


def write_photos(folder: Path) -> None:
    folder.mkdir()
    for name, sample in PHOTOS.items():
        Image.fromarray(getattr(skdata, sample)()).save(folder / name)
    # photographs of handwritten digits: dark ink on white paper, in a 320x240 frame
    wl = get_workload("mnist")
    test = wl.load_split("test")
    for label in (1, 3, 7):
        i = int(np.flatnonzero(test.labels == label)[0])
        digit = Image.fromarray(255 - test.images[i].reshape(28, 28)).resize((200, 200))
        page = Image.new("RGB", (320, 240), (235, 232, 225))
        page.paste(digit.convert("RGB"), (60, 20))
        page.save(folder / f"digit-{int(test.labels[i])}-{i}.jpg", quality=95)


def write_imu_log(path: Path) -> None:
    """One person's recording (HAPT test split) as the MPU-6050 would have logged it."""
    wl = get_workload("har")
    ds = wl.load_split("test")
    idx = np.flatnonzero(ds.groups == ds.groups[0])[:12]
    real = (ds.images[idx].astype(np.float64) - ds.zero_point) * ds.scale  # (n, 6, 128)
    rows = real.transpose(0, 2, 1).reshape(-1, 6)
    counts = preprocess.real_to_counts(rows, preprocess.HAR_TRAINING.units)
    labels = [str(ds.label_names[ds.labels[i]]) for i in idx for _ in range(128)]
    extra = counts[:50]  # a partial last window: dropped
    write_imu_csv(path, np.concatenate([counts, extra]), labels + labels[:50])


def offline_answers(wl: Workload, source: FrameSource) -> np.ndarray:
    """The offline cascade (models.cascade.run_cascade over every tier's real
    interpreter) on the source's samples, through the same preprocessing."""
    from edgecascade.tools.models.outputs import workload_outputs

    settings = load_settings(wl.thresholds_path)
    outs, x_q = workload_outputs("raw", source.dataset, wl.model_path("mcu"),
                                 wl.model_path("edge"), wl.model_path("cloud"),
                                 source.mean_q if source.complexity_on else None)
    for i in range(len(source)):  # the device's input is the preprocessed one
        assert x_q[i].tobytes() == source.answer(i).frame.data
    extra: dict[str, Any] = {}
    params = inspect.signature(run_cascade).parameters
    if "fusion" in params and hasattr(settings, "fusion"):
        extra["fusion"] = settings.fusion
    if "cloud_temperature" in params:
        extra["cloud_temperature"] = settings.temperatures.get("cloud", 1.0)
    o = run_cascade(outs.probs["mcu"], outs.complexity,
                    settings.edge_calibrated(outs.probs["edge"]), outs.probs["cloud"],
                    settings.thresholds, **extra)
    return np.asarray(o.pred)


@pytest.mark.parametrize("kind", ["images", "imu"])
def test_raw_sources_answered_as_the_offline_cascade(kind: str, broker, topics, tmp_path,
                                                      closing) -> None:  # noqa: F811
    wl = get_workload("mnist" if kind == "images" else "har")
    if kind == "images":
        spec = f"images:{tmp_path / 'photos'}"
        write_photos(tmp_path / "photos")
    else:
        spec = f"imu:{tmp_path / 'walk.csv'}"
        write_imu_log(tmp_path / "walk.csv")
    raw = load_source(spec, wl.entry("mcu"))
    assert len(raw.names) == (len(PHOTOS) + 3 if kind == "images" else 12)
    source = FrameSource(workload=wl.root, dataset=raw.dataset)
    expected = offline_answers(wl, source)
    for i, name in enumerate(raw.names):  # the digits on paper are read right
        if name.startswith("digit-"):
            assert expected[i] == int(name.split("-")[1]), name

    results = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    closing.append(results)
    start_worker(broker, topics, wl, closing)
    start_gateway(broker, topics, wl, tmp_path, closing)
    ledger = GroundTruth()
    devices, reports = 2, 2 * len(raw.names)
    fleet = Fleet(BrokerSettings(broker.url), topics, devices, 50.0, reports=reports,
                  source=source, ledger=ledger)
    closing.append(fleet)
    fleet.start()
    results.wait_for(devices * reports, 120)
    got = {r.key: r for r in results.decoded(Result) if isinstance(r, Result)}
    assert len(got) == devices * reports, results.describe()
    seen = set()
    for key, r in got.items():
        truth = ledger.get(key)
        assert truth is not None
        seen.add(truth.index)
        assert r.label == expected[truth.index], (raw.names[truth.index], r.tier, r.label,
                                                  expected[truth.index])
    assert seen == set(range(len(raw.names)))  # every photo / window was answered
    tiers = Counter(r.tier for r in got.values())
    assert tiers["device"] + tiers["edge"] + tiers["cloud"] + tiers["cache"] == len(got)
    assert tiers["device"] > 0 and tiers["edge"] + tiers["cloud"] > 0, tiers


def test_bad_sources_are_one_clear_error(tmp_path: Path) -> None:
    mnist, har = get_workload("mnist").entry("mcu"), get_workload("har").entry("mcu")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "short.csv").write_text("ax,ay,az,gx,gy,gz\n1,2,3,4,5,6\n")
    (tmp_path / "text.csv").write_text("ax,ay,az,gx,gy,gz\n1,2,x,4,5,6\n")
    cases = [("photos", mnist, "expected images:DIR"),
             (f"images:{tmp_path / 'none'}", mnist, "not a folder"),
             (f"images:{tmp_path / 'empty'}", mnist, "no photographs"),
             (f"images:{tmp_path / 'bad'}", mnist, "not a readable image"),
             (f"imu:{tmp_path / 'short.csv'}", har, "a window needs 128"),
             (f"imu:{tmp_path / 'text.csv'}", har, "text.csv:2: counts must be integers"),
             (f"imu:{tmp_path / 'short.csv'}", mnist, "cannot take this source"),
             (f"images:{tmp_path / 'empty'}", har, "cannot take this source")]
    for spec, entry, why in cases:
        with pytest.raises(SourceError, match=why.replace("(", r"\(")):
            load_source(spec, entry)


def test_cli_rejects_a_bad_source_with_exit_2(tmp_path: Path, capsys) -> None:
    from edgecascade.cli import main

    rc = main(["devices", "--source", f"images:{tmp_path / 'nowhere'}", "--duration", "0"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a folder" in err[0]


def test_device_input_is_the_boards_at_any_input_scale(tmp_path: Path) -> None:
    """Raw gray pixels reach the model as every frame source of the board quantizes them
    (fixed point, ``ec_pre_quantize_u8``; its twin is parity-tested against the C core),
    also at an input scale where a float division rounds the ties the other way: at
    2/255 (int8 over [-1, 1]) 62 of the 256 gray values lie exactly between two steps."""
    from edgecascade.emulator.policy import quantize_pixels
    from edgecascade.tools.models.dense_tflite import Int8Calibration, dense_tflite

    rng = np.random.default_rng(7)
    layers = [(rng.normal(0, 0.05, (3, 784)).astype(np.float32), np.zeros(3, np.float32))]
    calib = np.linspace(-1, 1, 4 * 784, dtype=np.float32).reshape(4, 28, 28, 1)
    model = tmp_path / "m.tflite"
    model.write_bytes(dense_tflite(layers, (28, 28, 1), Int8Calibration(calib)))
    ramp = (np.arange(784) % 256).astype(np.uint8).reshape(28, 28)
    images = np.stack([ramp, ramp[::-1]])
    source = FrameSource(model, images=images, labels=np.zeros(2, np.int64))
    scale, zp = source.in_q.scale, source.in_q.zero_point
    assert scale == pytest.approx(2 / 255)
    for i, img in enumerate(images):
        want = preprocess.pixels_to_input(img, scale, zp)
        assert source.answer(i).frame.data == want.tobytes()
        assert (quantize_pixels(img, scale, zp) != want).sum() > 0  # ties were there


def test_a_photo_is_taken_upright_as_its_exif_orientation_says(tmp_path: Path) -> None:
    """A phone's portrait photo: stored 60 wide x 30 high, tagged "rotate 90 degrees
    clockwise to view" (EXIF orientation 6). The board-side preprocessing sees it
    upright, 30 x 60: the same input as the same photo stored upright."""
    rng = np.random.default_rng(3)
    upright = rng.integers(0, 256, (60, 30, 3), dtype=np.uint8)
    stored = np.rot90(upright, 1)  # what the phone wrote: 30 high, 60 wide
    (tmp_path / "tagged").mkdir()
    (tmp_path / "plain").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "tagged" / "p.png", exif=exif)
    Image.fromarray(upright).save(tmp_path / "plain" / "p.png")
    entry = get_workload("mnist").entry("mcu")
    tagged = load_source(f"images:{tmp_path / 'tagged'}", entry)
    plain = load_source(f"images:{tmp_path / 'plain'}", entry)
    assert tagged.inputs.tobytes() == plain.inputs.tobytes()
