"""PROTOCOL.md documents every topic kind and every payload field the code defines."""

from __future__ import annotations

from edgecascade.protocol import MESSAGE_TYPES, TopicKind, Topics
from edgecascade.tools import protocol_doc


def doc_text() -> str:
    return protocol_doc.DOC.read_text()


def test_every_topic_kind_and_topic_is_documented() -> None:
    text = doc_text()
    topics = Topics()
    for kind in TopicKind:
        assert f"`{kind.value}`" in text, kind
        assert topics.build(kind, "X").replace("X", "{", 1).split("{")[0] in text


def test_every_payload_field_is_documented() -> None:
    text = doc_text()
    for kind, cls in MESSAGE_TYPES.items():
        assert f"`{kind}`" in text
        for f in cls.FIELDS:
            assert f"`{f.name}`" in text, f"{kind}.{f.name}"


def test_field_tables_are_current() -> None:
    assert protocol_doc.render(doc_text()) == doc_text(), (
        "run: python -m edgecascade.tools.protocol_doc"
    )
