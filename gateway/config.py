"""Gateway configuration: TOML, validated once at start, every error reported with its path.

``load_config(path)`` reads the file and returns a frozen :class:`GatewayConfig` or raises
:class:`~edgecascade.config.ConfigError` listing *every* problem found
(``broker.url: scheme must be ...``), not only the first. The framework (problem
collector, ``[broker]`` and ``[http]`` sections shared with the worker) is
:mod:`edgecascade.config`.

Thresholds are resolved here, once, with the one precedence (later wins)::

    defaults < thresholds_file (models/thresholds.json) < [thresholds] < EC_THRESHOLD_<KEY>

Environment overrides for secrets (they never need to live in the file)::

    EC_BROKER_{USERNAME,PASSWORD,CA_FILE,CERT_FILE,KEY_FILE}        ([broker]; EC_SITE_* too)
    EC_CLOUD_BROKER_{USERNAME,PASSWORD,CA_FILE,CERT_FILE,KEY_FILE}  ([cloud_broker]; EC_CLOUD_*)

Deprecated, still read with a FutureWarning: ``[site]`` (now ``[broker]``), top-level
``client_id`` (now ``[broker] client_id``), ``[observe]`` (now ``[http]`` and top-level
``metrics_interval_s``).
"""

from __future__ import annotations

import math
import os
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgecascade.config import (
    GATEWAY_HTTP_PORT,
    BrokerSection,
    ConfigError,
    HttpSection,
    Problems,
    legacy_table,
    read_broker,
    read_http,
    read_toml,
    redacted,
    resolve_path,
    scalar,
    section,
    unknown_keys,
)
from edgecascade.gateway.batcher import edge_threads
from edgecascade.gateway.dashboards import DashboardsConfig, parse_dashboards
from edgecascade.gateway.models_rollout import CanaryRule, read_rollout
from edgecascade.gateway.trust import DEFAULT_BURST, DEFAULT_MAX_SEQ_AHEAD, DEFAULT_RATE_PER_S
from edgecascade.models.cascade import Thresholds, load_settings, resolve_thresholds
from edgecascade.models.errors import ModelError
from edgecascade.models.fusion import NO_FUSION, Fusion
from edgecascade.models.runners.settings import RuntimeSettings, settings_problems
from edgecascade.mqtt import BrokerSettings, SettingsError
from edgecascade.protocol import DEFAULT_PREFIX, ProtocolError, Topics, validate_id
from edgecascade.protocol.limits import (
    DEFAULT_SITE_PAYLOAD_BYTES,
    MAX_CLIENT_ID_BYTES,
    MAX_ITEMS_PER_REQUEST,
    MAX_PUBLISH_PER_SECOND,
    MAX_SITE_PAYLOAD_BYTES,
)
from edgecascade.site import REGISTRY_FILE

__all__ = ["ConfigError", "GatewayConfig", "Thresholds", "load_config", "parse_config",
           "redacted"]

CONFIG_VERSION = 1


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
class ObserveConfig:
    """Read-only view with the pre-[http] names (``cfg.observe.http_port``, -1: no HTTP
    server), kept for callers not yet moved to ``cfg.http``; never parsed from TOML."""

    http_host: str
    http_port: int
    metrics_interval_s: float


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


