#!/usr/bin/env python3
"""The dashboard's first view on a large ledger, SQLite and PostgreSQL side by side.

For each backend: a fresh ledger is migrated by the gateway itself, filled with N request
rows spread over the last 30 days (plus feedback rows), directly in SQL (a recursive CTE on
SQLite, generate_series on PostgreSQL: seconds, not hours); then the gateway starts on it
and the first view's API calls are timed as the page makes them: all six panels at once
(/api/summary, /api/timeseries, /api/mix, /api/quality, /api/requests, /api/keys). Each
trial waits out the dashboard's 5 s rollup cache, so every trial reads the database. The
wall time of the six together is what the page waits for; each call's own time is shown
too. Target: <= 1 s.

    python3 bench/dashboard.py                       # 1,000,000 rows, both backends
    python3 bench/dashboard.py --rows 100000 --backends sqlite
    python3 bench/dashboard.py --pg-url postgres://postgres@127.0.0.1:5432/postgres
    python3 bench/dashboard.py --write-cost --rows 200000   # what the rollup triggers cost writes

PostgreSQL: --pg-url, else FRUGAL_TEST_PG_URL, else `bash scripts/start-postgres.sh`. A
throwaway database is created (psql) and dropped at the end. The PostgreSQL figures are
given twice: right after the bulk load, and after VACUUM ANALYZE (what autovacuum does
soon after on a live ledger; it lets the rollup be an index-only scan).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRUGAL = Path(os.environ.get("FRUGAL_BIN", ROOT / "target" / "release" / "frugal"))
PANELS = [
    "/api/summary?days=30",
    "/api/timeseries?days=30&bucket=day",
    "/api/mix?days=30&bucket=day",
    "/api/quality?days=30",
    "/api/requests?limit=50",
    "/api/keys?days=30",
]
DAY_MS = 86_400_000
CONFIG = """
[providers.openai]
base_url = "http://127.0.0.1:9/v1"
[ledger]
enabled = true
"""

# One row per x in 1..N, `step` ms apart from `start`. The same columns on both backends.
COLUMNS = ("request_id, ts_ms, key_hash, format, decision, requested_model, tier, stage, model, "
           "fallback_attempts, input_tokens, output_tokens, cost_usd, baseline_cost_usd, "
           "savings_routing_usd, latency_ms, overhead_ms, status, error, verify, verify_cost_usd")


def values(fmt: str) -> str:
    """The SELECT list for row x; `fmt(expr)` renders a 6-decimal money value."""
    return ", ".join([
        "'b' || x",
        "{start} + x * {step}",
        "CASE x % 6 WHEN 0 THEN '' ELSE 'k_bench' || (x % 6) END",
        "CASE x % 2 WHEN 0 THEN 'openai' ELSE 'anthropic' END",
        "'routed'", "'auto'",
        "CASE x % 4 WHEN 0 THEN 'simple' WHEN 1 THEN 'medium' WHEN 2 THEN 'complex' ELSE 'frontier' END",
        "'rules'",
        "'model-' || (x % 8)",
        "CASE WHEN x % 40 = 0 THEN 1 ELSE 0 END",
        "x % 2000", "x % 800",
        fmt("(x % 97) / 100000.0"),
        fmt("(x % 97) / 25000.0"),
        fmt("(x % 97) * 3 / 100000.0"),
        "100 + x % 500",
        "0.5 + (x % 10) / 10.0",
        "CASE WHEN x % 50 = 0 THEN 502 ELSE 200 END",
        "CASE WHEN x % 50 = 0 THEN 'all_upstreams_failed' END",
        "CASE WHEN x % 30 = 0 THEN 'trusted' END",
        fmt("CASE WHEN x % 30 = 0 THEN 0.00001 ELSE 0 END"),
    ])


def spread(n: int, now: int) -> tuple[int, int]:
    """Rows evenly over the 30 days before `now`: the first one's time and the step."""
    step = 30 * DAY_MS // n
    return now - step * n, step


