"""Gateway configuration: TOML, validated once at start, every error reported with its path.

``load_config(path)`` reads the file, applies environment overrides for secrets, and
returns a frozen :class:`GatewayConfig` or raises :class:`ConfigError` listing *every*
problem found (``site.url: scheme must be ...``), not only the first.

Environment overrides (secrets never need to live in the file)::

    EC_SITE_USERNAME, EC_SITE_PASSWORD, EC_SITE_CA_FILE, EC_SITE_CERT_FILE, EC_SITE_KEY_FILE
    EC_CLOUD_USERNAME, EC_CLOUD_PASSWORD, EC_CLOUD_CA_FILE, EC_CLOUD_CERT_FILE, EC_CLOUD_KEY_FILE
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from edgecascade.gateway.dashboards import DashboardsConfig, parse_dashboards  # dashboards hook
from edgecascade.mqtt import BrokerSettings, SettingsError
from edgecascade.protocol import DEFAULT_PREFIX, ProtocolError, Topics, validate_id
from edgecascade.protocol.limits import MAX_CLIENT_ID_BYTES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_VERSION = 1
SECRET_FIELDS = ("username", "password", "ca_file", "cert_file", "key_file")


class ConfigError(ValueError):
    """One or more configuration problems; ``problems`` holds ``(path, why)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}: {w}" for p, w in problems)
        super().__init__(f"invalid gateway config:\n{lines}")


@dataclass(frozen=True)
class Thresholds:
    """When a device (or edge) answer is good enough. Calibrated values live in
    ``models/thresholds.json``; these defaults are used when it is absent."""

    device_confidence: float = 0.90
    device_margin: float = 0.50
    complexity_limit: float = math.inf
    edge_confidence: float = 0.80
    edge_margin: float = 0.0
    edge_temperature: float = 1.0  # edge probabilities are temperature-scaled before the test


@dataclass(frozen=True)
class EdgeConfig:
    model: str = ""  # path to the edge .tflite; empty: no edge tier
    num_threads: int = 1
    delegate: str = ""  # path of a delegate library (e.g. GPU on a Jetson); empty: XNNPACK
    max_batch: int = 16
    max_delay_ms: float = 2.0
    queue_size: int = 256


@dataclass(frozen=True)
class CloudConfig:
    enabled: bool = True
    deadline_ms: int = 1500  # default per-request deadline when a report gives none
    # Most frames per request (also bounded by the 128 KB payload): 64 frames of 784 B
    # are ~50 KB, and bill under 0.1x the messages of one request per frame.
    max_items: int = 64
    max_delay_ms: float = 5.0  # how long to wait for more frames before sending a request
    max_publish_per_s: float = 100.0  # AWS IoT Core per-connection publish quota
    max_in_flight: int = 64  # most unanswered requests at once
    budget_messages: float = math.inf  # billed messages allowed per budget window
    budget_window_s: float = 3600.0
    breaker_failures: int = 3  # consecutive timeouts that open the breaker
    breaker_reset_s: float = 5.0  # how long it stays open before a half-open probe
    retry_s: float = 2.0  # how long a spooled item waits before it is sent again


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
    http_host: str = "127.0.0.1"
    http_port: int = 9108  # 0: pick a free port; -1: no HTTP server
    metrics_interval_s: float = 5.0


@dataclass(frozen=True)
class DevicesConfig:
    allowlist: tuple[str, ...] = ()  # empty: any device
    assign_epochs: bool = True  # answer epoch-less births with a retained DeviceConfig epoch


