#!/usr/bin/env python3
"""Streaming latency: time to the first and to the LAST byte of streamed answers, direct
to mock-upstream and through frugal, side by side in one run.

Why the last byte: a socket without TCP_NODELAY holds a stream's final small write (the
`0\\r\\n\\r\\n` that ends the chunked body, or the last SSE frame) until the client ACKs
the previous one, and the client delays that ACK (~40 ms on Linux). Time to first byte
does not see it, and neither does a non-streaming request answered in one write; time to
the last byte does (frugal p50 44.0 ms against 0.26 ms direct before the fix).

Method: mock-upstream answers instantly. One keep-alive connection to each side (raw
sockets, a blocking recv loop, no client-side buffering or pacing), the same streaming
chat request sent in rounds: OpenAI `/v1/chat/completions` direct, then through frugal,
then Anthropic `/v1/messages` direct, then through frugal. Each request is timed from
just before `sendall` to the first response byte and to the end of the chunked body.

    python3 bench/stream_latency.py                       # 300 rounds, both formats
    python3 bench/stream_latency.py -n 1000 --fail-above-ms 10
    python3 bench/stream_latency.py --streams-per-second  # 32 connections x 10 s, each side
    python3 bench/stream_latency.py --nagle-relay -n 100  # self-check: the old defect, emulated

Binaries: target/release/{frugal,mock-upstream} when both exist and are newer than the last
commit, else target/debug (said in the output); `--bin-dir DIR` to choose. Nothing is
built. Exits 0 unless `--fail-above-ms` is given and frugal's added p50 time to the last
byte exceeds it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 60.0
IO_TIMEOUT_S = 10.0

OPENAI_MODEL = "gpt-4.1-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
PROMPT = "What is the capital of France? Answer in one word."


# --- binaries and processes ------------------------------------------------------------


def pick_binaries(bin_dir: str | None) -> tuple[Path, Path, str]:
    """(frugal, mock-upstream, description). Release only if both are newer than HEAD."""
    if bin_dir:
        d = Path(bin_dir)
        return d / "frugal", d / "mock-upstream", f"{d} (given)"
    try:
        head = int(subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%ct"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        head = 0
    rel = ROOT / "target" / "release"
    rf, rm = rel / "frugal", rel / "mock-upstream"
    if rf.exists() and rm.exists() and min(rf.stat().st_mtime, rm.stat().st_mtime) >= head:
        return rf, rm, "release (target/release, newer than the last commit)"
    dbg = ROOT / "target" / "debug"
    why = "no release binaries" if not (rf.exists() and rm.exists()) else "release binaries older than the last commit"
    return dbg / "frugal", dbg / "mock-upstream", f"DEBUG (target/debug; {why}): unoptimised, frugal's figures are inflated"


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    url: str = ""
    lines: "queue.Queue[str]" = field(default_factory=queue.Queue)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


def start(name: str, argv: list[str], env: dict[str, str], cwd: Path, banner: str) -> Proc:
    if not Path(argv[0]).exists():
        sys.exit(f"{argv[0]} does not exist: build it first (cargo build -p frugal -p mock-upstream)")
    log = open(cwd / f"{name}.stderr.log", "wb")
    popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                             env=env, cwd=cwd, text=True)
    log.close()
    proc = Proc(name, popen)

    def pump() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            proc.lines.put(line)
        proc.lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    pattern = re.compile(re.escape(banner) + r" (http://\S+)")
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            line = proc.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            proc.stop()
            sys.exit(f"{name} did not print its address within {STARTUP_TIMEOUT_S:.0f} s; see {cwd}/{name}.stderr.log")
        if line == "":
            popen.wait(timeout=5)
            sys.exit(f"{name} exited with {popen.returncode}:\n{(cwd / f'{name}.stderr.log').read_text()[-3000:]}")
        m = pattern.search(line)
        if m:
            proc.url = m.group(1).rstrip("/")
            return proc


def frugal_config(mock_url: str) -> str:
    # The built-in catalogue with both providers pointed at the mock; explicit models are
    # passed through untouched (no routing, no fallback). Ledger off: nothing to write.
    return "\n".join([
        "[providers.openai]",
        f'base_url = "{mock_url}/v1"',
        "",
        "[providers.anthropic]",
        f'base_url = "{mock_url}"',
        "",
        "[ledger]",
        "enabled = false",
        "",
    ])


# --- a minimal HTTP/1.1 client ---------------------------------------------------------


class Conn:
    """One keep-alive connection; requests are timed from sendall to the body's last byte."""

    def __init__(self, url: str):
        m = re.match(r"http://([^:/]+):(\d+)", url)
        if not m:
            raise ValueError(url)
        self.host, self.port = m.group(1), int(m.group(2))
        self.sock: socket.socket | None = None
        self.buf = b""
        self.connects = 0

    def _connect(self) -> None:
        s = socket.create_connection((self.host, self.port), timeout=IO_TIMEOUT_S)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buf = s, b""
        self.connects += 1

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def request(self, raw: bytes) -> tuple[float, float, int, dict[str, str], bytes]:
        """(seconds to first byte, seconds to last byte, status, headers, body)."""
        if self.sock is None:
            self._connect()
        assert self.sock is not None
        t0 = time.perf_counter()
        self.sock.sendall(raw)
        if not self.buf:
            self._fill()
        t_first = time.perf_counter()
        status_line = self._line()
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = self._line()
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        body = bytearray()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailers, then the final empty line
                        pass
                    break
                body += self._take(size)
                self._take(2)
        else:
            body += self._take(int(headers.get("content-length", "0")))
        t_last = time.perf_counter()
        if self.buf:
            raise ConnectionError(f"{len(self.buf)} unexpected bytes after the response")
        if headers.get("connection", "").lower() == "close":
            self.close()
        return t_first - t0, t_last - t0, status, headers, bytes(body)


