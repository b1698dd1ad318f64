"""deploy/prometheus/alerts.yml: promtool checks the rules and runs their unit tests
(alerts_test.yml), and every metric a rule reads is one the gateway exports."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from edgecascade.gateway.metrics import COUNTERS, GAUGES, PREFIX

from .conftest import DEPLOY

RULES = DEPLOY / "prometheus" / "alerts.yml"
TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus; "
                             "scripts/test installs it)")


@needs_promtool
def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    assert PROMTOOL is not None
    check = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True,
                           text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run([PROMTOOL, "test", "rules", TESTS.name], cwd=TESTS.parent,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_every_metric_a_rule_reads_is_exported_and_every_rule_is_tested() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    exported = {f"{PREFIX}{n}" for n in GAUGES} | {f"{PREFIX}{n}_total" for n in COUNTERS}
    for rule in rules:
        names = set(re.findall(r"\b(ec_gateway_[a-z_]+)", rule["expr"]))
        assert names <= exported, f"{rule['alert']} reads unknown metrics {names - exported}"
    tested = {t["alertname"] for case in yaml.safe_load(TESTS.read_text())["tests"]
              for t in case["alert_rule_test"]}
    assert {r["alert"] for r in rules} <= tested
