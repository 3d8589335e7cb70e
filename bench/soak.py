#!/usr/bin/env python3
"""Soak: mixed traffic at a fixed rate for a fixed time against the real gateway in front of
mock-upstream, watching what must not drift.

Traffic (open loop: requests start on schedule whether or not earlier ones finished):
  38 %  OpenAI chat, routed (`auto`)             15 %  OpenAI chat, streamed
  15 %  Anthropic messages (half streamed)       10 %  tool calls (both formats)
   5 %  requests to a faulty upstream model (500, 429 + retry-after, cut mid-stream,
        malformed JSON, slow first byte), routed past it or failed cleanly
   5 %  named cheap models, explicit              5 %  malformed bodies (bad JSON, wrong types)
   2 %  slow clients that announce a body and stall: the gateway must cut them off within
        its body timeout (the default 30 s; --body-timeout to shorten)
   5 %  x-frugal-feedback ratings of earlier answers

Every 5 s it samples the gateway's RSS and open file descriptors. At the end it stops the
gateway with SIGTERM and counts ledger rows against requests that reached it.

Reports: requests by outcome and status, client-side errors, p50/p99 latency, slow clients
cut (and the longest any was held), RSS at start / peak / end, descriptors at start / peak /
end, panics in the log, ledger rows vs requests. Exits 1 when a target is missed: a panic, a
hung request (no answer within 60 s), a slow client held past its timeout + 5 s, or ledger
rows ≠ requests.

    python3 bench/soak.py                         # 10 minutes at 20 requests/s
    python3 bench/soak.py --minutes 1 --rate 10   # a quick look
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import datetime as dt
import json
import os
import platform
import random
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_latency import pick_binaries, start  # noqa: E402

MODELS = {
    "soak-gpt-small": ("openai", "simple", 0.1, 0.4),
    "soak-claude-small": ("anthropic", "simple", 0.8, 4.0),
    "soak-claude-medium": ("anthropic", "medium", 0.25, 1.25),
    "soak-gpt-medium": ("openai", "medium", 0.4, 1.6),
    "soak-gpt-large": ("openai", "complex", 2.0, 8.0),
    "soak-claude-large": ("anthropic", "complex", 3.0, 15.0),
    "soak-gpt-frontier": ("openai", "frontier", 10.0, 40.0),
}
FAULTY = ["soak-gpt-fail-500", "soak-claude-fail-429", "soak-gpt-cut-mid-stream",
          "soak-claude-malformed-json", "soak-gpt-slow-first-byte-2000"]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
PROMPTS = ["hi", "What is the capital of France?", "Summarise the plot of Hamlet in two sentences.",
           "Write a Python function that merges two sorted lists, with tests.",
           "Prove that the square root of 2 is irrational.", "Translate 'good morning' into German."]


def config(mock_url: str, ledger: Path, body_timeout: int) -> str:
    lines = ["[server]", f"body_timeout_secs = {body_timeout}", "",
             "[providers.openai]", f'base_url = "{mock_url}/v1"', "",
             "[providers.anthropic]", f'base_url = "{mock_url}"', "",
             "[ledger]", f'path = "{ledger}"', ""]
    for name, (prov, tier, i, o) in {**MODELS, **{f: ("anthropic" if "claude" in f else "openai", "simple", 0.01, 0.01)
                                                   for f in FAULTY}}.items():
        lines += [f'[models."{name}"]', f'provider = "{prov}"', f'tier = "{tier}"', f"input = {i}", f"output = {o}",
                  "context_window = 200000", "max_output = 4096", "tools = true", ""]
    tiers = collections.defaultdict(list)
    for name, (_, tier, _, _) in MODELS.items():
        tiers[tier].append(name)
    lines += ["[routing]", 'baseline = "soak-claude-large"', "", "[routing.tiers]"]
    lines += [f"{t} = {json.dumps(ms)}" for t, ms in tiers.items()]
    return "\n".join(lines) + "\n"


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_kind: collections.Counter = collections.Counter()
        self.status: collections.Counter = collections.Counter()
        self.client_errors: collections.Counter = collections.Counter()
        self.latency_ms: list[float] = []
        self.reached = 0  # requests whose headers reached the gateway (they leave a ledger row)
        self.slow_held: list[float] = []
        self.hung = 0
        self.answered_ids: list[str] = []

    def add(self, kind: str, status: int | str, ms: float, request_id: str | None = None) -> None:
        with self.lock:
            self.by_kind[kind] += 1
            self.status[str(status)] += 1
            self.latency_ms.append(ms)
            if request_id:
                self.answered_ids.append(request_id)


def one(c: httpx.Client, kind: str, rnd: random.Random, st: Stats) -> None:
    prompt = rnd.choice(PROMPTS)
    t = time.perf_counter()
    status: int | str = "?"
    rid = None
    try:
        if kind == "openai":
            r = c.post("/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": prompt}]})
        elif kind == "openai_stream":
            with c.stream("POST", "/v1/chat/completions", json={"model": "auto", "stream": True,
                          "messages": [{"role": "user", "content": prompt}]}) as r:
                for _ in r.iter_bytes():
                    pass
        elif kind == "anthropic":
            body = {"model": "auto", "max_tokens": 200, "messages": [{"role": "user", "content": prompt}],
                    "stream": rnd.random() < 0.5}
            with c.stream("POST", "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}) as r:
                for _ in r.iter_bytes():
                    pass
        elif kind == "tools":
            r = c.post("/v1/chat/completions", json={"model": "auto", "tools": TOOLS, "messages": [
                {"role": "user", "content": "What's the weather in Paris?"}]})
        elif kind == "faulty":
            model = rnd.choice(FAULTY)
            with c.stream("POST", "/v1/chat/completions", json={"model": model, "stream": "cut" in model,
                          "messages": [{"role": "user", "content": prompt}]}) as r:
                for _ in r.iter_bytes():
                    pass
        elif kind == "explicit":
            r = c.post("/v1/chat/completions", json={"model": rnd.choice(list(MODELS)),
                       "messages": [{"role": "user", "content": prompt}]})
        elif kind == "malformed":
            bad = rnd.choice([b"{not json", b'{"model": 3, "messages": "x"}', b"[]", b'{"messages": []}'])
            r = c.post("/v1/chat/completions", content=bad, headers={"content-type": "application/json"})
        elif kind == "feedback":
            with st.lock:
                rid_to_rate = rnd.choice(st.answered_ids) if st.answered_ids else None
            if rid_to_rate is None:
                return
            r = c.post("/v1/feedback", json={"request_id": rid_to_rate, "score": rnd.random()})
            status = r.status_code
            st.add(kind, status, (time.perf_counter() - t) * 1e3)
            return  # feedback leaves no request row
        else:
            raise ValueError(kind)
        status = r.status_code
        rid = r.headers.get("x-frugal-request-id") if status == 200 else None
    except httpx.TimeoutException:
        with st.lock:
            st.hung += 1
        status = "timeout"
    except httpx.HTTPError as e:
        with st.lock:
            st.client_errors[type(e).__name__] += 1
        status = "client_error"
    with st.lock:
        st.reached += 1
    st.add(kind, status, (time.perf_counter() - t) * 1e3, rid)


def slow_client(url: str, st: Stats) -> None:
    """Announce 1000 body bytes, send 16, then wait for the gateway to give up."""
    host, port = url.removeprefix("http://").split(":")
    t = time.perf_counter()
    try:
        with socket.create_connection((host, int(port)), timeout=120) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                      b"content-length: 1000\r\n\r\n" + b'{"model": "auto"')
            while s.recv(65536):
                pass
    except OSError:
        pass
    with st.lock:
        st.slow_held.append(time.perf_counter() - t)
        st.reached += 1
        st.by_kind["slow_client"] += 1


def rss_fds(pid: int) -> tuple[float, int]:
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=20, help="requests per second")
    ap.add_argument("--body-timeout", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--bin-dir")
    a = ap.parse_args()
    frugal_bin, mock_bin, which = pick_binaries(a.bin_dir)
    work = Path(tempfile.mkdtemp(prefix="frugal-soak-"))
    ledger = work / "ledger.sqlite"
    env = {**os.environ, "OPENAI_API_KEY": "sk-soak-openai", "ANTHROPIC_API_KEY": "sk-ant-soak", "RUST_LOG": "info"}
    mock = start("mock-upstream", [str(mock_bin), "--port", "0"], env, work, "mock-upstream listening on")
    (work / "frugal.toml").write_text(config(mock.url, ledger, a.body_timeout))
    gw = start("frugal", [str(frugal_bin), "serve", "--config", str(work / "frugal.toml"), "--listen", "127.0.0.1:0"],
               env, work, "frugal listening on")
    pid = gw.popen.pid
    st = Stats()
    samples: list[tuple[float, float, int]] = []
    kinds = (["openai"] * 38 + ["openai_stream"] * 15 + ["anthropic"] * 15 + ["tools"] * 10 + ["faulty"] * 5
             + ["explicit"] * 5 + ["malformed"] * 5 + ["slow"] * 2 + ["feedback"] * 5)
    rnd = random.Random(a.seed)
    duration = a.minutes * 60
    t0 = time.monotonic()
    samples.append((0.0, *rss_fds(pid)))
    next_sample = 5.0
    pool = cf.ThreadPoolExecutor(max_workers=256)
    client = httpx.Client(base_url=gw.url, timeout=60, limits=httpx.Limits(max_connections=256))
    futures = []
    i = 0
    try:
        while (now := time.monotonic() - t0) < duration:
            due = i / a.rate
            if due > now:
                time.sleep(min(due - now, max(next_sample - now, 0.001)))
            if now >= next_sample:
                samples.append((now, *rss_fds(pid)))
                next_sample += 5
            if due > time.monotonic() - t0:
                continue
            kind = kinds[rnd.randrange(len(kinds))]
            r = random.Random(rnd.random())
            if kind == "slow":
                futures.append(pool.submit(slow_client, gw.url, st))
            else:
                futures.append(pool.submit(one, client, kind, r, st))
            i += 1
        cf.wait(futures, timeout=a.body_timeout + 90)
        samples.append((time.monotonic() - t0, *rss_fds(pid)))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        client.close()
        gw.stop()
        mock.stop()
    log = (work / "frugal.stderr.log").read_text(errors="replace")
    panics = log.count("panicked")
    con = sqlite3.connect(ledger)
    rows = con.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    errors = dict(con.execute("SELECT COALESCE(error, 'ok'), COUNT(*) FROM requests GROUP BY 1").fetchall())
    con.close()
    lat = sorted(st.latency_ms)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0  # noqa: E731
    rss = [s[1] for s in samples]
    fds = [s[2] for s in samples]
    held = max(st.slow_held, default=0.0)
    result = {
        "date": str(dt.date.today()), "host": platform.node(), "cores": os.cpu_count(), "binaries": which,
        "minutes": a.minutes, "rate": a.rate, "requests_started": i, "reached_gateway": st.reached,
        "by_kind": dict(st.by_kind), "status": dict(st.status), "client_errors": dict(st.client_errors),
        "hung": st.hung, "p50_ms": round(p(0.5), 2), "p99_ms": round(p(0.99), 2),
        "slow_clients": len(st.slow_held), "slow_client_longest_s": round(held, 2),
        "rss_mb": {"start": round(rss[0], 1), "peak": round(max(rss), 1), "end": round(rss[-1], 1)},
        "fds": {"start": fds[0], "peak": max(fds), "end": fds[-1]},
        "panics": panics, "ledger_rows": rows, "ledger_errors": errors,
    }
    series = " ".join(f"{t:.0f}s:{r:.1f}" for t, r, _ in samples)
    print(json.dumps(result, indent=1))
    print(f"RSS MB over time: {series}")
    result["rss_series_mb"] = [(round(t), round(r, 1)) for t, r, _ in samples]
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))
    failures = []
    if panics:
        failures.append(f"{panics} panics")
    if st.hung:
        failures.append(f"{st.hung} hung requests")
    if held > a.body_timeout + 5:
        failures.append(f"a slow client held {held:.1f} s (timeout {a.body_timeout} s)")
    if rows != st.reached:
        failures.append(f"ledger rows {rows} != requests that reached the gateway {st.reached}")
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        sys.exit(1)
    print("soak passed")


if __name__ == "__main__":
    main()
