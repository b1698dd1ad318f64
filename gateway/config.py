"""Gateway configuration: TOML, validated once at start, every error reported with its path.

``load_config(path)`` reads the file and returns a frozen :class:`GatewayConfig` or raises
:class:`~edgecascade.config.ConfigError` listing *every* problem found
(``broker.url: scheme must be ...``), not only the first. The framework (problem
collector, ``[broker]`` and ``[http]`` sections shared with the worker) is
:mod:`edgecascade.config`; the runtime sections (``[edge]``, ``[cloud]``, ``[storage]``,
``[devices]``, ``[monitoring]``) and their ranges are :mod:`.config_sections`. This module
reads the file as a whole: top-level keys and version, the brokers, thresholds, the
deprecated names, and the rules that span sections.

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
from edgecascade.gateway.config_sections import (
    CloudConfig,
    DevicesConfig,
    EdgeConfig,
    MonitoringConfig,
    StorageConfig,
    check_cloud,
    check_devices,
    check_edge,
    check_frame_store,
    check_storage,
    read_devices,
    read_edge,
    read_monitoring,
    read_storage,
)
from edgecascade.gateway.dashboards import DashboardsConfig, parse_dashboards
from edgecascade.gateway.models_rollout import CanaryRule, read_rollout
from edgecascade.models.cascade import Thresholds, load_settings, resolve_thresholds
from edgecascade.models.errors import ModelError
from edgecascade.models.fusion import NO_FUSION, Fusion
from edgecascade.mqtt import BrokerSettings, SettingsError
from edgecascade.protocol import DEFAULT_PREFIX, ProtocolError, Topics, validate_id
from edgecascade.protocol.limits import (
    DEFAULT_SITE_PAYLOAD_BYTES,
    MAX_CLIENT_ID_BYTES,
    MAX_SITE_PAYLOAD_BYTES,
)

# The section dataclasses live in .config_sections; they are re-exported here, where
# callers have always imported them.
__all__ = ["CloudConfig", "ConfigError", "DevicesConfig", "EdgeConfig", "GatewayConfig",
           "MonitoringConfig", "StorageConfig", "Thresholds", "load_config", "parse_config",
           "redacted"]

CONFIG_VERSION = 1


@dataclass(frozen=True)
class ObserveConfig:
    """Read-only view with the pre-[http] names (``cfg.observe.http_port``, -1: no HTTP
    server), kept for callers not yet moved to ``cfg.http``; never parsed from TOML."""

    http_host: str
    http_port: int
    metrics_interval_s: float


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
    """Each section's ranges, and the rules that span sections."""
    need = problems.need
    check_edge(cfg.edge, problems)
    check_cloud(cfg.cloud, problems)
    check_storage(cfg.storage, problems)
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
    check_devices(cfg.devices, problems)


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
    edge = read_edge(doc.get("edge"), base_dir, problems)
    storage = read_storage(doc.get("storage"), base_dir, problems)
    devices = read_devices(doc.get("devices"), base_dir, problems)
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
        monitoring=read_monitoring(doc.get("monitoring"), tfile, base_dir, problems),
        fusion=_fusion(tfile),
    )
    _check_ranges(cfg, problems)
    problems.need("site_max_payload_bytes",
                  0 < cfg.site_max_payload_bytes <= MAX_SITE_PAYLOAD_BYTES,
                  f"must be within 1..{MAX_SITE_PAYLOAD_BYTES}")
    check_frame_store(cfg.cloud, problems)
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
