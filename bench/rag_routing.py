#!/usr/bin/env python3
"""Where does frugal route retrieval-augmented (RAG) questions? Offline, with `frugal route --batch`.

Builds prompts from shared/data/compression/lost-in-the-middle (NQ-open questions with their
gold Wikipedia passage, MIT / CC BY-SA) in the lost-in-the-middle template ("Write a
high-quality answer … Document [1](Title: …) … Question: … Answer:"), plus the same
questions bare, routes both through the release binary and prints each set's tier counts,
median score and the summed estimated cost of the chosen models (built-in catalogue).
The answer is in the passage, so a router that sends these to the top tiers because the
passage is long pays for nothing.

    cargo build --release -p frugal
    python3 bench/rag_routing.py --data ../shared/data/compression/lost-in-the-middle
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ("Write a high-quality answer for the given question using only the provided search results.\n\n"
            "Document [1](Title: {title}) {text}\n\nQuestion: {question}\nAnswer:")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/compression/lost-in-the-middle")
    ap.add_argument("--rows", type=int, default=300, help="questions in the RAG template")
    ap.add_argument("--bare", type=int, default=100, help="of those, also routed as bare questions")
    ap.add_argument("--frugal", type=Path, default=ROOT / "target/release/frugal")
    args = ap.parse_args()

    with gzip.open(args.data / "qa_data/nq-open-oracle.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for _, line in zip(range(args.rows), f)]
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as batch:
        for i, r in enumerate(rows):
            ctx = r["ctxs"][0]
            prompt = TEMPLATE.format(title=ctx["title"], text=ctx["text"], question=r["question"])
            batch.write(json.dumps({"id": f"rag/{i}", "prompt": prompt}) + "\n")
            if i < args.bare:
                batch.write(json.dumps({"id": f"bare/{i}", "prompt": r["question"]}) + "\n")
    out = subprocess.run([str(args.frugal), "route", "--batch", batch.name],
                         check=True, capture_output=True, text=True).stdout
    Path(batch.name).unlink()

    sets: dict[str, list[dict]] = collections.defaultdict(list)
    for line in out.split("\n"):
        if not line.strip():
            continue
        d = json.loads(line)
        sets[d["id"].split("/")[0]].append(d)
    for name, ds in sets.items():
        tiers = collections.Counter(d["tier"] for d in ds)
        cost = sum(float(d["est_cost_usd"]) for d in ds)
        shown = ", ".join(f"{t} {tiers[t]}" for t in ("simple", "medium", "complex", "frontier"))
        print(f"{name:5s} {len(ds):4d} prompts: {shown}; median score "
              f"{statistics.median(d['score'] for d in ds):.2f}; estimated cost ${cost:.3f}")


if __name__ == "__main__":
    main()
