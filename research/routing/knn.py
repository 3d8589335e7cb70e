"""Model-aware routing research: per-model quality estimates q̂ (kNN over the static embedding,
priors, ridge heads, clusters) and the selection rule argmax q̂ − λ·cost − β·σ.

    cd research/routing && OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 knn.py [--emb=full|last|mix] [section ...]

sections: grid (kNN parameter grid on every protocol), main (the headline table), mmlu,
select (selection-rule variants), cluster, cold (cold-model simulation). No section = all.
Embeddings are cached in /tmp/frugal_routing (embed_static.py replicates the Rust embedder).
Every figure in FINDINGS.md is printed by one of these sections.
"""
import json
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "classifier"))
from common import apgr, group_folds  # noqa: E402  (RouteLLM's APGR procedure)

DATA = "/work/shared/data/routing"
CACHE = "/tmp/frugal_routing"
OUT_TOKENS = 256          # frugal eval's default output length for per-token prices
CHARS_PER_TOKEN = 4.0
BUDGETS = (0.15, 0.30, 0.50)
LAMBDAS = np.concatenate([[0.0], np.logspace(-4, 1.5, 80)])

# --------------------------------------------------------------------------- data


def load_rows(name):
    with open(os.path.join(DATA, name + ".jsonl")) as f:
        return [json.loads(l) for l in f]


def prices():
    return json.load(open(os.path.join(DATA, "models.json")))


class DS:
    """One file: Q (n×M quality), C (n×M realised cost), E (n×d embedding), task, chars."""

    def __init__(self, name, emb="full"):
        rows = load_rows(name)
        models = sorted({m for r in rows for m in r["scores"]})
        rows = [r for r in rows if all(m in r["scores"] for m in models)]
        self.name, self.models, self.rows = name, models, rows
        self.Q = np.array([[r["scores"][m] for m in models] for r in rows])
        self.task = np.array([r["task"] for r in rows])
        self.chars = np.array([len(r["prompt"]) for r in rows], float)
        P = prices()
        if name == "routerbench_train":
            self.C = np.array([[r["cost_usd"][m] for m in models] for r in rows])
            self.base = "gpt-4-1106-preview"
        else:
            grp = P["llmrouter"] if name == "llmrouter_train" else P["routellm"]
            tok_in = np.ceil(self.chars / CHARS_PER_TOKEN)
            cols = []
            for m in models:
                p = grp[m]
                pin = p.get("input_usd_per_mtok", p.get("usd_per_mtok_blended"))
                pout = p.get("output_usd_per_mtok", p.get("usd_per_mtok_blended"))
                cols.append((tok_in * pin + OUT_TOKENS * pout) / 1e6)
            self.C = np.stack(cols, 1)
            # baseline = best single model by mean quality
            self.base = models[int(np.argmax(self.Q.mean(0)))]
        self.bi = self.models.index(self.base)
        E, self.ntok = embed_all(name, rows)
        if emb != "full":
            L, _ = embed_all(name + ".last", [dict(r, prompt=last_item(r["prompt"])) for r in rows])
            E = L if emb == "last" else normed(E + L)
        self.E, self.emb = E, emb
        self.F = features(rows, self.ntok)

    @property
    def n(self):
        return len(self.rows)


def embed_all(name, rows):
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, name + ".npz")
    if os.path.exists(path):
        z = np.load(path)
        if len(z["E"]) == len(rows):
            return z["E"], z["ntok"]
    from embed_static import StaticEmbedder
    e = StaticEmbedder()
    t = time.time()
    out = [e.embed(r["prompt"]) for r in rows]
    E = np.stack([o[0] for o in out]).astype(np.float32)
    ntok = np.array([o[1] for o in out])
    np.savez(path, E=E, ntok=ntok)
    print(f"# embedded {name}: {len(rows)} rows in {time.time() - t:.0f}s", file=sys.stderr)
    return E, ntok


