#!/usr/bin/env bash
# Gateway overhead: the same small chat request sent to mock-upstream directly (baseline)
# and through frugal (explicit model; routed "auto"), side by side in one run.
# Prints throughput and latency for each and the difference frugal adds, plus the
# distribution of frugal's own x-frugal-overhead-ms header.
#
#   bash bench/overhead.sh            # 10 s per scenario, 8 connections
#   DURATION=30s CONNS=16 bash bench/overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-8}
command -v wrk >/dev/null || { echo "installing wrk"; apt-get install -y -q wrk >/dev/null; }
cargo build --release -q -p frugal -p mock-upstream
BIN=target/release
tmp=$(mktemp -d)
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"; }
pids=()
trap cleanup EXIT

"$BIN/mock-upstream" --port 0 >"$tmp/mock.out" 2>"$tmp/mock.err" & pids+=($!)
for _ in $(seq 50); do grep -q listening "$tmp/mock.out" 2>/dev/null && break; sleep 0.1; done
MOCK=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/mock.out")

cat >"$tmp/frugal.toml" <<TOML
[providers.openai]
base_url = "$MOCK/v1"
[providers.anthropic]
base_url = "$MOCK"
[models."bench-small"]
provider = "openai"
tier = "simple"
input = 0.1
output = 0.4
[routing]
baseline = "gpt-4.1"
tiers.simple = ["bench-small"]
tiers.medium = ["bench-small"]
tiers.complex = ["bench-small"]
tiers.frontier = ["bench-small"]
TOML
OPENAI_API_KEY=sk-bench ANTHROPIC_API_KEY=sk-bench FRUGAL_LOG=warn \
  "$BIN/frugal" serve --config "$tmp/frugal.toml" --listen 127.0.0.1:0 >"$tmp/frugal.out" 2>"$tmp/frugal.err" & pids+=($!)
for _ in $(seq 50); do grep -q listening "$tmp/frugal.out" 2>/dev/null && break; sleep 0.1; done
FRUGAL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$tmp/frugal.out")

run() { # name url model connections
  MODEL=$3 wrk -t1 -c"$4" -d"$DURATION" -s bench/chat.lua "$2/v1/chat/completions" | grep RESULT | sed "s/RESULT/$1/"
}
compare() { # connections
python3 - "$(run direct "$MOCK" bench-small "$1")" "$(run frugal-explicit "$FRUGAL" bench-small "$1")" \
  "$(run frugal-auto "$FRUGAL" auto "$1")" <<'PY'
import sys
def parse(line):
    name, *kv = line.split()
    return name, {k: float(v) for k, v in (x.split("=") for x in kv)}
rows = [parse(l) for l in sys.argv[1:]]
base = rows[0][1]
print(f"\n{'scenario':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'rps ratio':>9}")
for name, r in rows:
    print(f"{name:<16} {r['rps']:>9.0f} {r['p50_us']/1e3:>8.3f} {r['p99_us']/1e3:>8.3f} "
          f"{(r['p50_us']-base['p50_us'])/1e3:>8.3f} {(r['p99_us']-base['p99_us'])/1e3:>8.3f} {r['rps']/base['rps']:>9.2f}")
PY
}
echo "machine: $(nproc) cores, $(uname -m); wrk -t1 -d$DURATION; mock-upstream answers instantly"
echo; echo "== latency: 1 connection (no queueing; frugal, mock and wrk share the cores) =="
compare 1
echo; echo "== throughput: $CONNS connections (cores saturated by wrk + frugal + mock) =="
compare "$CONNS"

# frugal's own measure of the time it spends (x-frugal-overhead-ms), sequential requests.
python3 - "$FRUGAL" <<'PY'
import json, sys, urllib.request
url = sys.argv[1] + "/v1/chat/completions"
body = json.dumps({"model": "auto", "max_tokens": 64, "messages": [
    {"role": "user", "content": "What is the capital of France? Answer in one word."}]}).encode()
vals = []
for _ in range(500):
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        vals.append(float(r.headers["x-frugal-overhead-ms"]))
vals.sort()
q = lambda p: vals[min(len(vals) - 1, int(p * len(vals)))]
print(f"\nx-frugal-overhead-ms over 500 sequential requests: p50 {q(0.5):.3f}  p90 {q(0.9):.3f}  p99 {q(0.99):.3f}  max {vals[-1]:.3f}")
PY