def fill_sqlite(path: str, n: int, now: int) -> None:
    con = sqlite3.connect(path)
    start, step = spread(n, now)
    sel = values(lambda e: f"printf('%.6f', {e})").format(start=start, step=step)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) "
                f"INSERT INTO requests ({COLUMNS}) SELECT {sel} FROM c")
    fb = max(1, n // 20)
    con.execute(f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {fb}) "
                "INSERT INTO feedback (request_id, ts_ms, tier, model, score, source) "
                f"SELECT 'b' || (x * 20), {start} + x * 20 * {step}, "
                "CASE x % 4 WHEN 0 THEN 'simple' WHEN 1 THEN 'medium' WHEN 2 THEN 'complex' ELSE 'frontier' END, "
                "'model-' || (x % 8), (x % 3) / 2.0, 'explicit' FROM c")
    con.commit()
    con.execute("ANALYZE")
    con.close()


def psql(url: str, sql: str) -> str:
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                         capture_output=True, text=True, check=True)
    return out.stdout


def fill_postgres(url: str, n: int, now: int) -> None:
    start, step = spread(n, now)
    sel = values(lambda e: f"round(({e})::numeric, 6)").format(start=start, step=step)
    sel = sel.replace("'b' || x", "'b' || x::text").replace("'k_bench' || (x % 6)", "'k_bench' || (x % 6)::text")
    sel = sel.replace("'model-' || (x % 8)", "'model-' || (x % 8)::text")
    psql(url, f"INSERT INTO requests ({COLUMNS}) SELECT {sel} FROM generate_series(1::bigint, {n}::bigint) AS x")
    fb = max(1, n // 20)
    psql(url, "INSERT INTO feedback (request_id, ts_ms, tier, model, score, source) "
              f"SELECT 'b' || (x * 20)::text, {start} + x * 20 * {step}, "
              "CASE x % 4 WHEN 0 THEN 'simple' WHEN 1 THEN 'medium' WHEN 2 THEN 'complex' ELSE 'frontier' END, "
              f"'model-' || (x % 8)::text, (x % 3) / 2.0, 'explicit' FROM generate_series(1::bigint, {fb}::bigint) AS x")


class Gateway:
    def __init__(self, ledger: str, tmp: Path):
        cfg = tmp / "frugal.toml"
        cfg.write_text(CONFIG)
        env = dict(os.environ, OPENAI_API_KEY="bench", FRUGAL_LOG="warn,frugal=info", NO_COLOR="1")
        self.log = open(tmp / "frugal.log", "w+")
        self.proc = subprocess.Popen([str(FRUGAL), "serve", "--config", str(cfg), "--listen", "127.0.0.1:0",
                                      "--ledger", ledger], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.log.seek(0)
            m = re.search(r"frugal listening on (http://[\d.:]+)", self.log.read())
            if m:
                self.url = m.group(1)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.log.seek(0)
        sys.exit(f"frugal did not start:\n{self.log.read()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def get(url: str) -> float:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        r.read()
        assert r.status == 200, url
    return time.perf_counter() - t


def first_view(url: str) -> tuple[float, dict[str, float]]:
    t = time.perf_counter()
    with cf.ThreadPoolExecutor(len(PANELS)) as pool:
        each = dict(zip(PANELS, pool.map(lambda p: get(url + p), PANELS)))
    return time.perf_counter() - t, each


def measure(url: str, trials: int) -> dict:
    walls, per = [], {p: [] for p in PANELS}
    for i in range(trials):
        if i:
            time.sleep(5.5)  # past the rollup cache: every trial reads the database
        wall, each = first_view(url)
        walls.append(wall)
        for p, s in each.items():
            per[p].append(s)
    return {"wall": walls, "per": per}


def run_sqlite(n: int, trials: int, tmp: Path) -> dict:
    path = str(tmp / "ledger.sqlite")
    Gateway(path, tmp).stop()  # creates and migrates
    t = time.perf_counter()
    fill_sqlite(path, n, int(time.time() * 1000))
    print(f"sqlite: {n:,} rows filled in {time.perf_counter() - t:.1f} s "
          f"({os.path.getsize(path) / 2**20:.0f} MiB)", file=sys.stderr)
    gw = Gateway(path, tmp)
    try:
        return {"sqlite": measure(gw.url, trials)}
    finally:
        gw.stop()


def run_postgres(n: int, trials: int, tmp: Path, base_url: str) -> dict:
    db = f"frugal_bench_{os.getpid()}"
    psql(base_url, f"CREATE DATABASE {db}")
    url = re.sub(r"/[^/]*$", f"/{db}", base_url)
    try:
        Gateway(url, tmp).stop()
        t = time.perf_counter()
        fill_postgres(url, n, int(time.time() * 1000))
        print(f"postgres: {n:,} rows filled in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        out = {}
        gw = Gateway(url, tmp)
        try:
            out["postgres (after load)"] = measure(gw.url, trials)
            psql(url, "VACUUM ANALYZE requests")
            psql(url, "VACUUM ANALYZE feedback")
            out["postgres (vacuumed)"] = measure(gw.url, trials)
        finally:
            gw.stop()
        return out
    finally:
        psql(base_url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def write_cost(n: int, tmp: Path, backends: list[str], pg_url: str | None) -> None:
    """Rows/s of the same bulk insert into a migrated ledger with the rollup triggers, then
    with them dropped: what keeping the rollups costs the database per written row."""
    now = int(time.time() * 1000)
    print(f"\nwriting {n:,} rows in one statement (rows/s)")
    for backend in backends:
        speeds = []
        for triggers in (True, False):
            if backend == "sqlite":
                path = str(tmp / f"write-{triggers}.sqlite")
                Gateway(path, tmp).stop()
                if not triggers:
                    con = sqlite3.connect(path)
                    con.execute("DROP TRIGGER requests_rollup_insert")
                    con.close()
                t = time.perf_counter()
                fill_sqlite(path, n, now)
            else:
                db = f"frugal_write_{os.getpid()}_{int(triggers)}"
                psql(pg_url, f"CREATE DATABASE {db}")
                url = re.sub(r"/[^/]*$", f"/{db}", pg_url)
                try:
                    Gateway(url, tmp).stop()
                    if not triggers:
                        psql(url, "DROP TRIGGER requests_rollup_insert ON requests")
                    t = time.perf_counter()
                    fill_postgres(url, n, now)
                finally:
                    psql(pg_url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            speeds.append(n / (time.perf_counter() - t))
        print(f"  {backend:<9} with triggers {speeds[0]:>9,.0f}   without {speeds[1]:>9,.0f}   "
              f"({100 * (1 - speeds[0] / speeds[1]):.0f}% slower)")


def report(results: dict, n: int, trials: int) -> None:
    names = list(results)
    width = max(len(p) for p in PANELS) + 2
    print(f"\ndashboard first view, {n:,} ledger rows, {trials} trials each (median / max, ms)")
    print(f"{'':<{width}}" + "".join(f"{k:>26}" for k in names))
    row = lambda label, series: print(f"{label:<{width}}" + "".join(  # noqa: E731
        f"{statistics.median(s) * 1000:>17.0f} / {max(s) * 1000:>6.0f}" for s in series))
    row("all six panels (wall)", [results[k]["wall"] for k in names])
    for p in PANELS:
        row(p, [results[k]["per"][p] for k in names])
    worst = max(max(results[k]["wall"]) for k in names)
    print(f"\ntarget <= 1000 ms: {'met' if worst <= 1.0 else 'MISSED'} (worst {worst * 1000:.0f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--pg-url", default=os.environ.get("FRUGAL_TEST_PG_URL"))
    ap.add_argument("--write-cost", action="store_true", help="measure what the rollup triggers cost writes instead")
    args = ap.parse_args()
    if not FRUGAL.exists():
        sys.exit(f"{FRUGAL} not found: cargo build --release (or set FRUGAL_BIN)")
    print(f"binary {FRUGAL}", file=sys.stderr)
    results: dict = {}
    backends = args.backends.split(",")
    if "postgres" in backends and not args.pg_url:
        args.pg_url = subprocess.run(["bash", str(ROOT / "scripts" / "start-postgres.sh")],
                                     capture_output=True, text=True, check=True).stdout.strip()
    if args.write_cost:
        with tempfile.TemporaryDirectory(prefix="frugal-dash-bench-") as tmp:
            write_cost(args.rows, Path(tmp), backends, args.pg_url)
        return
    with tempfile.TemporaryDirectory(prefix="frugal-dash-bench-") as tmp:
        if "sqlite" in backends:
            (Path(tmp) / "sqlite").mkdir()
            results.update(run_sqlite(args.rows, args.trials, Path(tmp) / "sqlite"))
        if "postgres" in backends:
            url = args.pg_url
            if not shutil.which("psql"):
                sys.exit("psql is needed to create the benchmark database")
            (Path(tmp) / "pg").mkdir()
            results.update(run_postgres(args.rows, args.trials, Path(tmp) / "pg", url))
    report(results, args.rows, args.trials)


if __name__ == "__main__":
    main()
