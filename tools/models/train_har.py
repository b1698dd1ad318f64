"""Train the three HAR tiers (needs the ``train`` extra) and import them as ``models/har``.

    python -m edgecascade.tools.models.train_har [--out models/har]

The splits are the shipped person-disjoint windows (``models/har/data``, built by
:mod:`.hapt`). Inputs are (6 channels, 128 steps) real values; each model transposes
to (steps, channels) itself, so every tier takes the wire layout ``series`` unchanged.

* mcu: a small int8 1-D CNN (full-integer quantized, int8 in and out) inside today's
  mcu budget (flash and measured arena, checked by ``models import``);
* edge: a wider float32 1-D CNN;
* cloud: a deeper float32 1-D CNN.

Then the same ``models import`` as any user's models: checks, registry, calibration
(temperatures, thresholds, complexity mean, fallback rule), evaluation, C export.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgecascade.models.workload import HAR

SEED = 20261201
EPOCHS = {"mcu": 40, "edge": 40, "cloud": 60}


def _model(tier: str, classes: int) -> Any:
    import tensorflow as tf

    L = tf.keras.layers
    x = inp = L.Input((6, 128))
    x = L.Permute((2, 1))(x)
    widths: tuple[int, ...]
    if tier == "mcu":
        widths, kernel, dense = (12, 16, 24), 7, 0
    elif tier == "edge":
        widths, kernel, dense = (32, 48, 64), 7, 64
    else:
        widths, kernel, dense = (64, 96, 128, 128), 5, 128
    for w in widths:
        x = L.Conv1D(w, kernel, strides=2, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    if dense:
        x = L.Dropout(0.3)(x)
        x = L.Dense(dense, activation="relu")(x)
    out = L.Dense(classes, activation="softmax")(x)
    return tf.keras.Model(inp, out)


def _augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    scale = rng.uniform(0.9, 1.1, (len(x), 1, 1))
    shift = rng.integers(-16, 17)
    return (np.roll(x, shift, axis=2) * scale + rng.normal(0, 0.01, x.shape)).astype(np.float32)


def train_tier(tier: str, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray,
               classes: int) -> Any:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(SEED + ("mcu", "edge", "cloud").index(tier))
    model = _model(tier, classes)
    model.compile(optimizer=tf.keras.optimizers.Adam(2e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(SEED)
    best, best_w = -1.0, None
    for epoch in range(EPOCHS[tier]):
        model.fit(_augment(x, rng), y, epochs=1, batch_size=64, verbose=0)
        acc = float(model.evaluate(xv, yv, verbose=0)[1])
        if acc >= best:
            best, best_w = acc, model.get_weights()
        if epoch % 10 == 9:
            print(f"  {tier} epoch {epoch + 1}: val acc {acc:.4f} (best {best:.4f})")
    model.set_weights(best_w)
    return model


def convert(model: Any, tier: str, rep: np.ndarray) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if tier == "mcu":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]

        def representative() -> Any:
            for i in range(0, min(len(rep), 500)):
                yield [rep[i:i + 1]]

        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def main(argv: list[str] | None = None) -> int:
    from edgecascade.models.dataset import read_npz

    from .importer import ImportRequest, run_import
    from .search import Objective

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=str(HAR.root))
    p.add_argument("--max-cloud-share", type=float, default=0.08)
    args = p.parse_args(argv)
    train = read_npz(HAR.split_path("train"), "train")
    calib = read_npz(HAR.split_path("calib"), "calib")
    classes = len(train.label_names)
    x, xv = train.real(), calib.real()
    work = Path(tempfile.mkdtemp(prefix="har-train-"))
    paths = {}
    for tier in ("mcu", "edge", "cloud"):
        model = train_tier(tier, x, train.labels, xv, calib.labels, classes)
        paths[tier] = work / f"{tier}.tflite"
        paths[tier].write_bytes(convert(model, tier, x))
        print(f"{tier}: {paths[tier].stat().st_size} bytes")
    out = Path(args.out)
    run_import(ImportRequest(
        "har", paths["mcu"], paths["edge"], paths["cloud"], out / "data" / "har_calib.npz",
        out, test=out / "data" / "har_test.npz", layout="series",
        objective=Objective("max_cloud_share", args.max_cloud_share, 0.4),
        # HAR's cloud ensemble is not more accurate than its edge tier (evaluation.json):
        # known, not swapped files.
        allow_weaker_cloud=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
