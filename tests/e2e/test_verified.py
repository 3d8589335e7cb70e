"""Verified answers end to end: `frugal/verified` (and `[routing.verify]`) has the first
model's answer checked by a second one in parallel, trusts it when they agree, and otherwise
serves a stronger model's answer — one answer in the client's own format, streams included,
with every call in the ledger and the cost headers.

mock-upstream plays quiz takers: a model named `…acc-NN…` answers a lettered question right
NN % of the time (deterministically), the key being the prompt's `[key: X]`; `refuser`
refuses. So each scenario below is one gateway whose cheap models are always right, always
wrong, or refusing, and the expected answer is known."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import anthropic
import openai
import pytest

import subprocess

from support import FRUGAL_BIN, model, render_config

QUIZ = "Which of these is a noble gas? [key: B]\nA) iron\nB) helium\nC) salt\nD) wood\nAnswer with the letter only."
LARGE = "quiz-large-acc-100"


def gateway(frugal_instance, mock, tmp_path_factory, name: str, small: str, checker: str,
            extra: str = "", extra_models: dict | None = None) -> tuple:
    """A gateway whose cheap tiers hold `small` (OpenAI) and `checker` (Anthropic) and whose
    top tier holds an always-right large model; its own SQLite ledger."""
    models = {
        small: model("openai", "simple", 0.10, 0.40),
        checker: model("anthropic", "simple", 0.20, 0.80),
        LARGE: model("openai", "frontier", 10.0, 40.0),
        **(extra_models or {}),
    }
    cheap = [small, checker]
    tiers = {"simple": cheap, "medium": cheap, "complex": cheap, "frontier": [LARGE]}
    ledger = tmp_path_factory.mktemp(name) / "ledger.sqlite"
    text = render_config(mock.url, models, tiers, baseline=LARGE)
    text += f'\n[ledger]\npath = "{ledger}"\n{extra}\n'
    return frugal_instance(name, text), ledger


def rows(path: Path, expected: int, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        out: list[dict] = []
        if path.exists():
            con = sqlite3.connect(path)
            con.row_factory = sqlite3.Row
            try:
                out = [dict(r) for r in con.execute("SELECT * FROM requests ORDER BY seq")]
            except sqlite3.OperationalError:
                pass
            con.close()
        if len(out) >= expected or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def row_of(path: Path, request_id: str) -> dict:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for r in rows(path, 0):
            if r["request_id"] == request_id:
                return r
        time.sleep(0.05)
    raise AssertionError(f"no ledger row for {request_id}")


@pytest.fixture(scope="module")
def agreeing(frugal_instance, mock, tmp_path_factory):
    return gateway(frugal_instance, mock, tmp_path_factory, "verified-agree",
                   "quiz-small-acc-100", "quiz-check-acc-100")


@pytest.fixture(scope="module")
def disagreeing(frugal_instance, mock, tmp_path_factory):
    return gateway(frugal_instance, mock, tmp_path_factory, "verified-disagree",
                   "quiz-small-acc-0-indep", "quiz-check-acc-100",
                   "[routing.verify]\naliases = [\"auto\"]\n")


def ask_openai(gw, model_name: str = "frugal/verified", **kw):
    client = gw.openai()
    return client.chat.completions.with_raw_response.create(
        model=model_name, messages=[{"role": "user", "content": QUIZ}], **kw)


def test_agreeing_cheap_answers_are_trusted_and_every_call_is_metered(agreeing):
    gw, ledger = agreeing
    raw = ask_openai(gw)
    answer = raw.parse()
    assert answer.choices[0].message.content == "B"
    h = raw.headers
    assert h["x-frugal-verify"] == "trusted"
    assert h["x-frugal-model"] == "quiz-small-acc-100"
    # Agreement 1 and the answer's token probability exp(-0.02) from the logprobs frugal
    # asked for (and kept from the client, which did not ask).
    assert abs(float(h["x-frugal-verify-confidence"]) - (1 + 2.718281828 ** -0.02) / 2) < 1e-3
    assert answer.choices[0].logprobs is None
    assert h["x-frugal-verify-calls"] == "2"
    row = row_of(ledger, h["x-frugal-request-id"])
    calls = json.loads(row["calls"])
    assert [(c["model"], c["role"], c["served"]) for c in calls] == [
        ("quiz-small-acc-100", "answer", True), ("quiz-check-acc-100", "check", False)]
    # The check is a cost: in cost_usd, in verify_cost_usd, in the header, never a saving.
    check_cost = float(calls[1]["cost_usd"])
    assert check_cost > 0
    assert abs(float(row["verify_cost_usd"]) - check_cost) < 1e-12
    assert abs(float(row["cost_usd"]) - (float(calls[0]["cost_usd"]) + check_cost)) < 1e-12
    assert abs(float(h["x-frugal-cost-usd"]) - float(row["cost_usd"])) < 1e-9
    assert row["verify"] == "trusted" and row["verify_confidence"] > 0.9


def test_a_wrong_cheap_answer_is_replaced_by_the_stronger_models(disagreeing):
    gw, ledger = disagreeing
    raw = ask_openai(gw)
    assert raw.parse().choices[0].message.content == "B"
    h = raw.headers
    assert h["x-frugal-verify"] == "escalated", dict(h)
    assert h["x-frugal-model"] == LARGE
    assert float(h["x-frugal-verify-confidence"]) < 0.3
    row = row_of(ledger, h["x-frugal-request-id"])
    calls = json.loads(row["calls"])
    assert [(c["role"], c["served"]) for c in calls] == [
        ("answer", False), ("check", False), ("escalation", True)]
    thrown_away = sum(float(c["cost_usd"]) for c in calls if not c["served"])
    assert abs(float(row["verify_cost_usd"]) - thrown_away) < 1e-12
    assert abs(float(row["cost_usd"]) - sum(float(c["cost_usd"]) for c in calls)) < 1e-12
    # The baseline is the large model itself: what was thrown away is a negative saving.
    assert float(row["savings_routing_usd"]) <= -thrown_away + 1e-12
    # `[routing.verify] aliases` verifies `auto` too.
    auto = ask_openai(gw, "auto")
    assert auto.headers["x-frugal-verify"] == "escalated"


def test_verified_streams_carry_the_checked_answer_in_both_formats(disagreeing):
    gw, ledger = disagreeing
    with gw.openai().chat.completions.with_streaming_response.create(
            model="frugal/verified", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": QUIZ}]) as resp:
        assert resp.headers["x-frugal-verify"] == "escalated"
        assert float(resp.headers["x-frugal-verify-delay-ms"]) >= 0
        chunks = list(resp.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "B"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 1
    client = gw.anthropic()
    with client.messages.stream(model="frugal/verified", max_tokens=50,
                                messages=[{"role": "user", "content": QUIZ}]) as stream:
        got = stream.get_final_message()
    assert [b.text for b in got.content if b.type == "text"] == ["B"]
    assert got.stop_reason == "end_turn"
    row = row_of(ledger, rows(ledger, 1)[-1]["request_id"])
    assert row["stream"] == 1 and row["verify"] == "escalated"


def test_red_flags_escalate_even_when_the_answers_agree(frugal_instance, mock, tmp_path_factory):
    gw, ledger = gateway(frugal_instance, mock, tmp_path_factory, "verified-refuse",
                         "quiz-small-acc-100-refuser", "quiz-check-acc-100-refuser")
    msg = gw.anthropic().messages.with_raw_response.create(
        model="frugal/verified", max_tokens=50, messages=[{"role": "user", "content": QUIZ}])
    assert msg.headers["x-frugal-verify"] == "escalated"
    assert [b.text for b in msg.parse().content] == ["B"]
    row = row_of(ledger, msg.headers["x-frugal-request-id"])
    first = json.loads(row["calls"])[0]
    assert "refusal" in first["flags"] and first["confidence"] == 0


def test_explicit_models_and_unverified_aliases_are_not_checked(agreeing):
    gw, _ = agreeing
    plain = ask_openai(gw, "auto")
    assert "x-frugal-verify" not in plain.headers
    explicit = ask_openai(gw, "quiz-small-acc-100")
    assert "x-frugal-verify" not in explicit.headers
    # Opt in per request; a bad header value is the client's error, in its format.
    opted = ask_openai(gw, "auto", extra_headers={"x-frugal-verify": "on"})
    assert opted.headers["x-frugal-verify"] == "trusted"
    with pytest.raises(openai.BadRequestError) as e:
        ask_openai(gw, "auto", extra_headers={"x-frugal-verify": "maybe"})
    assert "x-frugal-verify" in str(e.value)


def test_a_failing_checker_leaves_the_token_probability_and_a_failing_answer_escalates(
        frugal_instance, mock, tmp_path_factory):
    gw, ledger = gateway(frugal_instance, mock, tmp_path_factory, "verified-faults",
                         "quiz-small-acc-100", "quiz-check-acc-100-fail-500")
    raw = ask_openai(gw)
    assert raw.parse().choices[0].message.content == "B"
    # No second answer: the answer's own token probability exp(-0.02) is the evidence.
    assert raw.headers["x-frugal-verify"] == "trusted"
    assert abs(float(raw.headers["x-frugal-verify-confidence"]) - 2.718281828 ** -0.02) < 1e-3
    calls = json.loads(row_of(ledger, raw.headers["x-frugal-request-id"])["calls"])
    assert calls[1]["role"] == "check" and calls[1]["error"] and calls[1]["cost_usd"] == "0"
    gw2, ledger2 = gateway(frugal_instance, mock, tmp_path_factory, "verified-answer-fails",
                           "quiz-small-acc-100-fail-500", "quiz-check-acc-100")
    raw = ask_openai(gw2)
    assert raw.parse().choices[0].message.content == "B"
    assert raw.headers["x-frugal-verify"] == "escalated"
    assert raw.headers["x-frugal-model"] == LARGE
    assert "x-frugal-verify-confidence" not in raw.headers


def test_rated_trusted_answers_move_the_threshold_and_report_shows_escalation(
        agreeing, disagreeing):
    gw, ledger = agreeing
    before = gw.http.get("/health").json()["verify"]
    raw = ask_openai(gw)
    assert raw.headers["x-frugal-verify"] == "trusted"
    row_of(ledger, raw.headers["x-frugal-request-id"])  # rated once it is in the ledger
    # Rated with the key that asked (a key may rate only its own requests).
    fb = gw.http.post("/v1/feedback", json={"request_id": raw.headers["x-frugal-request-id"], "score": 0},
                      headers={"authorization": "Bearer anything"})
    assert fb.status_code == 200, fb.text
    deadline = time.monotonic() + 5
    after = before
    while after["moves"] == before["moves"] and time.monotonic() < deadline:
        time.sleep(0.05)
        after = gw.http.get("/health").json()["verify"]
    assert after["moves"] == before["moves"] + 1
    assert after["threshold"] > before["threshold"]
    # The report counts checked requests, their escalations, what checking cost and saved.
    _, disagree_ledger = disagreeing
    n = len(rows(disagree_ledger, 1))
    rep = subprocess.run([str(FRUGAL_BIN), "report", "--ledger", str(disagree_ledger), "--json", "--since", "1d"],
                         capture_output=True, text=True, timeout=30)
    assert rep.returncode == 0, rep.stderr
    v = json.loads(rep.stdout)["total"]["verification"]
    verified = [r for r in rows(disagree_ledger, n) if r["verify"] in ("trusted", "escalated", "escalation_failed")]
    assert v["requests"] == len(verified) and v["escalated"] == sum(r["verify"] != "trusted" for r in verified)
    assert v["escalation_rate"] == 1.0
    text = subprocess.run([str(FRUGAL_BIN), "report", "--ledger", str(disagree_ledger), "--since", "1d"],
                          capture_output=True, text=True, timeout=30).stdout
    assert f"verified: {len(verified)} requests, {len(verified)} escalated (100.0%)" in text


def test_an_llm_verifier_grade_joins_the_confidence(frugal_instance, mock, tmp_path_factory):
    # The grader model answers "1" (0.1): with the agreement (1) and the token probability
    # (e^-0.02) the confidence is 0.697, below this gateway's 0.75, so the answer escalates
    # although the two cheap answers agree.
    grader = "quiz-grader-rating-1"
    gw, ledger = gateway(frugal_instance, mock, tmp_path_factory, "verified-graded",
                         "quiz-small-acc-100", "quiz-check-acc-100",
                         f'[routing.verify]\nthreshold = 0.75\ngrader = "{grader}"\n',
                         {grader: model("openai", "simple", 0.05, 0.2)})
    raw = ask_openai(gw)
    assert raw.headers["x-frugal-verify"] == "escalated"
    assert abs(float(raw.headers["x-frugal-verify-confidence"]) - (1 + 2.718281828 ** -0.02 + 0.1) / 3) < 1e-3
    calls = json.loads(row_of(ledger, raw.headers["x-frugal-request-id"])["calls"])
    assert [c["role"] for c in calls] == ["answer", "check", "grade", "escalation"]
    assert calls[2]["model"] == grader and calls[2]["confidence"] == 0.1 and float(calls[2]["cost_usd"]) > 0


def test_responses_api_clients_get_verified_answers_too(disagreeing):
    gw, ledger = disagreeing
    raw = gw.openai().responses.with_raw_response.create(model="frugal/verified", input=QUIZ)
    assert raw.headers["x-frugal-verify"] == "escalated"
    assert raw.parse().output_text == "B"
    with gw.openai().responses.stream(model="frugal/verified", input=QUIZ) as stream:
        final = stream.get_final_response()
    assert final.output_text == "B"
    assert row_of(ledger, raw.headers["x-frugal-request-id"])["format"] == "responses"


def test_a_keys_verify_setting_applies_to_its_routed_requests(frugal_instance, mock, tmp_path_factory):
    """`[keys.*] verify = true` checks that key's routed answers; other keys' are not checked,
    and the request's own header still wins over the key."""
    models = {
        "quiz-small-acc-100": model("openai", "simple", 0.10, 0.40),
        "quiz-check-acc-100": model("anthropic", "simple", 0.20, 0.80),
        LARGE: model("openai", "frontier", 10.0, 40.0),
    }
    cheap = ["quiz-small-acc-100", "quiz-check-acc-100"]
    tiers = {"simple": cheap, "medium": cheap, "complex": cheap, "frontier": [LARGE]}
    text = render_config(mock.url, models, tiers, baseline=LARGE)
    text += ('\n[ledger]\nenabled = false\n'
             '[keys.checked]\nkey_env = "FRUGAL_TEST_CHECKED_KEY"\nverify = true\n'
             '[keys.plain]\nkey_env = "FRUGAL_TEST_PLAIN_KEY"\n')
    gw = frugal_instance("verified-per-key", text, FRUGAL_TEST_CHECKED_KEY="fk-checked",
                         FRUGAL_TEST_PLAIN_KEY="fk-plain")

    def ask(key: str, **headers: str):
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=30)
        return client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": QUIZ}], extra_headers=headers)

    assert ask("fk-checked").headers["x-frugal-verify"] == "trusted"
    assert "x-frugal-verify" not in ask("fk-plain").headers
    assert "x-frugal-verify" not in ask("fk-checked", **{"x-frugal-verify": "off"}).headers
    assert ask("fk-plain", **{"x-frugal-verify": "on"}).headers["x-frugal-verify"] == "trusted"