@dataclass(frozen=True)
class GatewayConfig:
    gateway_id: str = "gw1"
    prefix: str = DEFAULT_PREFIX
    site: BrokerSettings = field(default_factory=BrokerSettings)
    cloud_broker: BrokerSettings | None = None  # None: the site broker also carries cloud traffic
    shared_group: str | None = None
    client_id: str = ""  # stable id for the persistent session; default "ec-gw-<gateway_id>"
    # MQTT client id of the cloud connection ([cloud_broker] client_id); default the
    # gateway_id: AWS IoT Core's provisioned policy requires it to equal the thing name.
    cloud_client_id: str = ""
    thresholds: Thresholds = field(default_factory=Thresholds)
    thresholds_file: str = ""  # models/thresholds.json, read at start when present
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    cloud: CloudConfig = field(default_factory=CloudConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    observe: ObserveConfig = field(default_factory=ObserveConfig)
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    dashboards: DashboardsConfig = field(default_factory=DashboardsConfig)  # dashboards hook

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix)

    @property
    def session_client_id(self) -> str:
        return self.client_id or f"ec-gw-{self.gateway_id}"

    @property
    def cloud_session_client_id(self) -> str:
        return self.cloud_client_id or self.gateway_id


# -- validation ---------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, why: str) -> None:
        self.items.append((path, why))


def _typed(value: Any, want: type, path: str, problems: _Problems) -> Any:
    """Check one scalar against the dataclass field's type (ints accepted for floats)."""
    if want is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif want is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif want is bool:
        if isinstance(value, bool):
            return value
    elif want is str and isinstance(value, str):
        return value
    problems.add(path, f"expected {want.__name__}, got {type(value).__name__}")
    return None


_SCALARS: dict[str, type] = {"float": float, "int": int, "bool": bool, "str": str}