def normed(X):
    return (X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def last_item(text):
    """The text after the last blank line (the final question of a few-shot prompt), if that
    has at least 20 non-space characters; else the whole text."""
    tail = text.rstrip().rsplit("\n\n", 1)[-1]
    return tail if len(tail.strip()) >= 20 else text


OPT_RE = re.compile(r"(?m)^\s*\(?[A-Ea-e][.)]\s+\S")
CODE_RE = re.compile(r"```|\bdef \w+\(|\breturn\b|#include|\bfunction\b|print\(|=>|;\s*$|\{\s*$", re.M)


def features(rows, ntok):
    """Three cheap stage-1-like features: ln(1+chars), has code, has ≥2 answer options."""
    f = []
    for r, nt in zip(rows, ntok):
        p = r["prompt"]
        f.append([np.log1p(len(p)), float(bool(CODE_RE.search(p))),
                  float(len(OPT_RE.findall(p)) >= 2)])
    return np.array(f)


# --------------------------------------------------------------------------- predictors


def neighbours(Ete, Etr, kmax=100):
    """Top-kmax training neighbours by cosine: (idx, sim), sorted by decreasing similarity."""
    S = Ete @ Etr.T
    kmax = min(kmax, S.shape[1])
    idx = np.argpartition(-S, kmax - 1, axis=1)[:, :kmax]
    sim = np.take_along_axis(S, idx, 1)
    o = np.argsort(-sim, 1)
    return np.take_along_axis(idx, o, 1), np.take_along_axis(sim, o, 1)


def knn_weights(sim, weight):
    kind, par = weight
    if kind == "uniform":
        return np.ones_like(sim)
    if kind == "pow":
        return np.clip(sim, 0, None) ** par
    if kind == "softmax":  # exp((cos − cos_max)/τ)
        return np.exp((sim - sim[:, :1]) / par)
    if kind == "abs":  # exp((cos − 1)/τ): absolute, so Σw is evidence (far rows count little)
        return np.exp((sim - 1.0) / par)
    raise ValueError(kind)


def knn_predict(nb, Qtr, prior, k=25, weight=("uniform", 0), a=5.0):
    """q̂ = (a·prior + n_eff·ŝ)/(a + n_eff), ŝ = Σw s/Σw, n_eff = (Σw)²/Σw²,
    σ² = q̂(1−q̂)/(a + n_eff + 1). prior: (M,) or (n_te, M)."""
    idx, sim = nb[0][:, :k], nb[1][:, :k]
    w = knn_weights(sim, weight)
    sw = w.sum(1, keepdims=True)
    s_hat = np.einsum("ik,ikm->im", w, Qtr[idx]) / np.maximum(sw, 1e-300)
    # relative weights: effective count (Σw)²/Σw²; absolute kernel: Σw itself
    neff = sw if weight[0] == "abs" else sw ** 2 / (w ** 2).sum(1, keepdims=True)
    q = (a * prior + neff * s_hat) / (a + neff)
    sigma = np.sqrt(np.clip(q * (1 - q), 1e-6, None) / (a + neff + 1))
    return q, sigma


def ridge_heads(Xtr, Qtr, Xte, alpha=10.0):
    """Per-model ridge on standardised inputs with intercept; q̂ clipped to [0,1]."""
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-9
    Z, Zt = (Xtr - mu) / sd, (Xte - mu) / sd
    ym = Qtr.mean(0)
    W = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ (Qtr - ym))
    return np.clip(Zt @ W + ym, 0, 1)


def kmeans(X, k, seed=0, iters=30):
    """Spherical k-means (cosine) with k-means++ init."""
    rng = np.random.RandomState(seed)
    C = [X[rng.randint(len(X))]]
    d = 1 - X @ C[0]
    for _ in range(1, k):
        p = np.clip(d, 0, None) ** 2
        C.append(X[rng.choice(len(X), p=p / p.sum())])
        d = np.minimum(d, 1 - X @ C[-1])
    C = np.stack(C)
    for _ in range(iters):
        lab = np.argmax(X @ C.T, 1)
        for j in range(k):
            m = X[lab == j]
            if len(m):
                v = m.sum(0)
                C[j] = v / (np.linalg.norm(v) + 1e-12)
    return C, np.argmax(X @ C.T, 1)