@dataclass(frozen=True)
class GatewayConfig:
    gateway_id: str = "gw1"
    prefix: str = DEFAULT_PREFIX
    broker: BrokerSettings = field(default_factory=BrokerSettings)  # the site broker
    cloud_broker: BrokerSettings | None = None  # None: the site broker also carries cloud traffic
    shared_group: str | None = None
    client_id: str = ""  # [broker] client_id: persistent session id; default "ec-gw-<gateway_id>"
    # MQTT client id of the cloud connection ([cloud_broker] client_id); default the
    # gateway_id: AWS IoT Core's provisioned policy requires it to equal the thing name.
    cloud_client_id: str = ""
    # Resolved once (defaults < thresholds_file < [thresholds] < EC_THRESHOLD_*) by
    # parse_config; a config built in code passes the result of resolve_thresholds().
    thresholds: Thresholds = field(default_factory=Thresholds)
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    cloud: CloudConfig = field(default_factory=CloudConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    http: HttpSection = field(default_factory=lambda: HttpSection(port=GATEWAY_HTTP_PORT))
    metrics_interval_s: float = 5.0  # how often the metrics message is published
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    rollout: CanaryRule = field(default_factory=CanaryRule)  # [rollout]: the canary rule
    dashboards: DashboardsConfig = field(default_factory=DashboardsConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    # Tier fusion at the edge stage (issue 22): from thresholds_file's ``fusion`` table,
    # as calibration chose it; the default pools nothing.
    fusion: Fusion = NO_FUSION
    # The site broker's payload limit for device reports (anymodel): the site's own,
    # not AWS IoT's 128 KB; at most protocol.limits.MAX_SITE_PAYLOAD_BYTES.
    site_max_payload_bytes: int = DEFAULT_SITE_PAYLOAD_BYTES

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix)

    @property
    def session_client_id(self) -> str:
        return self.client_id or f"ec-gw-{self.gateway_id}"

    @property
    def cloud_session_client_id(self) -> str:
        return self.cloud_client_id or self.gateway_id

    @property
    def site(self) -> BrokerSettings:
        """The old name of :attr:`broker` (``[site]`` before ``[broker]``)."""
        return self.broker

    @property
    def observe(self) -> ObserveConfig:
        """The old names of :attr:`http` and :attr:`metrics_interval_s`."""
        return ObserveConfig(self.http.host, self.http.port if self.http.enabled else -1,
                             self.metrics_interval_s)


# -- validation ---------------------------------------------------------------------


def _check_ranges(cfg: GatewayConfig, problems: Problems) -> None:
    need = problems.need
    e = cfg.edge
    need("edge.num_threads", 1 <= e.num_threads <= 64, "must be 1..64")
    need("edge.max_batch", e.max_batch is None or 1 <= e.max_batch <= 1024, "must be 1..1024")
    need("edge.max_delay_ms", e.max_delay_ms is None or 0 <= e.max_delay_ms <= 1000,
         "must be 0..1000 ms")
    for key, why in settings_problems(e.runtime, e.providers):
        problems.add(f"edge.{key}", why)
    need("edge.delegate", not e.delegate or e.runtime == "litert",
         f"a LiteRT delegate; runtime {e.runtime!r} does not load one (use providers)")
    need("edge.queue_size", 1 <= e.queue_size <= 1_000_000, "must be 1..1000000")
    c = cfg.cloud
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
    s = cfg.storage
    need("storage.state_dir", bool(s.state_dir), "must not be empty")
    need("storage.spool_max_bytes", s.spool_max_bytes >= 64 * 1024, "must be >= 65536")
    need("storage.dedupe_keep", s.dedupe_keep >= 100, "must be >= 100")
    need("storage.cache_entries", s.cache_entries >= 1, "must be >= 1")
    need("storage.stale_max_age_s", s.stale_max_age_s >= 0, "must be >= 0")
    need("storage.memory_keep", 100 <= s.memory_keep <= 1_000_000, "must be 100..1000000")
    for path, cid in (("broker.client_id", cfg.session_client_id),
                      ("cloud_broker.client_id", cfg.cloud_session_client_id)):
        need(path, 1 <= len(cid.encode()) <= MAX_CLIENT_ID_BYTES,
             f"must be 1..{MAX_CLIENT_ID_BYTES} bytes")
    same_broker = cfg.cloud_broker is None or (
        (cfg.cloud_broker.host, cfg.cloud_broker.port) == (cfg.broker.host, cfg.broker.port))
    need("cloud_broker.client_id",
         not (cfg.cloud.enabled and same_broker
              and cfg.cloud_session_client_id == cfg.session_client_id),
         f"{cfg.cloud_session_client_id!r} is also the site connection's client id on the "
         "same broker: the two connections would keep disconnecting each other")
    need("metrics_interval_s", 0.1 <= cfg.metrics_interval_s <= 3600, "must be 0.1..3600 s")
    d = cfg.devices
    need("devices.rate_per_s", d.rate_per_s > 0, "must be > 0 reports/s")
    need("devices.burst", d.burst >= 1, "must be >= 1")
    need("devices.max_seq_ahead", d.max_seq_ahead >= 1, "must be >= 1")
    for i, dev in enumerate(cfg.devices.allowlist):
        try:
            validate_id(dev)
        except ProtocolError as exc:
            problems.add(f"devices.allowlist[{i}]", exc.why)


@dataclass(frozen=True)
class _OldObserve:  # the pre-[http] table, still read
    http_host: str = "127.0.0.1"
    http_port: int = GATEWAY_HTTP_PORT  # -1: no HTTP server
    metrics_interval_s: float = 5.0


def _old_observe(doc: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    """``[observe]`` read as ``[http]`` and ``metrics_interval_s``, with a FutureWarning."""
    if "observe" not in doc:
        return {}
    warnings.warn("config: [observe] is deprecated: its http_host/http_port are [http] "
                  "host/port (-1: enabled = false), metrics_interval_s is top-level",
                  FutureWarning, stacklevel=3)
    raw = doc["observe"]
    o = section(_OldObserve, raw, "observe", problems)
    problems.need("observe.http_port", -1 <= o.http_port <= 65535, "must be -1..65535")
    if "http" in doc and isinstance(raw, Mapping) and {"http_host", "http_port"} & set(raw):
        problems.add("observe", "its http keys are also in [http]: remove them from [observe]")
    out: dict[str, Any] = {"metrics_interval_s": o.metrics_interval_s}
    if "http" not in doc:
        out["http"] = HttpSection(enabled=o.http_port != -1, host=o.http_host,
                                  port=max(o.http_port, 0) if o.http_port != -1
                                  else GATEWAY_HTTP_PORT)
    return out


def _monitoring(table: Any, tfile: str | None, base_dir: Path | None,
                problems: Problems) -> MonitoringConfig:
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


def _fusion(tfile: str | None) -> Fusion:
    """The thresholds file's fusion (its problems, if any, are reported with the file's)."""
    if not tfile:
        return NO_FUSION
    try:
        return load_settings(tfile).fusion
    except ModelError:
        return NO_FUSION


TOP_KEYS = {"version", "gateway_id", "prefix", "shared_group", "thresholds_file",
            "site_max_payload_bytes",
            "metrics_interval_s", "broker", "cloud_broker", "thresholds", "edge", "cloud",
            "storage", "http", "devices", "dashboards", "rollout",
            "monitoring",
            "site", "client_id", "observe"}  # deprecated, still read


def parse_config(doc: Mapping[str, Any], env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None, source: str = "") -> GatewayConfig:
    """Validate a parsed TOML document; raise :class:`ConfigError` with every problem."""
    env = os.environ if env is None else env
    problems = Problems()
    unknown_keys(doc, TOP_KEYS, "", problems)
    version = doc.get("version", CONFIG_VERSION)
    if version != CONFIG_VERSION:
        problems.add("version", f"this gateway reads config version {CONFIG_VERSION}, "
                                f"got {version!r}")
    hints = typing.get_type_hints(GatewayConfig)
    scalars: dict[str, Any] = {}
    for key in ("gateway_id", "prefix", "shared_group", "metrics_interval_s",
                "site_max_payload_bytes"):
        if key in doc:
            v = scalar(doc[key], hints[key], key, problems)
            if v is not None:
                scalars[key] = v
    old = _old_observe(doc, problems)
    if "metrics_interval_s" not in scalars and "metrics_interval_s" in old:
        scalars["metrics_interval_s"] = old["metrics_interval_s"]
    cfg = replace(GatewayConfig(), **scalars)
    for key, check in (("gateway_id", validate_id), ("prefix", Topics),
                       ("shared_group", validate_id)):
        value = getattr(cfg, key)
        try:
            if value is not None:
                check(value)
        except ProtocolError as exc:
            problems.add(key, exc.why)
    at = legacy_table(doc, "broker", "site", problems)
    site = read_broker(doc.get(at), at, env, problems, base_dir, extra=("client_id",),
                       env_as="broker", legacy_env=("EC_SITE",))
    if "client_id" in doc:
        warnings.warn("config: top-level client_id is deprecated, use [broker] client_id",
                      FutureWarning, stacklevel=2)
        cid = scalar(doc["client_id"], str, "client_id", problems)
        site = replace(site, client_id=site.client_id or cid or "")
    cloud_broker = None
    if "cloud_broker" in doc:
        cb = read_broker(doc.get("cloud_broker"), "cloud_broker", env, problems, base_dir,
                         extra=("client_id",), legacy_env=("EC_CLOUD",))
        cfg = replace(cfg, cloud_client_id=cb.client_id)
        cloud_broker = _settings(cb, "cloud_broker", problems)
    tfile = None
    if "thresholds_file" in doc:
        name = scalar(doc["thresholds_file"], str, "thresholds_file", problems)
        tfile = resolve_path(base_dir, name) if name else None
    thresholds = resolve_thresholds(problems, file=tfile, table=doc.get("thresholds"),
                                    env=env)
    edge = section(EdgeConfig, doc.get("edge"), "edge", problems)
    if edge.model:
        edge = replace(edge, model=resolve_path(base_dir, edge.model) or "")
        problems.need("edge.model", Path(edge.model).is_file(),
                      f"file {edge.model!r} does not exist")
    storage = section(StorageConfig, doc.get("storage"), "storage", problems)
    storage = replace(storage, state_dir=resolve_path(base_dir, storage.state_dir) or "")
    devices = section(DevicesConfig, doc.get("devices"), "devices", problems)
    if devices.site_dir:
        devices = replace(devices, site_dir=resolve_path(base_dir, devices.site_dir) or "")
        problems.need("devices.site_dir", (Path(devices.site_dir) / REGISTRY_FILE).is_file(),
                      f"{devices.site_dir!r} holds no {REGISTRY_FILE} (make it with "
                      "`edgecascade site init`)")
    cfg = replace(
        cfg,
        broker=_settings(site, at, problems) or cfg.broker,
        client_id=site.client_id,
        cloud_broker=cloud_broker,
        thresholds=thresholds,
        edge=edge,
        cloud=section(CloudConfig, doc.get("cloud"), "cloud", problems),
        storage=storage,
        http=old.get("http") or read_http(doc.get("http"), problems,
                                          HttpSection(port=GATEWAY_HTTP_PORT)),
        devices=devices,
        rollout=read_rollout(doc.get("rollout"), problems),
        dashboards=parse_dashboards(doc.get("dashboards"), problems.add),
        monitoring=_monitoring(doc.get("monitoring"), tfile, base_dir, problems),
        fusion=_fusion(tfile),
    )
    _check_ranges(cfg, problems)
    problems.need("site_max_payload_bytes",
                  0 < cfg.site_max_payload_bytes <= MAX_SITE_PAYLOAD_BYTES,
                  f"must be within 1..{MAX_SITE_PAYLOAD_BYTES}")
    problems.need("cloud.frame_store", not cfg.cloud.frame_store
                  or cfg.cloud.frame_store.startswith("s3://"),
                  "must be s3://bucket/prefix")
    problems.check(source)
    return cfg


def _settings(b: BrokerSection, path: str, problems: Problems) -> BrokerSettings | None:
    try:
        return b.settings()
    except SettingsError as exc:
        if not any(p.startswith(f"{path}.") for p, _ in problems.items):
            problems.add(f"{path}.{exc.path}", exc.why)
        return None


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and validate a TOML config file."""
    doc, base_dir = read_toml(path)
    return parse_config(doc, env=env, base_dir=base_dir, source=str(path))
