#!/usr/bin/env python3
"""Does frugal learn from its own traffic? Measured end to end through the real gateway.

For each split, the rows of a routing file (default RouterBench, which the shipped router
never saw) are halved by a hash of their id. A router is trained with the given recipe
(`--train-data`, default the shipped router's: MMLU + LLMRouter) and served: half A is live
traffic, every prompt going to a real `frugal serve` (`model: "auto"`, `store_prompts =
true`) in front of mock-upstream, and the client rates each answer with the data's own
score for the model standing for the tier frugal chose (`--tier-models`, cheapest first;
default RouterBench's price ladder mistral-7b / mixtral-8x7b / Yi-34B / gpt-4) through
`POST /v1/feedback`. The gateway's tier boundaries sit at the quartiles of the served
router's scores on that traffic, so every tier can get some. The gateway stops (SIGTERM,
ledger drained), a second router is trained by the same recipe plus `--ledger`, and both
are scored on half B, which no router saw, with `frugal eval`.

    cargo build --release --workspace
    python3 bench/ledger_learning.py --data ../shared/data/routing/routerbench_train.jsonl
    # traffic unlike the training data: LLMRouter prompts, a router trained on MMLU only
    D=../shared/data/routing
    python3 bench/ledger_learning.py --data $D/llmrouter_train.jsonl --train-data $D/routellm_mmlu_dev.jsonl \
        --strong llama-3.1-nemotron-51b-instruct --weak gemma-2-9b-it \
        --tier-models gemma-2-9b-it,llama-3.1-8b-instruct,llama-3.3-nemotron-super-49b-v1,llama-3.1-nemotron-51b-instruct

Prints APGR / CPT(50%) of both routers per split and their means.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from support import frugal_env, model, render_config, start_process  # noqa: E402

TIER_NAMES = ("simple", "medium", "complex", "frontier")
# RouterBench's price ladder (the default traffic).
TIER_MODELS = "mistralai/mistral-7b-chat,mistralai/mixtral-8x7b-chat,zero-one-ai/Yi-34B-Chat,gpt-4-1106-preview"
# Gateway-side models standing for them, priced in the same order.
GATEWAY = {
    "rb-simple": model("openai", "simple", 0.2, 0.2),
    "rb-medium": model("openai", "medium", 0.6, 0.6),
    "rb-complex": model("openai", "complex", 0.8, 0.8),
    "rb-frontier": model("openai", "frontier", 10.0, 30.0),
}
TIERS = {t: [f"rb-{t}"] for t in TIER_NAMES}


def half(row_id: str, salt: int) -> int:
    return hashlib.sha256(f"{salt}:{row_id}".encode()).digest()[0] & 1


def replay(url: str, rows: list[dict], tier_models: dict[str, str]) -> dict[str, int]:
    """Send rows as live traffic and rate each answer with the data's score of the model
    standing for the chosen tier; returns requests per tier."""
    tiers: dict[str, int] = {}
    with httpx.Client(base_url=url, timeout=30, headers={"authorization": "Bearer sk-bench"}) as c:
        for i, row in enumerate(rows):
            r = c.post("/v1/chat/completions", json={
                "model": "auto", "messages": [{"role": "user", "content": row["prompt"]}]})
            r.raise_for_status()
            tier = r.headers["x-frugal-tier"]
            tiers[tier] = tiers.get(tier, 0) + 1
            score = row["scores"].get(tier_models[tier])
            if score is not None:
                fb = c.post("/v1/feedback", json={"request_id": r.headers["x-frugal-request-id"],
                                                  "score": float(score)})
                fb.raise_for_status()
            if (i + 1) % 250 == 0:
                print(f"    {i + 1}/{len(rows)} requests", file=sys.stderr)
    return tiers


def run(cmd: list[str], **kw) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    return p.stdout


def evaluate(frugal: Path, router: Path, data: Path, work: Path, strong: str, weak: str) -> tuple[float, float]:
    cfg = work / f"eval-{router.stem}.toml"
    cfg.write_text(f'[routing]\nrouter_model = "{router}"\n')
    out = json.loads(run([str(frugal), "eval", "--config", str(cfg), "--data", str(data), "--strong", strong,
                          "--weak", weak, "--json"]))
    m = out["routers"][0]["metrics"]
    return m["apgr"], m["cpt50"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = ROOT.parent / "shared" / "data" / "routing"
    ap.add_argument("--data", type=Path, default=shared / "routerbench_train.jsonl")
    ap.add_argument("--train-data", type=Path, nargs="*",
                    default=[shared / "routellm_mmlu_dev.jsonl", shared / "llmrouter_train.jsonl"])
    ap.add_argument("--prices", type=Path, default=shared / "models.json")
    ap.add_argument("--frugal", type=Path, default=ROOT / "target" / "release" / "frugal")
    ap.add_argument("--mock", type=Path, default=ROOT / "target" / "release" / "mock-upstream")
    ap.add_argument("--strong", default="gpt-4-1106-preview")
    ap.add_argument("--weak", default="mistralai/mixtral-8x7b-chat")
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--tier-models", default=TIER_MODELS,
                    help="the data's models standing for simple,medium,complex,frontier (cheapest first)")
    args = ap.parse_args()
    tier_models = dict(zip(TIER_NAMES, args.tier_models.split(","), strict=True))

    rows = [json.loads(line) for line in args.data.read_text().split("\n") if line.strip()]
    work = Path(tempfile.mkdtemp(prefix="frugal-ledger-learning-"))
    env = frugal_env()
    env["FRUGAL_LOG"] = "warn"
    mock = start_process("mock-upstream", [str(args.mock), "--port", "0"], env, work, "mock-upstream listening on")
    results = []
    try:
        for salt in range(args.splits):
            traffic = [r for r in rows if half(r["id"], salt) == 0]
            held = [r for r in rows if half(r["id"], salt) == 1]
            held_path = work / f"held-{salt}.jsonl"
            held_path.write_text("".join(json.dumps(r) + "\n" for r in held))
            ledger = work / f"ledger-{salt}.sqlite"
            cfg = work / f"serve-{salt}.toml"
            traffic_path = work / f"traffic-{salt}.jsonl"
            traffic_path.write_text("".join(json.dumps(r) + "\n" for r in traffic))
            # The gateway serves the router the recipe trains without the ledger ("before"),
            # the same one the ledger-trained router is compared with.
            recipe = [str(args.frugal), "train", *[a for p in args.train_data for a in ("--data", str(p))],
                      "--prices", str(args.prices), "--embedding", "builtin"]
            before, after = work / f"before-{salt}.json", work / f"after-{salt}.json"
            run(recipe + ["--out", str(before)])
            routed = work / f"route-{salt}.toml"
            routed.write_text(f'[routing]\nrouter_model = "{before}"\n')
            scores = sorted(json.loads(line)["score"] for line in run(
                [str(args.frugal), "route", "--config", str(routed), "--batch", str(traffic_path)]).split("\n") if line.strip())
            bounds = [scores[len(scores) * q // 4] for q in (1, 2, 3)]
            text = render_config(mock.url, GATEWAY, TIERS, "rb-frontier")
            text = text.replace("[routing]\n", f"[routing]\nrouter_model = \"{before}\"\n"
                                f"boundaries = {json.dumps(bounds)}\n", 1)
            cfg.write_text(text + f'\n[ledger]\npath = "{ledger}"\nstore_prompts = true\n')
            print(f"split {salt}: {len(traffic)} requests of traffic, {len(held)} held out", file=sys.stderr)
            gw = start_process(f"frugal-{salt}", [str(args.frugal), "serve", "--config", str(cfg), "--listen",
                                                  "127.0.0.1:0"], env, work, "frugal listening on")
            t = time.monotonic()
            try:
                tiers = replay(gw.url, traffic, tier_models)
            finally:
                gw.stop()
            print(f"    tiers {tiers} in {time.monotonic() - t:.0f} s", file=sys.stderr)
            log = subprocess.run(recipe + ["--ledger", str(ledger), "--out", str(after)], capture_output=True,
                                 text=True)
            if log.returncode != 0:
                sys.exit(log.stderr)
            print("    " + next(l for l in log.stderr.splitlines() if "ledger" in l).strip(), file=sys.stderr)
            b = evaluate(args.frugal, before, held_path, work, args.strong, args.weak)
            a = evaluate(args.frugal, after, held_path, work, args.strong, args.weak)
            results.append((b, a))
            print(f"split {salt}: APGR {b[0]:.3f} -> {a[0]:.3f}, CPT(50%) {b[1]:.1%} -> {a[1]:.1%}")
    finally:
        mock.stop()
    mean = lambda xs: statistics.fmean(xs)  # noqa: E731
    print(f"mean over {len(results)} splits: APGR {mean([r[0][0] for r in results]):.3f} -> "
          f"{mean([r[1][0] for r in results]):.3f}, CPT(50%) {mean([r[0][1] for r in results]):.1%} -> "
          f"{mean([r[1][1] for r in results]):.1%}")


if __name__ == "__main__":
    main()
