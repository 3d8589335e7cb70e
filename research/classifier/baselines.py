"""Reference numbers: random, raw prompt length, oracles, and how noisy APGR on MMLU is.

Run: python3 baselines.py
Prints for routellm_mmlu_dev: random (10 seeds), raw length (whole file and on the cv5 / half
folds of learn.py), the full oracle, the "weak wrong" and "strong right" oracles, the
subject-gap oracle (score = the subject's true mean gain: the ceiling for any scorer that only
knows the subject), and the SD of length's APGR when subjects / rows are resampled; then raw
length on llmrouter / routerbench (APGR of data.py's pair, AUC against "cheap models fail").
"""
import numpy as np

from common import apgr, auc, fmt, group_folds
from data import DS

M = DS("mmlu")
rng = np.random.RandomState(0)
jit = lambda n: 1e-9 * rng.rand(n)
L = np.log1p([len(t) for t in M.texts])
s, w, g = M.ps, M.pw, M.group
print("random (10 seeds)   APGR %.3f" % np.mean([apgr(np.random.RandomState(i).rand(len(s)), s, w)[0] for i in range(10)]))
print("length              " + fmt(apgr(L, s, w)))
for k, seeds in ((5, range(3)), (2, range(100, 103))):
    r = [apgr(L[f == i], s[f == i], w[f == i])[0] for sd in seeds for f in [group_folds(g, k, sd)] for i in range(k)]
    print(f"length per fold k={k}: {np.mean(r):.3f}")
print("oracle              " + fmt(apgr(s - w + jit(len(s)), s, w)))
print("weak-wrong oracle   " + fmt(apgr(1 - w + jit(len(s)), s, w)))
print("strong-right oracle " + fmt(apgr(s + jit(len(s)), s, w)))
gap = {t: (s[g == t] - w[g == t]).mean() for t in set(g)}
print("subject-gap oracle  " + fmt(apgr(np.array([gap[t] for t in g]) + jit(len(s)), s, w)))
subj = np.unique(g)
bs, br = [], []
for b in range(200):
    idx = np.concatenate([np.where(g == t)[0] for t in rng.choice(subj, len(subj))])
    bs.append(apgr(L[idx] + jit(len(idx)), s[idx], w[idx])[0])
    idx = rng.choice(len(s), len(s))
    br.append(apgr(L[idx] + jit(len(idx)), s[idx], w[idx])[0])
print(f"length APGR SD: resampling subjects {np.std(bs):.3f}, resampling rows {np.std(br):.3f}")
for n in ("llmrouter", "routerbench"):
    d = DS(n)
    x = np.log1p([len(t) for t in d.texts]) + jit(len(d))
    print(f"{n}: length APGR {apgr(x, d.ps, d.pw)[0]:.3f}  AUC(cheap fails) {auc(x, d.cheap_fails):.3f}  "
          f"strong {d.ps.mean():.3f} weak {d.pw.mean():.3f}")
