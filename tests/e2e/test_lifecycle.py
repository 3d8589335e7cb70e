"""One request lifecycle: authentication comes first (feedback riding on a refused request
is dropped, and a key may rate only its own requests), nothing an upstream sends can crash
a request (a retry-after of u64::MAX), every request leaves exactly one ledger row however
it ends (a client that hangs up before its answer included), and the headers and the
ledger agree on one metering value."""
from __future__ import annotations

import time
from decimal import Decimal

import httpx
import openai
import pytest

from support import MAIN_BASELINE, MAIN_MODELS, MAIN_TIERS, model, render_config
from test_ledger import by_id, feedback_rows, rows

HI = [{"role": "user", "content": "hi"}]
KEYS = {"FRUGAL_TEST_KEY_A": "fk-team-a-123", "FRUGAL_TEST_KEY_B": "fk-team-b-456"}


def config(mock_url: str, path, require_key: bool) -> str:
    models = dict(MAIN_MODELS)
    models["gpt-latency-400"] = model("openai", "simple", 0.01, 0.01)
    models["gpt-fail-429-retry-18446744073709551615"] = model("openai", "simple", 0.01, 0.01)
    text = render_config(mock_url, models, MAIN_TIERS, MAIN_BASELINE)
    text += '\n[keys.a]\nkey_env = "FRUGAL_TEST_KEY_A"\n[keys.b]\nkey_env = "FRUGAL_TEST_KEY_B"\n'
    if require_key:
        text += "\n[auth]\nrequire_key = true\n"
    return text + f'\n[ledger]\npath = "{path}"\n'


@pytest.fixture(scope="module")
def keyed(mock, frugal_instance, tmp_path_factory):
    path = tmp_path_factory.mktemp("lifecycle") / "ledger.sqlite"
    gw = frugal_instance("lifecycle", config(mock.url, path, True), **KEYS)
    gw.ledger_path = path
    return gw


def client(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=15)


def test_feedback_on_a_refused_request_is_not_recorded(keyed):
    rid = client(keyed, KEYS["FRUGAL_TEST_KEY_A"]).chat.completions.with_raw_response.create(
        model="auto", messages=HI).headers["x-frugal-request-id"]
    by_id(keyed.ledger_path, rid)
    before = len(feedback_rows(keyed.ledger_path, 0, timeout=0))
    r = keyed.http.post("/v1/chat/completions", json={"model": "auto", "messages": HI},
                        headers={"authorization": "Bearer wrong", "x-frugal-feedback": f"{rid}=0"})
    assert r.status_code == 401, r.text
    time.sleep(0.5)
    assert len(feedback_rows(keyed.ledger_path, 0, timeout=0)) == before


def test_a_key_rates_only_its_own_requests(keyed):
    a, b = KEYS["FRUGAL_TEST_KEY_A"], KEYS["FRUGAL_TEST_KEY_B"]
    rid = client(keyed, a).chat.completions.with_raw_response.create(
        model="auto", messages=HI).headers["x-frugal-request-id"]
    by_id(keyed.ledger_path, rid)
    before = len(feedback_rows(keyed.ledger_path, 0, timeout=0))
    other = keyed.http.post("/v1/feedback", json={"request_id": rid, "score": 0},
                            headers={"authorization": f"Bearer {b}"})
    assert other.status_code == 404, other.text
    client(keyed, b).chat.completions.with_raw_response.create(
        model="auto", messages=HI, extra_headers={"x-frugal-feedback": f"{rid}=0"})
    time.sleep(0.5)
    assert len(feedback_rows(keyed.ledger_path, 0, timeout=0)) == before
    own = keyed.http.post("/v1/feedback", json={"request_id": rid, "score": 1},
                          headers={"authorization": f"Bearer {a}"})
    assert own.status_code == 200, own.text
    assert len(feedback_rows(keyed.ledger_path, before + 1)) == before + 1


def test_huge_retry_after_is_a_clean_429_with_a_row(keyed):
    name = "gpt-fail-429-retry-18446744073709551615"
    r = keyed.http.post("/v1/chat/completions", json={"model": name, "messages": HI},
                        headers={"authorization": f"Bearer {KEYS['FRUGAL_TEST_KEY_A']}"})
    assert r.status_code == 429, r.text
    assert r.json()["error"]["type"] == "rate_limit_error"
    # Capped: an upstream cannot make clients wait for ever.
    assert 1 <= int(r.headers["retry-after"]) <= 3600
    row = by_id(keyed.ledger_path, r.headers["x-frugal-request-id"])
    assert row["status"] == 429 and row["error"] == "all_upstreams_failed"


def test_client_that_hangs_up_still_leaves_its_row(keyed, mock):
    before = {r["request_id"] for r in rows(keyed.ledger_path)}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(keyed.url + "/v1/chat/completions",
                   json={"model": "gpt-latency-400", "messages": HI},
                   headers={"authorization": f"Bearer {KEYS['FRUGAL_TEST_KEY_A']}"}, timeout=0.1)
    deadline = time.monotonic() + 5
    new: list[dict] = []
    while time.monotonic() < deadline and not new:
        new = [r for r in rows(keyed.ledger_path) if r["request_id"] not in before]
        time.sleep(0.05)
    assert len(new) == 1, new
    row = new[0]
    # The upstream call was made and billed: the row says so, with its real usage.
    assert row["error"] == "client_disconnected" and row["status"] == 499
    assert row["model"] == "gpt-latency-400"
    assert row["input_tokens"] > 0 and Decimal(row["cost_usd"]) > 0


def test_headers_and_ledger_agree_on_the_baseline(keyed):
    c = client(keyed, KEYS["FRUGAL_TEST_KEY_A"])
    for name in ("auto", "test-gpt-small"):
        raw = c.chat.completions.with_raw_response.create(model=name, messages=HI)
        row = by_id(keyed.ledger_path, raw.headers["x-frugal-request-id"])
        assert Decimal(raw.headers["x-frugal-cost-usd"]) == Decimal(row["cost_usd"])
        assert Decimal(raw.headers["x-frugal-baseline-cost-usd"]) == Decimal(row["baseline_cost_usd"])
        assert Decimal(raw.headers["x-frugal-savings-routing-usd"]) == Decimal(row["savings_routing_usd"])
        if name != "auto":
            # A model the caller named is its own baseline: frugal saved nothing by routing.
            assert Decimal(row["savings_routing_usd"]) == 0
            assert row["baseline_model"] == name
