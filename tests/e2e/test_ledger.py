"""The request ledger end to end: rows after complete and streamed requests in both
formats (and after errors), the feedback endpoint and header, `frugal report` /
`frugal export`, and SIGTERM under load losing no rows. Each test's frugal writes its own
SQLite ledger, read here with Python's sqlite3."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from support import (
    FRUGAL_BIN,
    MAIN_BASELINE,
    MAIN_MODELS,
    MAIN_TIERS,
    assert_no_secret,
    frugal_env,
    model,
    render_config,
    start_process,
)

CLIENT_KEY = "sk-client-SECRET-key"


def ledger_config(mock_url: str, ledger: Path, extra: str = "") -> str:
    models = dict(MAIN_MODELS)
    models["gpt-latency-300"] = model("openai", "simple", 0.01, 0.01)
    text = render_config(mock_url, models, MAIN_TIERS, MAIN_BASELINE)
    return text + f'\n[ledger]\npath = "{ledger}"\nretry_window_secs = 120\n{extra}\n'


def oai(gw, key: str, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=15, **kw)


def rows(path: Path, expected: int | None = None, timeout: float = 5.0) -> list[dict]:
    """The ledger's request rows, waiting (briefly) until there are `expected` of them."""
    deadline = time.monotonic() + timeout
    while True:
        out: list[dict] = []
        if path.exists():
            con = sqlite3.connect(path)
            con.row_factory = sqlite3.Row
            try:
                out = [dict(r) for r in con.execute("SELECT * FROM requests ORDER BY seq")]
            except sqlite3.OperationalError:
                out = []
            finally:
                con.close()
        if expected is None or len(out) >= expected or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def feedback_rows(path: Path, expected: int, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        con = sqlite3.connect(path)
        con.row_factory = sqlite3.Row
        out = [dict(r) for r in con.execute("SELECT * FROM feedback ORDER BY seq")]
        con.close()
        if len(out) >= expected or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


@pytest.fixture(scope="module")
def ledger_gw(mock, frugal_instance, tmp_path_factory):
    path = tmp_path_factory.mktemp("ledger") / "ledger.sqlite"
    gw = frugal_instance("ledger", ledger_config(mock.url, path))
    gw.ledger_path = path
    return gw


def by_id(path: Path, request_id: str) -> dict:
    for _ in range(100):
        for r in rows(path):
            if r["request_id"] == request_id:
                return r
        time.sleep(0.05)
    raise AssertionError(f"no ledger row for {request_id}")


def test_rows_for_complete_and_streamed_requests_in_both_formats(ledger_gw):
    path = ledger_gw.ledger_path
    oa = oai(ledger_gw, CLIENT_KEY, default_headers={"x-frugal-project": "billing"})
    raw = oa.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi ledger"}])
    r = by_id(path, raw.headers["x-frugal-request-id"])
    usage = raw.parse().usage
    assert (r["format"], r["decision"], r["tier"], r["model"]) == (
        "openai", "routed", raw.headers["x-frugal-tier"], raw.headers["x-frugal-model"])
    assert (r["input_tokens"], r["output_tokens"], r["status"], r["stream"]) == (usage.prompt_tokens, usage.completion_tokens, 200, 0)
    assert Decimal(r["cost_usd"]) == Decimal(raw.headers["x-frugal-cost-usd"])
    assert Decimal(r["baseline_cost_usd"]) == Decimal(raw.headers["x-frugal-baseline-cost-usd"])
    assert Decimal(r["savings_routing_usd"]) == Decimal(r["baseline_cost_usd"]) - Decimal(r["cost_usd"])
    assert r["project"] == "billing" and r["key_hash"].startswith("k_")
    assert r["prompt"] is None and r["conversation_hash"].startswith("c_")
    assert r["score"] is not None and r["stage"] and r["baseline_model"] == MAIN_BASELINE
    assert_no_secret(json.dumps(r), "a ledger row")
    assert CLIENT_KEY not in json.dumps(r)

    # Anthropic format, streamed, explicit model: its own baseline, no routing savings.
    with ledger_gw.anthropic().messages.with_streaming_response.create(
            model="test-claude-medium", max_tokens=50, stream=True,
            messages=[{"role": "user", "content": "stream to the ledger"}]) as resp:
        rid = resp.headers["x-frugal-request-id"]
        body = "".join(resp.iter_text())
    assert "message_stop" in body
    r = by_id(path, rid)
    assert (r["format"], r["decision"], r["model"], r["stream"], r["status"]) == ("anthropic", "explicit", "test-claude-medium", 1, 200)
    assert r["input_tokens"] > 0 and r["output_tokens"] > 0 and r["ttft_ms"] is not None
    assert Decimal(r["savings_routing_usd"]) == 0 and r["baseline_model"] == "test-claude-medium"
    assert Decimal(r["cost_usd"]) > 0 and r["error"] is None

    # OpenAI streamed.
    with ledger_gw.openai().chat.completions.with_streaming_response.create(
            model="auto", stream=True, messages=[{"role": "user", "content": "stream openai"}]) as resp:
        rid, tier, used = (resp.headers[h] for h in ("x-frugal-request-id", "x-frugal-tier", "x-frugal-model"))
        "".join(resp.iter_text())
    r = by_id(path, rid)
    assert (r["format"], r["stream"], r["status"], r["tier"], r["model"]) == ("openai", 1, 200, tier, used)
    assert r["output_tokens"] > 0


def test_error_rows(ledger_gw):
    path = ledger_gw.ledger_path
    r1 = ledger_gw.http.post("/v1/chat/completions", content=b"{not json")
    r2 = ledger_gw.http.post("/v1/messages", json={"model": "gpt-fail-500", "max_tokens": 5,
                                                   "messages": [{"role": "user", "content": "x"}]})
    assert (r1.status_code, r2.status_code) == (400, 502)
    a = by_id(path, r1.headers["x-frugal-request-id"])
    b = by_id(path, r2.headers["x-frugal-request-id"])
    assert (a["status"], a["error"], a["decision"]) == (400, "invalid_request", "none")
    assert (b["status"], b["error"], b["fallback_attempts"]) == (502, "all_upstreams_failed", 1)
    assert "gpt-fail-500" in b["failed_models"]


def test_feedback_endpoint_and_header(ledger_gw):
    path = ledger_gw.ledger_path
    raw = ledger_gw.openai().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "rate me"}])
    rid = raw.headers["x-frugal-request-id"]
    before = len(feedback_rows(path, 0, timeout=0))
    # Feedback comes with the key that made the request (the SDK's "anything").
    own = {"authorization": "Bearer anything"}
    ok = ledger_gw.http.post("/v1/feedback", json={"request_id": rid, "thumbs": "down", "comment": "wrong"},
                             headers=own)
    assert ok.status_code == 200, ok.text
    assert ok.json()["recorded"] is True
    for body in ({"request_id": rid, "score": 2}, {"request_id": rid}, {"score": 1},
                 {"request_id": rid, "thumbs": "sideways"}, {"request_id": rid, "score": 1, "bogus": 1}):
        bad = ledger_gw.http.post("/v1/feedback", json=body, headers=own)
        assert bad.status_code == 400, body
        err = bad.json()["error"]
        assert err["type"] == "invalid_request_error" and err["message"]
    missing = ledger_gw.http.post("/v1/feedback", json={"request_id": "frg_nope", "score": 1}, headers=own)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    # The header on a later request.
    ledger_gw.openai().chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "next question"}],
        extra_headers={"x-frugal-feedback": f"{rid}=0.75"})
    fb = feedback_rows(path, before + 2)[before:]
    assert [(f["request_id"], f["score"], f["source"]) for f in fb] == [(rid, 0.0, "explicit"), (rid, 0.75, "header")]
    assert fb[0]["comment"] == "wrong"
    assert (fb[0]["model"], fb[0]["tier"]) == (raw.headers["x-frugal-model"], raw.headers["x-frugal-tier"])


