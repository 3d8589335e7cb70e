"""Gateway keys end to end (docs/keys.md): keys made with `frugal keys create` accepted as
`Authorization: Bearer` and `x-api-key`, rotated without downtime and disabled; budgets
enforced before forwarding (both SDKs raise their own RateLimitError, the message names
the budget and its reset), reconciled with the actual cost of complete and streamed
answers; per-key request rates under a burst; the global concurrency limit; refusing to
listen beyond loopback without keys; and 50 concurrent requests on two replicas sharing
the real PostgreSQL never overspending a budget, with no ledger row lost or counted
twice. Each test starts its own gateway with its own ledger."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import time
import uuid
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from support import (
    FRUGAL_BIN,
    MAIN_BASELINE,
    MAIN_MODELS,
    MAIN_TIERS,
    frugal_env,
    model,
    render_config,
    start_process,
)

SMALL = "test-gpt-small"  # $0.10 / $0.40 per 1M tokens
HI = [{"role": "user", "content": "hi there"}]
REFRESH = "\n[limits]\nkey_refresh_secs = 1\nrate_sync_ms = 50\n"


def config(mock_url: str, extra: str = "", require_key: bool = True) -> str:
    text = render_config(mock_url, MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE)
    if require_key:
        text += "\n[auth]\nrequire_key = true\n"
    return text + extra


def run_cli(*args: str, ledger: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(FRUGAL_BIN), *args, "--ledger", ledger], capture_output=True,
                          text=True, timeout=60, env=frugal_env(**(env or {})))


def create_key(ledger: str, name: str, *flags: str) -> str:
    out = run_cli("keys", "create", name, *flags, ledger=ledger)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert key.startswith("fk-") and len(key) == 67, out.stdout
    return key


def show(ledger: str, name: str) -> dict:
    out = run_cli("keys", "show", name, "--json", ledger=ledger)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


class Gateway:
    def __init__(self, tmp: Path, name: str, text: str, ledger: str, **env: str):
        path = tmp / f"{name}.frugal.toml"
        path.write_text(text)
        self.proc = start_process(
            f"frugal-{name}-{uuid.uuid4().hex[:6]}",
            [str(FRUGAL_BIN), "serve", "--config", str(path), "--listen", "127.0.0.1:0",
             "--ledger", ledger],
            frugal_env(**env), tmp, "frugal listening on")
        self.url = self.proc.url

    def openai(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=15)

    def anthropic(self, key: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=key, max_retries=0, timeout=15)

    def stop(self) -> None:
        self.proc.stop()


@pytest.fixture
def gateways(tmp_path):
    started: list[Gateway] = []

    def start(name: str, text: str, ledger: str, **env: str) -> Gateway:
        g = Gateway(tmp_path, name, text, ledger, **env)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()


def ledger_rows(ledger: str) -> list[dict]:
    out = run_cli("export", "--jsonl", ledger=ledger)
    assert out.returncode == 0, out.stderr
    return [json.loads(x) for x in out.stdout.splitlines()]


def wait_for(pred, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.1)


def nanos_up(usd: Decimal) -> Decimal:
    """A cost as the budget counters hold it: rounded up to the next nano-dollar."""
    return usd.quantize(Decimal("1e-9"), rounding=ROUND_CEILING)


# --- keys ------------------------------------------------------------------------------


def test_created_key_works_with_both_sdks_and_unknown_keys_are_refused(mock, gateways, tmp_path):
    ledger = str(tmp_path / "l.sqlite")
    key = create_key(ledger, "app", "--project", "web", "--models", f"{SMALL},auto")
    listed = run_cli("keys", "list", "--json", ledger=ledger)
    assert listed.returncode == 0 and key not in listed.stdout
    assert json.loads(listed.stdout)[0]["project"] == "web"
    g = gateways("keys-basic", config(mock.url, REFRESH), ledger)
    r = g.openai(key).chat.completions.with_raw_response.create(model=SMALL, messages=HI)
    assert r.headers["x-frugal-model"] == SMALL
    m = g.anthropic(key).messages.create(model=SMALL, max_tokens=20, messages=HI)
    assert m.content[0].text
    with pytest.raises(openai.AuthenticationError):
        g.openai("fk-not-a-key").chat.completions.create(model=SMALL, messages=HI)
    # A model outside the key's list: 403 in the client's format.
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        g.anthropic(key).messages.create(model="test-gpt-large", max_tokens=20, messages=HI)
    assert "may not use model `test-gpt-large`" in str(e.value)
    # The key's project, not a header, is where its spend is counted.
    rows = wait_for(lambda: [r for r in ledger_rows(ledger) if r["status"] == 200 and r["project"] == "web"])
    assert len(rows) >= 2
    assert key not in (tmp_path / "l.sqlite").read_bytes().decode(errors="replace")


def test_rotation_keeps_the_old_key_for_the_grace_period_then_disable(mock, gateways, tmp_path):
    ledger = str(tmp_path / "l.sqlite")
    old = create_key(ledger, "svc")
    g = gateways("keys-rotate", config(mock.url, REFRESH), ledger)
    assert g.openai(old).chat.completions.create(model=SMALL, messages=HI).choices
    rotated = run_cli("keys", "rotate", "svc", "--grace", "1h", ledger=ledger)
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert new.startswith("fk-") and new != old
    # No downtime: every request during the switch is answered, with either key.
    deadline = time.monotonic() + 3
    seen_new = False
    while time.monotonic() < deadline:
        assert g.openai(old).chat.completions.create(model=SMALL, messages=HI).choices
        try:
            seen_new = bool(g.openai(new).chat.completions.create(model=SMALL, messages=HI).choices)
        except openai.AuthenticationError:
            pass  # not yet re-read (limits.key_refresh_secs)
        time.sleep(0.1)
    assert seen_new
    # A rotation without grace drops the previous value at once.
    again = run_cli("keys", "rotate", "svc", "--grace", "0", ledger=ledger)
    newest = again.stdout.strip()
    assert wait_for(lambda: _refused(g, new))
    assert g.openai(newest).chat.completions.create(model=SMALL, messages=HI).choices
    assert run_cli("keys", "disable", "svc", ledger=ledger).returncode == 0
    assert wait_for(lambda: _refused(g, newest))
    text = run_cli("keys", "show", "svc", ledger=ledger).stdout
    assert "disabled" in text


def _refused(g: Gateway, key: str) -> bool:
    try:
        g.openai(key).chat.completions.create(model=SMALL, messages=HI)
        return False
    except openai.AuthenticationError:
        return True


def test_listening_beyond_loopback_needs_keys(mock, tmp_path):
    path = tmp_path / "open.toml"
    path.write_text(config(mock.url, require_key=False))
    out = subprocess.run([str(FRUGAL_BIN), "serve", "--config", str(path), "--listen", "0.0.0.0:0",
                          "--ledger", str(tmp_path / "l.sqlite")],
                         capture_output=True, text=True, timeout=30, env=frugal_env())
    assert out.returncode != 0
    assert "require_key = true" in out.stderr and "frugal keys create" in out.stderr
    # With keys required it starts, and answers only keyed requests.
    path.write_text(config(mock.url, '\n[keys.lan]\nkey_env = "FRUGAL_TEST_KEY_LAN"\n'))
    proc = start_process(f"frugal-lan-{uuid.uuid4().hex[:6]}",
                         [str(FRUGAL_BIN), "serve", "--config", str(path), "--listen", "0.0.0.0:0",
                          "--ledger", str(tmp_path / "l.sqlite")],
                         frugal_env(FRUGAL_TEST_KEY_LAN="fk-lan-SECRET-3"), tmp_path, "frugal listening on")
    try:
        port = proc.url.rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}/v1"
        keyed = openai.OpenAI(base_url=url, api_key="fk-lan-SECRET-3", max_retries=0, timeout=15)
        assert keyed.chat.completions.create(model=SMALL, messages=HI).choices
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="nope", max_retries=0).chat.completions.create(
                model=SMALL, messages=HI)
    finally:
        proc.stop()


# --- budgets ---------------------------------------------------------------------------


def test_budget_refusal_in_each_sdks_own_exception(mock, gateways, tmp_path):
    ledger = str(tmp_path / "l.sqlite")
    # One request on test-gpt-small with max_tokens 20 reserves ~$0.000009: two fit.
    key = create_key(ledger, "tight", "--budget-day", "0.000020", "--models", SMALL)
    g = gateways("keys-budget", config(mock.url, REFRESH), ledger)
    ok = 0
    with pytest.raises(openai.RateLimitError) as e:
        for _ in range(5):
            g.openai(key).chat.completions.create(model=SMALL, messages=HI, max_tokens=20)
            ok += 1
    assert ok >= 1
    err = e.value
    assert err.status_code == 429
    assert err.body["code"] == "budget_exceeded" and err.body["type"] == "insufficient_quota"
    assert "key `tight` daily budget of $0.00002" in err.message
    assert "resets at" in err.message and "T00:00:00Z" in err.message
    assert err.response.headers["x-should-retry"] == "false"
    assert int(err.response.headers["retry-after"]) > 0
    with pytest.raises(anthropic.RateLimitError) as ea:
        g.anthropic(key).messages.create(model=SMALL, max_tokens=20, messages=HI)
    assert ea.value.body["error"]["type"] == "rate_limit_error"
    assert "daily budget" in ea.value.message
    # The refusal happened before forwarding: the upstream saw only the admitted requests.
    assert len(mock.chat_requests()) == ok
    # Spend is the ledger's cost of the answered requests, nothing reserved any more.
    s = wait_for(lambda: (x := show(ledger, "tight"))["budgets"][0]["reserved_usd"] == "0" and x)
    rows = [r for r in ledger_rows(ledger) if r["status"] == 200]
    assert len(rows) == ok == s["budgets"][0]["settled_requests"]
    assert Decimal(s["budgets"][0]["spent_usd"]) == sum(nanos_up(Decimal(r["cost_usd"])) for r in rows)
    # An SDK left to its default retries obeys x-should-retry: one refusal, not three.
    retrying = openai.OpenAI(base_url=g.url + "/v1", api_key=key, max_retries=2, timeout=15)
    with pytest.raises(openai.RateLimitError):
        retrying.chat.completions.create(model=SMALL, messages=HI, max_tokens=20)
    wait_for(lambda: len([r for r in ledger_rows(ledger) if r["error"] == "budget_exceeded"]) >= 3)
    time.sleep(0.3)
    assert len([r for r in ledger_rows(ledger) if r["error"] == "budget_exceeded"]) == 3


def test_soft_limit_warning_header(mock, gateways, tmp_path):
    ledger = str(tmp_path / "l.sqlite")
    key = create_key(ledger, "warned", "--budget-total", "0.00004", "--models", SMALL)
    g = gateways("keys-warn", config(mock.url, REFRESH + "budget_warn_share = 0.1\n"), ledger)
    first = g.openai(key).chat.completions.with_raw_response.create(model=SMALL, messages=HI, max_tokens=20)
    warning = first.headers.get("x-frugal-budget-warning")
    assert warning and warning.startswith("key warned total budget") and "% used" in warning


def test_streamed_answer_is_reconciled_with_its_actual_cost(mock, gateways, tmp_path):
    ledger = str(tmp_path / "l.sqlite")
    key = create_key(ledger, "streamer", "--budget-month", "1", "--tiers", "simple")
    g = gateways("keys-stream", config(mock.url, REFRESH), ledger)
    with g.anthropic(key).messages.stream(model="auto", max_tokens=200, messages=HI) as s:
        text = "".join(s.text_stream)
    assert text
    stream = g.openai(key).chat.completions.create(model="auto", messages=HI, stream=True,
                                                   stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    s = wait_for(lambda: (x := show(ledger, "streamer"))["budgets"][0]["settled_requests"] == 2 and x)
    assert s, "both streams settled"
    b = s["budgets"][0]
    assert b["reserved_usd"] == "0"
    rows = [r for r in ledger_rows(ledger) if r["stream"]]
    assert len(rows) == 2 and all(int(r["output_tokens"]) > 0 for r in rows)
    # Only simple-tier models served the key, and the counter holds exactly their cost.
    assert {r["tier"] for r in rows} == {"simple"}
    assert Decimal(b["spent_usd"]) == sum(nanos_up(Decimal(r["cost_usd"])) for r in rows) > 0


def test_configured_keys_share_their_projects_budget_and_tokens_per_minute(mock, gateways, tmp_path):
    ledger = str(tmp_path / "l.sqlite")
    extra = REFRESH + (
        '\n[keys.one]\nkey_env = "FRUGAL_TEST_KEY_ONE"\nproject = "web"\ntokens_per_min = 250\n'
        '\n[keys.two]\nkey_env = "FRUGAL_TEST_KEY_TWO"\nproject = "web"\n'
        '\n[projects.web]\nbudget_month_usd = 0.0003\n')
    g = gateways("keys-project", config(mock.url, extra), ledger,
                 FRUGAL_TEST_KEY_ONE="fk-one-SECRET-1", FRUGAL_TEST_KEY_TWO="fk-two-SECRET-2")
    # Tokens per minute: a request is admitted on its estimate (prompt + max_tokens 200),
    # then counted at its actual usage (~21 tokens), so a few fit before one does not.
    one = g.openai("fk-one-SECRET-1")
    admitted = 0
    with pytest.raises(openai.RateLimitError) as e:
        for _ in range(20):
            one.chat.completions.create(model=SMALL, messages=HI, max_tokens=200)
            admitted += 1
    assert "250 tokens per minute" in e.value.message
    assert 2 <= admitted <= 10, admitted
    # The project budget counts both keys: key two runs out on what key one spent too.
    two = g.anthropic("fk-two-SECRET-2")
    answered = admitted
    with pytest.raises(anthropic.RateLimitError) as ea:
        for _ in range(100):
            two.messages.create(model=SMALL, max_tokens=20, messages=HI)
            answered += 1
    assert "project `web` monthly budget" in ea.value.message
    assert answered >= 2
    report = run_cli("report", "--by", "project", "--json", ledger=ledger,
                     env={"FRUGAL_CONFIG": str(tmp_path / "keys-project.frugal.toml")})
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    web = next(x for x in data["groups"] if x["key"] == "web")
    assert web["requests"] >= answered
    assert data["budgets"]["web"][0]["period"] == "monthly"


# --- rate and concurrency limits ---------------------------------------------------------


def test_requests_per_minute_under_a_burst(mock, gateways, tmp_path):
    ledger = str(tmp_path / "l.sqlite")
    key = create_key(ledger, "bursty", "--rpm", "5")
    g = gateways("keys-rate", config(mock.url, REFRESH), ledger)

    def one(_):
        try:
            g.openai(key).chat.completions.create(model=SMALL, messages=HI)
            return None
        except openai.RateLimitError as e:
            return e

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(one, range(12)))
    refused = [e for e in results if e is not None]
    assert len(results) - len(refused) == 5
    for e in refused:
        assert e.body["code"] == "rate_limit_exceeded"
        assert "5 requests per minute" in e.message
        assert 1 <= int(e.response.headers["retry-after"]) <= 120
        assert "x-should-retry" not in e.response.headers
    with pytest.raises(anthropic.RateLimitError):
        g.anthropic(key).messages.create(model=SMALL, max_tokens=20, messages=HI)
    shown = wait_for(lambda: (x := show(ledger, "bursty"))["this_minute"]["requests"] >= 5 and x)
    assert shown["this_minute"]["requests"] >= 5


def test_global_concurrency_limit_sheds_load(mock, gateways, tmp_path):
    ledger = str(tmp_path / "l.sqlite")
    models = dict(MAIN_MODELS)
    # The mock answers this model after 600 ms: requests overlap.
    models["gpt-latency-600"] = model("openai", "simple", 0.01, 0.01)
    text = render_config(mock.url, models, MAIN_TIERS, MAIN_BASELINE)
    g = gateways("keys-conc", text + "\n[limits]\nmax_concurrent_requests = 2\n", ledger)
    client = httpx.Client(base_url=g.url, timeout=15)

    def one(_):
        r = client.post("/v1/chat/completions", json={"model": "gpt-latency-600", "messages": HI})
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "concurrency_limit_exceeded"
            assert r.headers["retry-after"] == "1"
        return r.status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(one, range(6)))
    assert codes.count(429) >= 1 and codes.count(200) >= 2, codes


# --- two replicas on the real PostgreSQL -------------------------------------------------


def fresh_pg_database() -> str:
    base = os.environ.get("FRUGAL_TEST_PG_URL", "")
    if not base:
        if os.environ.get("CI") in ("true", "1"):
            pytest.fail("FRUGAL_TEST_PG_URL is not set under CI: the replica budget test must run")
        pytest.skip("FRUGAL_TEST_PG_URL is not set (scripts/test.sh sets it)")
    now = int(time.time())
    # Databases of earlier runs (older than ten minutes) are dropped, best effort.
    old = subprocess.run(["psql", base, "-tAc", "SELECT datname FROM pg_database WHERE datname LIKE 'frugal_e2e_%'"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    for db in old:
        if int(db.split("_")[2]) < now - 600:
            subprocess.run(["psql", base, "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"],
                           capture_output=True, timeout=30)
    name = f"frugal_e2e_{now}_{uuid.uuid4().hex[:8]}"
    out = subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    head, _, _ = base.partition("?")[0].rpartition("/")
    return f"{head}/{name}"


def test_budget_race_on_two_replicas_sharing_postgres(mock, gateways):
    ledger = fresh_pg_database()
    budget = Decimal("0.0001")
    key = create_key(ledger, "race", "--budget-total", str(budget), "--models", SMALL)
    a = gateways("keys-pg-a", config(mock.url, REFRESH), ledger)
    b = gateways("keys-pg-b", config(mock.url, REFRESH), ledger)

    def one(i: int):
        g = a if i % 2 == 0 else b
        try:
            r = g.openai(key).chat.completions.with_raw_response.create(
                model=SMALL, messages=[{"role": "user", "content": f"request {i}"}], max_tokens=20)
            return 200, r.headers["x-frugal-request-id"], i % 2
        except openai.RateLimitError as e:
            assert e.body["code"] == "budget_exceeded", e.body
            return 429, e.response.headers["x-frugal-request-id"], i % 2

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(50)))
    answered = {rid for code, rid, _ in results if code == 200}
    refused = {rid for code, rid, _ in results if code == 429}
    assert len(answered) + len(refused) == 50
    assert answered and refused, "the budget both admitted and refused some of the 50"
    # Both replicas answered some: the budget is one, shared, not one per replica.
    assert {replica for code, _, replica in results if code == 200} == {0, 1}
    # Every request left exactly one ledger row (0 lost, 0 twice) ...
    rows = wait_for(lambda: (x := ledger_rows(ledger)) and len(x) >= 50 and x)
    assert sorted(r["request_id"] for r in rows) == sorted(answered | refused)
    assert {r["request_id"] for r in rows if r["status"] == 200} == answered
    assert all(r["error"] == "budget_exceeded" for r in rows if r["request_id"] in refused)
    # ... and the shared counter holds exactly the answered requests' ledger cost, within
    # the budget, nothing left reserved.
    s = wait_for(lambda: (x := show(ledger, "race"))["budgets"][0]["reserved_usd"] == "0" and x)
    spent = Decimal(s["budgets"][0]["spent_usd"])
    assert s["budgets"][0]["settled_requests"] == len(answered)
    assert spent == sum(nanos_up(Decimal(r["cost_usd"])) for r in rows if r["status"] == 200)
    assert spent <= budget
    # `frugal report --by key` names the key and shows the same spend against its budget.
    report = run_cli("report", "--by", "key", "--json", ledger=ledger)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    group = next(g for g in data["groups"] if g["key"] == "race")
    assert group["requests"] == 50
    assert data["budgets"]["race"][0]["spent_usd"] == s["budgets"][0]["spent_usd"]


def test_request_rate_is_shared_by_two_replicas(mock, gateways):
    ledger = fresh_pg_database()
    key = create_key(ledger, "shared-rate", "--rpm", "6")
    a = gateways("keys-rate-a", config(mock.url, REFRESH), ledger)
    b = gateways("keys-rate-b", config(mock.url, REFRESH), ledger)
    admitted = []
    for i in range(12):
        g = a if i % 2 == 0 else b
        try:
            g.openai(key).chat.completions.create(model=SMALL, messages=HI)
            admitted.append(i % 2)
        except openai.RateLimitError as e:
            assert e.body["code"] == "rate_limit_exceeded"
        time.sleep(0.2)  # > rate_sync_ms: each replica has seen the other's requests
    # Six in the minute in all, not six per replica, and both replicas admitted some.
    assert len(admitted) == 6 and set(admitted) == {0, 1}, admitted


def test_graceful_stop_settles_streams_in_flight(mock, tmp_path):
    ledger = str(tmp_path / "l.sqlite")
    key = create_key(ledger, "stopper", "--budget-day", "1")
    models = dict(MAIN_MODELS)
    models["gpt-latency-800"] = model("openai", "simple", 0.10, 0.40)
    path = tmp_path / "stop.toml"
    path.write_text(render_config(mock.url, models, MAIN_TIERS, MAIN_BASELINE) + REFRESH)
    proc = start_process(f"frugal-stop-{uuid.uuid4().hex[:6]}",
                         [str(FRUGAL_BIN), "serve", "--config", str(path), "--listen", "127.0.0.1:0",
                          "--ledger", ledger], frugal_env(), tmp_path, "frugal listening on")
    client = openai.OpenAI(base_url=proc.url + "/v1", api_key=key, max_retries=0, timeout=15)

    def one(_):
        stream = client.chat.completions.create(model="gpt-latency-800", messages=HI, stream=True,
                                                max_tokens=30)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(one, i) for i in range(4)]
        time.sleep(0.4)  # all four reserved and waiting on the upstream
        proc.popen.terminate()
        answers = [f.result() for f in futures]
    assert proc.popen.wait(timeout=30) == 0
    assert all(answers)
    s = show(ledger, "stopper")["budgets"][0]
    rows = [r for r in ledger_rows(ledger) if r["status"] == 200]
    assert len(rows) == 4 == s["settled_requests"]
    assert s["reserved_usd"] == "0"
    assert Decimal(s["spent_usd"]) == sum(nanos_up(Decimal(r["cost_usd"])) for r in rows)