def cluster_prior(Etr, Qtr, Ete, k=32, a=5.0, seed=0):
    """Per-cluster per-model mean, shrunk to the global mean with strength a."""
    C, lab = kmeans(Etr, k, seed)
    g = Qtr.mean(0)
    M = np.zeros((k, Qtr.shape[1]))
    for j in range(k):
        s = Qtr[lab == j]
        M[j] = (s.sum(0) + a * g) / (len(s) + a)
    return M[np.argmax(Ete @ C.T, 1)]


def task_prior(task_tr, Qtr, task_te):
    g = Qtr.mean(0)
    out = np.tile(g, (len(task_te), 1))
    for t in np.unique(task_te):
        m = task_tr == t
        if m.any():
            out[task_te == t] = Qtr[m].mean(0)
    return out


# --------------------------------------------------------------------------- selection & curves


def est_cost(ds, tr, te, how="mean"):
    """Cost the router believes each model will cost on each test row.
    per-token files: exact (price × (ceil(chars/4) + 256)); RouterBench: per-model training mean
    ('mean') or the kNN neighbours' mean ('knn', needs ds._nb)."""
    if ds.name != "routerbench_train":
        return ds.C[te]
    if how == "mean":
        return np.tile(ds.C[tr].mean(0), (len(te), 1))
    raise ValueError(how)


def select(qhat, sig, cest, lam, beta=0.0, base_cost=None):
    """argmax q̂ − λ·ĉ/base_cost − β·σ per row."""
    u = qhat - lam * cest / base_cost - beta * sig
    return np.argmax(u, 1)


def curve_points(Q, C, qhat, sig, cest, base_cost, beta=0.0, rule="lambda"):
    pts = []
    n = len(Q)
    r = np.arange(n)
    if rule == "lambda":
        for lam in LAMBDAS:
            pick = select(qhat, sig, cest, lam, beta, base_cost)
            pts.append((C[r, pick].mean(), Q[r, pick].mean()))
    else:  # cheapest model whose (q̂ − β·σ) ≥ target, else the best q̂
        lo = qhat - beta * sig
        order = np.argsort(cest, 1)
        for t in np.linspace(0, 1, 81):
            ok = np.take_along_axis(lo, order, 1) >= t
            first = np.where(ok.any(1), np.argmax(ok, 1), -1)
            pick = np.where(first >= 0, order[r, np.maximum(first, 0)], np.argmax(lo, 1))
            pts.append((C[r, pick].mean(), Q[r, pick].mean()))
    return np.array(pts)


def pareto(pts):
    pts = pts[np.lexsort((-pts[:, 1], pts[:, 0]))]
    out, best = [], -1
    for c, q in pts:
        if q > best + 1e-12:
            out.append((c, q))
            best = q
    return np.array(out)


def q_at(pts, cost):
    p = pareto(pts)
    if cost < p[0, 0]:
        return float("nan")
    return float(np.interp(cost, p[:, 0], p[:, 1]))


def cost_for(pts, q):
    p = pareto(pts)
    if p[-1, 1] < q - 1e-12:
        return float("nan")
    i = int(np.argmax(p[:, 1] >= q - 1e-12))
    if i == 0:
        return p[0, 0]
    (c0, q0), (c1, q1) = p[i - 1], p[i]
    return c0 + (q - q0) / (q1 - q0) * (c1 - c0)


def oracle_points(Q, C, base_cost):
    r = np.arange(len(Q))
    pts = []
    for lam in LAMBDAS:
        pick = np.argmax(Q - lam * C / base_cost - 1e-9 * C, 1)
        pts.append((C[r, pick].mean(), Q[r, pick].mean()))
    return np.array(pts)


