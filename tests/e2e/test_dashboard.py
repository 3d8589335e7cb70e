"""The operator dashboard (docs/dashboard.md) in a real headless Chromium, driven by
Selenium: a gateway with a configured key and an admin key serves known traffic through
mock-upstream; the page's figures (totals, savings by source, per-model table, recent
decisions, spend and budget per key) must equal the ledger's, a click explains a decision,
the playground routes a prompt as the gateway does without calling any model, and the
dashboard and its API refuse everyone without the admin key. Screenshots go to
target/test-output/dashboard/."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from support import FRUGAL_BIN, MAIN_BASELINE, MAIN_MODELS, MAIN_TIERS, ROOT, frugal_env, render_config

ADMIN = "admin-dash-key-0123456789"
CLIENT = "fk-dashboard-client-key-0123456789"
SHOTS = ROOT / "target" / "test-output" / "dashboard"
HI = [{"role": "user", "content": "hello dashboard"}]
HARD = ("Prove that the halting problem is undecidable, then analyse step by step how the "
        "argument generalises to Rice's theorem, with a formal treatment of each reduction.")


def chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        message = "chromium and chromedriver are needed (apt-get install chromium chromium-driver; .ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return browser, driver


@pytest.fixture(scope="module")
def dash(frugal_instance, mock, tmp_path_factory):
    ledger = tmp_path_factory.mktemp("dashboard") / "ledger.sqlite"
    tiers = {t: ["gpt-fail-500", *ms] if t == "simple" else ms for t, ms in MAIN_TIERS.items()}
    text = render_config(mock.url, MAIN_MODELS, tiers, MAIN_BASELINE) + f"""
[ledger]
path = "{ledger}"

[keys.ci]
key_env = "DASH_CLIENT_KEY"
project = "web"
budget_day_usd = 5
budget_total_usd = 100

