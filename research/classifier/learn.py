"""Learned difficulty scorers, measured the way frugal's targets are measured.

Usage:  python3 learn.py REPR MODEL LABEL [--seeds N]
  REPR   feats | len | static | full | feats+static | feats+full   (comma-free; '+' concatenates)
  MODEL  ridge | logit | gbt | knn25 | knn100 | centroid | twin (needs LABEL pair)
  LABEL  gain | hard | sw | mix | pair      (see data.py)
  --pool       MMLU training folds also get all llmrouter + routerbench rows
  --cols a,b   (REPR feats only) keep these feature columns
Example: python3 learn.py feats ridge gain

For one scorer it prints:
  cv5          APGR, CPT50 on routellm_mmlu_dev, 5 folds grouped by subject, APGR measured on each
               held-out fold on its own (its own quantile bins), mean over folds and --seeds
               subject->fold assignments
  half         same with 2 folds (train on ~half the subjects, test on the rest: closest to the
               real dev / held-out split), mean over folds and seeds
  concat       APGR of all out-of-fold scores of the 5-fold runs pasted together
  loso         leave-one-subject-out, pasted together
  mmlu<-L+R    trained on llmrouter+routerbench, tested on all of MMLU (pure transfer)
  L-cv / R-cv  llmrouter / routerbench, leave-one-task-out: APGR of the file's pair and
               AUC of the score against "the cheap models fail" (mean cheap score < 0.5)
  L<-M+R, R<-M+L   trained on the two other files, tested on this one
Never a number measured on training rows.
"""
import os
import sys

import numpy as np

from common import apgr, auc, group_folds
from data import DS

CACHE = "/tmp/frugal_feats"
os.makedirs(CACHE, exist_ok=True)


def feats(ds):
    path = f"{CACHE}/{ds.name}.npz"
    if os.path.exists(path):
        z = np.load(path, allow_pickle=True)
        return z["X"], list(z["names"])
    from features import matrix
    X, names = matrix(ds.texts)
    np.savez(path, X=X, names=np.array(names))
    return X, names


def rep(ds, kind):
    parts = []
    for k in kind.split("+"):
        if k == "feats":
            parts.append(feats(ds)[0])
        elif k == "len":
            parts.append(np.log1p([[len(t)] for t in ds.texts]))
        elif k == "static":
            import embed
            parts.append(embed.static(ds.texts, embed.static_table()))
        elif k == "full":
            import embed
            parts.append(embed.full(ds.texts))
        else:
            raise ValueError(k)
    return np.hstack(parts).astype(np.float64)


def fit_predict(model, Xtr, ytr, Xte, gtr=None):
    """Scores for Xte, free of any constant that depends on the training fold (intercepts,
    training means): one deployed model adds one constant to every prompt, but out-of-fold
    scores pasted together from several fold models would otherwise carry each fold's base
    rate, which is anti-correlated with the held-out fold's own (leave-group-out bias)."""
    return _fit_predict(model, Xtr, ytr, Xte, gtr)


def _fit_predict(model, Xtr, ytr, Xte, gtr=None):
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-9
    A, B = (Xtr - mu) / sd, (Xte - mu) / sd
    if model == "ridge":
        from sklearn.linear_model import RidgeCV
        m = RidgeCV(alphas=np.logspace(-1, 4, 11)).fit(A, ytr)
        return (Xte / sd) @ m.coef_
    if model == "logit":
        from sklearn.linear_model import LogisticRegression
        yb = (ytr > np.median(ytr)) if len(np.unique(ytr)) > 2 else ytr
        if ytr.min() < 0:  # gain label: positive class = routing up pays
            yb = ytr > 0
        m = LogisticRegression(C=0.1, max_iter=2000).fit(A, yb)
        return (Xte / sd) @ m.coef_[0]
    if model == "twin":
        # one logistic model per side: P(strong answers), P(cheap answers); score = difference.
        # The difference of two sigmoids peaks at medium difficulty (both fail on the hardest).
        from sklearn.linear_model import LogisticRegression
        out = []
        for col in (0, 1):
            p = np.clip(ytr[:, col], 0, 1)
            AA = np.vstack([A, A])
            yy = np.r_[np.ones(len(A)), np.zeros(len(A))]
            ww = np.r_[p, 1 - p] + 1e-6
            m = LogisticRegression(C=0.1, max_iter=2000).fit(AA, yy, sample_weight=ww)
            out.append(m.predict_proba(B)[:, 1])
        return out[0] - out[1]
    if model == "gbt":
        from sklearn.ensemble import HistGradientBoostingRegressor
        m = HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_leaf_nodes=8,
                                          min_samples_leaf=80, l2_regularization=1.0, random_state=0)
        return m.fit(Xtr, ytr).predict(Xte) - ytr.mean()
    if model.startswith("knn"):
        k = int(model[3:])
        An = Xtr / (np.linalg.norm(Xtr, axis=1, keepdims=True) + 1e-9)
        Bn = Xte / (np.linalg.norm(Xte, axis=1, keepdims=True) + 1e-9)
        out = np.zeros(len(Xte))
        for i in range(0, len(Bn), 1024):
            S = Bn[i:i + 1024] @ An.T
            idx = np.argpartition(-S, k, axis=1)[:, :k]
            out[i:i + 1024] = ytr[idx].mean(1)
        return out - ytr.mean()
    if model == "centroid":
        # one centroid per training group (subject/task) carrying the group's mean label;
        # a test prompt takes the softmax(similarity / 0.05)-weighted label of the centroids
        An = Xtr / (np.linalg.norm(Xtr, axis=1, keepdims=True) + 1e-9)
        Bn = Xte / (np.linalg.norm(Xte, axis=1, keepdims=True) + 1e-9)
        gs = np.unique(gtr)
        C = np.stack([An[gtr == g].mean(0) for g in gs])
        C /= np.linalg.norm(C, axis=1, keepdims=True)
        lab = np.array([ytr[gtr == g].mean() for g in gs])
        S = Bn @ C.T / 0.05
        S = np.exp(S - S.max(1, keepdims=True))
        return (S / S.sum(1, keepdims=True)) @ lab - ytr.mean()
    raise ValueError(model)