def build_request(fmt: str, conn: Conn) -> bytes:
    if fmt == "openai":
        path = "/v1/chat/completions"
        body = {"model": OPENAI_MODEL, "stream": True, "stream_options": {"include_usage": True},
                "max_tokens": 64, "messages": [{"role": "user", "content": PROMPT}]}
        auth = "authorization: Bearer sk-bench-fake\r\n"
    else:
        path = "/v1/messages"
        body = {"model": ANTHROPIC_MODEL, "stream": True, "max_tokens": 64,
                "messages": [{"role": "user", "content": PROMPT}]}
        auth = "x-api-key: sk-ant-bench-fake\r\nanthropic-version: 2023-06-01\r\n"
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nhost: {conn.host}:{conn.port}\r\n"
            f"content-type: application/json\r\naccept: text/event-stream\r\n{auth}"
            f"content-length: {len(data)}\r\n\r\n")
    return head.encode() + data


def stream_ok(fmt: str, status: int, body: bytes) -> bool:
    if status != 200:
        return False
    if fmt == "openai":
        return body.rstrip().endswith(b"data: [DONE]")
    return b"event: message_stop" in body


# --- statistics and machine ------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Linear-interpolation percentile (numpy's default)."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        nproc = str(os.cpu_count())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{nproc} cores ({model}), {platform.machine()}, Linux {platform.release()}, load average {load}"


def nagle_relay(upstream: str) -> str:
    """A relay in front of `upstream` whose accepted sockets keep Nagle on (no TCP_NODELAY)
    and write each upstream read as two sends, the last 5 bytes apart: the old defect,
    rebuilt outside frugal, so the benchmark can show it sees it (`--nagle-relay`)."""
    host, port = re.match(r"http://([^:/]+):(\d+)", upstream).groups()
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)

    def serve(c: socket.socket) -> None:
        u = socket.create_connection((host, int(port)))
        u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def up() -> None:
            while d := c.recv(65536):
                u.sendall(d)

        threading.Thread(target=up, daemon=True).start()
        while d := u.recv(65536):
            if len(d) > 5:
                c.sendall(d[:-5])
            c.sendall(d[-5:])

    def accept() -> None:
        while True:
            c, _ = ls.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{ls.getsockname()[1]}"


# --- the two modes ---------------------------------------------------------------------


