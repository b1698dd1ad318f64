"""Every workload end to end with both model tiers on ONNX Runtime (``runtime =
"onnxruntime"``): emulated devices -> real mosquitto -> gateway (the edge model's ONNX
twin) -> cloud worker (the cloud model's) -> the same answers as the LiteRT suite
(test_end_to_end.py): the same model ids and versions, the same accuracy bar. Frame by
frame agreement is tests/models/test_onnx_convert.py's (the registry's parity)."""

from __future__ import annotations

from collections import Counter

import pytest

from edgecascade.cloud.aws import broker_settings
from edgecascade.cloud.model import classifier_loader
from edgecascade.cloud.worker import CloudWorker
from edgecascade.config import HttpSection
from edgecascade.emulator.fleet import Fleet
from edgecascade.emulator.ledger import GroundTruth
from edgecascade.emulator.model import FrameSource
from edgecascade.gateway.config import CloudConfig, EdgeConfig, GatewayConfig, StorageConfig
from edgecascade.gateway.service import Gateway
from edgecascade.models.cascade import load_settings
from edgecascade.models.workload import Workload
from edgecascade.mqtt import BrokerSettings
from edgecascade.protocol import Result, TopicKind
from tests.support import Collector

pytest.importorskip("onnxruntime")
DEVICES, REPORTS = 4, 40


def with_onnx_twins(workload: Workload, folder) -> Workload:
    """A copy of an imported workload with its ONNX twins made and registered by
    ``edgecascade models onnx --workload FOLDER``, as a user would."""
    import shutil

    from edgecascade.cli import main
    from edgecascade.models.workload import get_workload

    shutil.copytree(workload.root, folder)
    assert main(["models", "onnx", "--workload", str(folder)]) == 0
    return get_workload(folder)


def test_onnxruntime_tiers_answer_every_report_as_litert_does(
        workload: Workload, broker, topics, tmp_path, closing) -> None:
    from tests.cloud.helpers import make_config

    if workload.registry(verify=False).twin(workload.entry("edge"), "onnx") is None:
        workload = with_onnx_twins(workload, tmp_path / "workload")  # an imported one
    results = Collector(broker.host, broker.port, [topics.filter(TopicKind.RESULT)])
    closing.append(results)
    wcfg = make_config(broker.url, topics, model_path=workload.model_path("cloud"),
                       model={"runtime": "onnxruntime"})
    worker = CloudWorker(wcfg, classifier_loader(wcfg.model)(wcfg.model.path, 1),
                         broker_settings(wcfg))
    worker.start()
    closing.append(worker)
    gw = Gateway(GatewayConfig(
        gateway_id="gw1", prefix=topics.prefix,
        broker=BrokerSettings(url=broker.url, keepalive=5),
        thresholds=load_settings(workload.thresholds_path).thresholds,
        edge=EdgeConfig(model=str(workload.model_path("edge")), runtime="onnxruntime"),
        cloud=CloudConfig(deadline_ms=5000, breaker_reset_s=0.5, retry_s=0.3),
        storage=StorageConfig(state_dir=str(tmp_path / "gw-state")),
        http=HttpSection(port=0), metrics_interval_s=0.5)).start()
    closing.append(gw)
    assert gw.edge is not None and gw.edge.info.backend == "onnxruntime"
    assert worker.classifier.info.backend == "onnxruntime"
    ledger = GroundTruth()
    fleet = Fleet(BrokerSettings(broker.url), topics, DEVICES, 50.0, reports=REPORTS,
                  source=FrameSource(workload=workload.root), ledger=ledger)
    closing.append(fleet)
    fleet.start()
    total = DEVICES * REPORTS
    results.wait_for(total, 120)
    got = {r.key: r for r in results.decoded(Result) if isinstance(r, Result)}
    assert len(got) == total, results.describe()
    reg = workload.registry(verify=False)
    by_tier = {"device": "mcu", "edge": "edge", "cloud": "cloud"}
    for r in got.values():
        if r.tier in by_tier:  # the ONNX twins answer under the TFLite models' identity
            entry = reg.for_tier(by_tier[r.tier])
            assert (r.model_id, r.model_version) == (entry.id, entry.version)
    tiers = Counter(r.tier for r in got.values())
    assert tiers["device"] > 0 and tiers["edge"] + tiers["cloud"] + tiers["cache"] > 0
    correct = sum(1 for k, r in got.items() if (t := ledger.get(k)) and r.label == t.label)
    assert correct / total >= 0.9, (workload.name, tiers, correct / total)
