#!/usr/bin/env python3
"""Budget race, repeated: 50 concurrent requests against one key with a small budget, split
across two frugal replicas sharing a fresh PostgreSQL database, N times (issue 15's target).

Each run: a new database on the PostgreSQL server (`FRUGAL_TEST_PG_URL`, else the URL that
`scripts/start-postgres.sh` prints), a key made with `frugal keys create race --budget-total
B --models test-gpt-small`, two `frugal serve` replicas on it (the configuration of
tests/e2e/test_keys.py: the main test models, keys required, keys refreshed every second),
then 50 OpenAI-SDK requests released together by a barrier, even ones to replica A and odd
ones to replica B, each with its own prompt length and `max_tokens` (a shuffled mix) so the
estimates differ. After the answers it waits until the counters hold no reservation and the
ledger has a row per request, stops both replicas gracefully (SIGTERM: settlements and
ledger rows are written before they exit), reads the database and drops it.

Per run it records:
  budget            the key's total budget
  spend             the ledger: sum of `cost_usd` over the key's rows (requests.key_hash
                    claimed by the key in api_key_hashes)
  overspend         max(0, spend - budget)
  largest est.      the largest single request's estimate, i.e. its reservation. frugal does
                    not report the reservation of an admitted request, so it is computed as
                    docs/keys.md defines it (limits/mod.rs `reservation_usd`): the request
                    names one model, so its price; prompt tokens = ceil(UTF-8 bytes / 4) at the
                    higher of the input and cache-write prices, answer = max_tokens at the
                    output price; rounded up to the nano-dollar like the counters. The refused
                    requests' messages ("this request may cost up to $X", 6 decimals) are
                    checked against the computed value (column `est ok`).
  sent / rows       requests sent vs the key's ledger rows; lost = request ids the clients
                    saw with no row (and sent - rows); double = request ids with more than one row
  admitted/refused  200 vs 429 budget_exceeded (anything else is counted as `other`)
  upstream          chat requests mock-upstream received (each admitted request once)
  counter           the key's counter (`frugal keys show --json`): spent_usd vs the sum of the
                    admitted rows' cost rounded up to the nano-dollar (how counters hold it),
                    settled_requests vs admitted, reserved_usd left (must be 0)

The target (issue 15): in every run overspend <= the largest single request's estimate, and
over all runs 0 requests lost or double-counted. Exits 1 when it is violated (also when the
counter and the ledger disagree, or a reservation is left held), 2 on a setup failure.

    python3 bench/budget_race.py                    # 20 runs
    python3 bench/budget_race.py --runs 3 --budget 0.0002 --json out.json

Binaries come from FRUGAL_BIN / MOCK_BIN (default target/debug). Needs psql and the Python
packages of tests/e2e/requirements.txt.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from support import (  # noqa: E402
    FRUGAL_BIN,
    MAIN_BASELINE,
    MAIN_MODELS,
    MAIN_TIERS,
    MOCK_BIN,
    frugal_env,
    render_config,
    start_process,
)

MODEL = "test-gpt-small"
KEY_NAME = "race"
MAX_TOKENS_MIX = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
# As tests/e2e/test_keys.py: keys required, database keys re-read every second.
EXTRA_CONFIG = "\n[auth]\nrequire_key = true\n\n[limits]\nkey_refresh_secs = 1\nrate_sync_ms = 50\n"
NANO = Decimal("1e-9")
COST_RE = re.compile(r"may cost up to \$([0-9.]+)")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def nanos_up(usd: Decimal) -> Decimal:
    return usd.quantize(NANO, rounding=ROUND_CEILING)


def estimate_usd(prompt: str, max_tokens: int) -> Decimal:
    """The reservation of an explicit request, as limits/mod.rs `reservation_usd` makes it."""
    m = MAIN_MODELS[MODEL]
    price_in = Decimal(str(m["input"]))
    price_in = max(price_in, Decimal(str(m.get("cache_write", m["input"]))))
    price_out = Decimal(str(m["output"]))
    input_tokens = -(-len(prompt.encode()) // 4)
    return nanos_up((input_tokens * price_in + max_tokens * price_out) / Decimal(1_000_000))


def fmt_usd(d: Decimal) -> str:
    return f"{d:.9f}".rstrip("0").rstrip(".") if d else "0"


# --- PostgreSQL ----------------------------------------------------------------------


def server_url() -> str:
    url = os.environ.get("FRUGAL_TEST_PG_URL", "")
    if url:
        return url
    out = subprocess.run(["bash", str(ROOT / "scripts" / "start-postgres.sh")], capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"scripts/start-postgres.sh failed:\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def psql(url: str, sql: str) -> str:
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-tAF", "\t", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed: {sql}\n{out.stderr}")
    return out.stdout


def db_url(base: str, name: str) -> str:
    head, _, _ = base.partition("?")[0].rpartition("/")
    return f"{head}/{name}"


# --- one run -------------------------------------------------------------------------


def run_cli(*args: str, ledger: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(FRUGAL_BIN), *args, "--ledger", ledger], capture_output=True,
                          text=True, timeout=120, env=frugal_env(FRUGAL_LOG="warn"))


def requests_for(run: int, n: int, seed: int) -> list[tuple[str, int]]:
    """(prompt, max_tokens) per request: shuffled max_tokens, prompts of about 40 to 400 bytes."""
    rng = random.Random(seed * 1000 + run)
    mix = [MAX_TOKENS_MIX[i % len(MAX_TOKENS_MIX)] for i in range(n)]
    rng.shuffle(mix)
    out = []
    for i in range(n):
        head = f"run {run} request {i}: please summarise this note. "
        length = rng.randint(30, 400)
        # No trailing whitespace: frugal's lossless compression trims it before estimating.
        body = (head + "lorem ipsum dolor sit amet " * 20)[:max(length, len(head))].rstrip()
        out.append((body, mix[i]))
    return out


def one_run(run: int, args, base: str, mock_url: str, mock_http: httpx.Client, work: Path,
            state: dict) -> dict:
    name = f"frugal_race_{int(time.time())}_{uuid.uuid4().hex[:8]}"
    psql(base, f"CREATE DATABASE {name}")
    state["db"] = name
    ledger = db_url(base, name)
    budget = Decimal(args.budget)
    created = run_cli("keys", "create", KEY_NAME, "--budget-total", str(budget), "--models", MODEL,
                      ledger=ledger)
    if created.returncode != 0:
        raise RuntimeError(f"frugal keys create failed:\n{created.stderr}")
    key = created.stdout.strip()
    text = render_config(mock_url, MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE) + EXTRA_CONFIG
    cfg = work / f"run{run}.frugal.toml"
    cfg.write_text(text)
    replicas = []
    for label in ("a", "b"):
        p = start_process(f"frugal-run{run}-{label}",
                          [str(FRUGAL_BIN), "serve", "--config", str(cfg), "--listen", "127.0.0.1:0",
                           "--ledger", ledger],
                          frugal_env(FRUGAL_LOG=args.log_level), work, "frugal listening on")
        replicas.append(p)
        state["procs"].append(p)
    mock_http.delete("/mock/requests").raise_for_status()

    reqs = requests_for(run, args.requests, args.seed)
    estimates = [estimate_usd(p, mt) for p, mt in reqs]
    clients = [openai.OpenAI(base_url=replicas[i % 2].url + "/v1", api_key=key, max_retries=0,
                             timeout=30) for i in range(len(reqs))]
    barrier = threading.Barrier(len(reqs))

    def one(i: int) -> dict:
        prompt, max_tokens = reqs[i]
        barrier.wait(timeout=60)
        res = {"i": i, "replica": i % 2, "max_tokens": max_tokens, "est": estimates[i],
               "prompt_bytes": len(prompt.encode()), "est_in": -(-len(prompt.encode()) // 4)}
        try:
            r = clients[i].chat.completions.with_raw_response.create(
                model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens)
            res.update(status=200, rid=r.headers.get("x-frugal-request-id"))
        except openai.APIStatusError as e:
            res.update(status=e.status_code, rid=e.response.headers.get("x-frugal-request-id"))
            body = e.body if isinstance(e.body, dict) else {}
            res["code"] = body.get("code")
            m = COST_RE.search(str(body.get("message", "")))
            res["said_est"] = Decimal(m.group(1)) if m else None
        except Exception as e:  # a timeout or a dropped connection
            res.update(status=None, rid=None, error=f"{type(e).__name__}: {e}")
        return res

    t0 = time.monotonic()
    with ThreadPoolExecutor(len(reqs)) as pool:
        results = list(pool.map(one, range(len(reqs))))
    elapsed = time.monotonic() - t0
    for c in clients:
        c.close()

    admitted = [r for r in results if r["status"] == 200]
    refused = [r for r in results if r["status"] == 429 and r.get("code") == "budget_exceeded"]
    other = [r for r in results if r not in admitted and r not in refused]

    def counters() -> dict:
        out = run_cli("keys", "show", KEY_NAME, "--json", ledger=ledger)
        if out.returncode != 0:
            raise RuntimeError(f"frugal keys show failed:\n{out.stderr}")
        return json.loads(out.stdout)["budgets"][0]

    # Settled and written: no reservation held, a row per request (or 20 s, then measure).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows_now = int(psql(ledger, "SELECT count(*) FROM requests").strip())
        if rows_now >= len(reqs) and counters()["reserved_usd"] == "0":
            break
        time.sleep(0.2)
    exits = []
    for p in replicas:
        p.stop()
        exits.append(p.popen.returncode)
        state["procs"].remove(p)

    upstream = [x for x in mock_http.get("/mock/requests").json()
                if x.get("path") in ("/v1/chat/completions", "/v1/messages", "/v1/responses")]
    hashes = set(psql(ledger, f"SELECT ledger_hash FROM api_key_hashes WHERE name = '{KEY_NAME}'").split())
    rows = []
    for line in psql(ledger, "SELECT request_id, key_hash, status, coalesce(error, ''), cost_usd, "
                             "input_tokens, output_tokens FROM requests ORDER BY seq").splitlines():
        if line.strip():
            rid, kh, status, error, cost, tin, tout = line.split("\t")
            rows.append({"rid": rid, "key_hash": kh, "status": int(status), "error": error,
                         "cost": Decimal(cost), "in": int(tin), "out": int(tout)})
    key_rows = [r for r in rows if r["key_hash"] in hashes]
    c = counters()

    by_rid = collections.Counter(r["rid"] for r in key_rows)
    seen = [r["rid"] for r in results if r["rid"]]
    spend = sum((r["cost"] for r in key_rows), Decimal(0))
    admitted_ids = {r["rid"] for r in admitted}
    ledger_nanos = sum((nanos_up(r["cost"]) for r in key_rows if r["rid"] in admitted_ids), Decimal(0))
    counter_spent = Decimal(c["spent_usd"])
    largest = max(estimates)
    said = [(r["said_est"], r["est"]) for r in refused if r.get("said_est") is not None]
    est_ok = sum(1 for s, e in said if abs(s - e) <= Decimal("0.0000005"))
    est_mismatch = [f"request {r['i']} ({r['prompt_bytes']} B prompt, max_tokens {r['max_tokens']}): "
                    f"computed {fmt_usd(r['est'])}, refusal said {r['said_est']}"
                    for r in refused if r.get("said_est") is not None
                    and abs(r["said_est"] - r["est"]) > Decimal("0.0000005")]
    row_of = {r["rid"]: r for r in key_rows}
    served = [(r, row_of[r["rid"]]) for r in admitted if r["rid"] in row_of]
    beyond = [row["cost"] - r["est"] for r, row in served]
    in_over = [row["in"] - r["est_in"] for r, row in served]
    out_over = [row["out"] - r["max_tokens"] for r, row in served]
    overspend = max(Decimal(0), spend - budget)
    return {
        "run": run,
        "db": name,
        "budget": budget,
        "sent": len(reqs),
        "admitted": len(admitted),
        "admitted_a": sum(1 for r in admitted if r["replica"] == 0),
        "admitted_b": sum(1 for r in admitted if r["replica"] == 1),
        "refused": len(refused),
        "other": len(other),
        "other_detail": [{k: str(v) for k, v in r.items()} for r in other][:5],
        "rows": len(key_rows),
        "rows_other_keys": len(rows) - len(key_rows),
        "lost": max(len(reqs) - len(key_rows), sum(1 for rid in seen if rid not in by_rid)),
        "no_id": len(reqs) - len(seen),
        "double": sum(1 for n in by_rid.values() if n > 1),
        "spend": spend,
        "overspend": overspend,
        "largest_est": largest,
        "over_ratio": overspend / largest if largest else Decimal(0),
        "max_beyond_est": max(beyond) if beyond else Decimal(0),
        "over_est_requests": sum(1 for b in beyond if b > 0),
        "in_over": (min(in_over), max(in_over)) if in_over else (0, 0),
        "out_over_max": max(out_over) if out_over else 0,
        "counter_spent": counter_spent,
        "ledger_nanos": ledger_nanos,
        "counter_diff": counter_spent - ledger_nanos,
        "settled": c["settled_requests"],
        "reserved_left": Decimal(c["reserved_usd"]),
        "upstream": len(upstream),
        "est_checked": len(said),
        "est_ok": est_ok,
        "est_mismatch": est_mismatch,
        "exits": exits,
        "seconds": elapsed,
    }


def verdict(r: dict) -> list[str]:
    bad = []
    if r["overspend"] > r["largest_est"]:
        bad.append(f"overspend {fmt_usd(r['overspend'])} > largest estimate {fmt_usd(r['largest_est'])}")
    if r["lost"]:
        bad.append(f"{r['lost']} lost")
    if r["double"]:
        bad.append(f"{r['double']} double-counted")
    if r["counter_diff"] or r["settled"] != r["admitted"]:
        bad.append(f"counter {fmt_usd(r['counter_spent'])} / {r['settled']} settled vs ledger "
                   f"{fmt_usd(r['ledger_nanos'])} / {r['admitted']} admitted")
    if r["reserved_left"]:
        bad.append(f"{fmt_usd(r['reserved_left'])} still reserved")
    return bad


# --- report --------------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Markdown; the first column left-aligned, numbers right-aligned."""
    out = ["| " + " | ".join(headers) + " |", "|---|" + "|".join("---:" for _ in headers[1:]) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def report(results: list[dict], args) -> bool:
    print("\nPer run (USD; spend = sum of the key's ledger cost_usd; est = computed reservation):\n")
    print(table(
        ["run", "budget", "sent", "admitted (A+B)", "refused", "other", "rows", "lost", "double",
         "upstream", "spend", "overspend", "largest est", "overspend/est", "counter", "counter−ledger",
         "reserved left", "est ok", "s"],
        [[str(r["run"]), fmt_usd(r["budget"]), str(r["sent"]),
          f"{r['admitted']} ({r['admitted_a']}+{r['admitted_b']})", str(r["refused"]), str(r["other"]),
          str(r["rows"]), str(r["lost"]), str(r["double"]), str(r["upstream"]), fmt_usd(r["spend"]),
          fmt_usd(r["overspend"]), fmt_usd(r["largest_est"]), f"{r['over_ratio']:.3f}",
          fmt_usd(r["counter_spent"]), fmt_usd(r["counter_diff"]), fmt_usd(r["reserved_left"]),
          f"{r['est_ok']}/{r['est_checked']}", f"{r['seconds']:.2f}"] for r in results]))
    failures = {r["run"]: verdict(r) for r in results if verdict(r)}
    max_over = max(r["overspend"] for r in results)
    max_ratio = max(r["over_ratio"] for r in results)
    headroom = min(r["budget"] - r["spend"] for r in results)
    summary = [
        ["runs", str(len(results))],
        ["requests sent", str(sum(r["sent"] for r in results))],
        ["admitted / refused (429) / other", f"{sum(r['admitted'] for r in results)} / "
         f"{sum(r['refused'] for r in results)} / {sum(r['other'] for r in results)}"],
        ["admitted per run (min–max)", f"{min(r['admitted'] for r in results)}–{max(r['admitted'] for r in results)}"],
        ["runs where both replicas admitted", f"{sum(1 for r in results if r['admitted_a'] and r['admitted_b'])}"],
        ["spend / budget (max over runs)", f"{max(r['spend'] / r['budget'] for r in results):.3f}"],
        ["max overspend (USD)", fmt_usd(max_over)],
        ["max overspend / largest estimate", f"{max_ratio:.3f}"],
        ["largest single estimate (USD)", fmt_usd(max(r["largest_est"] for r in results))],
        ["min budget − spend (USD)", fmt_usd(headroom) if headroom >= 0 else f"-{fmt_usd(-headroom)}"],
        ["max actual cost − estimate, one admitted request (USD)",
         (lambda v: fmt_usd(v) if v >= 0 else f"-{fmt_usd(-v)}")(max(r["max_beyond_est"] for r in results))],
        ["admitted requests costing more than their estimate",
         f"{sum(r['over_est_requests'] for r in results)} / {sum(r['admitted'] for r in results)}"],
        ["billed prompt tokens − estimated (min–max)",
         f"{min(r['in_over'][0] for r in results)}–{max(r['in_over'][1] for r in results)}"],
        ["billed answer tokens − max_tokens (max)", str(max(r["out_over_max"] for r in results))],
        ["ledger rows / requests sent", f"{sum(r['rows'] for r in results)} / {sum(r['sent'] for r in results)}"],
        ["total lost", str(sum(r["lost"] for r in results))],
        ["total double-counted", str(sum(r["double"] for r in results))],
        ["upstream calls / admitted", f"{sum(r['upstream'] for r in results)} / {sum(r['admitted'] for r in results)}"],
        ["counter − ledger (max abs, USD)", fmt_usd(max(abs(r["counter_diff"]) for r in results))],
        ["settled_requests = admitted", f"{sum(1 for r in results if r['settled'] == r['admitted'])}/{len(results)} runs"],
        ["reservations left held", fmt_usd(sum(r["reserved_left"] for r in results))],
        ["refusal messages matching the computed estimate",
         f"{sum(r['est_ok'] for r in results)}/{sum(r['est_checked'] for r in results)}"],
        ["replica exits (SIGTERM)", ", ".join(sorted({str(e) for r in results for e in r["exits"]}))],
    ]
    print(f"\nSummary ({len(results)} runs × {args.requests} concurrent requests, two replicas, "
          f"budget ${args.budget} total, max_tokens mix {','.join(map(str, MAX_TOKENS_MIX))}):\n")
    print(table(["", "measured"], summary))
    for r in results:
        if r["other"]:
            print(f"run {r['run']}: other outcomes {r['other_detail']}")
        for m in r["est_mismatch"]:
            print(f"run {r['run']}: estimate mismatch, {m}")
    if failures:
        print("\nTARGET VIOLATED:")
        for run, why in failures.items():
            print(f"  run {run}: " + "; ".join(why))
    else:
        print("\nTarget met: overspend <= the largest single request's estimate in every run; "
              "0 lost, 0 double-counted.")
    return not failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--requests", type=int, default=50, help="concurrent requests per run")
    ap.add_argument("--budget", default="0.0004", help="the key's total budget, USD")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--log-level", default="info", help="FRUGAL_LOG of the replicas")
    ap.add_argument("--json", help="also write every run's record here")
    ap.add_argument("--keep", action="store_true", help="keep the databases and logs")
    args = ap.parse_args()
    for b in (FRUGAL_BIN, MOCK_BIN):
        if not Path(b).exists():
            log(f"{b} does not exist: build the workspace first")
            return 2
    if not shutil.which("psql"):
        log("psql is needed")
        return 2

    # SIGTERM as Ctrl-C: the finally below stops the processes and drops the databases.
    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # Also when started from a shell that had SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="frugal-budget-race-"))
    state: dict = {"procs": [], "db": None}
    base = server_url()
    log(f"PostgreSQL {base}; logs in {work}")
    results: list[dict] = []
    ok = False
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
        env["NO_COLOR"] = "1"
        mock = start_process("mock-upstream", [str(MOCK_BIN), "--port", "0"], env, work,
                             "mock-upstream listening on")
        state["procs"].append(mock)
        mock_http = httpx.Client(base_url=mock.url, timeout=15)
        for run in range(1, args.runs + 1):
            t = time.monotonic()
            r = one_run(run, args, base, mock.url, mock_http, work, state)
            results.append(r)
            if not args.keep:
                psql(base, f"DROP DATABASE IF EXISTS {r['db']} WITH (FORCE)")
            state["db"] = None
            bad = verdict(r)
            log(f"[{run:>2}/{args.runs}] admitted {r['admitted']:>2} ({r['admitted_a']}+{r['admitted_b']}) "
                f"refused {r['refused']:>2} other {r['other']} rows {r['rows']} "
                f"spend {fmt_usd(r['spend'])}/{fmt_usd(r['budget'])} overspend {fmt_usd(r['overspend'])} "
                f"lost {r['lost']} double {r['double']} counter−ledger {fmt_usd(r['counter_diff'])} "
                f"{time.monotonic() - t:.1f}s" + (f"  VIOLATION: {'; '.join(bad)}" if bad else ""))
        mock_http.close()
        ok = report(results, args)
        if args.json:
            Path(args.json).write_text(json.dumps(results, default=str, indent=1))
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        if results:
            report(results, args)
            log(f"(interrupted: the above covers only the {len(results)} completed runs)")
        return 130
    finally:
        for p in list(state["procs"]):
            try:
                p.stop()
            except Exception as e:  # best effort
                log(f"could not stop {p.name}: {e}")
        if state["db"] and not args.keep:
            try:
                psql(base, f"DROP DATABASE IF EXISTS {state['db']} WITH (FORCE)")
            except Exception as e:
                log(f"could not drop {state['db']}: {e}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