def latency(mock: str, frugal: str, args: argparse.Namespace) -> float:
    formats = ["openai", "anthropic"] if args.format == "both" else [args.format]
    sides = {"direct": Conn(mock), "frugal": Conn(frugal)}
    samples = {(f, s): ([], []) for f in formats for s in sides}  # (ttfb, ttlb) in ms
    overhead_hdr: list[float] = []
    sizes: dict[tuple[str, str], int] = {}
    failures = 0
    reqs = {(f, s): build_request(f, c) for f in formats for s, c in sides.items()}
    t_start = time.monotonic()
    for i in range(args.warmup + args.n):
        for f in formats:
            for s, c in sides.items():
                try:
                    ttfb, ttlb, status, headers, body = c.request(reqs[(f, s)])
                except (OSError, ConnectionError, ValueError) as e:
                    failures += 1
                    print(f"  {f}/{s} request {i}: {e}", file=sys.stderr)
                    c.close()
                    continue
                if not stream_ok(f, status, body):
                    failures += 1
                    if failures <= 3:
                        print(f"  {f}/{s}: status {status}, body {body[:300]!r}", file=sys.stderr)
                    continue
                if i < args.warmup:
                    continue
                samples[(f, s)][0].append(ttfb * 1e3)
                samples[(f, s)][1].append(ttlb * 1e3)
                sizes[(f, s)] = len(body)
                if s == "frugal" and "x-frugal-overhead-ms" in headers:
                    overhead_hdr.append(float(headers["x-frugal-overhead-ms"]))
    elapsed = time.monotonic() - t_start

    print(f"\n{args.n} measured rounds (+{args.warmup} warm-up) in {elapsed:.1f} s; one keep-alive "
          f"connection per side (connects: direct {sides['direct'].connects}, frugal {sides['frugal'].connects}); "
          f"failed requests: {failures}")
    print(f"\n{'ms':<20} {'first byte p50':>14} {'p90':>7} {'p99':>7}   {'LAST byte p50':>13} {'p90':>7} {'p99':>7}  {'body B':>6}")
    for f in formats:
        for s in sides:
            a, b = samples[(f, s)]
            print(f"{f + ' ' + s:<20} {pct(a, 50):>14.3f} {pct(a, 90):>7.3f} {pct(a, 99):>7.3f}   "
                  f"{pct(b, 50):>13.3f} {pct(b, 90):>7.3f} {pct(b, 99):>7.3f}  {sizes.get((f, s), 0):>6}")
    print(f"\nfrugal's added time to the last byte (frugal minus direct):")
    worst = 0.0
    for f in formats:
        d, g = samples[(f, "direct")][1], samples[(f, "frugal")][1]
        if not d or not g:
            continue
        add50, add99 = pct(g, 50) - pct(d, 50), pct(g, 99) - pct(d, 99)
        worst = max(worst, add50)
        print(f"  {f:<10} p50 +{add50:.3f} ms   p99 +{add99:.3f} ms   ratio p50 {pct(g, 50) / pct(d, 50):.1f}x   "
              f"p99 {pct(g, 99) / pct(d, 99):.1f}x")
    if overhead_hdr:
        print(f"  x-frugal-overhead-ms (frugal's own measure): p50 {pct(overhead_hdr, 50):.3f}  "
              f"p99 {pct(overhead_hdr, 99):.3f}")
    if worst > 20:
        print(f"\n!! frugal adds {worst:.1f} ms p50 to the last byte: the signature of a socket without "
              f"TCP_NODELAY (final write held for the client's delayed ACK)")
    return worst


def streams_per_second(mock: str, frugal: str, args: argparse.Namespace) -> None:
    fmt = "anthropic" if args.format == "anthropic" else "openai"
    print(f"\n{args.connections} connections x {args.duration:.0f} s per side, {fmt} streaming, "
          f"one keep-alive connection per thread (Python threads: the client shares the cores "
          f"with frugal and the mock and is itself a limit)")
    print(f"\n{'side':<8} {'streams/s':>10} {'streams':>8} {'failed':>6} {'last byte p50 ms':>17} {'p99 ms':>8}")
    results = {}
    for side, url in (("direct", mock), ("frugal", frugal), ("direct", mock), ("frugal", frugal))[: 2 * args.repeat]:
        stop = threading.Event()
        go = threading.Barrier(args.connections + 1)
        lock = threading.Lock()
        done: list[float] = []
        failed = [0]

        def worker() -> None:
            c = Conn(url)
            raw = build_request(fmt, c)
            try:
                c.request(raw)  # connect + warm up outside the window
            except (OSError, ConnectionError, ValueError):
                c.close()
            go.wait()
            local: list[float] = []
            bad = 0
            while not stop.is_set():
                try:
                    _, ttlb, status, _, body = c.request(raw)
                except (OSError, ConnectionError, ValueError):
                    bad += 1
                    c.close()
                    continue
                if stream_ok(fmt, status, body):
                    local.append(ttlb * 1e3)
                else:
                    bad += 1
            c.close()
            with lock:
                done.extend(local)
                failed[0] += bad

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.connections)]
        for t in threads:
            t.start()
        go.wait()
        t0 = time.perf_counter()
        time.sleep(args.duration)
        stop.set()
        for t in threads:
            t.join(timeout=IO_TIMEOUT_S + 5)
        secs = time.perf_counter() - t0
        rate = len(done) / secs
        results.setdefault(side, []).append(rate)
        print(f"{side:<8} {rate:>10.0f} {len(done):>8} {failed[0]:>6} {pct(done, 50):>17.2f} {pct(done, 99):>8.2f}")
    d = sum(results["direct"]) / len(results["direct"])
    g = sum(results["frugal"]) / len(results["frugal"])
    print(f"\nfrugal / direct streams/s: {g / d:.2f}")


