"""Worker configuration: a TOML file, validated once, every error reported with its path.

Loaded by :func:`load_config` (``edgecascade cloud-worker --config cloud.toml``); see
``cloud.example.toml`` at the repository root for every key. Secrets never need to be in
the file: ``EC_WORKER_USERNAME``, ``EC_WORKER_PASSWORD``, ``EC_WORKER_CA_FILE``,
``EC_WORKER_CERT_FILE`` and ``EC_WORKER_KEY_FILE`` override the ``[broker]`` keys of the
same name (the gateway uses ``EC_SITE_*`` / ``EC_CLOUD_*`` the same way).

AWS credentials come from boto3's usual chain (environment, profile, instance role).
Relative paths in the file are resolved against the file's directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecascade.protocol import ProtocolError, Topics, validate_id
from edgecascade.protocol.limits import MAX_PUBLISH_PER_SECOND

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_VERSION = 1
ENV_PREFIX = "EC_WORKER_"
SECRET_KEYS = ("username", "password", "ca_file", "cert_file", "key_file")


class ConfigError(ValueError):
    """One or more settings are wrong; ``problems`` lists (path, why) for each."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "") -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  {path}: {why}" for path, why in problems)
        super().__init__(f"{head}{len(problems)} configuration problem(s):\n{lines}")


@dataclass(frozen=True)
class BrokerConfig:
    url: str | None = None  # None: discover the AWS IoT endpoint ([aws] region needed)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive: int = 30
    mqtt5: bool = False
    clean_start: bool = True


@dataclass(frozen=True)
class ModelConfig:
    path: str
    num_threads: int = 1
    max_batch: int = 64
    max_delay_ms: float = 5.0


@dataclass(frozen=True)
class LimitsConfig:
    publish_per_second: int = MAX_PUBLISH_PER_SECOND  # in any 1 s window (AWS: 100)
    dedupe_capacity: int = 4096
    max_in_hand: int = 1024
    fetch_threads: int = 4


@dataclass(frozen=True)
class MetricsConfig:
    port: int = 0  # 0: no HTTP endpoint
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class ClaimCheckConfig:
    bucket: str
    prefix: str = "frames/"
    region: str | None = None
    endpoint_url: str | None = None
    max_object_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class AwsConfig:
    region: str | None = None
    endpoint_url: str | None = None  # the IoT control plane (moto in tests)


@dataclass(frozen=True)
class WorkerConfig:
    worker_id: str
    model: ModelConfig
    prefix: str = "ec/v1"
    shared_group: str = "ec-workers"  # "": plain subscription (brokers without $share)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    claimcheck: ClaimCheckConfig | None = None
    aws: AwsConfig = field(default_factory=AwsConfig)
    version: int = CONFIG_VERSION

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix)


