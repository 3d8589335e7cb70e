"""The provider keys frugal holds never come back out: not in answers, not in error bodies or
headers, not in its log (which runs at debug level in these tests)."""

from __future__ import annotations

import httpx
import pytest

from support import ANTHROPIC_KEY, OPENAI_KEY, all_processes, assert_no_secret, header

HI = [{"role": "user", "content": "hi"}]


def exchange_text(r: httpx.Response) -> str:
    return "\n".join([f"{k}: {v}" for k, v in r.headers.items()] + [r.text])


def test_keys_never_in_responses(gw, mock):
    """Successes, upstream auth failures, failed fallbacks, streams, and the info endpoints."""
    http = gw.http
    calls = [
        ("POST", "/v1/chat/completions", {"model": "auto", "messages": HI}),
        ("POST", "/v1/chat/completions", {"model": "auto", "messages": HI, "stream": True}),
        ("POST", "/v1/chat/completions", {"model": "gpt-fail-401", "messages": HI}),
        ("POST", "/v1/chat/completions", {"model": "gpt-fail-500", "messages": HI}),
        ("POST", "/v1/chat/completions", {"model": "gpt-cut-mid-stream", "messages": HI, "stream": True}),
        ("POST", "/v1/messages", {"model": "gpt-fail-401", "max_tokens": 10, "messages": HI}),
        ("POST", "/v1/messages", {"model": "claude-fail-500", "max_tokens": 10, "messages": HI, "stream": True}),
        ("POST", "/v1/messages", {"model": "test-claude-small", "max_tokens": 10, "messages": HI}),
        ("GET", "/v1/models", None),
        ("GET", "/health", None),
    ]
    for method, path, body in calls:
        r = http.request(method, path, json=body, headers={"anthropic-version": "2023-06-01"})
        assert_no_secret(exchange_text(r), f"{method} {path} {body and body.get('model')} → {r.status_code}")
    # The upstream auth failure really happened (and was reported without the key).
    r = http.post("/v1/chat/completions", json={"model": "gpt-fail-401", "messages": HI})
    assert r.status_code in (401, 502), r.text


def test_keys_never_in_logs(gw, mock):
    """Scans every frugal log written so far (conftest scans them all again at the end)."""
    # Make sure at least one request of each kind has been logged by this instance.
    gw.http.post("/v1/chat/completions", json={"model": "gpt-fail-401", "messages": HI})
    gw.http.post("/v1/messages", json={"model": "test-claude-small", "max_tokens": 10, "messages": HI},
                 headers={"anthropic-version": "2023-06-01"})
    logs = [p for p in all_processes() if p.name.startswith("frugal-")]
    assert logs, "no frugal process was started"
    for p in logs:
        text = p.log_text()
        assert text.strip(), f"{p.name} wrote no log at all"
        assert_no_secret(text, f"{p.name} stderr")


def test_keys_are_sent_upstream(gw, mock):
    """...while the providers do receive credentials (the mock records them redacted)."""
    gw.http.post("/v1/chat/completions", json={"model": "test-gpt-small", "messages": HI})
    gw.http.post("/v1/messages", json={"model": "test-claude-small", "max_tokens": 10, "messages": HI},
                 headers={"anthropic-version": "2023-06-01"})
    recs = {r["path"]: dict(r["headers"]) for r in mock.chat_requests()}
    assert recs["/v1/chat/completions"].get("authorization")
    assert recs["/v1/messages"].get("x-api-key")


# --- a provider that echoes the key back in every form it can --------------------------

ECHO_MODES = ["echo-key-400", "echo-key-429", "echo-key-500", "echo-key-text",
              "echo-key-stream", "echo-key-answer"]


def key_forms(key: str) -> list[str]:
    """The encodings mock-upstream's echo uses (echo.rs), each of which must be gone."""
    import base64
    import urllib.parse
    return [key, urllib.parse.quote(key, safe=""), "".join(f"%{b:02X}" for b in key.encode()),
            key.encode().hex(), base64.b64encode(f"user:{key}".encode()).decode(),
            base64.b64encode(f"Bearer {key}".encode()).decode()]


@pytest.fixture(scope="module")
def echo_gw(mock, frugal_instance):
    from support import model, render_config
    models = {"test-gpt-small": model("openai", "simple", 0.10, 0.40),
              "test-claude-small": model("anthropic", "simple", 0.80, 4.00)}
    for mode in ECHO_MODES:
        models[f"gpt-{mode}"] = model("openai", "simple", 0.01, 0.01)
        models[f"claude-{mode}"] = model("anthropic", "simple", 0.01, 0.01)
    # Routed traffic meets an echoing provider first, then falls back to a healthy one.
    tiers = {t: ["gpt-echo-key-500", "claude-echo-key-text", "test-gpt-small"]
             for t in ("simple", "medium", "complex", "frontier")}
    return frugal_instance("echo", render_config(mock.url, models, tiers, "test-gpt-small"))


def exchange(gw, path: str, body: dict) -> tuple[int, str, dict]:
    """Status, everything the client saw (headers and the whole body or stream), headers."""
    headers = {"anthropic-version": "2023-06-01"}
    with gw.http.stream("POST", path, json=body, headers=headers) as r:
        text = "".join(r.iter_text())
        seen = "\n".join([f"{k}: {v}" for k, v in r.headers.items()] + [text])
        return r.status_code, seen, dict(r.headers)


def test_echoed_keys_never_reach_a_client_in_any_form(echo_gw, mock):
    forms = key_forms(OPENAI_KEY) + key_forms(ANTHROPIC_KEY)
    redacted = 0
    requests = 0
    for provider in ("gpt", "claude"):
        for mode in ECHO_MODES:
            for path in ("/v1/chat/completions", "/v1/messages"):
                for stream in (False, True):
                    body = {"model": f"{provider}-{mode}", "messages": HI, "stream": stream,
                            "max_tokens": 20}
                    status, seen, _ = exchange(echo_gw, path, body)
                    requests += 1
                    where = f"{path} {body['model']} stream={stream} -> {status}"
                    leaked = [f for f in forms if f in seen]
                    assert not leaked, f"key material {leaked} in {where}:\n{seen[:2000]}"
                    assert_no_secret(seen, where)
                    redacted += "<redacted>" in seen
    assert requests == 48
    # The echo really happened (and was redacted) on most paths: 401-style rewrites aside.
    assert redacted >= 40, redacted
    # ...and the providers did receive the keys they echoed.
    assert any(header(r, "authorization") for r in mock.chat_requests())


def test_fallback_past_an_echoing_provider_says_so(echo_gw):
    for path in ("/v1/chat/completions", "/v1/messages"):
        status, seen, headers = exchange(echo_gw, path, {"model": "auto", "messages": HI, "max_tokens": 20})
        assert status == 200, seen
        assert headers["x-frugal-model"] == "test-gpt-small"
        # Both failed candidates, in the order tried (the plan prefers the client's format).
        tried = headers["x-frugal-fallbacks"].split(", ")
        assert sorted(tried) == ["anthropic/claude-echo-key-text:500", "openai/gpt-echo-key-500:500"]
        assert_no_secret(seen, path)


def test_echoed_keys_never_reach_the_log(echo_gw):
    text = echo_gw.log_text()
    assert "upstream attempt failed" in text
    leaked = [f for f in key_forms(OPENAI_KEY) + key_forms(ANTHROPIC_KEY) if f in text]
    assert not leaked, leaked
    assert_no_secret(text, "echo gateway log")