EXTRA = None  # (X, y, groups) added to every training fold when --pool is given


def oof(model, X, y, groups, folds):
    out = np.zeros(len(y))
    for f in np.unique(folds):
        te = folds == f
        Xtr, ytr, gtr = X[~te], y[~te], groups[~te]
        if EXTRA is not None:
            Xtr = np.vstack([Xtr, EXTRA[0]])
            ytr = np.concatenate([ytr, EXTRA[1]])
            gtr = np.concatenate([gtr, EXTRA[2]])
        out[te] = fit_predict(model, Xtr, ytr, X[te], gtr)
    return out


def evaluate(repr_, model, label, seeds=3, quiet=False, pool=False, cols=None):
    global EXTRA
    M, L, R = DS("mmlu"), DS("llmrouter"), DS("routerbench")
    X = {d.name: rep(d, repr_) for d in (M, L, R)}
    if cols is not None:
        X = {k: v[:, cols] for k, v in X.items()}
    res = {}
    if pool:
        EXTRA = (np.vstack([X["llmrouter"], X["routerbench"]]), np.concatenate([L.labels[label], R.labels[label]]),
                 np.concatenate([L.group, R.group]))
    y = M.labels[label]
    a, h, c = [], [], []
    for s in range(seeds):
        folds = group_folds(M.group, 5, s)
        sc = oof(model, X["mmlu"], y, M.group, folds)
        c.append(apgr(sc, M.ps, M.pw))
        a += [apgr(sc[folds == f], M.ps[folds == f], M.pw[folds == f]) for f in range(5)]
        folds = group_folds(M.group, 2, 100 + s)
        sc = oof(model, X["mmlu"], y, M.group, folds)
        h += [apgr(sc[folds == f], M.ps[folds == f], M.pw[folds == f]) for f in range(2)]
    res["mmlu-cv"] = tuple(np.mean(a, 0))
    res["mmlu-half"] = tuple(np.mean(h, 0))
    res["mmlu-concat"] = tuple(np.mean(c, 0))
    sc = oof(model, X["mmlu"], y, M.group, M.group)
    res["mmlu-loso"] = apgr(sc, M.ps, M.pw)
    EXTRA = None
    XLR = np.vstack([X["llmrouter"], X["routerbench"]])
    yLR = np.concatenate([L.labels[label], R.labels[label]])
    gLR = np.concatenate([L.group, R.group])
    res["mmlu<-L+R"] = apgr(fit_predict(model, XLR, yLR, X["mmlu"], gLR), M.ps, M.pw)
    for d, others in ((L, (M, R)), (R, (M, L))):
        sc = oof(model, X[d.name], d.labels[label], d.group, d.group)
        res[f"{d.name}-cv"] = (apgr(sc, d.ps, d.pw)[0], auc(sc, d.cheap_fails))
        Xo = np.vstack([X[o.name] for o in others])
        yo = np.concatenate([o.labels[label] for o in others])
        go = np.concatenate([o.group for o in others])
        sc = fit_predict(model, Xo, yo, X[d.name], go)
        res[f"{d.name}<-other2"] = (apgr(sc, d.ps, d.pw)[0], auc(sc, d.cheap_fails))
    if not quiet:
        print(report(f"{repr_} {model} {label}", res))
    return res


def report(name, res):
    m, lo, t = res["mmlu-cv"], res["mmlu-loso"], res["mmlu<-L+R"]
    return (f"{name:26s} | cv5 {m[0]:.3f} CPT50 {100*m[1]:4.1f}% half {res['mmlu-half'][0]:.3f} concat {res['mmlu-concat'][0]:.3f} loso {lo[0]:.3f} | M<-LR {t[0]:.3f} | "
            f"L-cv {res['llmrouter-cv'][0]:.3f}/{res['llmrouter-cv'][1]:.3f} L<-MR {res['llmrouter<-other2'][0]:.3f}/{res['llmrouter<-other2'][1]:.3f} | "
            f"R-cv {res['routerbench-cv'][0]:.3f}/{res['routerbench-cv'][1]:.3f} R<-ML {res['routerbench<-other2'][0]:.3f}/{res['routerbench<-other2'][1]:.3f}")


if __name__ == "__main__":
    argv = sys.argv[1:]
    pool = "--pool" in argv
    argv = [a for a in argv if a != "--pool"]
    cols = None
    if "--cols" in argv:
        i = argv.index("--cols")
        from features import matrix
        names = list(feats(DS("mmlu"))[1])
        cols = [names.index(c) for c in argv[i + 1].split(",")]
        del argv[i:i + 2]
    seeds = 3
    if "--seeds" in argv:
        i = argv.index("--seeds")
        seeds = int(argv[i + 1])
        del argv[i:i + 2]
    args = argv
    evaluate(*args, seeds=seeds, pool=pool, cols=cols)
