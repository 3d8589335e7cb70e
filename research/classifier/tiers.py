"""A labelled tier set built from the shared routing data, and tier accuracy of rules vs rules+embeddings.

Run: python3 tiers.py [feats|feats+static|feats+full|static ...]   (default: all four)

Tier label of a row = the cheapest tier whose designated model answers it (score >= 0.5):
  routerbench (3 tiers):  simple = mistral-7b-chat ($0.2/M), medium = mixtral-8x7b-chat ($0.6/M),
                          frontier = gpt-4-1106-preview
  llmrouter  (2 tiers):   simple = gemma-2-9b-it ($0.1/M), complex = llama-3.1-nemotron-51b ($0.9/M)
  mmlu       (2 tiers):   medium = mixtral-8x7b-instruct, frontier = gpt-4-1106-preview
Rows that no designated model answers are left out (no tier is "right" for them; routing them up
only costs money). One designated model per tier, because frugal picks one model per tier.

Classifier: multinomial logistic regression on standardised inputs, cross-validated by task
(leave-one-task-out; MMLU: 5 folds grouped by subject). Printed per file: majority-class baseline,
accuracy, balanced accuracy (mean recall over tiers), and the under-routing rate (predicted tier
below the needed one = a wrong answer served). With class_weight=balanced as a second row,
because plain accuracy rewards always answering the majority tier.
"""
import sys

import numpy as np

from common import group_folds
from data import DS
from learn import rep

TIERS = {
    "routerbench": ["mistralai/mistral-7b-chat", "mistralai/mixtral-8x7b-chat", "gpt-4-1106-preview"],
    "llmrouter": ["gemma-2-9b-it", "llama-3.1-nemotron-51b-instruct"],
    "mmlu": ["mixtral-8x7b-instruct-v0.1", "gpt-4-1106-preview"],
}


def tier_labels(ds):
    models = TIERS[ds.name]
    y = np.full(len(ds), -1)
    for i, r in enumerate(ds.rows):
        for t, m in enumerate(models):
            if r["scores"].get(m, 0) >= 0.5:
                y[i] = t
                break
    return y


def run(kind):
    from sklearn.linear_model import LogisticRegression
    for name in ("mmlu", "llmrouter", "routerbench"):
        ds = DS(name)
        y = tier_labels(ds)
        keep = y >= 0
        X = rep(ds, kind)[keep]
        y, g = y[keep], ds.group[keep]
        folds = group_folds(g, 5, 0) if name == "mmlu" else g
        maj = np.bincount(y).max() / len(y)
        for cw in (None, "balanced"):
            pred = np.zeros(len(y), int)
            for f in np.unique(folds):
                te = folds == f
                mu, sd = X[~te].mean(0), X[~te].std(0) + 1e-9
                m = LogisticRegression(C=0.1, max_iter=3000, class_weight=cw).fit((X[~te] - mu) / sd, y[~te])
                pred[te] = m.predict((X[te] - mu) / sd)
            acc = (pred == y).mean()
            bal = np.mean([(pred[y == t] == t).mean() for t in np.unique(y)])
            under = (pred < y).mean()
            dist = np.bincount(pred, minlength=len(TIERS[name])) / len(pred)
            print(f"{kind:14s} {name:12s} cw={str(cw):8s} n={len(y):5d} tiers={np.round(np.bincount(y) / len(y), 2)} "
                  f"majority={maj:.3f} acc={acc:.3f} balanced={bal:.3f} under-routed={under:.3f} predicted={np.round(dist, 2)}")


if __name__ == "__main__":
    for k in sys.argv[1:] or ["feats", "static", "feats+static", "feats+full"]:
        run(k)