def random_points(Q, C):
    """Random mixing of single models = upper convex hull of their points."""
    P = np.stack([C.mean(0), Q.mean(0)], 1)
    P = P[np.argsort(P[:, 0])]
    hull = []
    for p in P:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(tuple(p))
    hull = np.array(hull)
    xs = np.linspace(hull[0, 0], hull[-1, 0], 200)
    return np.stack([xs, np.interp(xs, hull[:, 0], hull[:, 1])], 1)


def summarise(ds, pts, te=None):
    """quality at 15/30/50 % of the baseline's mean cost, and the cost share to match it."""
    te = np.arange(ds.n) if te is None else te
    bc = ds.C[te, ds.bi].mean()
    bq = ds.Q[te, ds.bi].mean()
    out = [q_at(pts, b * bc) for b in BUDGETS]
    out.append(cost_for(pts, bq) / bc)
    return out


def fmt_row(name, s):
    f = lambda v: "  n/a " if np.isnan(v) else f"{100 * v:6.1f}"
    return f"{name:<48}" + "".join(f(v) for v in s)


# --------------------------------------------------------------------------- protocols


def row_folds(n, k=5, seed=0):
    return np.random.RandomState(seed).permutation(n) % k


def splits(ds, protocol, seed=0):
    if protocol == "cv":
        f = row_folds(ds.n, 5, seed)
        return [(np.where(f != i)[0], np.where(f == i)[0]) for i in range(5)]
    if protocol == "loto":
        return [(np.where(ds.task != t)[0], np.where(ds.task == t)[0]) for t in np.unique(ds.task)]
    raise ValueError(protocol)


class OOF:
    """Out-of-fold predictions for one dataset/protocol, with neighbours cached per fold."""

    def __init__(self, ds, protocol, seed=0, kmax=200):
        self.ds, self.protocol = ds, protocol
        self.folds = splits(ds, protocol, seed)
        self.nbs = [neighbours(ds.E[te], ds.E[tr], kmax) for tr, te in self.folds]

    def predict(self, fn):
        """fn(tr, te, nb) -> (q, sigma); pasted into n×M arrays."""
        ds = self.ds
        Qh = np.zeros_like(ds.Q)
        Sg = np.zeros_like(ds.Q)
        Ce = np.zeros_like(ds.C)
        for (tr, te), nb in zip(self.folds, self.nbs):
            q, s = fn(tr, te, nb)
            Qh[te], Sg[te] = q, s
            Ce[te] = est_cost(ds, tr, te)
        return Qh, Sg, Ce

    def curve(self, fn, beta=0.0, rule="lambda", norm="mean"):
        ds = self.ds
        Qh, Sg, Ce = self.predict(fn)
        # λ's scale: share of the baseline's mean cost ("mean") or of its estimated cost on
        # this request ("row"); realised costs are what the curve reports
        base_cost = ds.C[:, ds.bi].mean() if norm == "mean" else Ce[:, ds.bi:ds.bi + 1]
        return curve_points(ds.Q, ds.C, Qh, Sg, Ce, base_cost, beta, rule)


def P_global(ds):
    return lambda tr, te, nb: (np.tile(ds.Q[tr].mean(0), (len(te), 1)), np.full((len(te), ds.Q.shape[1]), 0.01))


def P_task(ds):
    return lambda tr, te, nb: (task_prior(ds.task[tr], ds.Q[tr], ds.task[te]), np.full((len(te), ds.Q.shape[1]), 0.01))


def P_knn(ds, k=25, weight=("uniform", 0), a=5.0, prior="global", kc=32):
    def fn(tr, te, nb):
        if prior == "global":
            p = ds.Q[tr].mean(0)
        else:
            p = cluster_prior(ds.E[tr], ds.Q[tr], ds.E[te], kc)
        return knn_predict(nb, ds.Q[tr], p, k, weight, a)
    return fn


