"""Shared helpers for the classifier research: data loading, RouteLLM's APGR/CPT, grouped CV.

Not run directly. Every experiment script imports it.

APGR/CPT follow RouteLLM's routellm/evals/benchmarks.py + evaluate.py exactly:
thresholds = pd.qcut(score, 10, retbins=True) edges (= linear quantiles 0..100 %), a prompt
goes to the strong model when score >= threshold (and score > threshold for the last edge),
quality curve over the share of strong calls; APGR = trapezoid area of
(quality - weak) / (strong - weak); CPT(x) = np.interp(weak + x*(strong-weak), quality, share).
"""
import json
import os
import re

import numpy as np

DATA = "/work/shared/data/routing"
STRONG = "gpt-4-1106-preview"
WEAK = "mixtral-8x7b-instruct-v0.1"


def load(name):
    """Rows of one routing file (name without .jsonl)."""
    with open(os.path.join(DATA, name + ".jsonl")) as f:
        return [json.loads(l) for l in f]


def curve(score, strong, weak, n=10):
    """RouteLLM's quality curve: list of (strong_share, quality)."""
    score = np.asarray(score, float)
    edges = np.quantile(score, np.linspace(0, 1, n + 1))
    pts = []
    for i, t in enumerate(edges):
        sel = score >= t if i != len(edges) - 1 else score > t
        q = np.where(sel, strong, weak).mean()
        pts.append((sel.mean(), q))
    pts.sort(key=lambda p: p[0])
    return pts


def apgr(score, strong, weak, n=10):
    """(APGR, CPT50, CPT80) as RouteLLM computes them. strong/weak: per-row quality 0..1."""
    strong = np.asarray(strong, float)
    weak = np.asarray(weak, float)
    pts = curve(score, strong, weak, n)
    x = np.array([p[0] for p in pts])
    q = np.array([p[1] for p in pts])
    sa, wa = strong.mean(), weak.mean()
    gap = sa - wa
    if abs(gap) < 1e-9:
        return float("nan"), float("nan"), float("nan")
    auc = np.trapezoid(q, x)
    w = np.trapezoid(np.full_like(x, wa), x)
    s = np.trapezoid(np.full_like(x, sa), x)
    ap = (auc - w) / (s - w)
    c50 = np.interp(wa + 0.5 * gap, q, x)
    c80 = np.interp(wa + 0.8 * gap, q, x)
    return float(ap), float(c50), float(c80)


def auc(score, label):
    """ROC AUC (Mann-Whitney, ties averaged). label in {0,1}."""
    score = np.asarray(score, float)
    label = np.asarray(label) > 0.5
    from scipy.stats import rankdata
    r = rankdata(score)
    npos, nneg = label.sum(), (~label).sum()
    if npos == 0 or nneg == 0:
        return float("nan")
    return float((r[label].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def group_folds(groups, k=5, seed=0):
    """Assign each distinct group to one of k folds, balancing row counts (greedy, shuffled)."""
    groups = np.asarray(groups)
    uniq, counts = np.unique(groups, return_counts=True)
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(uniq))
    order = sorted(order, key=lambda i: -counts[i])  # largest first, ties shuffled
    load_ = np.zeros(k)
    fold_of = {}
    for i in order:
        f = int(np.argmin(load_))
        fold_of[uniq[i]] = f
        load_[f] += counts[i]
    return np.array([fold_of[g] for g in groups])


def cv_predict(fit_predict, X, y, groups, k=5, seed=0, **kw):
    """Out-of-fold predictions; fit_predict(Xtr, ytr, Xte, **kw) -> scores for Xte.
    X may be a numpy array or a list (indexed per fold)."""
    folds = group_folds(groups, k, seed)
    out = np.zeros(len(y))
    for f in range(k):
        te = folds == f
        tr = ~te
        Xtr = X[tr] if isinstance(X, np.ndarray) else [x for x, m in zip(X, tr) if m]
        Xte = X[te] if isinstance(X, np.ndarray) else [x for x, m in zip(X, te) if m]
        out[te] = fit_predict(Xtr, y[tr], Xte, **kw)
    return out


def mmlu_arrays(rows):
    s = np.array([r["scores"][STRONG] for r in rows])
    w = np.array([r["scores"][WEAK] for r in rows])
    g = np.array([r["task"] for r in rows])
    return s, w, g


def fmt(res):
    a, c5, c8 = res
    return f"APGR {a:.3f}  CPT50 {100*c5:.1f}%  CPT80 {100*c8:.1f}%"
