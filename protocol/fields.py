"""Field kinds: how one payload field is validated, and shown as JSON.

A message is a msgpack map from small integer keys to values. Each dataclass in
:mod:`messages` lists its fields as :class:`Field` (key, name, kind). The kinds
here validate a decoded value (raising :class:`ProtocolError` with the field path)
and normalise it to the exact value that survives the wire (tuples for arrays,
float32 for floats), so ``decode(encode(m)) == m`` holds for every valid message.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from dataclasses import MISSING, dataclass
from typing import Any, ClassVar

from .errors import ProtocolError
from .topics import validate_id


class Kind:
    """Validates and normalises one field value; ``path`` names it in errors."""

    def check(self, value: Any, what: str, path: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_plain(self, value: Any) -> Any:
        return value

    def from_plain(self, value: Any) -> Any:
        return value

    #: Whether :meth:`normalise` changes values (only then is it called).
    NORMALISES: ClassVar[bool] = False

    def normalise(self, value: Any) -> Any:
        """The value as the wire carries it, for a value known to be valid (no check)."""
        return value


def _fail(what: str, path: str, why: str) -> ProtocolError:
    return ProtocolError(what, path, why)


@dataclass(frozen=True)
class UInt(Kind):
    bits: int = 32

    def check(self, value: Any, what: str, path: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(what, path, f"expected an unsigned integer, got {type(value).__name__}")
        if not 0 <= value < (1 << self.bits):
            raise _fail(what, path, f"{value} is outside 0..{(1 << self.bits) - 1}")
        return value


@dataclass(frozen=True)
class Int(Kind):
    lo: int
    hi: int

    def check(self, value: Any, what: str, path: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(what, path, f"expected an integer, got {type(value).__name__}")
        if not self.lo <= value <= self.hi:
            raise _fail(what, path, f"{value} is outside {self.lo}..{self.hi}")
        return value


def to_float32(value: float) -> float:
    """The float32 value nearest ``value``: what the wire carries."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


@dataclass(frozen=True)
class Float(Kind):
    """Carried as msgpack float32. ``lo``/``hi`` bound it when given."""

    lo: float = -math.inf
    hi: float = math.inf
    NORMALISES: ClassVar[bool] = True

    def normalise(self, value: Any) -> Any:
        return to_float32(float(value))

    def check(self, value: Any, what: str, path: str) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _fail(what, path, f"expected a number, got {type(value).__name__}")
        try:
            out = to_float32(float(value))
        except (OverflowError, struct.error):
            raise _fail(what, path, f"{value!r} does not fit a float32") from None
        if not math.isfinite(out):
            raise _fail(what, path, "must be finite")
        if not self.lo <= out <= self.hi:
            raise _fail(what, path, f"{out} is outside {self.lo}..{self.hi}")
        return out


@dataclass(frozen=True)
class Bool(Kind):
    def check(self, value: Any, what: str, path: str) -> bool:
        if not isinstance(value, bool):
            raise _fail(what, path, f"expected a boolean, got {type(value).__name__}")
        return value


@dataclass(frozen=True)
class Text(Kind):
    max_length: int = 256
    min_length: int = 0

    def check(self, value: Any, what: str, path: str) -> str:
        if not isinstance(value, str):
            raise _fail(what, path, f"expected a string, got {type(value).__name__}")
        if not self.min_length <= len(value) <= self.max_length:
            raise _fail(
                what, path, f"length {len(value)} is outside {self.min_length}..{self.max_length}"
            )
        return value


@dataclass(frozen=True)
class Ident(Kind):
    """A device, gateway or worker id (``[A-Za-z0-9_-]{1,64}``)."""

    def check(self, value: Any, what: str, path: str) -> str:
        try:
            return validate_id(value)
        except ProtocolError as exc:
            raise _fail(what, path, exc.why) from None


@dataclass(frozen=True)
class OneOf(Kind):
    choices: tuple[str, ...]

    def check(self, value: Any, what: str, path: str) -> str:
        if value not in self.choices:
            raise _fail(what, path, f"{value!r:.40} is not one of {', '.join(self.choices)}")
        return str(value)


