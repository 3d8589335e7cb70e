#!/usr/bin/env bash
# Held-out measures of the router as built (release binary), beside each other in one line:
#   mmlu_cv   `frugal crossval` on MMLU by subject (cascade, mean of 5 folds x 3 seeds)
#   rb        RouterBench, never trained on (gpt-4 vs mixtral)
#   gsm8k, math, commongen, mbpp: each LLMRouter task held out in turn, the router trained
#             with the shipped recipe on MMLU + the other LLMRouter tasks, APGR on that task
#             (nemotron-51b vs gemma-2-9b)
# Used to choose how far stage 2 may move stage 1's score (RouterModel::resolve,
# docs/classifier.md). Run from the repository root after `cargo build --release -p frugal`.
set -euo pipefail
D=${D:-../shared/data/routing}
F=${F:-target/release/frugal}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pair=(--strong llama-3.1-nemotron-51b-instruct --weak gemma-2-9b-it)
apgr() { grep -A1 "^router " | tail -1 | awk '{print $2}'; }
out="mmlu_cv=$($F crossval --data $D/routellm_mmlu_dev.jsonl --strong gpt-4-1106-preview \
    --weak mixtral-8x7b-instruct-v0.1 --embedding builtin 2>&1 | grep cascade | awk '{print $6}')"
out="$out rb=$($F eval --data $D/routerbench_train.jsonl --strong gpt-4-1106-preview \
    --weak mistralai/mixtral-8x7b-chat 2>&1 | apgr)"
for t in gsm8k math commongen mbpp; do
    python3 - "$D/llmrouter_train.jsonl" "$t" "$T" <<'PY'
import json, sys
src, task, out = sys.argv[1:]
with open(f"{out}/rest.jsonl", "w") as rest, open(f"{out}/task.jsonl", "w") as one:
    for line in open(src):
        (one if json.loads(line)["task"] == task else rest).write(line)
PY
    $F train --data $D/routellm_mmlu_dev.jsonl --data $T/rest.jsonl --prices $D/models.json \
        --embedding builtin --out $T/router.json >/dev/null 2>&1
    printf '[routing]\nrouter_model = "%s/router.json"\n' "$T" > $T/frugal.toml
    out="$out $t=$($F eval -c $T/frugal.toml --data $T/task.jsonl "${pair[@]}" 2>&1 | apgr)"
done
echo "$out"