def P_cluster(ds, kc=32, a=5.0):
    def fn(tr, te, nb):
        q = cluster_prior(ds.E[tr], ds.Q[tr], ds.E[te], kc, a)
        return q, np.sqrt(q * (1 - q) / 50)
    return fn


def P_ridge(ds, alpha=10.0, feats=True):
    def fn(tr, te, nb):
        X = np.hstack([ds.E, ds.F]) if feats else ds.E
        q = ridge_heads(X[tr], ds.Q[tr], X[te], alpha)
        return q, np.sqrt(np.clip(q * (1 - q), 1e-6, None) / 30)
    return fn


def P_blend(ds, w=0.5, **kw):
    kn, rd = P_knn(ds, **kw), P_ridge(ds)

    def fn(tr, te, nb):
        q1, s1 = kn(tr, te, nb)
        q2, _ = rd(tr, te, nb)
        return w * q1 + (1 - w) * q2, s1
    return fn


# --------------------------------------------------------------------------- sections

HDR = f"{'':<48}{'@15%':>6}{'@30%':>6}{'@50%':>6}{'match':>6}"


def references(ds):
    te = np.arange(ds.n)
    bc = ds.C[:, ds.bi].mean()
    print(f"  baseline {ds.base}: quality {100 * ds.Q[:, ds.bi].mean():.1f}, cost ${bc:.6f}")
    print(fmt_row("  oracle (argmax q − λc, true labels)", summarise(ds, oracle_points(ds.Q, ds.C, bc), te)))
    print(fmt_row("  random (mixing single models)", summarise(ds, random_points(ds.Q, ds.C), te)))


KNN_DEFAULT = dict(k=100, weight=("abs", 0.1), a=5.0)


def section_main(dss):
    print("\n## main: quality (% points) at 15/30/50 % of the baseline's mean cost; cost share to match it")
    for ds in dss:
        if ds.name == "routellm_mmlu_dev":
            continue
        for prot in ("cv", "loto"):
            o = OOF(ds, prot)
            print(f"\n### {ds.name} {prot}\n{HDR}")
            references(ds)
            rows = [("global prior", P_global(ds)),
                    ("task prior (task oracle)" + (" = global in loto" if prot == "loto" else ""), P_task(ds)),
                    ("cluster-32 prior (a=5)", P_cluster(ds, 32)),
                    ("ridge heads (emb+3 feats, α=10)", P_ridge(ds)),
                    ("kNN k=100 w=exp((cos−1)/.1) a=5 (recommended)", P_knn(ds, **KNN_DEFAULT)),
                    ("kNN k=25 softmax τ=.05 a=5", P_knn(ds, 25, ("softmax", 0.05), 5.0)),
                    ("kNN k=25 uniform a=5", P_knn(ds, 25, ("uniform", 0), 5.0)),
                    ("kNN k=100 uniform a=5", P_knn(ds, 100, ("uniform", 0), 5.0)),
                    ("kNN rec., prior = cluster-32", P_knn(ds, **KNN_DEFAULT, prior="cluster")),
                    ("blend ½ kNN rec. + ½ ridge", P_blend(ds, **KNN_DEFAULT))]
            for name, fn in rows:
                print(fmt_row("  " + name, summarise(ds, o.curve(fn))))