@dataclass(frozen=True)
class Bytes(Kind):
    max_length: int

    def check(self, value: Any, what: str, path: str) -> bytes:
        if not isinstance(value, bytes | bytearray):
            raise _fail(what, path, f"expected bytes, got {type(value).__name__}")
        if len(value) > self.max_length:
            raise _fail(what, path, f"{len(value)} bytes exceed {self.max_length}")
        return bytes(value)

    def to_plain(self, value: Any) -> Any:
        return value.hex()

    def from_plain(self, value: Any) -> Any:
        return bytes.fromhex(value)


@dataclass(frozen=True)
class Array(Kind):
    item: Kind
    max_length: int
    min_length: int = 0

    NORMALISES: ClassVar[bool] = True

    def normalise(self, value: Any) -> Any:
        item = self.item
        return tuple(item.normalise(v) for v in value) if item.NORMALISES else tuple(value)

    def check(self, value: Any, what: str, path: str) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _fail(what, path, f"expected an array, got {type(value).__name__}")
        if not self.min_length <= len(value) <= self.max_length:
            raise _fail(
                what, path, f"length {len(value)} is outside {self.min_length}..{self.max_length}"
            )
        return tuple(self.item.check(v, what, f"{path}[{i}]") for i, v in enumerate(value))

    def to_plain(self, value: Any) -> Any:
        return [self.item.to_plain(v) for v in value]

    def from_plain(self, value: Any) -> Any:
        return tuple(self.item.from_plain(v) for v in value)