[auth]
admin_key_env = "DASH_ADMIN_KEY"
"""
    gw = frugal_instance("dashboard", text, DASH_CLIENT_KEY=CLIENT, DASH_ADMIN_KEY=ADMIN)
    # Known traffic: explicit models, routed prompts (the simple tier falls back past a
    # failing model), a failure, a stream, and requests made with the key.
    plain = gw.openai()
    keyed = openai.OpenAI(base_url=gw.url + "/v1", api_key=CLIENT, max_retries=0, timeout=15)
    for _ in range(3):
        plain.chat.completions.create(model="test-gpt-small", messages=HI)
    plain.chat.completions.create(model="test-claude-medium", messages=HI)
    plain.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    plain.chat.completions.create(model="auto", messages=[{"role": "user", "content": HARD}])
    with pytest.raises(openai.APIStatusError):
        plain.chat.completions.create(model="gpt-fail-500", messages=HI)
    for _ in plain.chat.completions.create(model="test-gpt-medium", messages=HI, stream=True):
        pass
    for _ in range(2):
        keyed.chat.completions.create(model="test-gpt-large", messages=HI)
    rows = ledger_rows(ledger, 10)
    assert len(rows) == 10
    return gw, ledger


def ledger_rows(path: Path, n: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while True:
        con = sqlite3.connect(path)
        con.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in con.execute("SELECT * FROM requests ORDER BY seq")]
        except sqlite3.OperationalError:
            rows = []
        con.close()
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def shown_equals(text: str, exact: Decimal) -> bool:
    """The page rounds dollars to 6, 4 or 2 decimals: equal within half the last digit."""
    s = text.replace("$", "").replace(",", "")
    digits = len(s.split(".")[1]) if "." in s else 0
    return abs(money(text) - exact) <= Decimal(5) / Decimal(10) ** (digits + 1)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver = chromium()
    opts = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2600"):
        opts.add_argument(a)
    opts.binary_location = binary
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(driver), options=opts)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield d
    d.quit()


def open_dashboard(d, url: str, key: str | None) -> None:
    """Load the page; the admin key is sent as a header on every request of the page."""
    d.execute_cdp_cmd("Network.enable", {})
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
    d.get(url + "/dashboard")


def wait_loaded(d, after: int = 0) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(d, 15).until(lambda d: int(d.find_element("tag name", "body").get_attribute("data-loaded") or 0) > after)


def field(d, scope: str, name: str) -> str:
    return d.find_element("css selector", f'{scope} [data-field="{name}"]').text


def test_the_dashboard_and_its_api_require_the_admin_key(dash, browser):
    gw, _ = dash
    http = httpx.Client(base_url=gw.url, timeout=15)
    for path in ("/dashboard", "/dashboard/app.js", "/api/summary", "/api/keys", "/api/requests"):
        r = http.get(path)
        assert r.status_code == 401, path
        assert r.json()["error"]["type"] == "authentication_error"
        assert r.headers["www-authenticate"].startswith("Basic")
        # A client key is not the admin key.
        assert http.get(path, headers={"Authorization": f"Bearer {CLIENT}"}).status_code == 401
        assert http.get(path, headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
    assert http.post("/api/route", json={"prompt": "hi"}).status_code == 401
    assert http.get("/api/summary", auth=("ops", ADMIN)).status_code == 200
    # Errors are JSON too.
    bad = http.get("/api/summary?days=0", headers={"x-api-key": ADMIN})
    assert bad.status_code == 400 and "days" in bad.json()["error"]["message"]
    # In the browser: without the key the page does not load (Chromium is asked for a
    # password by the Basic challenge; headless, it shows nothing).
    open_dashboard(browser, gw.url, None)
    assert browser.find_elements("id", "summary") == []
    assert "frugal" not in browser.page_source
    browser.save_screenshot(str(SHOTS / "refused.png"))


def test_the_figures_shown_equal_the_ledger(dash, browser):
    gw, ledger = dash
    rows = ledger_rows(ledger, 10)
    browser.get_log("browser")  # drop what earlier pages logged (the refusal's 401)
    open_dashboard(browser, gw.url, ADMIN)
    wait_loaded(browser)
    assert browser.find_element("id", "status").text == ""
    assert browser.find_element("id", "backend").text == "sqlite"
    D = lambda col: sum(Decimal(r[col]) for r in rows)  # noqa: E731
    for window in ("today", "7d", "30d"):
        scope = f'#summary [data-window="{window}"]'
        assert field(browser, scope, "requests") == str(len(rows))
        assert shown_equals(field(browser, scope, "cost_usd"), D("cost_usd")), window
        assert shown_equals(field(browser, scope, "baseline_cost_usd"), D("baseline_cost_usd"))
        assert shown_equals(field(browser, scope, "savings_routing_usd"), D("savings_routing_usd"))
        assert shown_equals(field(browser, scope, "savings_compression_usd"), D("savings_compression_usd"))
        assert shown_equals(field(browser, scope, "savings_caching_usd"), D("savings_caching_usd"))
        assert shown_equals(field(browser, scope, "verify_cost_usd"), D("verify_cost_usd"))
        saved = D("savings_routing_usd") + D("savings_compression_usd") + D("savings_caching_usd")
        assert shown_equals(field(browser, scope, "savings_usd"), saved)
        errors = sum(1 for r in rows if r["status"] != 200 or r["error"])
        assert field(browser, scope, "error_rate") == f"{100 * errors / len(rows):.1f}%"
        fallbacks = sum(1 for r in rows if r["fallback_attempts"] > 0)
        assert fallbacks >= 1
        assert field(browser, scope, "fallback_rate") == f"{100 * fallbacks / len(rows):.1f}%"
    assert D("savings_routing_usd") != 0, "routing changed no cost: the test proves little"
    # Per model: requests and cost.
    models = {r["model"] for r in rows}
    table = browser.find_elements("css selector", "#models-table tbody tr")
    assert {tr.get_attribute("data-model") for tr in table} == models
    for m in models:
        mine = [r for r in rows if r["model"] == m]
        scope = f'#models-table tr[data-model="{m}"]'
        assert field(browser, scope, "requests") == str(len(mine))
        assert shown_equals(field(browser, scope, "cost_usd"), sum(Decimal(r["cost_usd"]) for r in mine))
    # Charts are drawn (bars for the requests of today).
    assert browser.find_elements("css selector", "#tiers-chart rect")
    assert browser.find_elements("css selector", "#savings-chart rect")
    # Recent decisions: the newest ledger rows, newest first, with their exact cost.
    recent = browser.find_elements("css selector", "#recent-table tbody tr")
    newest = list(reversed(rows))
    assert [tr.get_attribute("data-id") for tr in recent] == [r["request_id"] for r in newest]
    assert [tr.find_element("css selector", '[data-field="cost_usd"]').text for tr in recent] == \
        ["$" + r["cost_usd"] for r in newest]
    browser.save_screenshot(str(SHOTS / "dashboard.png"))
    # Click to explain: the failed request, then a routed one.
    failed = next(r for r in rows if r["status"] != 200)
    browser.find_element("css selector", f'#recent-table tr[data-id="{failed["request_id"]}"]').click()
    wait_text(browser, "#explain", failed["request_id"])
    text = browser.find_element("id", "explain").text
    assert "all_upstreams_failed" in text and "Status 502" in text
    routed = next(r for r in rows if r["decision"] == "routed" and r["fallback_attempts"] > 0)
    browser.find_element("css selector", f'#recent-table tr[data-id="{routed["request_id"]}"]').click()
    wait_text(browser, "#explain", routed["request_id"])
    text = browser.find_element("id", "explain").text
    assert f"tier {routed['tier']}" in text and f"Answered by {routed['model']}" in text
    assert "failed attempt" in text and "gpt-fail-500" in text
    # No prompt text (store_prompts is off) and no key material anywhere on the page.
    assert "hello dashboard" not in browser.page_source
    for secret in (ADMIN, CLIENT):
        assert secret not in browser.page_source
    browser.save_screenshot(str(SHOTS / "explain.png"))
    severe = [l for l in browser.get_log("browser") if l["level"] == "SEVERE"]
    assert severe == [], severe


def wait_text(d, sel: str, text: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(d, 10).until(lambda d: text in d.find_element("css selector", sel).text)


def test_spend_and_budgets_per_key(dash, browser):
    gw, ledger = dash
    rows = ledger_rows(ledger, 10)
    # The ledger's key_hash: "k_" and the first 6 bytes of the key's SHA-256, in hex.
    keyed = [r for r in rows if r["key_hash"] == "k_" + hashlib.sha256(CLIENT.encode()).hexdigest()[:12]]
    assert len(keyed) == 2
    open_dashboard(browser, gw.url, ADMIN)
    wait_loaded(browser)
    scope = '#keys-table tr[data-key="ci"]'
    assert field(browser, scope, "requests") == "2"
    assert shown_equals(field(browser, scope, "cost_usd"), sum(Decimal(r["cost_usd"]) for r in keyed))
    # The budget shown is the counter `frugal keys show` reads.
    out = subprocess.run([str(FRUGAL_BIN), "keys", "show", "ci", "--json", "--config", str(gw.config_path)],
                         capture_output=True, text=True, timeout=60,
                         env=frugal_env(DASH_CLIENT_KEY=CLIENT, DASH_ADMIN_KEY=ADMIN))
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    day = next(b for b in shown["budgets"] if b["period"] == "daily")
    cell = browser.find_element("css selector", f'{scope} [data-period="daily"]').text
    assert f"${day['spent_usd']} of $5 spent" in cell, cell
    assert Decimal(day["spent_usd"]) >= sum(Decimal(r["cost_usd"]) for r in keyed)
    assert browser.find_element("css selector", f'{scope} [data-period="total"]')
    other = browser.find_element("id", "keys-other").text
    # The other requests presented a key the gateway does not know ("anything").
    assert f"Other keys: {len(rows) - 2} requests" in other, other
    assert "Without a key: 0 requests" in other, other
    browser.find_element("id", "keys").location_once_scrolled_into_view
    browser.save_screenshot(str(SHOTS / "keys.png"))


def test_the_playground_routes_like_the_gateway_without_calling_a_model(dash, browser, mock):
    gw, _ = dash
    open_dashboard(browser, gw.url, ADMIN)
    wait_loaded(browser)
    mock.clear()
    box = browser.find_element("id", "pg-prompt")
    box.clear()
    box.send_keys(HARD)
    browser.find_element("id", "pg-go").click()
    wait_text(browser, "#pg-explain", "Tier")
    tier = browser.find_element("id", "pg-tier").text
    model = browser.find_element("id", "pg-model-out").text
    explanation = browser.find_element("id", "pg-explain").text
    assert mock.requests() == [], "the playground called a model"
    assert re.search(r"Score \d\.\d{3} \(stage \w+", explanation), explanation
    assert f"Model {model}" in explanation
    browser.find_element("id", "playground").location_once_scrolled_into_view
    browser.save_screenshot(str(SHOTS / "playground.png"))
    # The same prompt sent for real is routed the same way.
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": HARD}])
    assert raw.headers["x-frugal-tier"] == tier
    assert raw.headers["x-frugal-model"] == model