def section_grid(dss):
    print("\n## grid: kNN parameters; mean over (RB cv, RB loto, LR cv, LR loto) of quality at 15/30/50 %")
    oofs = []
    for ds in dss:
        if ds.name == "routellm_mmlu_dev":
            continue
        for prot in ("cv", "loto"):
            oofs.append((ds, OOF(ds, prot)))
    weights = [("uniform", 0), ("pow", 4), ("pow", 16), ("softmax", 0.1), ("softmax", 0.05), ("softmax", 0.02),
               ("abs", 0.05), ("abs", 0.1), ("abs", 0.2)]
    res = []
    print(f"{'k':>4} {'weight':<14}{'a':>5}  " + "  ".join(f"{d.name[:6]}-{o.protocol:<4} 15/30/50" for d, o in oofs))
    for k in (10, 25, 50, 100):
        for w in weights:
            for a in ((1.0, 5.0, 20.0) if w[0] == "abs" else (0.0, 2.0, 5.0, 20.0)):
                figs = []
                for ds, o in oofs:
                    figs.append(summarise(ds, o.curve(P_knn(ds, k, w, a)))[:3])
                figs = np.array(figs)
                res.append((k, w, a, figs))
                print(f"{k:>4} {w[0] + str(w[1]):<14}{a:>5.0f}  " + "  ".join(
                    "/".join(f"{100 * v:4.1f}" for v in f) for f in figs) + f"   mean {100 * np.nanmean(figs):.2f}")
    best = sorted(res, key=lambda r: -np.nanmean(r[3]))[:5]
    print("top 5 by mean:", [(b[0], b[1], b[2], round(100 * np.nanmean(b[3]), 2)) for b in best])
    allm = np.array([np.nanmean(r[3]) for r in res])
    print(f"spread over the whole grid: min {100 * allm.min():.2f} median {100 * np.median(allm):.2f} max {100 * allm.max():.2f}")


def mmlu_apgr_cv(ds, score_fn, seeds=(0, 1, 2)):
    """5 folds grouped by subject; APGR per held-out fold (mean), and pasted (concat)."""
    s, w = ds.Q[:, ds.models.index("gpt-4-1106-preview")], ds.Q[:, ds.models.index("mixtral-8x7b-instruct-v0.1")]
    per, cat = [], []
    for seed in seeds:
        f = group_folds(ds.task, 5, seed)
        oof = np.zeros(ds.n)
        for i in range(5):
            te, tr = np.where(f == i)[0], np.where(f != i)[0]
            oof[te] = score_fn(tr, te)
            per.append(apgr(oof[te], s[te], w[te])[0])
        cat.append(apgr(oof, s, w)[0])
    return np.mean(per), np.mean(cat)


def section_mmlu(dss):
    ds = [d for d in dss if d.name == "routellm_mmlu_dev"][0]
    si, wi = ds.models.index("gpt-4-1106-preview"), ds.models.index("mixtral-8x7b-instruct-v0.1")
    print("\n## mmlu: APGR, 5 folds grouped by subject × 3 seeds: per-fold mean / pasted")
    rng = np.random.RandomState(0)
    print(f"  random                                  {np.mean([mmlu_apgr_cv(ds, lambda tr, te: rng.rand(len(te)))[0] for _ in range(3)]):.3f}")
    print("  length (chars)                          %.3f / %.3f" % mmlu_apgr_cv(ds, lambda tr, te: ds.chars[te]))
    print("  length, whole file (README figure)      %.3f" % apgr(ds.chars, ds.Q[:, si], ds.Q[:, wi])[0])

    def knn_score(k, weight, a, kind, prior="global"):
        def f(tr, te):
            nb = neighbours(ds.E[te], ds.E[tr], k)
            p = ds.Q[tr].mean(0) if prior == "global" else cluster_prior(ds.E[tr], ds.Q[tr], ds.E[te], 32)
            q, _ = knn_predict(nb, ds.Q[tr], p, k, weight, a)
            return q[:, si] - q[:, wi] if kind == "gain" else 1 - q[:, wi]
        return f

    for k in (10, 25, 50, 100):
        for w in (("uniform", 0), ("abs", 0.1)):
            for kind in ("gain", "pweak"):
                r = mmlu_apgr_cv(ds, knn_score(k, w, 5.0, kind))
                print(f"  kNN k={k:<3} {w[0] + str(w[1]):<8} a=5 {kind:<6}          {r[0]:.3f} / {r[1]:.3f}")
    for kind in ("gain", "pweak"):
        def rf(tr, te, kind=kind):
            X = np.hstack([ds.E, ds.F])
            q = ridge_heads(X[tr], ds.Q[tr], X[te], 10.0)
            return q[:, si] - q[:, wi] if kind == "gain" else 1 - q[:, wi]
        print(f"  ridge heads α=10 {kind:<6}                 %.3f / %.3f" % mmlu_apgr_cv(ds, rf))
    for kind in ("gain", "pweak"):
        def cf(tr, te, kind=kind):
            q = cluster_prior(ds.E[tr], ds.Q[tr], ds.E[te], 32)
            return q[:, si] - q[:, wi] if kind == "gain" else 1 - q[:, wi]
        print(f"  cluster-32 prior {kind:<6}                 %.3f / %.3f" % mmlu_apgr_cv(ds, cf))