@dataclass(frozen=True)
class StrMap(Kind):
    """A map from short names to numbers (metrics counters), kept sorted by name."""

    max_length: int
    value: Kind

    def check(self, value: Any, what: str, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(what, path, f"expected a map, got {type(value).__name__}")
        if len(value) > self.max_length:
            raise _fail(what, path, f"{len(value)} entries exceed {self.max_length}")
        out: dict[str, Any] = {}
        for k, v in sorted(value.items(), key=lambda kv: str(kv[0])):
            Text(128, 1).check(k, what, f"{path}.<key>")
            out[k] = self.value.check(v, what, f"{path}.{k}")
        return out


@dataclass(frozen=True)
class Nested(Kind):
    """A field holding another message (encoded as a nested map)."""

    cls: type[WireMessage]

    def check(self, value: Any, what: str, path: str) -> WireMessage:
        if isinstance(value, self.cls):
            return value
        if isinstance(value, dict):
            try:
                return self.cls.from_wire(value)
            except ProtocolError as exc:
                inner = f"{path}.{exc.where}" if exc.where else path
                raise _fail(what, inner, exc.why) from None
        raise _fail(what, path, f"expected a map, got {type(value).__name__}")

    def to_plain(self, value: Any) -> Any:
        return value.to_plain()

    def from_plain(self, value: Any) -> Any:
        return self.cls.from_plain(value)


@dataclass(frozen=True)
class Field:
    key: int
    name: str
    kind: Kind
    required: bool = True


@dataclass(frozen=True)
class _Shape:
    """A message class's fields as building and encoding use them."""

    defaults: dict[str, Any]  # name -> default, for the optional fields
    required: frozenset[str]
    names: frozenset[str]
    normalising: tuple[Field, ...]  # fields whose kind normalises (float32, tuples)
    wire: tuple[tuple[int, str, bool, int], ...]  # key, name, optional, 0/1 nested/2 array


_SHAPES: dict[type, _Shape] = {}


class WireMessage:
    """Base of every payload dataclass: validation on construction, wire/plain forms.

    Subclasses are frozen dataclasses that set ``KIND`` (the name used in errors and
    vectors) and ``FIELDS``. Optional fields default to ``None`` (or ``False`` for
    flags) and are left out of the wire map while at that default.

    Each value is validated once: by the constructor, or by :meth:`from_wire` field by
    field (which then builds the message without checking again). :meth:`unchecked`
    builds a message from values the caller already validated (a gateway's result made
    of a validated report's fields): normalised to what the wire carries, not checked.
    """

    KIND: ClassVar[str] = "message"
    FIELDS: ClassVar[tuple[Field, ...]] = ()
    #: False for messages that only appear nested in others (no schema key of their own).
    TOP_LEVEL: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for f in self.FIELDS:
            value = getattr(self, f.name)
            if value is None or (value is False and not f.required):
                if f.required:
                    raise ProtocolError(self.KIND, f.name, "required field is missing")
                continue
            object.__setattr__(self, f.name, f.kind.check(value, self.KIND, f.name))
        self.check()

    def check(self) -> None:
        """Cross-field rules; override in subclasses."""

    @classmethod
    def _shape(cls) -> _Shape:
        """What building and encoding this class needs, computed once per class."""
        shape = _SHAPES.get(cls)
        if shape is None:
            defaults: dict[str, Any] = {}
            required = set()
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                if f.default is not MISSING:
                    defaults[f.name] = f.default
                elif f.default_factory is not MISSING:
                    defaults[f.name] = f.default_factory()  # immutable: tuple()
                else:
                    required.add(f.name)
            wire = tuple(
                (f.key, f.name, not f.required,
                 1 if isinstance(f.kind, Nested) else
                 2 if isinstance(f.kind, Array) and isinstance(f.kind.item, Nested) else 0)
                for f in cls.FIELDS)
            shape = _SHAPES[cls] = _Shape(
                defaults, frozenset(required), frozenset(defaults) | frozenset(required),
                tuple(f for f in cls.FIELDS if f.kind.NORMALISES), wire)
        return shape

    @classmethod
    def _build(cls, values: dict[str, Any]) -> Any:
        """The message from values already checked (and normalised): cross-field rules only."""
        shape = cls._shape()
        keys = values.keys()
        if not shape.required <= keys:
            name = sorted(shape.required - keys)[0]
            raise ProtocolError(cls.KIND, name, "required field is missing")
        if not keys <= shape.names:
            raise TypeError(f"{cls.__name__} has no field {sorted(keys - shape.names)[0]!r}")
        obj = object.__new__(cls)
        state = dict(shape.defaults)
        state.update(values)
        obj.__dict__.update(state)  # frozen: set once, here, as the constructor would
        obj.check()
        return obj

    @classmethod
    def unchecked(cls, **values: Any) -> Any:
        """A message from values the caller has already validated: floats and arrays are
        normalised as the wire carries them, nothing is checked but cross-field rules.
        For messages built from validated parts on a hot path; anything else uses the
        constructor."""
        for f in cls._shape().normalising:
            value = values.get(f.name)
            if value is not None:
                values[f.name] = f.kind.normalise(value)
        return cls._build(values)

    # -- wire form (integer keys) ---------------------------------------------
    def to_wire(self) -> dict[int, Any]:
        out: dict[int, Any] = {}
        state = self.__dict__
        for key, name, optional, nested in self._shape().wire:
            value = state[name]
            if value is None or (optional and value is False):
                continue
            if nested == 1:
                value = value.to_wire()
            elif nested == 2:
                value = [v.to_wire() for v in value]
            elif value.__class__ is tuple:
                value = list(value)
            out[key] = value
        return out

    @classmethod
    def from_wire(cls, raw: dict[Any, Any]) -> Any:
        kwargs: dict[str, Any] = {}
        for f in cls.FIELDS:
            if f.key in raw:
                value = raw[f.key]
                if value is None:
                    raise ProtocolError(cls.KIND, f.name, "null is not a valid value")
                kwargs[f.name] = f.kind.check(value, cls.KIND, f.name)
            elif f.required:
                raise ProtocolError(cls.KIND, f.name, f"required field (key {f.key}) is missing")
        return cls._build(kwargs)  # each value checked above: not again

    # -- plain form (JSON, for vectors and dashboards) ------------------------
    def to_plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.FIELDS:
            value = getattr(self, f.name)
            if value is None or (value is False and not f.required):
                continue
            out[f.name] = f.kind.to_plain(value)
        return out

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> Any:
        kwargs = {
            f.name: f.kind.from_plain(plain[f.name]) for f in cls.FIELDS if f.name in plain
        }
        return cls(**kwargs)

