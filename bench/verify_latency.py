#!/usr/bin/env python3
"""Verified answers: the latency a trusted (non-escalated) answer adds, side by side in one run.

With the check in parallel, a verified answer that is trusted should arrive when the slower
of the two cheap calls does, plus frugal's own work. mock-upstream answers a quiz with set
latencies (`latency-N` in the model name): the answering model after --answer-ms, the
checker after --check-ms. Each round sends the same quiz, on one keep-alive connection each:

  direct     straight to mock-upstream, to the slower cheap model (the floor)
  explicit   through frugal, naming the slower cheap model (frugal's plain overhead)
  verified   through frugal, `frugal/verified` (answer + check in parallel, trusted)

and prints p50/p90 of each and of verified − direct ("added"), the figure the target is
about (≤ 1 ms over the slower call).

    python3 bench/verify_latency.py                 # 200 rounds, 40 ms answer / 60 ms check
    python3 bench/verify_latency.py -n 500 --answer-ms 80 --check-ms 50

Binaries as in stream_latency.py (release when newer than the last commit, else debug).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_latency import pick_binaries, start  # noqa: E402

QUIZ = "Which of these is a noble gas? [key: B]\nA) iron\nB) helium\nC) salt\nD) wood\nAnswer with the letter only."


def config(mock_url: str, answer_ms: int, check_ms: int) -> tuple[str, str, str]:
    small = f"bench-small-acc-100-latency-{answer_ms}"
    check = f"bench-check-acc-100-latency-{check_ms}"
    large = "bench-large-acc-100"
    models = {small: ("openai", "simple", 0.1, 0.4), check: ("anthropic", "simple", 0.2, 0.8),
              large: ("openai", "frontier", 10.0, 40.0)}
    lines = ["[providers.openai]", f'base_url = "{mock_url}/v1"', "", "[providers.anthropic]",
             f'base_url = "{mock_url}"', "", "[ledger]", "enabled = false", ""]
    for name, (prov, tier, i, o) in models.items():
        lines += [f'[models."{name}"]', f'provider = "{prov}"', f'tier = "{tier}"', f"input = {i}",
                  f"output = {o}", "context_window = 200000", "max_output = 4096", ""]
    cheap = f'["{small}", "{check}"]'
    lines += ["[routing]", f'baseline = "{large}"', "", "[routing.tiers]", f"simple = {cheap}",
              f"medium = {cheap}", f"complex = {cheap}", f'frontier = ["{large}"]', "",
              "[routing.quality]", "learn = false", "explore = 0.0", ""]
    slower = check if check_ms >= answer_ms else small
    return "\n".join(lines), slower, "anthropic" if slower == check else "openai"


def timed(client: httpx.Client, path: str, body: dict, headers: dict) -> tuple[float, httpx.Response]:
    t = time.perf_counter()
    r = client.post(path, json=body, headers=headers)
    return (time.perf_counter() - t) * 1e3, r


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--answer-ms", type=int, default=40)
    ap.add_argument("--check-ms", type=int, default=60)
    ap.add_argument("--bin-dir")
    a = ap.parse_args()
    frugal_bin, mock_bin, which = pick_binaries(a.bin_dir)
    work = Path(tempfile.mkdtemp(prefix="frugal-verify-bench-"))
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "ANTHROPIC_API_KEY": "sk-ant-bench", "RUST_LOG": "warn"}
    mock = start("mock-upstream", [str(mock_bin), "--port", "0"], env, work, "mock-upstream listening on")
    text, slower, slower_format = config(mock.url, a.answer_ms, a.check_ms)
    (work / "frugal.toml").write_text(text)
    gw = start("frugal", [str(frugal_bin), "serve", "--config", str(work / "frugal.toml"), "--listen", "127.0.0.1:0"],
               env, work, "frugal listening on")
    try:
        oa = {"messages": [{"role": "user", "content": QUIZ}], "max_tokens": 20}
        direct_path = "/v1/chat/completions" if slower_format == "openai" else "/v1/messages"
        direct_base = mock.url + ("/v1" if slower_format == "openai" else "")
        direct_path = "/chat/completions" if slower_format == "openai" else "/v1/messages"
        direct_headers = {"authorization": "Bearer sk-bench"} if slower_format == "openai" else {
            "x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01"}
        series: dict[str, list[float]] = {"direct": [], "explicit": [], "verified": []}
        with httpx.Client(base_url=direct_base, timeout=30) as d, httpx.Client(base_url=gw.url, timeout=30) as g:
            for i in range(a.n + 5):
                ms_d, r = timed(d, direct_path, {"model": slower, **oa}, direct_headers)
                assert r.status_code == 200, r.text
                ms_e, r = timed(g, "/v1/chat/completions", {"model": slower, **oa}, {})
                assert r.status_code == 200, r.text
                ms_v, r = timed(g, "/v1/chat/completions", {"model": "frugal/verified", **oa}, {})
                assert r.status_code == 200 and r.headers.get("x-frugal-verify") == "trusted", (r.headers, r.text)
                if i >= 5:  # warm-up rounds are not counted
                    series["direct"].append(ms_d)
                    series["explicit"].append(ms_e)
                    series["verified"].append(ms_v)
        added = [v - d for v, d in zip(series["verified"], series["direct"])]
        print(f"# verified-answer latency, {dt.date.today()}, {platform.node()} ({os.cpu_count()} cores), binaries: {which}")
        print(f"# answer {a.answer_ms} ms, check {a.check_ms} ms (in parallel), {a.n} rounds; slower cheap model: {slower}")
        print(f"{'series':<28} {'p50 ms':>9} {'p90 ms':>9}")
        for name, xs in series.items():
            print(f"{name:<28} {statistics.median(xs):>9.2f} {pct(xs, 0.9):>9.2f}")
        print(f"{'added (verified - direct)':<28} {statistics.median(added):>9.2f} {pct(added, 0.9):>9.2f}")
        extra = [v - e for v, e in zip(series["verified"], series["explicit"])]
        print(f"{'verified - explicit':<28} {statistics.median(extra):>9.2f} {pct(extra, 0.9):>9.2f}")
    finally:
        gw.stop()
        mock.stop()


if __name__ == "__main__":
    main()
