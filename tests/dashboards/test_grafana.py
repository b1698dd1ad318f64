"""The shipped Grafana dashboard queries only series the gateway and workers export.

Every metric a query names must be a sample of the real Prometheus registries
(``GatewayMetrics`` and ``WorkerMetrics``), and every label it groups or filters by
must be a label of that metric (or ``le`` of a histogram, or Prometheus's ``job``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from edgecascade.cloud.metrics import WorkerMetrics
from edgecascade.gateway.metrics import GatewayMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "edgecascade.json"
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
METRIC_RE = re.compile(r"\b(ec_[a-z0-9_]+)")
GROUP_RE = re.compile(r"\b(?:by|ignoring|on|without)\s*\(([^)]*)\)")
MATCHER_RE = re.compile(r"\{([^}]*)\}")


def exported(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Sample name -> its label names, from the registry's own collectors."""
    out: dict[str, set[str]] = {}
    for collector in list(registry._collector_to_names):  # noqa: SLF001 - the real registry
        labels = set(getattr(collector, "_labelnames", ()))
        for family in collector.describe():
            for suffix in SUFFIXES[family.type]:
                extra = {"le"} if suffix == "_bucket" else set()
                out[family.name + suffix] = labels | extra
    return out


def queries() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                out.append((p["title"], t["expr"]))

    walk(doc["panels"])
    return out


def test_dashboard_is_importable_grafana_json() -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] and doc["title"] and doc["schemaVersion"] >= 36
    assert doc["__inputs"][0]["pluginId"] == "prometheus"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for p in doc["panels"]:
        if p["type"] != "row":
            assert p["targets"], p["title"]
            assert p["datasource"]["uid"] == "${DS_PROMETHEUS}"


def test_every_query_names_exported_metrics_and_labels() -> None:
    series = exported(GatewayMetrics().registry) | exported(WorkerMetrics().registry)
    assert "ec_gateway_results_total" in series and "ec_cloud_requests_total" in series
    named: set[str] = set()
    for title, expr in queries():
        metrics = METRIC_RE.findall(expr)
        assert metrics, f"{title}: no edgecascade metric in {expr}"
        for m in metrics:
            assert m in series, f"{title}: {m} is not exported (have: {sorted(series)})"
        named.update(metrics)
        allowed = set.union(*(series[m] for m in metrics)) | {"job"}
        used = {lab.strip() for grp in GROUP_RE.findall(expr) for lab in grp.split(",")
                if lab.strip()}
        used |= {re.split(r"[=!~]", part)[0].strip()
                 for grp in MATCHER_RE.findall(expr) for part in grp.split(",") if part}
        assert used <= allowed, f"{title}: labels {used - allowed} not on {metrics}"
    # the headline series are all on the dashboard
    for must in ("ec_gateway_results_total", "ec_gateway_latency_seconds_bucket",
                 "ec_gateway_circuit_state", "ec_gateway_spool_depth",
                 "ec_gateway_cloud_cost_total", "ec_cloud_requests_total",
                 "ec_cloud_request_seconds_bucket", "ec_cloud_billed_messages_total"):
        assert must in named, must
