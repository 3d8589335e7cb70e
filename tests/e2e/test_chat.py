"""Plain and streamed chat through frugal with both official SDKs, same format end to end."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from concurrent.futures import ThreadPoolExecutor

from support import assert_frugal_headers, header


# --- OpenAI SDK → OpenAI model -------------------------------------------------------


def test_openai_plain_chat(gw, mock):
    client = gw.openai()
    raw = client.chat.completions.with_raw_response.create(
        model="test-gpt-small",
        messages=[{"role": "user", "content": "hello there"}],
    )
    resp = raw.parse()
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "mock answer from test-gpt-small: hello there"
    assert choice.finish_reason == "stop"
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert_frugal_headers(raw.headers, model="test-gpt-small", tier="simple")

    rec = mock.only_request()
    assert rec["path"] == "/v1/chat/completions"
    assert rec["body"]["model"] == "test-gpt-small"
    assert rec["body"]["messages"] == [{"role": "user", "content": "hello there"}]
    # frugal authenticates upstream with its own key (the mock shows it redacted).
    assert header(rec, "authorization") is not None


def test_cost_headers_are_exact_for_a_complete_answer(gw):
    """cost = usage × the answering model's prices. A model the caller named is its own
    baseline (frugal chose nothing), the same definition the ledger and report use."""
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="test-gpt-small", messages=[{"role": "user", "content": "price me"}]
    )
    usage = raw.parse().usage
    p, c = Decimal(usage.prompt_tokens), Decimal(usage.completion_tokens)
    million = Decimal(1_000_000)
    # test-gpt-small: $0.10 in / $0.40 out.
    cost = (p * Decimal("0.10") + c * Decimal("0.40")) / million
    assert Decimal(raw.headers["x-frugal-cost-usd"]) == cost
    assert Decimal(raw.headers["x-frugal-baseline-cost-usd"]) == cost
    assert Decimal(raw.headers["x-frugal-savings-routing-usd"]) == 0
    assert raw.headers.get("x-frugal-cost-estimated") is None


def test_openai_streamed_chat_with_usage(gw, mock):
    client = gw.openai()
    raw = client.chat.completions.with_raw_response.create(
        model="test-gpt-small",
        messages=[{"role": "user", "content": "stream me please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert_frugal_headers(raw.headers, model="test-gpt-small", tier="simple")
    assert raw.headers["content-type"].startswith("text/event-stream")
    # Stream headers go out before the usage is known: the cost is the plan's estimate.
    assert raw.headers["x-frugal-cost-estimated"] == "true"
    text, finish, usage = "", None, None
    for chunk in raw.parse():
        for ch in chunk.choices:
            text += ch.delta.content or ""
            finish = ch.finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == "mock answer from test-gpt-small: stream me please"
    assert finish == "stop"
    assert usage is not None, "include_usage asked for a final usage chunk"
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert mock.only_request()["body"]["stream"] is True


@pytest.mark.parametrize("model", ["test-gpt-small", "test-claude-small"])
def test_openai_stream_without_include_usage_has_no_usage_chunk(gw, mock, model):
    """frugal asks upstream for usage to meter the stream, but must not show it to a client
    that did not ask for it."""
    stream = gw.openai().chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "no usage"}],
        stream=True,
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        f"mock answer from {model}: no usage"
    assert all(c.choices for c in chunks), "a usage-only chunk (choices: []) reached the client"
    assert all(getattr(c, "usage", None) is None for c in chunks)
    if model.startswith("test-gpt"):
        # ...while upstream was asked for usage, for metering.
        assert mock.only_request()["body"]["stream_options"]["include_usage"] is True


def test_openai_raw_sse_framing(gw):
    """The stream is OpenAI's SSE exactly: `data:` chunks, ending with `data: [DONE]`."""
    body = {"model": "test-gpt-small", "stream": True, "messages": [{"role": "user", "content": "frames"}]}
    with gw.http.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        text = "".join(r.iter_text())
    frames = [f for f in text.split("\n\n") if f.strip()]
    assert all(f.startswith("data: ") for f in frames), frames[:3]
    assert frames[-1].strip() == "data: [DONE]"
    for f in frames[:-1]:
        assert json.loads(f[len("data: "):])["object"] == "chat.completion.chunk"


# --- Anthropic SDK → Anthropic model -------------------------------------------------


