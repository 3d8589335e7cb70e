#!/usr/bin/env python3
"""Regenerate the seed corpora in fuzz/corpus/ from the golden files, the docs' TOML
examples, the built-in catalogue and a few hand-written inputs. Run from the repo root:
python3 fuzz/make_seeds.py. Seed names are content hashes, so reruns are idempotent."""
import glob, hashlib, json, os, re, struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "crates/wire/tests/golden")
CORPUS = os.path.join(ROOT, "fuzz/corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def compact(path):
    with open(path) as f:
        return json.dumps(json.load(f), separators=(",", ":"), ensure_ascii=False)


def golden(name):
    return sorted(glob.glob(os.path.join(GOLDEN, "*", "*", name)))


requests = {"openai": [], "anthropic": []}
for fmt in requests:
    for p in golden(f"{fmt}_request.json"):
        requests[fmt].append(compact(p))
        put(f"{fmt}_request", compact(p))
    for p in golden(f"{fmt}_response.json"):
        put("translate_response", compact(p))

# Hand-written requests: tool results with JSON and code fences, odd whitespace.
tool_json = json.dumps({"rows": [{"id": 1, "v": 1.50}, {"id": 2, "v": 2e3}]}, indent=2)
fence = "Look:\n\n\n```py\ndef f():\n    return  1\n```\n\n\n   trailing   spaces   \n"
oa = {
    "model": "auto",
    "messages": [
        {"role": "system", "content": "  Be   brief.  "},
        {"role": "user", "content": fence},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "q", "arguments": "{ \"a\" : 1 }"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": tool_json},
        {"role": "tool", "tool_call_id": "c1", "content": tool_json},
    ],
    "tools": [{"type": "function", "function": {"name": "q", "parameters": {"type": "object"}}}],
    "max_tokens": 100, "stop": ["\n\n"], "stream": True,
}
an = {
    "model": "frugal/eco", "max_tokens": 64,
    "system": [{"type": "text", "text": "Be  brief.\n\n\n", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": fence},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "q", "input": {"a": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": tool_json}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                      "content": [{"type": "text", "text": tool_json}]}]},
    ],
    "tools": [{"name": "q", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "auto"},
}
extra = {"openai": json.dumps(oa), "anthropic": json.dumps(an)}
for fmt, body in extra.items():
    put(f"{fmt}_request", body)
    requests[fmt].append(body)

# compress: one flag byte (bit 0 json_minify, bit 1 whitespace, bit 2 dedup) + a body.
for fmt in requests:
    for body in requests[fmt]:
        put("compress", b"\x03" + body.encode())
    put("compress", b"\x07" + extra[fmt].encode())

# sse_decode: byte 0 = number of cuts, then u16 LE cut offsets, then the stream.
for p in sorted(glob.glob(os.path.join(GOLDEN, "*", "*", "*.sse"))):
    with open(p, "rb") as f:
        stream = f.read()
    put("sse_decode", b"\x00" + stream)
    put("sse_decode", b"\x03" + struct.pack("<HHH", 1, len(stream) // 2, len(stream) - 1) + stream)
put("sse_decode", b"\x00\xef\xbb\xbfdata: a\r\n\r\n: ping\rdata:b\ndata: c\n\nevent: x\n\n")

# config: the built-in catalogue, the docs' TOML examples, a few hand-written files.
with open(os.path.join(ROOT, "crates/core/src/catalog.toml")) as f:
    put("config", f.read())
for doc in ["README.md", "docs/agents.md", "docs/ledger.md"]:
    with open(os.path.join(ROOT, doc)) as f:
        for block in re.findall(r"```toml\n(.*?)```", f.read(), re.S):
            put("config", block)
put("config", '[router]\nbaseline = "gpt-4.1"\n')
put("config", '[compression]\nenabled = true\ndedup = true\nprune_tools = true\nprune_keep = 0\n')
put("config", '[[keys]]\nname = "a"\nkey_env = "FRUGAL_KEY_A"\nbudget_usd = 1.5\n')

# upstream_headers: records [selector, len, value...] (0 retry-after, 1 retry-after-ms,
# 2/3: [len, name...] first).
def rec(sel, value, name=None):
    out = bytes([sel])
    if name is not None:
        out += bytes([len(name)]) + name
    return out + bytes([len(value)]) + value

for v in [b"2", b"0.5", b"-1", b"NaN", b"inf", b"18446744073709551615", b"1e308",
          b"Wed, 21 Oct 2015 07:28:00 GMT", b"  7  ", b".", b""]:
    put("upstream_headers", rec(0, v))
    put("upstream_headers", rec(1, v))
put("upstream_headers", rec(1, b"abc") + rec(0, b"3") + rec(2, b"1", b"x-ratelimit-reset"))
