#!/usr/bin/env bash
# frugal's one test command: Rust unit/integration tests, then the end-to-end suite that
# drives the real `frugal` binary (in front of `mock-upstream`) with the official OpenAI
# and Anthropic Python SDKs. Works on a fresh machine with Rust and Python 3.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"

echo "==> installing the end-to-end test dependencies"
"$PYTHON" -m pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt

echo "==> cargo build --workspace --all-targets"
cargo build --workspace --all-targets

# A failing Rust test does not stop the end-to-end run (both reports are worth having),
# but either failing fails the command.
echo "==> cargo test --workspace --no-fail-fast"
rust_status=0
cargo test --workspace --no-fail-fast || rust_status=$?

echo "==> end-to-end tests (pytest tests/e2e)"
export FRUGAL_BIN="$PWD/target/debug/frugal"
export MOCK_BIN="$PWD/target/debug/mock-upstream"
e2e_status=0
"$PYTHON" -m pytest -q tests/e2e "$@" || e2e_status=$?

if ((rust_status != 0 || e2e_status != 0)); then
    echo "FAILED: cargo test exited $rust_status, end-to-end tests exited $e2e_status" >&2
    exit 1
fi
echo "all tests passed"
