"""numpy replica of frugal's built-in static embedding (crates/core/src/embed/static_table.rs,
pipeline/classify/wordpiece.rs, pipeline/classify/embedder.rs):

text -> first 4,000 chars -> BERT normalisation (drop \\0, U+FFFD and control chars that are not
whitespace; lowercase; NFD; drop combining marks) -> split on whitespace, punctuation (ASCII
symbol ranges, U+2000-206F, U+3000-303F, U+FF01-FF0F, a few Latin-1 marks) and CJK chars ->
greedy longest-match WordPiece with '##' continuations (word > 100 chars or any unmatched
piece -> [UNK]) -> mean of the tokens' int8*scale rows -> L2-normalise (all zeros if no token).

`python3 embed_static.py` checks the tokenizer against the Rust parity fixture.
"""
import json
import os
import struct
import unicodedata

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TABLE = os.path.join(ROOT, "crates/core/assets/minilm-static-128.bin")
MAX_EMBEDDED_CHARS = 4000
MAX_CHARS_PER_WORD = 100


def load_table(path=TABLE):
    b = open(path, "rb").read()
    assert b[:8] == b"FRGSTEMB"
    version, rows, dim, mlen, vlen = struct.unpack("<5I", b[8:28])
    at = 28 + mlen
    vocab = b[at:at + vlen].decode("utf-8").split("\n")[:-1]
    at += vlen
    scales = np.frombuffer(b, "<f4", rows, at)
    at += 4 * rows
    q = np.frombuffer(b, "i1", rows * dim, at).reshape(rows, dim)
    assert at + rows * dim == len(b) and len(vocab) == rows
    return vocab, (q.astype(np.float32) * scales[:, None]).astype(np.float32)


def _is_punct(c):
    u = ord(c)
    return (33 <= u <= 47 or 58 <= u <= 64 or 91 <= u <= 96 or 123 <= u <= 126
            or 0x2000 <= u <= 0x206F or 0x3000 <= u <= 0x303F or 0xFF01 <= u <= 0xFF0F
            or c in "¡§«¶·»¿")


def _is_cjk(c):
    u = ord(c)
    return (0x4E00 <= u <= 0x9FFF or 0x3400 <= u <= 0x4DBF or 0x20000 <= u <= 0x2A6DF
            or 0x2A700 <= u <= 0x2B73F or 0x2B740 <= u <= 0x2B81F or 0x2B820 <= u <= 0x2CEAF
            or 0xF900 <= u <= 0xFAFF or 0x2F800 <= u <= 0x2FA1F)


def _is_ws(c):
    # Rust char::is_whitespace (Unicode White_Space)
    return c in "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" or "\u2000" <= c <= "\u200a"


def _normalize(text):
    kept = "".join(c for c in text if c not in "\0\ufffd"
                   and (unicodedata.category(c) != "Cc" or _is_ws(c)))
    low = kept.lower()
    return "".join(c for c in unicodedata.normalize("NFD", low)
                   if unicodedata.category(c) not in ("Mn", "Mc", "Me"))


class WordPiece:
    def __init__(self, vocab):
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.unk = self.vocab["[UNK]"]
        self.cache = {}

    def _word(self, w, out):
        hit = self.cache.get(w)
        if hit is not None:
            out.extend(hit)
            return
        ids = []
        if len(w) > MAX_CHARS_PER_WORD:
            ids = [self.unk]
        else:
            start = 0
            while start < len(w):
                end = len(w)
                found = None
                while end > start:
                    piece = ("##" if start > 0 else "") + w[start:end]
                    if piece in self.vocab:
                        found = self.vocab[piece]
                        break
                    end -= 1
                if found is None:
                    ids = [self.unk]
                    break
                ids.append(found)
                start = end
        self.cache[w] = ids
        out.extend(ids)

    def tokenize(self, text):
        out, word = [], []
        for c in _normalize(text):
            if _is_ws(c):
                if word:
                    self._word("".join(word), out)
                    word = []
            elif _is_punct(c) or _is_cjk(c):
                if word:
                    self._word("".join(word), out)
                    word = []
                self._word(c, out)
            else:
                word.append(c)
        if word:
            self._word("".join(word), out)
        return out


class StaticEmbedder:
    def __init__(self):
        self.vocab, self.rows = load_table()
        self.wp = WordPiece(self.vocab)

    def embed(self, text):
        ids = self.wp.tokenize(text[:MAX_EMBEDDED_CHARS])
        if not ids:
            return np.zeros(self.rows.shape[1], np.float32), 0
        v = self.rows[ids].mean(0)
        n = np.linalg.norm(v)
        return (v / n if n > 0 else v).astype(np.float32), len(ids)


if __name__ == "__main__":
    e = StaticEmbedder()
    cases = json.load(open(os.path.join(ROOT, "crates/core/tests/fixtures/wordpiece_minilm.json")))
    bad = 0
    for c in cases:
        got = e.wp.tokenize(c["text"])
        if got != c["ids"]:
            bad += 1
            print("MISMATCH", repr(c["text"]), got, c["ids"])
    print(f"{len(cases) - bad}/{len(cases)} fixture cases match")
