"""Regenerates the field tables of PROTOCOL.md from the message classes.

``python -m edgecascade.tools.protocol_doc`` rewrites the text between the
``<!-- fields:begin -->`` and ``<!-- fields:end -->`` markers; a test fails when the
committed document differs, so the doc cannot drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edgecascade.protocol import MESSAGE_TYPES
from edgecascade.protocol.fields import (
    Array,
    Bool,
    Bytes,
    Field,
    Float,
    Ident,
    Int,
    Kind,
    Nested,
    OneOf,
    StrMap,
    Text,
    UInt,
)

DOC = Path(__file__).resolve().parent.parent / "PROTOCOL.md"
BEGIN, END = "<!-- fields:begin -->", "<!-- fields:end -->"


def describe(kind: Kind) -> str:
    if isinstance(kind, UInt):
        return f"uint{kind.bits}"
    if isinstance(kind, Int):
        return f"int {kind.lo}..{kind.hi}"
    if isinstance(kind, Float):
        bounds = "" if kind.lo == float("-inf") else f" >= {kind.lo:g}"
        if kind.hi != float("inf"):
            bounds = f" {kind.lo:g}..{kind.hi:g}"
        return f"float32{bounds}"
    if isinstance(kind, Bool):
        return "bool"
    if isinstance(kind, Ident):
        return "id (str)"
    if isinstance(kind, Text):
        return f"str <= {kind.max_length}"
    if isinstance(kind, OneOf):
        return "str: " + " \\| ".join(f"`{c}`" for c in kind.choices)
    if isinstance(kind, Bytes):
        return "bin"
    if isinstance(kind, Array):
        return f"array of {describe(kind.item)} ({kind.min_length}..{kind.max_length})"
    if isinstance(kind, StrMap):
        return f"map str -> {describe(kind.value)}"
    if isinstance(kind, Nested):
        return f"map: {kind.cls.KIND}"
    return type(kind).__name__


def row(f: Field) -> str:
    need = "yes" if f.required else "no"
    return f"| {f.key} | `{f.name}` | {describe(f.kind)} | {need} |"


def tables() -> str:
    out = []
    for kind, cls in MESSAGE_TYPES.items():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        out.append(f"#### `{kind}`\n\n{doc}\n")
        if not cls.TOP_LEVEL:
            out.append("Appears only inside other messages; it has no key 0 of its own.\n")
        out.append("| key | field | type | required |\n|---|---|---|---|")
        if cls.TOP_LEVEL:
            out.append("| 0 | `schema` | uint (schema version, currently 1) | yes |")
        out.extend(row(f) for f in cls.FIELDS)
        out.append("")
    return "\n".join(out)


def render(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{tables()}\n{END}{tail}"


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC
    path.write_text(render(path.read_text()))
    print(f"updated {path}")
