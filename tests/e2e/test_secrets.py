"""The provider keys frugal holds never come back out: not in answers, not in error bodies or
headers, not in its log (which runs at debug level in these tests)."""

from __future__ import annotations

import httpx

from support import all_processes, assert_no_secret

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