def test_retry_of_the_same_conversation_is_a_negative_signal(ledger_gw):
    path = ledger_gw.ledger_path
    msgs = [{"role": "user", "content": "regenerate this answer please"}]
    c = oai(ledger_gw, "sk-retry-client")
    first = c.chat.completions.with_raw_response.create(model="auto", messages=msgs).headers["x-frugal-request-id"]
    before = len(feedback_rows(path, 0, timeout=0))
    c.chat.completions.create(model="auto", messages=msgs)
    fb = feedback_rows(path, before + 1)[before:]
    assert [(f["request_id"], f["score"], f["source"]) for f in fb] == [(first, 0.0, "retry")]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(FRUGAL_BIN), *args], capture_output=True, text=True, timeout=60,
                          env=frugal_env())


def test_report_and_export(ledger_gw):
    path = ledger_gw.ledger_path
    raw = ledger_gw.openai().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "for the report"}])
    by_id(path, raw.headers["x-frugal-request-id"])  # rows are written in batches: wait for it
    time.sleep(0.2)  # and for any row of an earlier test still in flight
    n = len(rows(path))
    assert n >= 2
    rep = run_cli("report", "--ledger", str(path), "--json", "--since", "1d")
    assert rep.returncode == 0, rep.stderr
    data = json.loads(rep.stdout)
    assert data["total"]["requests"] == n
    assert Decimal(data["total"]["cost_usd"]) == sum(Decimal(r["cost_usd"]) for r in rows(path))
    assert {"routing", "compression", "caching"} <= data["total"]["savings_by_source_usd"].keys()
    assert sum(data["tier_mix"].values()) >= 2 and any(g["key"] == "simple" for g in data["groups"])
    text = run_cli("report", "--ledger", str(path), "--by", "model")
    assert text.returncode == 0 and "test-claude-medium" in text.stdout and "TOTAL" in text.stdout
    csv = run_cli("report", "--ledger", str(path), "--by", "project", "--csv")
    assert csv.returncode == 0 and csv.stdout.startswith("key,requests,") and '"billing"' in csv.stdout
    day = run_cli("report", "--ledger", str(path), "--by", "day")
    assert day.returncode == 0 and time.strftime("%Y-%m-%d", time.gmtime()) in day.stdout
    exp = run_cli("export", "--jsonl", "--ledger", str(path))
    assert exp.returncode == 0, exp.stderr
    lines = [json.loads(x) for x in exp.stdout.splitlines()]
    assert len(lines) == n and all("request_id" in x and "cost_usd" in x for x in lines)
    assert run_cli("report", "--ledger", str(path), "--since", "3y").returncode != 0


