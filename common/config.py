"""The config framework shared by the gateway and the cloud worker.

One way to read a TOML file into typed frozen dataclasses, validated once, with *every*
problem reported with its path (``broker.port: must be 1..65535``; a file that cannot be
read is reported under the file's own path), and the sections both services share:

* ``[broker]`` (:class:`BrokerSection`): ``url``, ``username``, ``password``, TLS
  (``ca_file``, ``cert_file``, ``key_file``), ``keepalive``, ``mqtt5``, plus the keys a
  service adds (``client_id`` for the gateway, ``clean_start`` for the worker). Secrets come
  from the environment: ``EC_<SECTION>_<KEY>`` (``EC_BROKER_PASSWORD``,
  ``EC_CLOUD_BROKER_CERT_FILE``) overrides the key of that name.
* ``[http]`` (:class:`HttpSection`): ``enabled``, ``host``, ``port`` (0: any free port).
  The default port differs per service (gateway 9108, worker 9109) so both fit on one host.

Old section names are still read, with a :class:`FutureWarning` naming the new one
(:func:`legacy_table`).
"""

from __future__ import annotations

import sys
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from edgecascade.errors import EdgecascadeError
from edgecascade.mqtt import DEFAULT_URL, BrokerSettings, SettingsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

T = TypeVar("T")
SECRET_KEYS = ("username", "password", "ca_file", "cert_file", "key_file")
GATEWAY_HTTP_PORT = 9108
WORKER_HTTP_PORT = 9109


class ConfigError(EdgecascadeError, ValueError):
    """One or more configuration problems; ``problems`` holds ``(path, why)`` pairs and
    ``source`` the file they came from (empty for a document built in code)."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "") -> None:
        self.problems = problems
        self.source = source
        head = f"{source}: " if source else ""
        lines = "\n".join(f"  {p}: {w}" for p, w in problems)
        super().__init__(f"{head}{len(problems)} configuration problem(s):\n{lines}")


class Problems:
    """Collects every problem with its path; :meth:`check` raises them all at once."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, why: str) -> None:
        self.items.append((path, why))

    def need(self, path: str, ok: bool, why: str) -> None:
        if not ok:
            self.add(path, why)

    def check(self, source: str = "") -> None:
        if self.items:
            raise ConfigError(self.items, source)


def read_toml(path: str | Path) -> tuple[dict[str, Any], Path]:
    """The parsed document and the folder relative paths resolve against."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([(str(p), f"cannot read: {exc.strerror or exc}")], str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([(str(p), f"not valid TOML: {exc}")], str(p)) from None
    return doc, p.resolve().parent


def resolve_path(base: Path | None, value: str | None) -> str | None:
    """``value`` made absolute against ``base`` (the config file's folder)."""
    if not value:
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() or base is None else base / p)


def legacy_table(doc: Mapping[str, Any], new: str, old: str, problems: Problems) -> str:
    """The table to read ``[new]`` from: ``old`` when only that deprecated name is present
    (a FutureWarning says so; problems are then reported under the name the file uses)."""
    if old not in doc:
        return new
    if new in doc:
        problems.add(old, f"deprecated name of [{new}], which is also present: remove [{old}]")
        return new
    warnings.warn(f"config: [{old}] is deprecated, use [{new}]", FutureWarning, stacklevel=3)
    return old


