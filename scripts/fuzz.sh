#!/usr/bin/env bash
# Build and run every cargo-fuzz target in fuzz/ for SECONDS each (default 20), one after
# another; exit non-zero on the first crash, panic, broken invariant, timeout or OOM.
# Prints executions and executions per second per target. Needs the nightly toolchain;
# installs cargo-fuzz when missing. See docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS]            all targets
#   FUZZ_TARGETS="sse_decode config" scripts/fuzz.sh 60
#
# New inputs found go to a temporary corpus (the committed seeds in fuzz/corpus/ are only
# read); a failing input is saved by libFuzzer under fuzz/artifacts/<target>/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_EACH="${1:-20}"
# -s none: frugal is safe Rust, so AddressSanitizer only costs speed; -a: debug
# assertions (integer overflow checks) on, to find arithmetic that wraps in release.
FLAGS=(-s none -a)

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

echo "==> building the fuzz targets"
cargo +nightly fuzz build "${FLAGS[@]}"

read -r -a TARGETS <<<"${FUZZ_TARGETS:-$(cargo +nightly fuzz list | tr '\n' ' ')}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

printf '%-20s %14s %10s\n' target executions execs/s >"$WORK/summary"
status=0
for t in "${TARGETS[@]}"; do
    echo "==> fuzzing $t for ${SECONDS_EACH}s"
    mkdir -p "$WORK/corpus/$t"
    log="$WORK/$t.log"
    if cargo +nightly fuzz run "${FLAGS[@]}" "$t" "$WORK/corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        printf '%-20s %14s %10s\n' "$t" "${execs:-?}" "${rate:-?}" | tee -a "$WORK/summary"
    else
        echo "!! $t FAILED; the failure and the end of its log:" >&2
        grep -m1 -A12 -E 'panicked|ERROR: libFuzzer' "$log" >&2 || true
        grep -E 'Test unit written|^Error' "$log" >&2 || tail -n 20 "$log" >&2
        printf '%-20s %14s %10s\n' "$t" FAILED - >>"$WORK/summary"
        status=1
        break
    fi
done

echo "==> summary"
cat "$WORK/summary"
exit "$status"
