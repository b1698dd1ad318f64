"""The metrics summary in a nested form for JSON consumers (Telegraf fields, Node-RED
paths, Home Assistant templates), next to the Prometheus sample names.

    "ec_gateway_results_total{reason=\"device_confident\",tier=\"device\"}": 7
      -> "nested": {"results_total": {"device/device_confident": 7}}
    "ec_gateway_spool_depth": 3            -> "nested": {"spool_depth": 3}

The name loses the ``ec_gateway_`` prefix; a labelled series becomes a map keyed by its
label values joined with ``/`` in the order the metric declares its labels
(``results_total``: tier, then reason; gateway/metrics.py). A counter's unlabelled
total, when it also has labelled children, is the ``"all"`` key of that map. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from edgecascade.gateway.metrics import COUNTERS, HISTOGRAMS, PREFIX

_SAMPLE_RE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>.*)\})?$')
_LABEL_RE = re.compile(r'(?P<k>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<v>(?:[^"\\]|\\.)*)"')
ALL = "all"


def _declared(name: str) -> tuple[str, ...]:
    """The label order a metric declares (``results_total`` -> tier, reason)."""
    for suffix in ("_total", "_count", "_sum"):
        base = name.removesuffix(suffix)
        if base != name:
            if base in COUNTERS:
                return COUNTERS[base][1]
            if base in HISTOGRAMS:
                return HISTOGRAMS[base][2]
    return ()


def nested_metrics(values: Mapping[str, float]) -> dict[str, Any]:
    """Prometheus-named samples -> ``{short_name: value | {label/values: value}}``;
    keys it cannot parse are left out (they stay in ``values`` as they are)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        m = _SAMPLE_RE.match(key)
        if m is None or not m["name"].startswith(PREFIX):
            continue
        name = m["name"][len(PREFIX):]
        labels = {lm["k"]: lm["v"] for lm in _LABEL_RE.finditer(m["labels"] or "")}
        if not labels:
            slot = out.get(name)
            if isinstance(slot, dict):
                slot[ALL] = value
            else:
                out[name] = value
            continue
        order = [k for k in _declared(name) if k in labels] or sorted(labels)
        order += [k for k in sorted(labels) if k not in order]
        slot = out.get(name)
        if not isinstance(slot, dict):
            slot = out[name] = {} if slot is None else {ALL: slot}
        slot["/".join(labels[k] for k in order)] = value
    return out