def section_select(dss):
    print("\n## select: selection-rule variants with the recommended kNN (cv / loto)")
    for ds in dss:
        if ds.name == "routellm_mmlu_dev":
            continue
        for prot in ("cv", "loto"):
            o = OOF(ds, prot)
            fn = P_knn(ds, **KNN_DEFAULT)
            print(f"\n### {ds.name} {prot}\n{HDR}")
            for beta in (0.0, 0.5, 1.0, 2.0):
                print(fmt_row(f"  argmax q̂ − λĉ − {beta}σ", summarise(ds, o.curve(fn, beta))))
            print(fmt_row("  argmax, λ per share of this request's baseline cost", summarise(ds, o.curve(fn, 0.0, norm="row"))))
            for beta in (0.0, 1.0):
                print(fmt_row(f"  cheapest with q̂ − {beta}σ ≥ target", summarise(ds, o.curve(fn, beta, "target"))))
            # which λ gives which point (λ in quality per baseline-cost share)
            Qh, Sg, Ce = o.predict(fn)
            bc = ds.C[:, ds.bi].mean()
            r = np.arange(ds.n)
            for lam in (0.02, 0.05, 0.1, 0.2, 0.5):
                pick = select(Qh, Sg, Ce, lam, 0.0, bc)
                print(f"    λ={lam:<5} cost share {100 * ds.C[r, pick].mean() / bc:5.1f} %  quality {100 * ds.Q[r, pick].mean():5.1f}")


def section_cluster(dss):
    print("\n## cluster: k-means clusters as the 'kind of request' (quality at 15/30/50 %, match)")
    for ds in dss:
        if ds.name == "routellm_mmlu_dev":
            continue
        for prot in ("cv", "loto"):
            o = OOF(ds, prot)
            print(f"\n### {ds.name} {prot}\n{HDR}")
            for kc in (16, 32, 64):
                for a in (5.0, 20.0):
                    print(fmt_row(f"  cluster-{kc} prior a={a:.0f}", summarise(ds, o.curve(P_cluster(ds, kc, a)))))
            for kc in (16, 64):
                print(fmt_row(f"  kNN rec. with cluster-{kc} prior", summarise(ds, o.curve(P_knn(ds, **KNN_DEFAULT, prior="cluster", kc=kc)))))


