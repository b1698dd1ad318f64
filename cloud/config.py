"""Worker configuration: a TOML file, validated once, every error reported with its path.

Loaded by :func:`load_config` (``edgecascade cloud-worker --config cloud.toml``); see
``cloud.example.toml`` at the repository root for every key. The framework (problem
collector, the ``[broker]`` and ``[http]`` sections shared with the gateway) is
:mod:`edgecascade.config`. Secrets never need to be in the file: ``EC_BROKER_USERNAME``,
``EC_BROKER_PASSWORD``, ``EC_BROKER_CA_FILE``, ``EC_BROKER_CERT_FILE`` and
``EC_BROKER_KEY_FILE`` override the ``[broker]`` keys of the same name (the old
``EC_WORKER_*`` names are still read), exactly as on the gateway.

``[http]`` serves Prometheus ``/metrics``: off unless ``enabled = true``; default port
9109 (the gateway's is 9108, so both fit on one host). The old ``[metrics] port`` (0: off)
is still read, with a FutureWarning.

AWS credentials come from boto3's usual chain (environment, profile, instance role).
Relative paths in the file are resolved against the file's directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgecascade.config import (
    WORKER_HTTP_PORT,
    BrokerSection,
    ConfigError,
    HttpSection,
    Problems,
    legacy_table,
    read_broker,
    read_http,
    read_toml,
    resolve_path,
    unknown_keys,
)
from edgecascade.models.runners.settings import RuntimeSettings, settings_problems
from edgecascade.protocol import DEFAULT_PREFIX, ProtocolError, Topics, validate_id
from edgecascade.protocol.limits import MAX_PUBLISH_PER_SECOND

__all__ = ["BrokerConfig", "ConfigError", "WorkerConfig", "load_config", "parse_config"]

CONFIG_VERSION = 1
#: The worker's ``[broker]``: the shared section (url None: discover the AWS endpoint).
BrokerConfig = BrokerSection
WORKER_HTTP = HttpSection(enabled=False, port=WORKER_HTTP_PORT)


@dataclass(frozen=True)
class ModelConfig:
    path: str
    num_threads: int = 1
    # None: the backend's default (cloud/batcher.py BATCH_DEFAULTS: CPU 64 / 5 ms)
    max_batch: int | None = None
    max_delay_ms: float | None = None
    # The model runtime (models/runners): "litert" | "onnxruntime" | "torch" | "auto";
    # providers by preference ("tensorrt", "cuda", "cpu"; empty: best available); a GPU
    # asked for and not active refuses to start unless allow_cpu_fallback; fp16 on a GPU;
    # TensorRT engines cached under engine_cache_dir ("": none).
    runtime: str = "litert"
    providers: tuple[str, ...] = ()
    allow_cpu_fallback: bool = False
    fp16: bool = False
    engine_cache_dir: str = ""

    def runtime_settings(self) -> RuntimeSettings:
        return RuntimeSettings(runtime=self.runtime, providers=self.providers,
                               allow_cpu_fallback=self.allow_cpu_fallback, fp16=self.fp16,
                               num_threads=self.num_threads, cache_dir=self.engine_cache_dir)


@dataclass(frozen=True)
class LimitsConfig:
    publish_per_second: int = MAX_PUBLISH_PER_SECOND  # in any 1 s window (AWS: 100)
    dedupe_capacity: int = 4096
    max_in_hand: int = 1024
    fetch_threads: int = 4


@dataclass(frozen=True)
class MetricsConfig:
    """Read-only view with the pre-[http] names (``port`` 0: off), kept for callers not
    yet moved to ``config.http``; never parsed from TOML."""

    port: int
    host: str


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
    prefix: str = DEFAULT_PREFIX
    shared_group: str = "ec-workers"  # "": plain subscription (brokers without $share)
    broker: BrokerConfig = field(default_factory=lambda: BrokerConfig(url=None))
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    http: HttpSection = WORKER_HTTP
    claimcheck: ClaimCheckConfig | None = None
    aws: AwsConfig = field(default_factory=AwsConfig)
    version: int = CONFIG_VERSION

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix)

    @property
    def metrics(self) -> MetricsConfig:
        """The old name of :attr:`http` (``port`` 0 when the endpoint is off)."""
        return MetricsConfig(self.http.port if self.http.enabled else 0, self.http.host)


class _Reader:
    """Pulls typed values out of nested tables into a :class:`Problems` collector."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems

    def table(self, doc: Mapping[str, Any], name: str, known: set[str]) -> Mapping[str, Any]:
        value = doc.get(name, {})
        if not isinstance(value, Mapping):
            self.problems.add(name, f"must be a table, got {type(value).__name__}")
            return {}
        unknown_keys(value, known, name, self.problems)
        return value

    def get(self, doc: Mapping[str, Any], path: str, kind: type | tuple[type, ...],
            default: Any = None, *, required: bool = False, lo: float | None = None,
            hi: float | None = None) -> Any:
        key = path.rsplit(".", 1)[-1]
        if key not in doc:
            if required:
                self.problems.add(path, "is required")
            return default
        value: Any = doc[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = "/".join(k.__name__ for k in kinds)
            self.problems.add(path, f"must be {names}, got {type(value).__name__}")
            return default
        number: Any = value
        if lo is not None and number < lo or hi is not None and number > hi:
            self.problems.add(path, f"{value} is outside {lo}..{hi}")
            return default
        return value


def parse_config(doc: Mapping[str, Any], base_dir: Path = Path("."), *,
                 env: Mapping[str, str] | None = None, source: str = "") -> WorkerConfig:
    """Validate a parsed TOML document; raise :class:`ConfigError` listing every problem."""
    env = os.environ if env is None else env
    problems = Problems()
    r = _Reader(problems)
    top = {"version", "worker_id", "prefix", "shared_group", "broker", "model", "limits",
           "http", "claimcheck", "aws",
           "metrics"}  # deprecated, still read
    unknown_keys(doc, top, "", problems)
    version = r.get(doc, "version", int, CONFIG_VERSION)
    if version != CONFIG_VERSION:
        problems.add("version", f"this worker reads version {CONFIG_VERSION}, got {version}")
    worker_id = r.get(doc, "worker_id", str, required=True)
    if worker_id is not None:
        try:
            validate_id(worker_id, "worker_id")
        except ProtocolError as exc:
            problems.add("worker_id", exc.why)
    prefix = r.get(doc, "prefix", str, DEFAULT_PREFIX)
    try:
        Topics(prefix)
    except ProtocolError as exc:
        problems.add("prefix", exc.why)
    shared_group = r.get(doc, "shared_group", str, "ec-workers")
    if shared_group:
        try:
            validate_id(shared_group, "shared_group")
        except ProtocolError as exc:
            problems.add("shared_group", exc.why)

    broker = read_broker(doc.get("broker"), "broker", env, problems, base_dir,
                         extra=("clean_start",), url=None, legacy_env=("EC_WORKER",))

    m = r.table(doc, "model", {"path", "num_threads", "max_batch", "max_delay_ms", "runtime",
                               "providers", "allow_cpu_fallback", "fp16", "engine_cache_dir"})
    if "model" not in doc:
        problems.add("model", "is required (at least model.path)")
    providers = r.get(m, "model.providers", list, [])
    if not all(isinstance(p, str) for p in providers):
        problems.add("model.providers", "must be a list of strings")
        providers = []
    cache = r.get(m, "model.engine_cache_dir", str, "")
    model = ModelConfig(
        path=resolve_path(base_dir, r.get(m, "model.path", str, "", required="model" in doc)) or "",
        num_threads=r.get(m, "model.num_threads", int, 1, lo=1, hi=64),
        max_batch=r.get(m, "model.max_batch", int, None, lo=1, hi=4096),
        max_delay_ms=r.get(m, "model.max_delay_ms", float, None, lo=0.0, hi=10_000.0),
        runtime=r.get(m, "model.runtime", str, "litert"),
        providers=tuple(providers),
        allow_cpu_fallback=r.get(m, "model.allow_cpu_fallback", bool, False),
        fp16=r.get(m, "model.fp16", bool, False),
        engine_cache_dir=(resolve_path(base_dir, cache) or "") if cache else "",
    )
    if model.path and not Path(model.path).is_file():
        problems.add("model.path", f"no such file: {model.path}")
    for key, why in settings_problems(model.runtime, model.providers):
        problems.add(f"model.{key}", why)

    lim = r.table(doc, "limits", {"publish_per_second", "dedupe_capacity", "max_in_hand",
                                  "fetch_threads"})
    limits = LimitsConfig(
        publish_per_second=r.get(lim, "limits.publish_per_second", int,
                                 MAX_PUBLISH_PER_SECOND, lo=1, hi=MAX_PUBLISH_PER_SECOND),
        dedupe_capacity=r.get(lim, "limits.dedupe_capacity", int, 4096, lo=0, hi=10_000_000),
        max_in_hand=r.get(lim, "limits.max_in_hand", int, 1024, lo=1, hi=1_000_000),
        fetch_threads=r.get(lim, "limits.fetch_threads", int, 4, lo=1, hi=64),
    )
    at = legacy_table(doc, "http", "metrics", problems)
    if at == "metrics":  # the old table: port 0 meant off
        old = r.table(doc, "metrics", {"port", "host"})
        port = r.get(old, "metrics.port", int, 0, lo=0, hi=65535)
        http = read_http({"host": old.get("host", WORKER_HTTP.host)}, problems, WORKER_HTTP,
                         "metrics")
        http = replace(http, enabled=port != 0, port=port or WORKER_HTTP_PORT)
    else:
        http = read_http(doc.get("http"), problems, WORKER_HTTP)
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
        problems.add("broker.url", "set broker.url, or aws.region to discover the "
                                    "AWS IoT Core endpoint")
    if broker.url is None and broker.cert_file is None:
        problems.add("broker.cert_file", "AWS IoT Core needs cert_file and key_file")
    problems.check(source)
    return WorkerConfig(
        worker_id=worker_id, model=model, prefix=prefix, shared_group=shared_group,
        broker=broker, limits=limits, http=http, claimcheck=claimcheck, aws=aws,
        version=version,
    )


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> WorkerConfig:
    """Read and validate a TOML file (a missing file is reported under its own path)."""
    doc, base_dir = read_toml(path)
    return parse_config(doc, base_dir, env=env, source=str(path))
