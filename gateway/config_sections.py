"""The gateway's runtime sections: ``[edge]``, ``[cloud]``, ``[storage]``, ``[devices]``,
``[monitoring]``.

Each is a frozen dataclass holding its defaults; ``read_*`` builds one from its TOML table
(relative paths resolved against the config file's folder, files that must exist checked)
and ``check_*`` reports every value out of its range at its path (``edge.max_batch: must
be 1..1024``). :mod:`.config` assembles them into :class:`~.config.GatewayConfig` and
keeps the rules that span sections (client ids, the top-level keys).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgecascade.config import Problems, resolve_path, section
from edgecascade.gateway.batcher import edge_threads
from edgecascade.gateway.trust import DEFAULT_BURST, DEFAULT_MAX_SEQ_AHEAD, DEFAULT_RATE_PER_S
from edgecascade.models.runners.settings import RuntimeSettings, settings_problems
from edgecascade.protocol import ProtocolError, validate_id
from edgecascade.protocol.limits import MAX_ITEMS_PER_REQUEST, MAX_PUBLISH_PER_SECOND
from edgecascade.site import REGISTRY_FILE

__all__ = ["CloudConfig", "DevicesConfig", "EdgeConfig", "MonitoringConfig", "StorageConfig"]


@dataclass(frozen=True)
class EdgeConfig:
    model: str = ""  # path to the edge .tflite (or .onnx); empty: no edge tier
    num_threads: int = field(default_factory=edge_threads)  # from the cores (batcher.py)
    delegate: str = ""  # LiteRT: path of a delegate library; empty: XNNPACK
    # None: the backend's default (gateway/batcher.py BATCH_DEFAULTS: CPU 16 / 0 ms,
    # opportunistic; a GPU takes bigger batches)
    max_batch: int | None = None
    max_delay_ms: float | None = None
    queue_size: int = 256
    # The model runtime (models/runners): "litert" | "onnxruntime" | "torch" | "auto";
    # providers by preference ("tensorrt", "cuda", "cpu"; empty: best available); a GPU
    # asked for and not active refuses to start unless allow_cpu_fallback; fp16 on a GPU.
    runtime: str = "litert"
    providers: tuple[str, ...] = ()
    allow_cpu_fallback: bool = False
    fp16: bool = False

    def runtime_settings(self, state_dir: str = "") -> RuntimeSettings:
        """What the edge model runner is asked for (TensorRT engines under the state dir)."""
        return RuntimeSettings(runtime=self.runtime, providers=self.providers,
                               allow_cpu_fallback=self.allow_cpu_fallback, fp16=self.fp16,
                               num_threads=self.num_threads, delegate=self.delegate or None,
                               cache_dir=state_dir)


@dataclass(frozen=True)
class CloudConfig:
    enabled: bool = True
    deadline_ms: int = 1500  # default per-request deadline when a report gives none
    # Most frames per request (also bounded by the 128 KB payload): 64 frames of 784 B
    # are ~50 KB, and bill under 0.1x the messages of one request per frame.
    max_items: int = 64
    max_delay_ms: float = 5.0  # how long to wait for more frames before sending a request
    max_publish_per_s: float = float(MAX_PUBLISH_PER_SECOND)  # AWS IoT Core's quota
    max_in_flight: int = 64  # most unanswered requests at once
    budget_messages: float = math.inf  # billed messages allowed per budget window
    budget_window_s: float = 3600.0
    breaker_failures: int = 3  # consecutive timeouts that open the breaker
    breaker_reset_s: float = 5.0  # how long it stays open before a half-open probe
    retry_s: float = 2.0  # how long a spooled item waits before it is sent again
    # The S3 claim check (anymodel): "s3://bucket/prefix"; a frame too large for one
    # cloud request is put there and travels by reference. Empty: no claim check (an
    # oversized frame is answered locally). endpoint_url/region: for S3-compatible
    # stores and tests (moto); credentials come from the usual AWS chain.
    frame_store: str = ""
    frame_store_endpoint_url: str = ""
    frame_store_region: str = ""


@dataclass(frozen=True)
class StorageConfig:
    state_dir: str = "./gateway-state"  # relative: to the config file's folder
    spool_max_bytes: int = 64 * 1024 * 1024
    dedupe_keep: int = 100_000  # finished frames remembered for duplicate detection
    cache_entries: int = 10_000  # content-hash answers kept in the last-good cache
    stale_max_age_s: float = 300.0  # oldest last-good answer used as a stale fallback
    memory_keep: int = 10_000  # frames the ledger records in memory while the disk refuses


@dataclass(frozen=True)
class DevicesConfig:
    allowlist: tuple[str, ...] = ()  # empty: any device (unless site_dir is set)
    assign_epochs: bool = True  # answer epoch-less births with a retained DeviceConfig epoch
    # A site made by `edgecascade site init`: its active devices are the allowlist (re-read
    # every few seconds, so add-device / revoke-device take effect without a restart).
    site_dir: str = ""
    rate_per_s: float = DEFAULT_RATE_PER_S  # new seqs/s per device (gateway/trust.py)
    burst: float = DEFAULT_BURST  # non-advancing reports at once (replays, duplicates)
    max_seq_ahead: int = DEFAULT_MAX_SEQ_AHEAD  # seqs advanced at once beyond the rate


@dataclass(frozen=True)
class MonitoringConfig:
    """[monitoring]: audits, live accuracy and drift alarms (gateway/monitoring.py)."""

    audit_share: float = 0.0  # share of confident reports devices attach for an audit (0: off)
    audit_queue_share: float = 0.5  # audits use the edge queue only while it is below this
    audit_cloud_share: float = 0.0  # share of the edge's accepted answers audited by the cloud
    audit_cloud_messages: float = 100.0  # billed messages cloud audits may spend per budget window
    window: int = 200  # audits in the sliding agreement window
    drift_window: int = 200  # reports per device in the drift (PSI) window
    psi_alarm: float = 0.25
    psi_clear: float = 0.10
    agreement_tolerance: float = 0.02  # below the calibrated agreement by more: alarm
    silent_after_s: float = 300.0  # a device with no report for this long counts as silent
    log_interval_s: float = 60.0  # at most one alarm log line per scope and kind per interval
    reference: str = ""  # thresholds file with the monitoring table ("": thresholds_file)


# -- reading: the table, its paths resolved ------------------------------------------


def read_edge(table: Any, base_dir: Path | None, problems: Problems) -> EdgeConfig:
    edge = section(EdgeConfig, table, "edge", problems)
    if edge.model:
        edge = replace(edge, model=resolve_path(base_dir, edge.model) or "")
        problems.need("edge.model", Path(edge.model).is_file(),
                      f"file {edge.model!r} does not exist")
    return edge


def read_storage(table: Any, base_dir: Path | None, problems: Problems) -> StorageConfig:
    storage = section(StorageConfig, table, "storage", problems)
    return replace(storage, state_dir=resolve_path(base_dir, storage.state_dir) or "")


def read_devices(table: Any, base_dir: Path | None, problems: Problems) -> DevicesConfig:
    devices = section(DevicesConfig, table, "devices", problems)
    if devices.site_dir:
        devices = replace(devices, site_dir=resolve_path(base_dir, devices.site_dir) or "")
        problems.need("devices.site_dir", (Path(devices.site_dir) / REGISTRY_FILE).is_file(),
                      f"{devices.site_dir!r} holds no {REGISTRY_FILE} (make it with "
                      "`edgecascade site init`)")
    return devices


def read_monitoring(table: Any, tfile: str | None, base_dir: Path | None,
                    problems: Problems) -> MonitoringConfig:
    """``[monitoring]``, checked; its reference defaults to the thresholds file."""
    m = section(MonitoringConfig, table, "monitoring", problems)
    problems.need("monitoring.audit_share", 0.0 <= m.audit_share <= 0.5,
                  "must be within 0..0.5 (a share of confident reports)")
    problems.need("monitoring.audit_cloud_share", 0.0 <= m.audit_cloud_share <= 0.5,
                  "must be within 0..0.5 (a share of the edge's accepted answers)")
    problems.need("monitoring.audit_cloud_messages", m.audit_cloud_messages >= 0,
                  "must be >= 0")
    problems.need("monitoring.window", m.window >= 1 and m.drift_window >= 10,
                  "window must be >= 1 and drift_window >= 10")
    problems.need("monitoring.psi_clear", 0 <= m.psi_clear <= m.psi_alarm,
                  "must be within 0..psi_alarm")
    ref = resolve_path(base_dir, m.reference) if m.reference else tfile
    return replace(m, reference=ref or "")


# -- ranges: every value out of range, at its path -----------------------------------


def check_edge(e: EdgeConfig, problems: Problems) -> None:
    need = problems.need
    need("edge.num_threads", 1 <= e.num_threads <= 64, "must be 1..64")
    need("edge.max_batch", e.max_batch is None or 1 <= e.max_batch <= 1024, "must be 1..1024")
    need("edge.max_delay_ms", e.max_delay_ms is None or 0 <= e.max_delay_ms <= 1000,
         "must be 0..1000 ms")
    for key, why in settings_problems(e.runtime, e.providers):
        problems.add(f"edge.{key}", why)
    need("edge.delegate", not e.delegate or e.runtime == "litert",
         f"a LiteRT delegate; runtime {e.runtime!r} does not load one (use providers)")
    need("edge.queue_size", 1 <= e.queue_size <= 1_000_000, "must be 1..1000000")


def check_cloud(c: CloudConfig, problems: Problems) -> None:
    need = problems.need
    need("cloud.deadline_ms", 1 <= c.deadline_ms <= 600_000, "must be 1..600000 ms")
    need("cloud.max_items", 1 <= c.max_items <= MAX_ITEMS_PER_REQUEST,
         f"must be 1..{MAX_ITEMS_PER_REQUEST}")
    need("cloud.max_delay_ms", 0 <= c.max_delay_ms <= 10_000, "must be 0..10000 ms")
    need("cloud.max_publish_per_s", 0 < c.max_publish_per_s <= MAX_PUBLISH_PER_SECOND,
         f"must be in (0, {MAX_PUBLISH_PER_SECOND}]")
    need("cloud.max_in_flight", 1 <= c.max_in_flight <= 10_000, "must be 1..10000")
    need("cloud.budget_messages", c.budget_messages >= 0, "must be >= 0")
    need("cloud.budget_window_s", c.budget_window_s > 0, "must be > 0")
    need("cloud.breaker_failures", c.breaker_failures >= 1, "must be >= 1")
    need("cloud.breaker_reset_s", c.breaker_reset_s > 0, "must be > 0")
    need("cloud.retry_s", c.retry_s > 0, "must be > 0")


def check_frame_store(c: CloudConfig, problems: Problems) -> None:
    problems.need("cloud.frame_store", not c.frame_store or c.frame_store.startswith("s3://"),
                  "must be s3://bucket/prefix")


def check_storage(s: StorageConfig, problems: Problems) -> None:
    need = problems.need
    need("storage.state_dir", bool(s.state_dir), "must not be empty")
    need("storage.spool_max_bytes", s.spool_max_bytes >= 64 * 1024, "must be >= 65536")
    need("storage.dedupe_keep", s.dedupe_keep >= 100, "must be >= 100")
    need("storage.cache_entries", s.cache_entries >= 1, "must be >= 1")
    need("storage.stale_max_age_s", s.stale_max_age_s >= 0, "must be >= 0")
    need("storage.memory_keep", 100 <= s.memory_keep <= 1_000_000, "must be 100..1000000")


def check_devices(d: DevicesConfig, problems: Problems) -> None:
    need = problems.need
    need("devices.rate_per_s", d.rate_per_s > 0, "must be > 0 reports/s")
    need("devices.burst", d.burst >= 1, "must be >= 1")
    need("devices.max_seq_ahead", d.max_seq_ahead >= 1, "must be >= 1")
    for i, dev in enumerate(d.allowlist):
        try:
            validate_id(dev)
        except ProtocolError as exc:
            problems.add(f"devices.allowlist[{i}]", exc.why)
