"""Train the three tiers and write their ``.tflite`` files (TensorFlow imported here only);
the edge and cloud tiers also as ``.onnx`` from the float model (:func:`export_onnx`).

Reproducible: every random source is seeded from :data:`TRAIN_SEED`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import split as split_mod
from .onnx_convert import ONNX_TIERS
from .paths import MODELS_DIR

TRAIN_SEED = 1234
TIERS = ("mcu", "edge", "cloud")
# TFLite Micro kernels the mcu model may use (checked after conversion).
MCU_ALLOWED_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE",
    "FULLY_CONNECTED", "SOFTMAX",
})


@dataclass(frozen=True)
class TierSpec:
    tier: str
    build: Callable[[Any], Any]   # keras module -> keras.Model
    epochs: int
    augment: bool
    int8: bool
    members: int = 1   # > 1: an ensemble of independently seeded nets, outputs averaged


def _flatten(keras: Any, size: int) -> Any:
    """Flatten as one static RESHAPE to (-1, size): no SHAPE/PACK ops, any batch size."""
    return keras.layers.Lambda(lambda t: keras.ops.reshape(t, (-1, size)))


def _mcu(keras: Any) -> Any:
    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        _flatten(keras, 5 * 5 * 32),
        layers.Dropout(0.2),
        layers.Dense(10),
        layers.Softmax(),
    ])


def _edge(keras: Any) -> Any:
    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        _flatten(keras, 5 * 5 * 64),
        layers.Dropout(0.3),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.3),
        layers.Dense(10),
        layers.Softmax(),
    ])


def _cloud(keras: Any) -> Any:
    layers = keras.layers

    def block(x: Any, ch: int) -> Any:
        x = layers.Conv2D(ch, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Conv2D(ch, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        return layers.MaxPooling2D(2)(x)

    inp = keras.Input((28, 28, 1))
    x = block(inp, 32)
    x = block(x, 64)
    x = block(x, 128)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(10)(x)
    out = layers.Softmax()(x)
    return keras.Model(inp, out)


SPECS = {
    "mcu": TierSpec("mcu", _mcu, epochs=40, augment=True, int8=True),
    "edge": TierSpec("edge", _edge, epochs=30, augment=True, int8=True),
    "cloud": TierSpec("cloud", _cloud, epochs=25, augment=True, int8=False, members=3),
}


def model_path(tier: str) -> Path:
    return MODELS_DIR / f"mnist-{tier}.tflite"


def shift_augment(images: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """Pure numpy: random integer translations with zero fill (one per image)."""
    out = np.zeros_like(images)
    n, h, w = images.shape[:3]
    dy = np.asarray(rng.integers(-max_shift, max_shift + 1, n))
    dx = np.asarray(rng.integers(-max_shift, max_shift + 1, n))
    for i in range(n):
        sy, sx = int(dy[i]), int(dx[i])
        src = images[i, max(0, -sy):h - max(0, sy), max(0, -sx):w - max(0, sx)]
        out[i, max(0, sy):max(0, sy) + src.shape[0], max(0, sx):max(0, sx) + src.shape[1]] = src
    return out


def to_float(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0)[..., None]


def fit(spec: TierSpec, train: split_mod.Dataset, seed: int, log: Callable[[str], None]) -> Any:
    import keras

    if spec.members > 1:
        nets = [_fit_one(spec, train, seed + k, log) for k in range(spec.members)]
        inp = keras.Input((28, 28, 1))
        return keras.Model(inp, keras.layers.Average()([n(inp) for n in nets]))
    return _fit_one(spec, train, seed, log)


def _fit_one(spec: TierSpec, train: split_mod.Dataset, seed: int,
             log: Callable[[str], None]) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    model = spec.build(keras)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(seed)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, spec.epochs)
    for epoch in range(spec.epochs):
        model.optimizer.learning_rate.assign(float(schedule(epoch)))
        x = shift_augment(train.images, rng) if spec.augment else train.images
        hist = model.fit(to_float(x), train.labels, batch_size=64, epochs=1, verbose=0,
                         shuffle=True)
        if epoch % 5 == 4 or epoch == spec.epochs - 1:
            log(f"  {spec.tier} epoch {epoch + 1}/{spec.epochs} "
                f"loss {hist.history['loss'][-1]:.4f} acc {hist.history['accuracy'][-1]:.4f}")
    return model


def convert(model: Any, spec: TierSpec, rep_images: np.ndarray) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if spec.int8:
        def rep() -> Iterator[list[np.ndarray]]:
            for i in range(0, len(rep_images), 1):
                yield [to_float(rep_images[i:i + 1])]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return bytes(conv.convert())


def op_names(model_bytes: bytes) -> set[str]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_bytes)
    return {d["op_name"] for d in interp._get_ops_details()}


def train_all(tiers: tuple[str, ...] = TIERS, seed: int = TRAIN_SEED,
              log: Callable[[str], None] = print) -> dict[str, Path]:
    images, labels = split_mod.load_original()
    splits = split_mod.make_splits(images, labels)
    split_mod.write_shipped(splits)
    # Quantization ranges come from training images only (never calib/test).
    rep = splits.train.images[np.random.default_rng(seed).permutation(len(splits.train))[:500]]
    # Make sure the full 0..255 range is seen so the input scale is exactly 1/255.
    written: dict[str, Path] = {}
    for tier in tiers:
        spec = SPECS[tier]
        t0 = time.monotonic()
        log(f"training {tier} ...")
        model = fit(spec, splits.train, seed, log)
        blob = convert(model, spec, rep)
        if tier == "mcu":
            bad = op_names(blob) - MCU_ALLOWED_OPS
            if bad:
                raise RuntimeError(f"mcu model uses ops TFLM build does not allow: {sorted(bad)}")
        path = model_path(tier)
        path.write_bytes(blob)
        written[tier] = path
        log(f"  wrote {path.name} ({len(blob)} bytes) in {time.monotonic() - t0:.0f} s")
        if tier in ONNX_TIERS:  # also as ONNX, from the float model
            onnx_path = export_onnx(model, spec, path, blob)
            log(f"  wrote {onnx_path.name} from the float model")
    return written


def export_onnx(model: Any, spec: TierSpec, tflite_path: Path, shipped: bytes) -> Path:
    """The tier's float Keras model as ONNX beside its ``.tflite``: the float graph goes
    through TensorFlow's converter without quantization, then through edgecascade's
    TFLite->ONNX converter (one tested path for every ONNX file we ship; no tf2onnx).
    The ONNX file records the shipped file's sha256 as its source: ``models registry``
    measures the parity against it."""
    import hashlib

    from .onnx_convert import tflite_to_onnx
    from .onnx_registry import write_onnx

    float_blob = convert(model, replace(spec, int8=False), np.zeros((0, 28, 28)))
    proto = tflite_to_onnx(tflite_path, data=float_blob,
                           made_by="exported by `models train` from the Keras float model "
                                   "(float TFLite, then edgecascade's TFLite->ONNX converter)",
                           source_sha256=hashlib.sha256(shipped).hexdigest())
    out = tflite_path.with_suffix(".onnx")
    write_onnx(proto, out)
    return out
