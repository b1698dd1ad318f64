"""Where every generated model artifact lives (one place for each path)."""

from __future__ import annotations

from pathlib import Path

from edgecascade.models import dataset

MODELS_DIR = Path(dataset.__file__).resolve().parent
DATA_DIR = dataset.DATA_DIR
REPO_ROOT = MODELS_DIR.parent
FIRMWARE_GENERATED = REPO_ROOT / "firmware" / "generated"
REGISTRY_JSON = MODELS_DIR / "registry.json"
THRESHOLDS_JSON = MODELS_DIR / "thresholds.json"
EVALUATION_JSON = MODELS_DIR / "evaluation.json"
EVALUATION_PNG = MODELS_DIR / "evaluation.png"
SETTINGS_H = FIRMWARE_GENERATED / "ec_settings.h"
LIMITS_H = FIRMWARE_GENERATED / "ec_limits.h"
MODEL_DATA_H = FIRMWARE_GENERATED / "mcu_model_data.h"
MODEL_DATA_C = FIRMWARE_GENERATED / "mcu_model_data.c"