# --- main ------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=300, help="measured rounds per format (default 300)")
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured rounds first (default 20)")
    ap.add_argument("--format", choices=["both", "openai", "anthropic"], default="both",
                    help="wire formats (default both; --streams-per-second uses openai unless anthropic)")
    ap.add_argument("--streams-per-second", action="store_true",
                    help="throughput instead: --connections concurrent streams for --duration s per side")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=1, choices=[1, 2],
                    help="--streams-per-second: run direct/frugal once or twice (default 1)")
    ap.add_argument("--bin-dir", help="directory holding frugal and mock-upstream (default: target/release if both are newer than the last commit, else target/debug)")
    ap.add_argument("--nagle-relay", action="store_true",
                    help="measure frugal through a relay WITHOUT TCP_NODELAY (the old defect, "
                         "emulated) to check that this benchmark catches it")
    ap.add_argument("--keep-logs", action="store_true", help="keep the temp dir with both servers' stderr")
    ap.add_argument("--fail-above-ms", type=float,
                    help="exit 1 if frugal adds more than this p50 to the last byte")
    args = ap.parse_args()

    frugal_bin, mock_bin, which = pick_binaries(args.bin_dir)
    print(f"stream_latency  {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"command: {' '.join(shlex.quote(a) for a in ['python3'] + sys.argv)}")
    print(f"machine: {machine()}")
    print(f"binaries: {which}")
    print(f"requests: stream=true, explicit models {OPENAI_MODEL} (/v1/chat/completions) and "
          f"{ANTHROPIC_MODEL} (/v1/messages); mock-upstream answers instantly")

    tmp = Path(tempfile.mkdtemp(prefix="frugal-stream-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in ("FRUGAL_CONFIG", "FRUGAL_LISTEN")}
    env.update(OPENAI_API_KEY="sk-bench-fake-openai", ANTHROPIC_API_KEY="sk-ant-bench-fake",
               FRUGAL_LOG="warn", RUST_LOG="warn", NO_COLOR="1")
    procs: list[Proc] = []
    worst = 0.0
    try:
        mock = start("mock-upstream", [str(mock_bin), "--port", "0", "--log-capacity", "100"], env, tmp,
                     "mock-upstream listening on")
        procs.append(mock)
        (tmp / "frugal.toml").write_text(frugal_config(mock.url))
        frugal = start("frugal", [str(frugal_bin), "serve", "--config", str(tmp / "frugal.toml"),
                                  "--listen", "127.0.0.1:0"], env, tmp, "frugal listening on")
        procs.append(frugal)
        print(f"mock-upstream {mock.url}, frugal {frugal.url} (ledger off)")
        frugal_url = frugal.url
        if args.nagle_relay:
            frugal_url = nagle_relay(frugal.url)
            print(f"--nagle-relay: 'frugal' below is frugal behind a Python relay without TCP_NODELAY "
                  f"({frugal_url}): the old defect, emulated")
        if args.streams_per_second:
            streams_per_second(mock.url, frugal_url, args)
        else:
            worst = latency(mock.url, frugal_url, args)
    finally:
        for p in reversed(procs):
            p.stop()
        if args.keep_logs:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.fail_above_ms is not None and worst > args.fail_above_ms:
        print(f"FAIL: added p50 {worst:.1f} ms > {args.fail_above_ms} ms")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
