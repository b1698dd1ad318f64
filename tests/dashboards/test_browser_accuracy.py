"""The live page's "Live accuracy (no labels)" card (issue 22) in a real headless browser:
audited confident frames reach the edge model, the gateway's estimate and audit
agreement appear on the card, and a drift alarm marks it."""

from __future__ import annotations

import numpy as np

from edgecascade.gateway.config import MonitoringConfig
from edgecascade.protocol import encode
from tests.dashboards.test_browser import browser, text_of  # noqa: F401 - fixture
from tests.gateway.support import THRESHOLDS, images, report
from tests.support import publish


def test_live_accuracy_card(broker, topics, dash_gateway, responder, browser):  # noqa: F811
    from selenium.webdriver.support.ui import WebDriverWait

    gw = dash_gateway(broker.url, topics,
                      monitoring=MonitoringConfig(audit_share=0.25, reference=str(THRESHOLDS)))
    wait = WebDriverWait(browser, 30)
    browser.get(f"http://127.0.0.1:{gw.http_port}/")
    wait.until(lambda d: text_of(d, "link") == "live")
    assert text_of(browser, "live-accuracy") == "–"
    _, labels = images()
    threes = [int(i) for i in np.flatnonzero(labels == 3)[:5]]
    publish(broker.host, broker.port, [(topics.device_report("cam1"), encode(
        report("cam1", i + 1, confident=True, image=idx))) for i, idx in enumerate(threes)])
    wait.until(lambda d: "audits agree" in text_of(d, "live-accuracy-sub"))
    shown = text_of(browser, "live-accuracy")
    assert shown.endswith(" %") and 90.0 <= float(shown.split()[0]) <= 100.0
    assert "over 5 answers" in text_of(browser, "live-accuracy-sub")
    assert browser.find_element("id", "live-card").get_attribute("class") == "card"
    # a device whose confidence collapses (its reports straight into the gateway's
    # monitor hook): the drift alarm fires and marks the card
    for seq in range(1, 301):
        gw.field.on_report(report("cam9", seq, confident=False))
    assert ("cam9", "confidence") in gw.field.drift.firing()
    n = len(gw.field.drift.firing())
    wait.until(lambda d: f"DRIFT: {n} alarm(s)" in text_of(d, "live-accuracy-sub"))
    assert browser.find_element("id", "live-card").get_attribute("class") == "card alarm"
