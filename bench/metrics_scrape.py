#!/usr/bin/env python3
"""What scraping /metrics costs, and whether a scrape holds up the requests beside it.

One gateway in front of mock-upstream serves --warm requests of mixed traffic (both
formats, several models and tiers, streams) so every family of /metrics has series. Then,
side by side in one run, on one keep-alive connection each:

  health      GET /health            (the floor: a route that renders a small JSON)
  metrics     GET /metrics           (the whole Prometheus text)

and, with a second thread scraping /metrics in a tight loop, the latency of chat requests
against the same requests with nobody scraping, and with /health hit in the same loop (the
control: on a 2-core machine any busy client slows the rest):

  chat alone           POST /v1/chat/completions, nothing beside it
  chat + /health loop  the same, while /health is requested continuously
  chat + scraper       the same, while /metrics is scraped continuously

It prints p50/p99 of each, the scrape's cost over the floor, and the chat ratio.

    python3 bench/metrics_scrape.py                # 2000 scrapes, 500 chat requests
    python3 bench/metrics_scrape.py -n 5000 --warm 2000

Binaries as in stream_latency.py (release when newer than the last commit, else debug).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_latency import pick_binaries, start  # noqa: E402

PROMPTS = ["hi", "What is the capital of France?", "Prove that the square root of 2 is irrational.",
           "Write a Python function that merges two sorted lists, with tests."]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def timed_get(c: httpx.Client, path: str) -> tuple[float, int]:
    t = time.perf_counter()
    r = c.get(path)
    return (time.perf_counter() - t) * 1e3, len(r.content)


def chat(c: httpx.Client, i: int) -> float:
    body = {"model": "auto", "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
            "max_tokens": 16}
    t = time.perf_counter()
    r = c.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    return (time.perf_counter() - t) * 1e3


def warm(gw_url: str, n: int) -> None:
    """Mixed traffic: both formats, streams, named models, so the families have series."""
    with httpx.Client(base_url=gw_url, timeout=30) as c:
        for i in range(n):
            prompt = PROMPTS[i % len(PROMPTS)]
            if i % 3 == 0:
                r = c.post("/v1/messages", json={"model": "auto", "max_tokens": 16,
                                                 "messages": [{"role": "user", "content": prompt}]})
            elif i % 3 == 1:
                r = c.post("/v1/chat/completions", json={
                    "model": "auto", "stream": True, "max_tokens": 16,
                    "messages": [{"role": "user", "content": prompt}]})
            else:
                r = c.post("/v1/chat/completions", json={
                    "model": "gpt-4.1-mini", "max_tokens": 16,
                    "messages": [{"role": "user", "content": prompt}]})
            assert r.status_code == 200, r.text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="scrapes (and /health requests)")
    ap.add_argument("--chat", type=int, default=500, help="chat requests in each chat series")
    ap.add_argument("--warm", type=int, default=600, help="requests served before measuring")
    ap.add_argument("--bin-dir")
    a = ap.parse_args()
    frugal_bin, mock_bin, which = pick_binaries(a.bin_dir)
    work = Path(tempfile.mkdtemp(prefix="frugal-metrics-bench-"))
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "ANTHROPIC_API_KEY": "sk-ant-bench", "RUST_LOG": "warn"}
    mock = start("mock-upstream", [str(mock_bin), "--port", "0"], env, work, "mock-upstream listening on")
    (work / "frugal.toml").write_text(
        f'[providers.openai]\nbase_url = "{mock.url}/v1"\n\n[providers.anthropic]\nbase_url = "{mock.url}"\n\n'
        f'[ledger]\npath = "{work / "ledger.db"}"\n')
    gw = start("frugal", [str(frugal_bin), "serve", "--config", str(work / "frugal.toml"), "--listen", "127.0.0.1:0"],
               env, work, "frugal listening on")
    try:
        warm(gw.url, a.warm)
        series: dict[str, list[float]] = {"health": [], "metrics": []}
        size = 0
        with httpx.Client(base_url=gw.url, timeout=30) as h, httpx.Client(base_url=gw.url, timeout=30) as m:
            for _ in range(20):
                timed_get(h, "/health")
                timed_get(m, "/metrics")
            for _ in range(a.n):
                series["health"].append(timed_get(h, "/health")[0])
                ms, size = timed_get(m, "/metrics")
                series["metrics"].append(ms)
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            for i in range(20):
                chat(c, i)
            series["chat alone"] = [chat(c, i) for i in range(a.chat)]
            # A tight loop on /health beside the chat series is the control: on a small
            # machine any busy client slows the requests; what /metrics adds beyond it is
            # the scrape's own cost (its lock is held only to copy the counts).
            for label, path in [("chat + /health loop", "/health"), ("chat + scraper", "/metrics")]:
                stop = threading.Event()
                count = [0]

                def loop(path: str = path, stop: threading.Event = stop, count: list = count) -> None:
                    with httpx.Client(base_url=gw.url, timeout=30) as s:
                        while not stop.is_set():
                            s.get(path)
                            count[0] += 1

                t = threading.Thread(target=loop, daemon=True)
                t.start()
                series[label] = [chat(c, i) for i in range(a.chat)]
                stop.set()
                t.join(timeout=10)
                scrapes = count
        print(f"# /metrics scrape cost — {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
              f"{platform.node()}, {os.cpu_count()} cores, binaries: {which}")
        print(f"# {a.warm} requests served before measuring; /metrics body {size} bytes; "
              f"{scrapes[0]} scrapes during the second chat series")
        print(f"{'series':<20} {'p50 ms':>8} {'p99 ms':>8}")
        for name, xs in series.items():
            print(f"{name:<20} {pct(xs, 0.5):>8.3f} {pct(xs, 0.99):>8.3f}")
        d50 = pct(series["metrics"], 0.5) - pct(series["health"], 0.5)
        d99 = pct(series["metrics"], 0.99) - pct(series["health"], 0.99)
        print(f"scrape over the floor: p50 +{d50:.3f} ms, p99 +{d99:.3f} ms")
        for control in ["chat alone", "chat + /health loop"]:
            r50 = pct(series["chat + scraper"], 0.5) / pct(series[control], 0.5)
            r99 = pct(series["chat + scraper"], 0.99) / pct(series[control], 0.99)
            print(f"chat with a scraper / {control}: p50 {r50:.2f}x, p99 {r99:.2f}x")
    finally:
        gw.stop()
        mock.stop()


if __name__ == "__main__":
    main()
