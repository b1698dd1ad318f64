"""``edgecascade models deploy``: publish a model version to a tier over MQTT.

``edgecascade models deploy --tier mcu --version 2 --model models/mnist-mcu-v2.tflite
[--devices a,b | --canary 10% --fleet a,b,c,...] --broker mqtt://host:1883``

A release is the retained, sha256-pinned ``ModelManifest`` on ``Topics.model_manifest``
(model id, version, sha256, size, the measured arena, the device thresholds calibrated
for this version, optional target devices) and the model bytes as retained
``ModelChunk`` messages of ``MODEL_CHUNK_BYTES`` (4 KB) on ``Topics.model_chunk``.

Why chunks over MQTT, not the gateway's HTTP: the board already holds one
authenticated MQTT session (and on AWS IoT Core, the only one its policy allows); a
second HTTP client, its TLS set-up and a reachable gateway port would be new surface
on the device and on the site network, while retained chunks reach late and
reconnecting devices with no server-side state. Each chunk is far below the 128 KB
payload limit and one esp-mqtt receive buffer on the board.

Chunks are published (and acknowledged) before the manifest, so a device never sees a
manifest whose bytes are not there yet. :func:`build_release` and
:func:`canary_targets` are pure; :func:`publish_release` is the I/O.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecascade.protocol import Topics, encode
from edgecascade.protocol.limits import MODEL_CHUNK_BYTES
from edgecascade.protocol.ota_messages import ModelChunk, ModelManifest


@dataclass(frozen=True)
class Release:
    """One model version ready to publish: the manifest and its chunks, in order."""

    manifest: ModelManifest
    chunks: tuple[ModelChunk, ...]

    def messages(self, topics: Topics) -> list[tuple[str, bytes]]:
        """``(topic, payload)`` in publish order: every chunk, then the manifest."""
        m = self.manifest
        out = [(topics.model_chunk(m.tier, m.version, c.index), encode(c)) for c in self.chunks]
        out.append((topics.model_manifest(m.tier), encode(m)))
        return out


def build_release(
    model: bytes,
    *,
    model_id: str,
    version: int,
    tier: str,
    arena_bytes: int,
    conf_threshold: float,
    margin_threshold: float,
    complexity_limit: float,
    devices: Sequence[str] = (),
    chunk_bytes: int = MODEL_CHUNK_BYTES,
) -> Release:
    """The manifest (validated by the codec's rules) and the chunks of ``model``."""
    manifest = ModelManifest(
        model_id=model_id, version=version, tier=tier, sha256=hashlib.sha256(model).digest(),
        size=len(model), arena_bytes=arena_bytes, chunk_bytes=chunk_bytes,
        conf_threshold=conf_threshold, margin_threshold=margin_threshold,
        complexity_limit=min(complexity_limit, 3.0e38), devices=tuple(devices),
    )
    encode(manifest)  # every field checked now, not on the devices
    chunks = tuple(
        ModelChunk(model_id, version, i, off, model[off : off + chunk_bytes])
        for i, off in enumerate(range(0, len(model), chunk_bytes))
    )
    return Release(manifest, chunks)


def canary_targets(fleet: Sequence[str], share: float) -> tuple[str, ...]:
    """A stable ``share`` of ``fleet`` (at least one device): the ids whose sha256 sorts
    first, so the same fleet and share always pick the same canaries."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"canary share must be in (0, 1], got {share}")
    ids = sorted(set(fleet), key=lambda d: hashlib.sha256(d.encode()).digest())
    return tuple(sorted(ids[: max(1, math.ceil(share * len(ids)))]))


def parse_share(text: str) -> float:
    """``"10%"`` or ``"0.1"`` -> 0.1."""
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"canary share must be in (0, 100%], got {text!r}")
    return value


def publish_release(broker_url: str, topics: Topics, release: Release,
                    timeout: float = 30.0) -> int:
    """Publish every message retained at QoS 1 and wait for each PUBACK; the count."""
    from edgecascade.mqtt import BrokerSettings, make_client

    client = make_client(BrokerSettings(broker_url), f"deploy-{release.manifest.version}",
                         clean_start=True)
    settings = BrokerSettings(broker_url)
    client.connect(settings.host, settings.port)
    client.loop_start()
    try:
        for topic, payload in release.messages(topics):
            client.publish(topic, payload, qos=1, retain=True).wait_for_publish(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return len(release.chunks) + 1


def _ids(text: str | None) -> list[str]:
    if not text:
        return []
    if text.startswith("@"):
        text = Path(text[1:]).read_text().replace("\n", ",")
    return [t.strip() for t in text.split(",") if t.strip()]


def run(args: argparse.Namespace) -> int:
    from edgecascade.models.cascade import load_settings
    from edgecascade.models.runtime import lookup_entry

    path = Path(args.model)
    entry = lookup_entry(path)
    arena = args.arena_bytes or (entry.arena_bytes if entry and entry.arena_bytes else None)
    if arena is None:
        from .arena_probe import min_arena_bytes

        arena = min_arena_bytes(path)
    th = load_settings(args.thresholds).thresholds
    devices = _ids(args.devices)
    if args.canary is not None:
        fleet = _ids(args.fleet)
        if not fleet:
            raise SystemExit("--canary needs --fleet (the device ids to pick from)")
        devices = list(canary_targets(fleet, parse_share(args.canary)))
    release = build_release(
        path.read_bytes(), model_id=args.model_id or (entry.id if entry else f"mnist-{args.tier}"),
        version=args.version, tier=args.tier, arena_bytes=arena,
        conf_threshold=th.device_confidence, margin_threshold=th.device_margin,
        complexity_limit=th.complexity_limit, devices=devices, chunk_bytes=args.chunk_bytes,
    )
    n = publish_release(args.broker, Topics(args.prefix), release)
    m = release.manifest
    print(f"deployed {m.model_id} v{m.version} ({m.size} B, sha256 {m.sha256.hex()[:16]}..., "
          f"arena {m.arena_bytes} B) to {', '.join(m.devices) or 'every device'} of tier "
          f"{m.tier}: {n} retained messages")
    return 0


DESCRIPTION = (
    "Publish a model version to a tier: the model bytes as retained 4 KB chunks, then "
    "(once the broker acknowledged every chunk) a retained, sha256-pinned manifest with "
    "the model id, version, size, measured arena and the device thresholds for that "
    "version. Devices named by --devices (or a stable --canary share of --fleet; "
    "default: every device of the tier) download, verify and switch, or keep the model "
    "they run and say why on their ota topic.")


def add_parser(sub: Any) -> None:
    from edgecascade.protocol import DEFAULT_PREFIX

    p = sub.add_parser("deploy", help="publish a model version over MQTT (retained, "
                                      "sha256-pinned manifest + 4 KB chunks)",
                       description=DESCRIPTION,
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tier", required=True, choices=["mcu"], help="the tier to update")
    p.add_argument("--version", required=True, type=int, help="the model version (>= 1)")
    p.add_argument("--model", required=True, help="the .tflite file of that version")
    p.add_argument("--model-id", default=None, help="default: the registry's, else mnist-<tier>")
    p.add_argument("--arena-bytes", type=int, default=None,
                   help="measured arena; default the registry's, else measured now")
    p.add_argument("--thresholds", default=None,
                   help="thresholds file calibrated for this version (default "
                        "models/thresholds.json)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--devices", default=None, help="only these ids (a,b or @file)")
    who.add_argument("--canary", default=None, metavar="SHARE",
                     help="a stable share of --fleet, e.g. 10%%")
    p.add_argument("--fleet", default=None, help="the device ids --canary picks from")
    p.add_argument("--chunk-bytes", type=int, default=MODEL_CHUNK_BYTES)
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    p.add_argument("--prefix", default=DEFAULT_PREFIX)
    p.set_defaults(func=run)
