#!/usr/bin/env python3
"""How far can routing by *task* go on RouterBench? (issue 4's "gpt-4 quality at <= 15 % of
its cost" target). Plain Python, no dependencies.

A "task oracle" knows each row's task and every model's total cost and accuracy on that
task, and may mix models within a task in any proportion (a fractional knapsack over the
upper hull of each task's cost/quality points). Its best quality at each budget is an upper
bound for any router whose knowledge stops at the task (the kind of prompt); beating it
needs per-question knowledge of which model fails.

    python3 research/classifier/task_oracle.py ../shared/data/routing/routerbench_train.jsonl
"""

from __future__ import annotations

import collections
import json
import sys


def upper_hull(points):
    """Cost-sorted (cost, correct, model) points -> the upper concave hull, quality rising."""
    hull = []
    for p in sorted(points):
        while len(hull) >= 2:
            (c1, q1, _), (c2, q2, _) = hull[-2], hull[-1]
            if (q2 - q1) * (p[0] - c1) <= (p[1] - q1) * (c2 - c1):
                hull.pop()
            else:
                break
        hull.append(p)
    rising = [hull[0]]
    for p in hull[1:]:
        if p[1] > rising[-1][1]:
            rising.append(p)
    return rising


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/routing/routerbench_train.jsonl"
    strong = sys.argv[2] if len(sys.argv) > 2 else "gpt-4-1106-preview"
    rows = [json.loads(line) for line in open(path) if line.strip()]
    n_models = max(len(r["scores"]) for r in rows)
    rows = [r for r in rows if len(r["scores"]) == n_models and len(r.get("cost_usd", {})) == n_models]
    models = sorted(rows[0]["scores"])
    tasks = collections.defaultdict(list)
    for r in rows:
        tasks[r["task"]].append(r)
    strong_q = sum(r["scores"][strong] for r in rows) / len(rows)
    strong_cost = sum(r["cost_usd"][strong] for r in rows)
    print(f"{len(rows)} rows with every model; {strong}: quality {strong_q:.3f}, cost ${strong_cost:.2f}")
    base_cost = base_q = 0.0
    segments = []
    for task, rs in sorted(tasks.items()):
        hull = upper_hull([(sum(r["cost_usd"][m] for r in rs), sum(r["scores"][m] for r in rs), m) for m in models])
        base_cost += hull[0][0]
        base_q += hull[0][1]
        for a, b in zip(hull, hull[1:]):
            segments.append(((b[1] - a[1]) / (b[0] - a[0]), b[0] - a[0], b[1] - a[1]))
        ladder = ", ".join(f"{m.split('/')[-1]} {q / len(rs):.3f} (${c:.2f})" for c, q, m in hull)
        print(f"  {task} ({len(rs)} rows): {ladder}")
    segments.sort(reverse=True)

    def best(budget: float) -> float:
        cost, q = base_cost, base_q
        for slope, dc, dq in segments:
            if cost + dc <= budget:
                cost, q = cost + dc, q + dq
            else:
                q += slope * max(budget - cost, 0.0)
                break
        return q / len(rows)

    for frac in (0.05, 0.10, 0.15, 0.20, 0.30, 0.50, 0.80, 1.00):
        print(f"task oracle at {frac:4.0%} of {strong}'s cost: quality {best(frac * strong_cost):.3f}")


if __name__ == "__main__":
    main()