def _section(cls: type, raw: Any, path: str, problems: _Problems, base: Any = None) -> Any:
    """Build dataclass ``cls`` from a TOML table, reporting unknown keys and bad types."""
    instance = base if base is not None else cls()
    if raw is None:
        return instance
    if not isinstance(raw, Mapping):
        problems.add(path, f"expected a table, got {type(raw).__name__}")
        return instance
    known = {f.name: f for f in fields(cls)}
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        p = f"{path}.{key}"
        f = known.get(key)
        if f is None:
            problems.add(p, f"unknown key (known: {', '.join(sorted(known))})")
            continue
        type_name = str(f.type).split(" |")[0].strip()
        if type_name.startswith("tuple"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.add(p, "expected a list of strings")
                continue
            changes[key] = tuple(value)
            continue
        want = _SCALARS.get(type_name)
        if want is None:  # pragma: no cover - a nested table handled by the caller
            continue
        checked = _typed(value, want, p, problems)
        if checked is not None:
            changes[key] = checked
    return replace(instance, **changes)


def _check_ranges(cfg: GatewayConfig, problems: _Problems) -> None:
    def need(path: str, ok: bool, why: str) -> None:
        if not ok:
            problems.add(path, why)

    t = cfg.thresholds
    for name in ("device_confidence", "device_margin", "edge_confidence", "edge_margin"):
        v = getattr(t, name)
        need(f"thresholds.{name}", 0.0 <= v <= 1.0, f"must be within 0..1, got {v}")
    need("thresholds.complexity_limit", t.complexity_limit >= 0, "must be >= 0")
    need("thresholds.edge_temperature", t.edge_temperature > 0, "must be > 0")
    e = cfg.edge
    need("edge.num_threads", 1 <= e.num_threads <= 64, "must be 1..64")
    need("edge.max_batch", 1 <= e.max_batch <= 1024, "must be 1..1024")
    need("edge.max_delay_ms", 0 <= e.max_delay_ms <= 1000, "must be 0..1000 ms")
    need("edge.queue_size", 1 <= e.queue_size <= 1_000_000, "must be 1..1000000")
    c = cfg.cloud
    need("cloud.deadline_ms", 1 <= c.deadline_ms <= 600_000, "must be 1..600000 ms")
    need("cloud.max_items", 1 <= c.max_items <= 256, "must be 1..256")
    need("cloud.max_delay_ms", 0 <= c.max_delay_ms <= 10_000, "must be 0..10000 ms")
    need("cloud.max_publish_per_s", 0 < c.max_publish_per_s <= 100, "must be in (0, 100]")
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
    for path, cid in (("client_id", cfg.session_client_id),
                      ("cloud_broker.client_id", cfg.cloud_session_client_id)):
        need(path, 1 <= len(cid.encode()) <= MAX_CLIENT_ID_BYTES,
             f"must be 1..{MAX_CLIENT_ID_BYTES} bytes")
    same_broker = cfg.cloud_broker is None or (
        (cfg.cloud_broker.host, cfg.cloud_broker.port) == (cfg.site.host, cfg.site.port))
    need("cloud_broker.client_id",
         not (cfg.cloud.enabled and same_broker
              and cfg.cloud_session_client_id == cfg.session_client_id),
         f"{cfg.cloud_session_client_id!r} is also the site connection's client id on the "
         "same broker: the two connections would keep disconnecting each other")
    o = cfg.observe
    need("observe.http_port", -1 <= o.http_port <= 65535, "must be -1..65535")
    need("observe.metrics_interval_s", 0.1 <= o.metrics_interval_s <= 3600, "must be 0.1..3600 s")
    for i, dev in enumerate(cfg.devices.allowlist):
        try:
            validate_id(dev)
        except ProtocolError as exc:
            problems.add(f"devices.allowlist[{i}]", exc.why)


def _broker(raw: Any, path: str, env_prefix: str, env: Mapping[str, str],
            problems: _Problems, extra: tuple[str, ...] = ()) -> BrokerSettings | None:
    """Broker settings from a table; keys in ``extra`` are the caller's (skipped here)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        problems.add(path, f"expected a table, got {type(raw).__name__}")
        return None
    known = {f.name: f for f in fields(BrokerSettings)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in extra:
            continue
        f = known.get(key)
        if f is None:
            names = sorted([*known, *extra])
            problems.add(f"{path}.{key}", f"unknown key (known: {', '.join(names)})")
            continue
        want = _SCALARS[str(f.type).split(" |")[0].strip()]
        checked = _typed(value, want, f"{path}.{key}", problems)
        if checked is not None:
            kwargs[key] = checked
    for name in SECRET_FIELDS:
        override = env.get(f"{env_prefix}_{name.upper()}")
        if override:
            kwargs[name] = override
    for name in ("ca_file", "cert_file", "key_file"):
        file = kwargs.get(name)
        if file and not Path(file).is_file():
            problems.add(f"{path}.{name}", f"file {file!r} does not exist")
    try:
        return BrokerSettings(**kwargs)
    except SettingsError as exc:
        problems.add(f"{path}.{exc.path}", exc.why)
    except TypeError as exc:  # pragma: no cover
        problems.add(path, str(exc))
    return None


def read_thresholds(path: str | Path, base: Thresholds) -> Thresholds:
    """Calibrated thresholds from ``models/thresholds.json`` (read by the models package,
    the one reader of that file), overlaid on ``base``."""
    from edgecascade.models.cascade import load_settings

    settings = load_settings(path)
    th = settings.thresholds
    return replace(
        base,
        device_confidence=th.device_conf,
        device_margin=th.device_margin,
        complexity_limit=th.complexity_limit,
        edge_confidence=th.edge_conf,
        edge_margin=0.0,
        edge_temperature=float(settings.temperatures.get("edge", 1.0)),
    )


def parse_config(raw: Mapping[str, Any], env: Mapping[str, str] | None = None,
                 base_dir: Path | None = None) -> GatewayConfig:
    """Validate a parsed TOML document; raise :class:`ConfigError` with every problem."""
    env = os.environ if env is None else env
    problems = _Problems()
    top_known = {"version", "gateway_id", "prefix", "shared_group", "client_id",
                 "thresholds_file", "site", "cloud_broker", "thresholds", "edge", "cloud",
                 "storage", "observe", "devices",
                 "dashboards"}  # dashboards hook
    for key in raw:
        if key not in top_known:
            problems.add(key, f"unknown key (known: {', '.join(sorted(top_known))})")
    version = raw.get("version", CONFIG_VERSION)
    if version != CONFIG_VERSION:
        problems.add("version", f"this gateway reads config version {CONFIG_VERSION}, "
                                f"got {version!r}")
    cfg = GatewayConfig()
    scalars: dict[str, Any] = {}
    for key in ("gateway_id", "prefix", "shared_group", "client_id", "thresholds_file"):
        if key in raw:
            v = _typed(raw[key], str, key, problems)
            if v is not None:
                scalars[key] = v
    cfg = replace(cfg, **scalars)
    try:
        validate_id(cfg.gateway_id)
    except ProtocolError as exc:
        problems.add("gateway_id", exc.why)
    try:
        Topics(cfg.prefix)
    except ProtocolError as exc:
        problems.add("prefix", exc.why)
    if cfg.shared_group is not None:
        try:
            validate_id(cfg.shared_group)
        except ProtocolError as exc:
            problems.add("shared_group", exc.why)
    site = _broker(raw.get("site"), "site", "EC_SITE", env, problems)
    cloud_broker = None
    if "cloud_broker" in raw:
        table = raw.get("cloud_broker")
        cloud_broker = _broker(table, "cloud_broker", "EC_CLOUD", env, problems,
                               extra=("client_id",))
        if isinstance(table, Mapping) and "client_id" in table:
            cid = _typed(table["client_id"], str, "cloud_broker.client_id", problems)
            if cid is not None:
                cfg = replace(cfg, cloud_client_id=cid)
    thresholds = cfg.thresholds
    if cfg.thresholds_file:
        tpath = Path(cfg.thresholds_file)
        if base_dir is not None and not tpath.is_absolute():
            tpath = base_dir / tpath
        if tpath.is_file():
            try:
                thresholds = read_thresholds(tpath, thresholds)
            except Exception as exc:  # ModelError, OSError, ValueError: all reported
                problems.add("thresholds_file", f"cannot read {tpath}: {exc}")
        else:
            problems.add("thresholds_file", f"file {str(tpath)!r} does not exist")
    thresholds = _section(Thresholds, raw.get("thresholds"), "thresholds", problems, thresholds)
    edge = _section(EdgeConfig, raw.get("edge"), "edge", problems)
    if edge.model:
        mpath = Path(edge.model)
        if base_dir is not None and not mpath.is_absolute():
            mpath = base_dir / mpath
        if not mpath.is_file():
            problems.add("edge.model", f"file {str(mpath)!r} does not exist")
        edge = replace(edge, model=str(mpath))
    storage = _section(StorageConfig, raw.get("storage"), "storage", problems)
    if base_dir is not None and not Path(storage.state_dir).is_absolute():
        storage = replace(storage, state_dir=str(base_dir / storage.state_dir))
    cfg = replace(
        cfg,
        site=site or cfg.site,
        cloud_broker=cloud_broker,
        thresholds=thresholds,
        edge=edge,
        cloud=_section(CloudConfig, raw.get("cloud"), "cloud", problems),
        storage=storage,
        observe=_section(ObserveConfig, raw.get("observe"), "observe", problems),
        devices=_section(DevicesConfig, raw.get("devices"), "devices", problems),
        dashboards=parse_dashboards(raw.get("dashboards"), problems.add),  # dashboards hook
    )
    _check_ranges(cfg, problems)
    if problems.items:
        raise ConfigError(problems.items)
    return cfg


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and validate a TOML config file."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except OSError as exc:
        raise ConfigError([("<file>", f"cannot read {p}: {exc.strerror}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("<file>", f"{p} is not valid TOML: {exc}")]) from None
    return parse_config(raw, env=env, base_dir=p.resolve().parent)


def redacted(settings: BrokerSettings) -> dict[str, Any]:
    """Broker settings safe to log: secrets replaced by a marker."""
    out: dict[str, Any] = {}
    for f in fields(settings):
        v = getattr(settings, f.name)
        out[f.name] = "***" if (f.name == "password" and v) else v
    return out