class _Reader:
    """Pulls typed values out of nested tables, collecting every problem with its path."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def table(self, doc: Mapping[str, Any], name: str, known: set[str]) -> Mapping[str, Any]:
        value = doc.get(name, {})
        if not isinstance(value, Mapping):
            self.problems.append((name, f"must be a table, got {type(value).__name__}"))
            return {}
        for key in sorted(set(value) - known):
            self.problems.append((f"{name}.{key}", "unknown key"))
        return value

    def get(self, doc: Mapping[str, Any], path: str, kind: type | tuple[type, ...],
            default: Any = None, *, required: bool = False, lo: float | None = None,
            hi: float | None = None) -> Any:
        key = path.rsplit(".", 1)[-1]
        if key not in doc:
            if required:
                self.problems.append((path, "is required"))
            return default
        value: Any = doc[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = "/".join(k.__name__ for k in kinds)
            self.problems.append((path, f"must be {names}, got {type(value).__name__}"))
            return default
        number: Any = value
        if lo is not None and number < lo or hi is not None and number > hi:
            self.problems.append((path, f"{value} is outside {lo}..{hi}"))
            return default
        return value


def _path(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else base / p)


def parse_config(doc: Mapping[str, Any], base_dir: Path = Path("."), *,
                 env: Mapping[str, str] | None = None, source: str = "") -> WorkerConfig:
    """Validate a parsed TOML document; raise :class:`ConfigError` listing every problem."""
    env = os.environ if env is None else env
    r = _Reader()
    top = {"version", "worker_id", "prefix", "shared_group", "broker", "model", "limits",
           "metrics", "claimcheck", "aws"}
    for key in sorted(set(doc) - top):
        r.problems.append((key, "unknown key"))
    version = r.get(doc, "version", int, CONFIG_VERSION)
    if version != CONFIG_VERSION:
        r.problems.append(("version", f"this worker reads version {CONFIG_VERSION}, got {version}"))
    worker_id = r.get(doc, "worker_id", str, required=True)
    if worker_id is not None:
        try:
            validate_id(worker_id, "worker_id")
        except ProtocolError as exc:
            r.problems.append(("worker_id", exc.why))
    prefix = r.get(doc, "prefix", str, "ec/v1")
    try:
        Topics(prefix)
    except ProtocolError as exc:
        r.problems.append(("prefix", exc.why))
    shared_group = r.get(doc, "shared_group", str, "ec-workers")
    if shared_group:
        try:
            validate_id(shared_group, "shared_group")
        except ProtocolError as exc:
            r.problems.append(("shared_group", exc.why))

    b = r.table(doc, "broker", {"url", "username", "password", "ca_file", "cert_file",
                                "key_file", "keepalive", "mqtt5", "clean_start"})
    secrets = {k: env.get(ENV_PREFIX + k.upper()) or r.get(b, f"broker.{k}", str)
               for k in SECRET_KEYS}
    broker = BrokerConfig(
        url=r.get(b, "broker.url", str),
        username=secrets["username"],
        password=secrets["password"],
        ca_file=_path(base_dir, secrets["ca_file"]),
        cert_file=_path(base_dir, secrets["cert_file"]),
        key_file=_path(base_dir, secrets["key_file"]),
        keepalive=r.get(b, "broker.keepalive", int, 30, lo=5, hi=1200),
        mqtt5=r.get(b, "broker.mqtt5", bool, False),
        clean_start=r.get(b, "broker.clean_start", bool, True),
    )
    for name in ("ca_file", "cert_file", "key_file"):
        value = getattr(broker, name)
        if value is not None and not Path(value).is_file():
            r.problems.append((f"broker.{name}", f"no such file: {value}"))
    if (broker.cert_file is None) != (broker.key_file is None):
        r.problems.append(("broker.cert_file", "cert_file and key_file go together"))
    if broker.url is not None:
        from edgecascade.mqtt import BrokerSettings, SettingsError

        try:
            BrokerSettings(url=broker.url)
        except SettingsError as exc:
            r.problems.append((f"broker.{exc.path}", exc.why))

    m = r.table(doc, "model", {"path", "num_threads", "max_batch", "max_delay_ms"})
    if "model" not in doc:
        r.problems.append(("model", "is required (at least model.path)"))
    model = ModelConfig(
        path=_path(base_dir, r.get(m, "model.path", str, "", required="model" in doc)) or "",
        num_threads=r.get(m, "model.num_threads", int, 1, lo=1, hi=64),
        max_batch=r.get(m, "model.max_batch", int, 64, lo=1, hi=4096),
        max_delay_ms=r.get(m, "model.max_delay_ms", float, 5.0, lo=0.0, hi=10_000.0),
    )
    if model.path and not Path(model.path).is_file():
        r.problems.append(("model.path", f"no such file: {model.path}"))

    lim = r.table(doc, "limits", {"publish_per_second", "dedupe_capacity", "max_in_hand",
                                  "fetch_threads"})
    limits = LimitsConfig(
        publish_per_second=r.get(lim, "limits.publish_per_second", int,
                                 MAX_PUBLISH_PER_SECOND, lo=1, hi=MAX_PUBLISH_PER_SECOND),
        dedupe_capacity=r.get(lim, "limits.dedupe_capacity", int, 4096, lo=0, hi=10_000_000),
        max_in_hand=r.get(lim, "limits.max_in_hand", int, 1024, lo=1, hi=1_000_000),
        fetch_threads=r.get(lim, "limits.fetch_threads", int, 4, lo=1, hi=64),
    )
    mt = r.table(doc, "metrics", {"port", "host"})
    metrics = MetricsConfig(
        port=r.get(mt, "metrics.port", int, 0, lo=0, hi=65535),
        host=r.get(mt, "metrics.host", str, "127.0.0.1"),
    )
    claimcheck = None
    if "claimcheck" in doc:
        c = r.table(doc, "claimcheck", {"bucket", "prefix", "region", "endpoint_url",
                                        "max_object_bytes"})
        claimcheck = ClaimCheckConfig(
            bucket=r.get(c, "claimcheck.bucket", str, "", required=True),
            prefix=r.get(c, "claimcheck.prefix", str, "frames/"),
            region=r.get(c, "claimcheck.region", str),
            endpoint_url=r.get(c, "claimcheck.endpoint_url", str),
            max_object_bytes=r.get(c, "claimcheck.max_object_bytes", int, 16 * 1024 * 1024,
                                   lo=1, hi=1 << 31),
        )
    a = r.table(doc, "aws", {"region", "endpoint_url"})
    aws = AwsConfig(region=r.get(a, "aws.region", str),
                    endpoint_url=r.get(a, "aws.endpoint_url", str))
    if broker.url is None and aws.region is None:
        r.problems.append(("broker.url", "set broker.url, or aws.region to discover the "
                                         "AWS IoT Core endpoint"))
    if broker.url is None and broker.cert_file is None:
        r.problems.append(("broker.cert_file", "AWS IoT Core needs cert_file and key_file"))
    if r.problems:
        raise ConfigError(r.problems, source)
    return WorkerConfig(
        worker_id=worker_id, model=model, prefix=prefix, shared_group=shared_group,
        broker=broker, limits=limits, metrics=metrics, claimcheck=claimcheck, aws=aws,
        version=version,
    )


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> WorkerConfig:
    """Read and validate a TOML file."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([("", f"cannot read: {exc.strerror or exc}")], str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("", f"not valid TOML: {exc}")], str(p)) from None
    return parse_config(doc, p.resolve().parent, env=env, source=str(p))
