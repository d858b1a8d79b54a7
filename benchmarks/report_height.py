"""How tall a report is as a reader meets it: headless Chromium at 1280 px, every ``<details>``
closed, the page height and where each scorecard row ends (the first screen is 900 px).

    python benchmarks/report_height.py runs/demo/report.html

Needs Chromium (``apt-get install chromium``); uses the browser test's driver.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
from conftest import Chromium, find_chromium

ROWS = """[...document.querySelectorAll('table.scorecard tr.claim')].map(r =>
  [r.dataset.claim, r.dataset.verdict, Math.round(r.getBoundingClientRect().bottom)])"""
SECTIONS = """[...document.querySelectorAll('body > section')].map(s =>
  [Math.round(s.getBoundingClientRect().height), (s.querySelector('h2') || {}).textContent])"""


def main(path: str) -> None:
    executable = find_chromium()
    if executable is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    with Chromium(executable) as browser:
        browser.load(Path(path).resolve(), width=1280, height=900)
        browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = false)")
        height = browser.evaluate("document.documentElement.scrollHeight")
        print(f"page height, details folded: {height} px")
        for claim, verdict, bottom in browser.evaluate(ROWS):
            print(f"  {claim:4} {verdict:18} ends at {bottom} px")
        for height, title in sorted(browser.evaluate(SECTIONS), reverse=True)[:10]:
            print(f"  {height:6} px  {title}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/demo/report.html")
