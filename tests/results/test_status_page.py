"""The live status page in a real headless Chromium (Debian's chromium + chromium-driver)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.results.page import render_page
from reconciler.results.status import CampaignStatus, StatusReport
from tests.results.conftest import XF_PHONES, Served, call_record

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromedriver are not installed: run scripts/bootstrap", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="campaignctl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# The page replaces its campaigns' fragment every refresh, so elements found one call and read the next
# can be gone ("stale element"): everything a check needs is read in one script, from one DOM state.
_SNAPSHOT = """
const out = {};
for (const c of document.querySelectorAll('[data-campaign]')) {
  const one = {fields: {}, charts: {}};
  for (const f of c.querySelectorAll('[data-field]')) one.fields[f.dataset.field] = f.textContent.trim();
  for (const chart of c.querySelectorAll('[data-chart]')) {
    one.charts[chart.dataset.chart] = Array.from(chart.querySelectorAll('g'),
      g => [g.getAttribute('data-label'), g.getAttribute('data-count')]);
  }
  out[c.dataset.campaign] = one;
}
return out;
"""


def snapshot(driver: Any) -> dict[str, Any]:
    """Every campaign's fields and chart bars as the page shows them at one moment."""
    return dict(driver.execute_script(_SNAPSHOT))


def field(driver: Any, campaign: str, name: str) -> str | None:
    return snapshot(driver).get(campaign, {}).get("fields", {}).get(name)


def test_live_page_shows_the_numbers_and_refreshes(served: Served, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    assert served.push("iflytek", "receiveCallRecord", call_record("p-1", "100001", XF_PHONES[0])).text == "success"
    assert served.push("iflytek", "receiveDialog", {"call_uuid": "p-1", "task_id": "1001", "task_data_id": "100001",
                                                    "dialog": [{"seq": 1, "tag_name": "A"}]}).text == "success"
    no_answer = call_record("p-2", "100002", XF_PHONES[1], answered=False, result="20")
    assert served.push("iflytek", "receiveCallRecord", no_answer).text == "success"

    browser.get(served.server.base_url + "/")
    wait = WebDriverWait(browser, 20, poll_frequency=0.2)
    wait.until(lambda d: field(d, "promo", "dialed") == "2")
    shown = snapshot(browser)
    promo = shown["promo"]
    assert (promo["fields"]["contacts"], promo["fields"]["answered"], promo["fields"]["rate"]) == ("4", "1", "50.0%")
    assert dict(promo["charts"]["outcomes"]) == {"0 成功": "1", "20 用户未接": "1"}
    assert [tuple(g) for g in promo["charts"]["intentions"]] == [("A", "1")]
    assert shown["cc"]["fields"]["dialed"] == "0"

    # a new push shows up without reloading the page
    assert served.push("iflytek", "receiveCallRecord", call_record("p-3", "100003", XF_PHONES[2])).text == "success"
    wait.until(lambda d: field(d, "promo", "answered") == "2")
    assert field(browser, "promo", "dialed") == "3"
    page = browser.page_source
    assert all(phone not in page for phone in XF_PHONES)
    shot = tmp_path / "status-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000


def test_static_page_is_self_contained(tmp_path: Path) -> None:
    c = CampaignStatus("x", "p", "xfyeta", "task", "running", "running", 10, 10, 4, 2, 6, 4, 2,
                       {"0 成功": 2, "20 用户未接": 2}, {"A": 1, "B": 1})
    html = render_page(StatusReport("2027-03-01T01:00:00Z", (c,), 0), live=False, reload_s=5)
    bare = html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a namespace name, not a fetch
    assert "http://" not in bare and "https://" not in bare and "src=" not in bare
    assert '<meta http-equiv="refresh" content="5">' in html and "<script>" not in html
    assert 'data-field="rate">50.0%' in html
