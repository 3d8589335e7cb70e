"""Within-task APGR on llmrouter / routerbench for a scorer trained without that task.

Run: python3 pertask.py
Each task of llmrouter_train (pair: llama-3.1-nemotron-51b vs gemma-2-9b) and routerbench_train
(pair: gpt-4-1106-preview vs mixtral-8x7b-chat) is held out in turn; the scorer is trained on
all other rows of all three files (MMLU included) and its APGR is measured inside the held-out
task only. This is the closest proxy here for the product's held-out benchmarks of other kinds
(gsm8k / math = maths word problems; mbpp / human_eval = code; natural_qa / trivia_qa = lookups).
Scorers: prompt length; ridge on the hand features with label gain; with label mix.
"""
import numpy as np

from common import apgr
from data import DS
from learn import feats, fit_predict

COLS = None  # all features


def main():
    ds = {n: DS(n) for n in ("mmlu", "llmrouter", "routerbench")}
    X = {n: feats(d)[0] for n, d in ds.items()}
    print(f"{'file/task':28s} {'n':>5s} {'gap':>6s} {'length':>7s} {'ridge-gain':>10s} {'ridge-mix':>10s}")
    for name in ("llmrouter", "routerbench"):
        d = ds[name]
        for task in np.unique(d.group):
            te = d.group == task
            gap = d.ps[te].mean() - d.pw[te].mean()
            if abs(gap) < 0.02:
                print(f"{name + '/' + task:28s} {te.sum():5d} {gap:+6.3f}   (gap too small for APGR)")
                continue
            out = [apgr(np.log1p([len(t) for t, m in zip(d.texts, te) if m]), d.ps[te], d.pw[te])[0]]
            for lab in ("gain", "mix"):
                Xtr = np.vstack([X[n] if n != name else X[n][~te] for n in ds])
                ytr = np.concatenate([ds[n].labels[lab] if n != name else ds[n].labels[lab][~te] for n in ds])
                sc = fit_predict("ridge", Xtr, ytr, X[name][te])
                out.append(apgr(sc, d.ps[te], d.pw[te])[0])
            print(f"{name + '/' + task:28s} {te.sum():5d} {gap:+6.3f} {out[0]:7.3f} {out[1]:10.3f} {out[2]:10.3f}")


if __name__ == "__main__":
    main()
