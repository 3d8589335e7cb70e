"""The recommended stage-1 model trained on all rows of the three files, and its weights.

Run: python3 weights.py [LABEL] [all]   (default: gain, the 15 CORE features)
     -> prints weights, writes /tmp/frugal_stage1.json
Ridge (alpha by RidgeCV) on standardised hand features, label "gain" (data.py), trained on
routellm_mmlu_dev + llmrouter_train + routerbench_train. score = sum_i w_i * (x_i - mu_i) / sd_i.
Shown sorted by |w|: this is also what `frugal route` should print as "features that weighed most"
(w_i * z_i per prompt). Also prints a leave-one-file-out check of each file (APGR of its pair).
"""
import json
import sys

import numpy as np
from sklearn.linear_model import RidgeCV

from common import apgr, auc
from data import DS
from learn import feats

CORE = ["log_chars", "log_numbers", "digit_rate", "math_symbols", "latex", "steps", "code", "analyse",
        "opt_similarity", "opt_numeric", "oov_rate", "quotes", "scenario", "negation", "lookup_q"]
lab = sys.argv[1] if len(sys.argv) > 1 else "gain"
ds = [DS(n) for n in ("mmlu", "llmrouter", "routerbench")]
allnames = feats(ds[0])[1]
cols = list(range(len(allnames))) if "all" in sys.argv else [allnames.index(c) for c in CORE]
_feats = feats
feats = lambda d: (_feats(d)[0][:, cols], [allnames[c] for c in cols])
X = np.vstack([feats(d)[0] for d in ds])
names = feats(ds[0])[1]
y = np.concatenate([d.labels[lab] for d in ds])
mu, sd = X.mean(0), X.std(0) + 1e-9
m = RidgeCV(alphas=np.logspace(-1, 4, 11)).fit((X - mu) / sd, y)
print(f"alpha={m.alpha_:.1f} label={lab}")
for i in np.argsort(-np.abs(m.coef_)):
    print(f"  {names[i]:20s} {m.coef_[i]:+.4f}   mu={mu[i]:.3f} sd={sd[i]:.3f}")
json.dump({"label": lab, "features": names, "mu": mu.tolist(), "sd": sd.tolist(), "w": m.coef_.tolist()},
          open("/tmp/frugal_stage1.json", "w"), indent=1)
# leave-one-file-out
for k, d in enumerate(ds):
    tr = [e for j, e in enumerate(ds) if j != k]
    Xt = np.vstack([feats(e)[0] for e in tr])
    yt = np.concatenate([e.labels[lab] for e in tr])
    a, b = Xt.mean(0), Xt.std(0) + 1e-9
    r = RidgeCV(alphas=np.logspace(-1, 4, 11)).fit((Xt - a) / b, yt)
    sc = (feats(d)[0] - a) / b @ r.coef_
    print(f"{d.name:12s} trained on the other two files: APGR {apgr(sc, d.ps, d.pw)[0]:.3f}  AUC(cheap fails) {auc(sc, d.cheap_fails):.3f}")