def test_metrics_and_health(ledger_gw):
    m = ledger_gw.http.get("/metrics")
    assert m.status_code == 200
    assert 'frugal_ledger_rows_dropped_total{backend="sqlite"} 0' in m.text
    assert "frugal_ledger_rows_written_total" in m.text


def test_sigterm_under_load_loses_no_rows(mock, log_dir, tmp_path):
    path = tmp_path / "sigterm.sqlite"
    cfg = tmp_path / "sigterm.toml"
    cfg.write_text(ledger_config(mock.url, path))
    proc = start_process("frugal-sigterm", [str(FRUGAL_BIN), "serve", "--config", str(cfg), "--listen", "127.0.0.1:0"],
                         frugal_env(), log_dir, "frugal listening on")
    ids: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(n: int) -> None:
        with httpx.Client(base_url=proc.url, timeout=15) as c:
            i = 0
            while not stop.is_set():
                i += 1
                stream = i % 3 == 0
                slow = i % 4 == 0
                body = {"model": "gpt-latency-300" if slow else "auto", "stream": stream,
                        "messages": [{"role": "user", "content": f"load {n} {i}"}]}
                try:
                    if stream:
                        with c.stream("POST", "/v1/chat/completions", json=body) as r:
                            rid = r.headers.get("x-frugal-request-id")
                            for _ in r.iter_bytes():
                                pass
                    else:
                        r = c.post("/v1/chat/completions", json=body)
                        rid = r.headers.get("x-frugal-request-id")
                except httpx.HTTPError:
                    return  # the server is shutting down
                if rid:
                    with lock:
                        ids.append(rid)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    proc.popen.send_signal(signal.SIGTERM)
    stop.set()
    proc.popen.wait(timeout=40)
    for t in threads:
        t.join(timeout=20)
    assert proc.popen.returncode == 0, proc.log_text()[-3000:]
    got = {r["request_id"] for r in rows(path)}
    assert len(ids) > 20
    missing = [i for i in ids if i not in got]
    assert not missing, f"{len(missing)} of {len(ids)} answered requests have no ledger row"
    assert "ledger flushed" in proc.log_text()


def test_sampled_grading_of_routed_down_answers(mock, frugal_instance, tmp_path_factory):
    """`[feedback] grade_model`: a judge grades routed-down answers; the grade is feedback."""
    path = tmp_path_factory.mktemp("graded") / "ledger.sqlite"
    models = dict(MAIN_MODELS)
    models["grader-rating-8"] = model("openai", "simple", 0.01, 0.02)
    text = render_config(mock.url, models, MAIN_TIERS, MAIN_BASELINE)
    text += (f'\n[ledger]\npath = "{path}"\n[feedback]\ngrade_model = "grader-rating-8"\n'
             'grade_rate = 1.0\ngrade_daily_budget_usd = 1.0\n')
    gw = frugal_instance("graded", text)
    raw = oai(gw, CLIENT_KEY).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-frugal-tier"] == "simple"  # below the baseline's complex tier
    rid = raw.headers["x-frugal-request-id"]
    fb = [f for f in feedback_rows(path, 1) if f["request_id"] == rid]
    assert fb and fb[0]["source"] == "judge" and abs(fb[0]["score"] - 0.8) < 1e-9, fb
    # Explicitly named models are not routed down: never graded.
    raw = oai(gw, CLIENT_KEY).chat.completions.with_raw_response.create(
        model="test-gpt-small", messages=[{"role": "user", "content": "hello there"}])
    rid2 = raw.headers["x-frugal-request-id"]
    time.sleep(0.3)
    assert not [f for f in feedback_rows(path, 0, timeout=0) if f["request_id"] == rid2]