def test_anthropic_plain_chat(gw, mock):
    client = gw.anthropic()
    raw = client.messages.with_raw_response.create(
        model="test-claude-small",
        max_tokens=200,
        system="You are terse.",
        messages=[{"role": "user", "content": "hello there"}],
    )
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "mock answer from test-claude-small: hello there"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert_frugal_headers(raw.headers, model="test-claude-small", tier="simple")

    rec = mock.only_request()
    assert rec["path"] == "/v1/messages"
    assert rec["body"]["model"] == "test-claude-small"
    assert rec["body"]["system"] == "You are terse."
    assert rec["body"]["max_tokens"] == 200
    assert header(rec, "x-api-key") is not None
    assert header(rec, "anthropic-version")


def test_anthropic_streamed_chat(gw, mock):
    client = gw.anthropic()
    with client.messages.stream(
        model="test-claude-small",
        max_tokens=200,
        messages=[{"role": "user", "content": "stream me please"}],
    ) as stream:
        assert_frugal_headers(stream.response.headers, model="test-claude-small", tier="simple")
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "mock answer from test-claude-small: stream me please"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0
    assert mock.only_request()["body"]["stream"] is True


def test_anthropic_raw_event_sequence(gw):
    """Anthropic's SSE exactly: named events from message_start to message_stop."""
    body = {"model": "test-claude-small", "max_tokens": 100, "stream": True,
            "messages": [{"role": "user", "content": "events"}]}
    with gw.http.stream("POST", "/v1/messages", json=body,
                        headers={"anthropic-version": "2023-06-01"}) as r:
        assert r.status_code == 200
        text = "".join(r.iter_text())
    events = []
    for frame in (f for f in text.split("\n\n") if f.strip()):
        lines = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        assert "event" in lines and "data" in lines, frame
        assert json.loads(lines["data"])["type"] == lines["event"]
        events.append(lines["event"])
    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
    assert "content_block_delta" in events and "message_delta" in events


def test_routed_plain_chat_each_sdk(gw, mock):
    """`model: "auto"` works from both SDKs and the answer names the model that served it."""
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}]
    )
    chosen = raw.headers["x-frugal-model"]
    assert raw.parse().choices[0].message.content == f"mock answer from {chosen}: hi"
    assert mock.models_called() == [chosen]

    mock.clear()
    raw = gw.anthropic().messages.with_raw_response.create(
        model="auto", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    chosen = raw.headers["x-frugal-model"]
    assert raw.parse().content[0].text == f"mock answer from {chosen}: hi"
    assert mock.models_called() == [chosen]


def test_health(gw):
    r = httpx.get(gw.url + "/health", timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert set(body["providers"]) >= {"openai", "anthropic"}


def test_concurrent_streams_do_not_mix(gw):
    """Eight streams at once, both formats: each gets its own complete answer."""
    def one(i: int) -> tuple[str, str]:
        prompt = f"request number {i}"
        if i % 2:
            stream = gw.openai().chat.completions.create(
                model="test-claude-small", messages=[{"role": "user", "content": prompt}], stream=True)
            return prompt, "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        with gw.anthropic().messages.stream(model="test-gpt-small", max_tokens=100,
                                            messages=[{"role": "user", "content": prompt}]) as s:
            return prompt, "".join(s.text_stream)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(8)))
    for i, (prompt, text) in enumerate(results):
        model = "test-claude-small" if i % 2 else "test-gpt-small"
        assert text == f"mock answer from {model}: {prompt}"


def test_savings_by_source_headers(gw):
    """A complete answer says what routing, caching and compression each saved."""
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}])
    h = raw.headers
    routing = Decimal(h["x-frugal-savings-routing-usd"])
    caching = Decimal(h["x-frugal-savings-caching-usd"])
    compression = Decimal(h["x-frugal-savings-compression-usd"])
    assert routing > 0 and caching == 0 and compression >= 0
    # Routing saved exactly the baseline's price of these tokens minus this model's.
    assert routing == Decimal(h["x-frugal-baseline-cost-usd"]) - Decimal(h["x-frugal-cost-usd"])


def test_claude_token_factor_is_exposed(gw):
    """The Claude token estimate's factor (calibrated on Anthropic answers) is on /metrics."""
    gw.anthropic().messages.create(model="test-claude-medium", max_tokens=20,
                                   messages=[{"role": "user", "content": "calibrate me"}])
    line = [l for l in gw.http.get("/metrics").text.splitlines()
            if l.startswith("frugal_claude_tokens_per_o200k ")]
    assert line and 0.5 < float(line[0].split()[1]) < 3.0
