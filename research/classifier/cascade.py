"""Stage 1 (rules) abstaining to stage 2 (embeddings) on MMLU, cross-validated by subject.

Run: python3 cascade.py
Stage 1 = ridge on the hand features (label mix, training folds + llmrouter + routerbench).
Stage 2 = ridge on [features + embedding] (static or full MiniLM), label mix, same training rows.
Stage 1 decides the prompts whose score lies outside its middle band (the band = the central
`abstain` share of stage-1 training scores); stage 2 re-ranks the band only (its scores are
mapped into the band's range, so a cascade never moves a prompt across a confident decision).
Printed: APGR per held-out fold (5 folds by subject, 2 seeds), stage-1 alone, stage-2 alone,
cascade at several abstention shares; and how well stage 1's confident "cheap is fine" side
does: the cheap model's accuracy there vs overall.
"""
import numpy as np

import embed
from common import apgr, group_folds
from data import DS
from learn import feats, fit_predict


def main():
    ds = {n: DS(n) for n in ("mmlu", "llmrouter", "routerbench")}
    F = {n: feats(d)[0] for n, d in ds.items()}
    tab = embed.static_table()
    S = {n: np.hstack([F[n], embed.static(d.texts, tab)]) for n, d in ds.items()}
    M = ds["mmlu"]
    full_ok = True
    try:
        Fu = {n: np.hstack([F[n], embed.full(d.texts)]) for n, d in ds.items()}
    except Exception:
        full_ok = False
    lab = "mix"
    extra = lambda Z: (np.vstack([Z["llmrouter"], Z["routerbench"]]),
                       np.concatenate([ds["llmrouter"].labels[lab], ds["routerbench"].labels[lab]]))
    rows = {}
    for seed in range(2):
        folds = group_folds(M.group, 5, seed)
        for f in range(5):
            te, tr = folds == f, folds != f
            y = np.concatenate([M.labels[lab][tr], extra(F)[1]])
            def fp(Z):
                Xtr = np.vstack([Z["mmlu"][tr], extra(Z)[0]])
                return fit_predict("ridge", Xtr, y, Z["mmlu"][te]), fit_predict("ridge", Xtr, y, Xtr)
            s1, s1tr = fp(F)
            cands = {"static": fp(S)[0]}
            if full_ok:
                cands["full"] = fp(Fu)[0]
            ps, pw = M.ps[te], M.pw[te]
            rows.setdefault("stage1 alone", []).append(apgr(s1, ps, pw)[0])
            for nm, s2 in cands.items():
                rows.setdefault(f"stage2 {nm} alone", []).append(apgr(s2, ps, pw)[0])
                for ab in (0.3, 0.5, 0.7):
                    lo, hi = np.quantile(s1tr, [0.5 - ab / 2, 0.5 + ab / 2])
                    mid = (s1 > lo) & (s1 < hi)
                    c = s1.copy()
                    r = np.argsort(np.argsort(s2[mid]))
                    c[mid] = lo + (hi - lo) * (r + 0.5) / max(mid.sum(), 1)
                    rows.setdefault(f"cascade {nm} abstain {int(ab*100)}%", []).append(apgr(c, ps, pw)[0])
            for ab in (0.5,):
                lo, hi = np.quantile(s1tr, [0.5 - ab / 2, 0.5 + ab / 2])
                low = s1 <= lo
                rows.setdefault("cheap acc on confident-low / overall", []).append(pw[low].mean() / pw.mean())
                high = s1 >= hi
                rows.setdefault("gain on confident-high / overall", []).append((ps[high] - pw[high]).mean() / (ps - pw).mean())
    for k, v in rows.items():
        print(f"{k:40s} {np.mean(v):.3f}  (sd over folds {np.std(v):.3f})")


if __name__ == "__main__":
    main()
