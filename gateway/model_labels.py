"""Class names per model: a result's ``label_name`` comes from the registry entry of the
model that answered it (``model_id``), never from one fixed label set.

The gateway reads the registry that sits next to its edge model (an imported
workload's folder holds all three tiers: the device's mcu model, the edge model and the
cloud model) and the bundled workloads' registries. A model found in none of them
gets no ``label_name``: its results carry the class number only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("edgecascade.gateway.model_labels")

REGISTRY_FILE = "registry.json"


@dataclass(frozen=True)
class ModelLabels:
    """model id -> class names (the first registry that names a model wins)."""

    by_model: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def of(self, model_id: str) -> tuple[str, ...]:
        return self.by_model.get(model_id, ())


def registries_for(edge_model: str = "") -> list[Path]:
    """The registry next to the edge model (when there is one), then the bundled ones."""
    from edgecascade.models.workload import WORKLOADS

    out: list[Path] = []
    if edge_model:
        out.append(Path(edge_model).resolve().parent / REGISTRY_FILE)
    out.extend(wl.registry_path for wl in WORKLOADS.values())
    return out


def load_model_labels(registries: Iterable[Path]) -> ModelLabels:
    """Read each registry (unreadable or missing ones are skipped with a warning: the
    gateway still runs, those models' results stay numbers)."""
    from edgecascade.models.errors import ModelError
    from edgecascade.models.registry import load_registry

    by_model: dict[str, tuple[str, ...]] = {}
    for path in registries:
        if not path.is_file():
            continue
        try:
            reg = load_registry(path, verify=False)
        except ModelError as exc:
            log.warning("model registry %s not readable (%s); its models' results carry no "
                        "label_name", path, exc.problem)
            continue
        for entry in reg.models:
            by_model.setdefault(entry.id, tuple(entry.labels))
    return ModelLabels(by_model)
