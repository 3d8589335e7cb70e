"""Compression and automatic prompt caching, seen from the provider's side: the mock's
request log shows what the upstream really received (minified tool results, normalised
prose, untouched code fences, Anthropic cache breakpoints, an OpenAI prompt_cache_key)."""

from __future__ import annotations

import json

from support import assert_frugal_headers

RESULT = {"flights": [{"number": "HAT069", "price": 121.50, "seats": {"economy": 12}},
                      {"number": "HAT083", "price": 1e2, "seats": {"economy": 3}}]}
PRETTY = json.dumps(RESULT, indent=2)
MINIFIED = json.dumps(RESULT, separators=(",", ":"))  # number text kept: 121.5, 100.0
FENCE = "Fix this:\n```py\ndef f():\n    return  1   \n\n\n\n```\nPlease  hurry.  "
# Long enough (> 1,024 estimated tokens) to be worth a cache breakpoint.
POLICY = "You are an airline agent. Follow the policy below exactly.\n\n" + "\n".join(
    f"- Rule {i}: never change a reservation without explicit confirmation from the user." for i in range(120))


def openai_messages() -> list[dict]:
    return [
        {"role": "system", "content": POLICY},
        {"role": "user", "content": FENCE},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "search", "arguments": '{\n  "origin": "JFK",\n  "destination": "SEA"\n}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": PRETTY},
    ]


def anthropic_messages() -> list[dict]:
    return [
        {"role": "user", "content": FENCE},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "search",
                                           "input": {"origin": "JFK"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": PRETTY}]},
    ]


def post(gw, path: str, body: dict):
    r = gw.http.post(path, json=body)
    assert r.status_code == 200, r.text
    return r


def test_openai_same_format_minifies_and_sets_cache_key(gw, mock):
    r = post(gw, "/v1/chat/completions", {"model": "test-gpt-small", "messages": openai_messages()})
    assert_frugal_headers(r.headers, model="test-gpt-small")
    assert int(r.headers["x-frugal-compression-saved-tokens"]) > 0
    body = mock.only_request()["body"]
    msgs = body["messages"]
    assert msgs[3]["content"] == MINIFIED
    assert json.loads(msgs[3]["content"]) == RESULT
    assert msgs[2]["tool_calls"][0]["function"]["arguments"] == '{"origin":"JFK","destination":"SEA"}'
    assert msgs[1]["content"] == "Fix this:\n```py\ndef f():\n    return  1   \n\n\n\n```\nPlease hurry."
    assert body["prompt_cache_key"].startswith("frugal-")

    # The next turn of the same conversation keeps the key and the compressed prefix.
    mock.clear()
    turn2 = openai_messages() + [{"role": "assistant", "content": "Two flights."},
                                 {"role": "user", "content": "Book the first."}]
    post(gw, "/v1/chat/completions", {"model": "test-gpt-small", "messages": turn2})
    body2 = mock.only_request()["body"]
    assert body2["prompt_cache_key"] == body["prompt_cache_key"]
    assert body2["messages"][:4] == msgs


def test_caller_prompt_cache_key_is_kept(gw, mock):
    post(gw, "/v1/chat/completions", {"model": "test-gpt-small", "prompt_cache_key": "mine",
                                      "messages": [{"role": "user", "content": "hi"}]})
    assert mock.only_request()["body"]["prompt_cache_key"] == "mine"


def test_anthropic_same_format_breakpoints_and_minified_results(gw, mock):
    r = post(gw, "/v1/messages", {
        "model": "test-claude-medium", "max_tokens": 100,
        "system": [{"type": "text", "text": POLICY}],
        "messages": anthropic_messages(),
    })
    assert int(r.headers["x-frugal-compression-saved-tokens"]) > 0
    body = mock.only_request()["body"]
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    last = body["messages"][-1]["content"][0]
    assert last["type"] == "tool_result" and last["cache_control"] == {"type": "ephemeral"}
    assert last["content"] == MINIFIED
    # End of the previous turn (the first user message) is a breakpoint too.
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][0]["content"][0]["text"].startswith("Fix this:\n```py\ndef f():\n    return  1   \n\n\n\n```")
    markers = json.dumps(body).count('"cache_control"')
    assert markers <= 4


def test_anthropic_caller_breakpoints_are_left_alone(gw, mock):
    msgs = anthropic_messages()
    msgs[0] = {"role": "user", "content": [{"type": "text", "text": FENCE, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}
    post(gw, "/v1/messages", {
        "model": "test-claude-medium", "max_tokens": 100,
        "tools": [{"name": "search", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
        "system": [{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}],
        "messages": msgs,
    })
    body = mock.only_request()["body"]
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["tools"][0]["cache_control"] == {"type": "ephemeral"}
    assert json.dumps(body).count('"cache_control"') == 4


def test_openai_client_to_claude_gets_compressed_body_and_breakpoints(gw, mock):
    post(gw, "/v1/chat/completions", {"model": "test-claude-medium", "messages": openai_messages()})
    body = mock.only_request()["body"]
    assert mock.only_request()["path"] == "/v1/messages"
    results = [b for m in body["messages"] if isinstance(m["content"], list)
               for b in m["content"] if b.get("type") == "tool_result"]
    assert len(results) == 1
    content = results[0]["content"]
    text = content if isinstance(content, str) else "".join(b["text"] for b in content)
    assert text == MINIFIED
    assert '"cache_control"' in json.dumps(body)


def test_short_prompts_get_no_breakpoint(gw, mock):
    post(gw, "/v1/messages", {"model": "test-claude-medium", "max_tokens": 50,
                              "messages": [{"role": "user", "content": "hello"}]})
    assert "cache_control" not in json.dumps(mock.only_request()["body"])


def test_compression_can_be_switched_off(mock, frugal_instance):
    from support import MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE, render_config
    text = render_config(mock.url, MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE) + (
        "\n[compression]\nenabled = false\ncache_breakpoints = false\nprompt_cache_key = false\n")
    off = frugal_instance("compression-off", text)
    r = off.http.post("/v1/chat/completions", json={"model": "test-gpt-small", "messages": openai_messages()})
    assert r.status_code == 200, r.text
    assert r.headers["x-frugal-compression-saved-tokens"] == "0"
    body = mock.only_request()["body"]
    assert body["messages"][3]["content"] == PRETTY
    assert "prompt_cache_key" not in body


def test_compress_cli_reports_and_checks(tmp_path):
    import subprocess
    from support import FRUGAL_BIN
    src = tmp_path / "req.json"
    out = tmp_path / "out.json"
    src.write_text(json.dumps({"model": "auto", "messages": openai_messages()}))
    p = subprocess.run([str(FRUGAL_BIN), "compress", str(src), "--check", "--out", str(out)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "json_minify" in p.stderr and "check: OK" in p.stderr
    body = json.loads(out.read_text())
    assert body["messages"][3]["content"] == MINIFIED
