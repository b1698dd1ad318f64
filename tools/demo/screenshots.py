"""Refresh the docs' screenshots: ``python -m edgecascade.tools.demo.screenshots docs/img``.

Runs an ``--outage`` demo, photographs the live dashboard while the cloud is down and,
at the end, the report (headless chromium through selenium: the dev extra and Debian's
``chromium`` + ``chromium-driver``).
"""

from __future__ import annotations

import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def browser(width: int, height: int) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                f"--window-size={width},{height}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def main(out: Path) -> None:
    from edgecascade.tools.demo.runner import DemoOptions, run_demo

    events: list[str] = []

    def write(line: str) -> None:
        print(line)
        if m := re.search(r"dashboard:\s+(http://\S+)", line):
            events.append(m.group(1))
        if "CLOUD DOWN" in line and len(events) == 1:
            events.append("down")

    report_dir = Path(tempfile.mkdtemp(prefix="ec-shots-"))
    opts = DemoOptions(devices=6, rate=5, duration=24, outage=8, out=report_dir, live=False)
    run = threading.Thread(target=run_demo, args=(opts,), kwargs={"write": write})
    run.start()
    while not events and run.is_alive():
        time.sleep(0.2)
    page = browser(1280, 900)
    try:
        page.get(events[0])
        while len(events) < 2 and run.is_alive():
            time.sleep(0.2)
        time.sleep(4)  # a few seconds into the outage: circuit open, spool filling
        page.save_screenshot(str(out / "dashboard.png"))
    finally:
        page.quit()
    run.join()
    shot = browser(1000, 2900)
    try:
        shot.get((report_dir / "report.html").as_uri())
        shot.save_screenshot(str(out / "report-outage.png"))
    finally:
        shot.quit()
    print(f"wrote {out / 'dashboard.png'} and {out / 'report-outage.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img"))