def section_cold(dss, cold="zero-one-ai/Yi-34B-Chat", n_req=40000, fb=0.05, seed=0):
    """One model has no offline labels. Requests stream (sampled from the training fold);
    each routed request gets feedback with probability fb, which adds (row, chosen model, score)
    to the label store. Every 2,000 requests the router is measured on the held-out fold at a
    fixed λ and compared with the fully-labelled offline router at the same λ."""
    ds = [d for d in dss if d.name == "routerbench_train"][0]
    print(f"\n## cold: RouterBench, {cold} unlabelled offline; feedback on {100 * fb:.0f} % of traffic"
          f" (held-out fold 0; quality at 15/30/50 % of gpt-4's cost, match)\n{HDR}")
    ci = ds.models.index(cold)
    rng = np.random.RandomState(seed)
    f = row_folds(ds.n, 5, seed)
    tr, te = np.where(f != 0)[0], np.where(f == 0)[0]
    bc = ds.C[tr, ds.bi].mean()
    cest = ds.C[tr].mean(0)
    k, weight, a = KNN_DEFAULT["k"], KNN_DEFAULT["weight"], KNN_DEFAULT["a"]
    S_te = ds.E[te] @ ds.E[tr].T
    S_tr = ds.E[tr] @ ds.E[tr].T

    def predict(S, lab, prior_cold):
        """kNN where the cold model's neighbours are only its labelled rows."""
        nb = neighbours_from(S, k)
        q, sg = knn_predict(nb, ds.Q[tr], ds.Q[tr].mean(0), k, weight, a)
        Sm = np.where(lab[None, :], S, -np.inf)
        kk = min(k, int(lab.sum()))
        if kk == 0:
            q[:, ci] = prior_cold
            sg[:, ci] = np.sqrt(prior_cold * (1 - prior_cold) / (a + 1))
        else:
            nb2 = neighbours_from(Sm, kk)
            q2, s2 = knn_predict(nb2, Lq[:, None], np.array([prior_cold]), kk, weight, a)
            q[:, ci], sg[:, ci] = q2[:, 0], s2[:, 0]
        return q, sg

    def neighbours_from(S, kk):
        idx = np.argpartition(-S, kk - 1, axis=1)[:, :kk]
        sim = np.take_along_axis(S, idx, 1)
        o = np.argsort(-sim, 1)
        return np.take_along_axis(idx, o, 1), np.take_along_axis(sim, o, 1)

    prior_cold = float(np.mean(np.delete(ds.Q[tr].mean(0), ci)))  # "an average model"
    r = np.arange(len(te))
    ce_te = np.tile(cest, (len(te), 1))

    def figs(q, sg):
        pts = curve_points(ds.Q[te], ds.C[te], q, sg, ce_te, bc)
        return summarise_sub(ds, pts, te)

    q_off, s_off = knn_predict(neighbours_from(S_te, k), ds.Q[tr], ds.Q[tr].mean(0), k, weight, a)
    off = figs(q_off, s_off)
    print(fmt_row("  offline router (all labels)", off))
    for lam_op in (0.1, 0.2):
        for beta in (0.0, -1.0):
            lab = np.zeros(len(tr), bool)
            Lq = ds.Q[tr, ci].copy()
            q_tr, s_tr = predict(S_tr, lab, prior_cold)
            if lam_op == 0.1 and beta == 0.0:
                print(fmt_row("  cold router before any feedback", figs(*predict(S_te, lab, prior_cold))))
            for t in range(1, n_req + 1):
                j = rng.randint(len(tr))
                u = q_tr[j] - lam_op * cest / bc - beta * s_tr[j]
                if np.argmax(u) == ci and rng.rand() < fb:
                    lab[j] = True
                if t % 1000 == 0:
                    q_tr, s_tr = predict(S_tr, lab, prior_cold)
                if t in (2000, 5000, 10000, 20000, 40000):
                    print(fmt_row(f"  traffic λ={lam_op} explore β={beta:+.0f}: {t // 1000}k req, {lab.sum()} labels",
                                  figs(*predict(S_te, lab, prior_cold))))


def summarise_sub(ds, pts, te):
    bc = ds.C[te, ds.bi].mean()
    bq = ds.Q[te, ds.bi].mean()
    return [q_at(pts, b * bc) for b in BUDGETS] + [cost_for(pts, bq) / bc]


def main():
    args = sys.argv[1:]
    emb = "full"
    if args and args[0].startswith("--emb="):
        emb = args.pop(0).split("=", 1)[1]
    want = args or ["main", "grid", "mmlu", "select", "cluster", "cold"]
    dss = [DS("routerbench_train", emb), DS("llmrouter_train", emb), DS("routellm_mmlu_dev", emb)]
    print(f"# embedding of a prompt: {emb} (full = whole text, last = last item, mix = normalised sum)")
    for d in dss:
        print(f"# {d.name}: {d.n} rows, {len(d.models)} models, baseline {d.base}")
    for s in want:
        t = time.time()
        globals()["section_" + s](dss)
        print(f"# section {s}: {time.time() - t:.0f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
