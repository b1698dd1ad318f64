"""The live dashboard in a real headless browser (Debian's chromium via selenium).

The page loads from the gateway, shows the numbers the gateway's metrics show, and
updates when new frames arrive (server-sent events, no reload).
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from edgecascade.protocol import DeviceState, encode
from tests.gateway.support import edge_split, report
from tests.support import publish

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium/chromedriver not installed (scripts/test installs them with apt)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


def scraped(port: int, sample: str) -> float:
    """A sample's value from the gateway's real /metrics endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[1])
    raise AssertionError(f"{sample} not on /metrics")


def text_of(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def test_page_shows_the_gateway_metrics_and_updates_live(broker, topics, dash_gateway,
                                                         responder, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    gw = dash_gateway(broker.url, topics)
    wait = WebDriverWait(browser, 20)
    publish(broker.host, broker.port, [(topics.device_state("cam1"), encode(DeviceState(
        "cam1", True, 1_700_000_000_000, epoch=1, model_id="mnist-mcu", model_version=1)))],
        retain=True)
    publish(broker.host, broker.port, [(topics.device_report("cam1"),
                                        encode(report("cam1", i, confident=True)))
                                       for i in range(4)])
    browser.get(f"http://127.0.0.1:{gw.http_port}/")
    wait.until(lambda d: text_of(d, "answered") == "4")
    wait.until(lambda d: text_of(d, "link") == "live")
    assert text_of(browser, "gateway-id") == "gw1"
    wait.until(lambda d: text_of(d, "m-reports") == str(int(gw.metrics.value("reports"))))
    assert text_of(browser, "m-circuit") == "closed"
    assert text_of(browser, "m-spool-depth") == str(int(gw.metrics.value("spool_depth")))
    assert "online" in text_of(browser, "devices") and "cam1" in text_of(browser, "devices")
    assert "device 100.0% · 4" in text_of(browser, "tiers")
    # sparklines of the last minute, and what the latency figure measures
    wait.until(lambda d: d.find_elements("css selector", "#spark-answers polyline.s-device"))
    assert "device" in text_of(browser, "spark-answers-sub")
    line = browser.find_element("css selector", "#spark-latency polyline")
    assert int(line.get_attribute("data-points")) >= 1
    assert "ms" in text_of(browser, "spark-latency-sub")
    assert text_of(browser, "lat-means") == "report received → result published"

    # new frames arrive: the page follows without a reload
    sure, unsure = edge_split()
    version = browser.find_element("tag name", "body").get_attribute("data-version")
    publish(broker.host, broker.port, [(topics.device_report("cam1"), encode(
        report("cam1", 10 + i, confident=False, image=sure[i]))) for i in range(4)]
        + [(topics.device_report("cam2"), encode(
            report("cam2", i, confident=False, image=unsure[i]))) for i in range(2)])
    wait.until(lambda d: text_of(d, "answered") == "10")
    wait.until(lambda d: text_of(d, "m-reports") == "10")
    assert scraped(gw.http_port, "ec_gateway_reports_total") == 10
    spool = scraped(gw.http_port, "ec_gateway_spool_depth")
    assert text_of(browser, "m-spool-depth") == f"{spool:.0f}"
    assert browser.find_element("tag name", "body").get_attribute("data-version") != version
    tiers = text_of(browser, "tiers")
    assert "edge" in tiers and "cloud" in tiers, tiers
    wait.until(lambda d: float(text_of(d, "m-cloud-cost"))
               == round(gw.metrics.value("cloud_cost"), 1))
    assert "cam2/1/1" in text_of(browser, "results")
    shot = os.environ.get("EC_DASHBOARD_SCREENSHOT")
    if shot:  # docs/img/dashboard.png is made this way (docs/dashboards.md)
        browser.save_screenshot(shot)
