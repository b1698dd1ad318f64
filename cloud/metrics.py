"""Prometheus metrics of one cloud worker, in a registry of its own (served over HTTP).

Every label has a bounded set of values: statuses, directions, and error reasons
(``ProtocolError.reason`` is ``what:where`` over the protocol's fixed field names).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from edgecascade.protocol import billed_messages

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
BACKEND_LABELS = ("backend", "device", "fallback", "precision", "provider")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class WorkerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "ec_cloud_requests", "Cloud requests handled, by outcome "
            "(ok, error, duplicate, rejected=undecodable: nobody to answer)", ["outcome"],
            registry=r)
        self.frames = Counter("ec_cloud_frames", "Frames handled, by outcome (answered, error)",
                              ["outcome"], registry=r)
        self.errors = Counter("ec_cloud_errors", "Errors by bounded reason", ["reason"],
                              registry=r)
        self.batch_frames = Histogram("ec_cloud_batch_frames", "Frames per model invocation",
                                      buckets=BATCH_BUCKETS, registry=r)
        self.model_seconds = Histogram("ec_cloud_model_seconds", "Model time per invocation",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.latency = Histogram("ec_cloud_request_seconds",
                                 "Request received -> response published", buckets=LATENCY_BUCKETS,
                                 registry=r)
        self.billed = Counter("ec_cloud_billed_messages",
                              "AWS IoT Core billed messages (per 5 KB), by direction (in, out)",
                              ["direction"], registry=r)
        self.payload_bytes = Counter("ec_cloud_payload_bytes", "MQTT payload bytes by direction",
                                     ["direction"], registry=r)
        self.connected = Gauge("ec_cloud_connected", "1 while connected to the broker",
                               registry=r)
        self.in_hand = Gauge("ec_cloud_in_hand", "Requests accepted and not yet answered",
                             registry=r)
        self.rate_limited = Counter("ec_cloud_rate_limited_seconds",
                                    "Seconds spent waiting for the publish-rate limiter",
                                    registry=r)
        self.model_swaps = Counter("ec_cloud_model_swaps", "Model swaps at run time, by "
                                   "outcome (ok; refused: the running model kept)",
                                   ["outcome"], registry=r)
        self.dedupe_evictions = Gauge("ec_cloud_dedupe_evictions",
                                      "Responses evicted from the idempotency cache", registry=r)
        self.backend = Gauge("ec_cloud_model_backend_info", "What runs the model: backend "
                             "(litert, onnxruntime, torch), provider (xnnpack, cpu, cuda, "
                             "tensorrt), device, precision, and whether a GPU asked for fell "
                             "back to the CPU", list(BACKEND_LABELS), registry=r)

    def set_backend(self, info: dict[str, object]) -> None:
        """What runs the model (one series, value 1; replaced on a model swap)."""
        self.backend.clear()
        self.backend.labels(**{k: str(info[k]).lower() if k == "fallback" else str(info[k])
                               for k in BACKEND_LABELS}).set(1)

    def message(self, direction: str, size: int) -> None:
        """Meter one MQTT message of ``size`` payload bytes the way AWS bills it."""
        self.billed.labels(direction).inc(billed_messages(size))
        self.payload_bytes.labels(direction).inc(size)

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample (tests, benchmarks); 0 when absent."""
        got = self.registry.get_sample_value(name, labels or None)
        return float(got) if got is not None else 0.0
