"""A workload: three tiers, their settings and their data, in one folder.

    <root>/registry.json      the three tiers (input spec, labels, hashes)
    <root>/thresholds.json    calibrated thresholds, temperatures, complexity mean, fallback
    <root>/evaluation.json    test-split numbers
    <root>/data/<dataset>_{calib,test}.npz

The bundled MNIST workload is ``models/`` itself; HAR is ``models/har/``; an imported
workload is the folder ``edgecascade models import --out`` wrote. Every tier and tool
reaches its models and data through a :class:`Workload`; nothing else names a file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .dataset import Dataset, read_npz
from .errors import ModelError
from .registry import MODELS_DIR, ModelEntry, Registry, load_registry

TIERS = ("mcu", "edge", "cloud")
WORKLOAD_FILE = "workload.json"


@dataclass(frozen=True)
class Workload:
    name: str
    root: Path
    dataset: str  # data/<dataset>_<split>.npz

    @property
    def registry_path(self) -> Path:
        return self.root / "registry.json"

    @property
    def thresholds_path(self) -> Path:
        return self.root / "thresholds.json"

    @property
    def evaluation_path(self) -> Path:
        return self.root / "evaluation.json"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def split_path(self, split: str) -> Path:
        return self.data_dir / f"{self.dataset}_{split}.npz"

    def registry(self, *, verify: bool = True) -> Registry:
        return load_registry(self.registry_path, verify=verify)

    def entry(self, tier: str) -> ModelEntry:
        return self.registry(verify=False).for_tier(tier)

    def model_path(self, tier: str) -> Path:
        return self.entry(tier).path

    def load_split(self, split: str) -> Dataset:
        path = self.split_path(split)
        if not path.is_file():
            raise ModelError(path, f"split file of workload {self.name!r} is missing")
        labels = self.entry("mcu").labels
        return read_npz(path, split, labels)


MNIST = Workload("mnist", MODELS_DIR, "mnist")
HAR = Workload("har", MODELS_DIR / "har", "har")
WORKLOADS = {"mnist": MNIST, "har": HAR}
DEFAULT_WORKLOAD = "mnist"


def workload_at(root: str | Path) -> Workload:
    """The workload in a folder (``workload.json`` names it and its dataset)."""
    p = Path(root)
    try:
        doc = json.loads((p / WORKLOAD_FILE).read_text())
        return Workload(str(doc["name"]), p, str(doc["dataset"]))
    except FileNotFoundError:
        raise ModelError(p / WORKLOAD_FILE, "not a workload folder") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(p / WORKLOAD_FILE, f"malformed workload file: {exc!r}") from exc


def get_workload(name_or_path: str | Path | Workload = DEFAULT_WORKLOAD) -> Workload:
    """A bundled workload by name, or the workload folder at a path."""
    if isinstance(name_or_path, Workload):
        return name_or_path
    for wl in WORKLOADS.values():
        if Path(name_or_path).resolve() == wl.root.resolve():
            return wl
    if str(name_or_path) in WORKLOADS:
        return WORKLOADS[str(name_or_path)]
    if Path(name_or_path).is_dir():
        return workload_at(name_or_path)
    raise ModelError(str(name_or_path), f"unknown workload; bundled: {sorted(WORKLOADS)}, "
                                        "or the folder of an imported one")


def write_workload_file(root: Path, name: str, dataset: str) -> Path:
    path = root / WORKLOAD_FILE
    path.write_text(json.dumps({"name": name, "dataset": dataset}, indent=1) + "\n")
    return path