def _unwrap(hint: Any) -> Any:
    """``X | None`` -> ``X``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(hint) else hint


def scalar(value: Any, hint: Any, path: str, problems: Problems) -> Any:
    """``value`` checked against a field type (ints accepted for floats); None if wrong."""
    want = _unwrap(hint)
    if typing.get_origin(want) is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        problems.add(path, "expected a list of strings")
        return None
    ok = isinstance(value, want) and not (isinstance(value, bool) and want is not bool)
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if ok:
        return value
    problems.add(path, f"expected {getattr(want, '__name__', want)}, got {type(value).__name__}")
    return None


def from_text(text: str, hint: Any, path: str, problems: Problems) -> Any:
    """An environment variable's text as a field's type; None (and a problem) if wrong."""
    want = _unwrap(hint)
    try:
        if want is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        return want(text)
    except (TypeError, ValueError):
        problems.add(path, f"expected {getattr(want, '__name__', want)}, got {text!r}")
        return None


def table(doc: Mapping[str, Any], name: str, problems: Problems) -> Mapping[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, Mapping):
        problems.add(name, f"expected a table, got {type(value).__name__}")
        return {}
    return value


def unknown_keys(raw: Mapping[str, Any], known: set[str], path: str,
                 problems: Problems) -> None:
    for key in sorted(set(raw) - known):
        where = f"{path}.{key}" if path else key
        problems.add(where, f"unknown key (known: {', '.join(sorted(known))})")


def section(cls: type[T], raw: Any, path: str, problems: Problems, base: T | None = None,
            skip: tuple[str, ...] = ()) -> T:
    """Dataclass ``cls`` (over ``base``) from a TOML table: unknown keys, wrong types."""
    instance: Any = base if base is not None else cls()
    if raw is None:
        return typing.cast(T, instance)
    if not isinstance(raw, Mapping):
        problems.add(path, f"expected a table, got {type(raw).__name__}")
        return typing.cast(T, instance)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown_keys({k: v for k, v in raw.items() if k not in skip}, names | set(skip), path,
                 problems)
    changes = {}
    for key, value in raw.items():
        if key in names:
            checked = scalar(value, hints[key], f"{path}.{key}", problems)
            if checked is not None:
                changes[key] = checked
    return typing.cast(T, replace(instance, **changes))


# -- shared sections -------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerSection:
    """``[broker]`` (and the gateway's ``[cloud_broker]``): one MQTT connection."""

    url: str | None = DEFAULT_URL  # None (worker only): discover the AWS IoT endpoint
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive: int = 30
    mqtt5: bool = False
    clean_start: bool = True  # worker only; the gateway's site session is persistent
    client_id: str = ""  # gateway only; the worker's client id is its worker_id

    def settings(self, url: str | None = None) -> BrokerSettings:
        return BrokerSettings(url=url or self.url or DEFAULT_URL, username=self.username,
                              password=self.password, ca_file=self.ca_file,
                              cert_file=self.cert_file, key_file=self.key_file,
                              keepalive=self.keepalive, mqtt5=self.mqtt5)


BASE_BROKER_KEYS = ("url", "username", "password", "ca_file", "cert_file", "key_file",
                    "keepalive", "mqtt5")


def env_name(path: str, key: str) -> str:
    """``EC_<SECTION>_<KEY>``: the environment variable overriding ``[path] key``."""
    return f"EC_{path.replace('.', '_').upper()}_{key.upper()}"


def read_broker(raw: Any, path: str, env: Mapping[str, str], problems: Problems,
                base_dir: Path | None, *, extra: tuple[str, ...] = (),
                url: str | None = DEFAULT_URL, env_as: str = "",
                legacy_env: tuple[str, ...] = ()) -> BrokerSection:
    """A broker section; ``extra`` names the service's own keys (``client_id`` ...).

    Secrets come from ``EC_<SECTION>_<KEY>`` first (``env_as``: the section's current name
    when ``path`` is a deprecated one), then the legacy prefixes (``EC_SITE``).
    """
    base = BrokerSection(url=url)
    known = (*BASE_BROKER_KEYS, *extra)
    skip = tuple(f.name for f in fields(BrokerSection) if f.name not in known)
    if isinstance(raw, Mapping):
        for key in skip:
            if key in raw:
                problems.add(f"{path}.{key}", f"unknown key (known: {', '.join(sorted(known))})")
        raw = {k: v for k, v in raw.items() if k not in skip}
    b = section(BrokerSection, raw, path, problems, base)
    secrets: dict[str, Any] = {}
    for key in SECRET_KEYS:
        for name in (env_name(env_as or path, key),
                     *(f"{p}_{key.upper()}" for p in legacy_env)):
            if env.get(name):
                secrets[key] = env[name]
                break
    b = replace(b, **secrets)
    b = replace(b, ca_file=resolve_path(base_dir, b.ca_file),
                cert_file=resolve_path(base_dir, b.cert_file),
                key_file=resolve_path(base_dir, b.key_file))
    for key in ("ca_file", "cert_file", "key_file"):
        file = getattr(b, key)
        if file and not Path(file).is_file():
            problems.add(f"{path}.{key}", f"file {file!r} does not exist")
    problems.need(f"{path}.keepalive", 5 <= b.keepalive <= 1200, "must be 5..1200 s")
    problems.need(f"{path}.cert_file", (b.cert_file is None) == (b.key_file is None),
                  "cert_file and key_file go together")
    if b.url is not None:
        try:
            BrokerSettings(url=b.url)
        except SettingsError as exc:
            problems.add(f"{path}.{exc.path}", exc.why)
    return b


@dataclass(frozen=True)
class HttpSection:
    """``[http]``: the /metrics (and, on the gateway, /healthz, /readyz) endpoint."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = GATEWAY_HTTP_PORT  # 0: any free port


def read_http(raw: Any, problems: Problems, base: HttpSection,
              path: str = "http") -> HttpSection:
    h = section(HttpSection, raw, path, problems, base)
    problems.need(f"{path}.port", 0 <= h.port <= 65535, "must be 0..65535 (0: any free port)")
    problems.need(f"{path}.host", bool(h.host), "must not be empty")
    return h


def redacted(settings: Any) -> dict[str, Any]:
    """A settings dataclass safe to log: the password replaced by a marker."""
    out: dict[str, Any] = {}
    for f in fields(settings):
        v = getattr(settings, f.name)
        out[f.name] = "***" if (f.name == "password" and v) else v
    return out
