"""Either client format served by either provider: the OpenAI SDK talking to a Claude model
and the Anthropic SDK talking to a GPT model, by explicit name and through routing. The
mock's request log shows what the provider really received."""

from __future__ import annotations

import base64

import anthropic
import openai
import pytest

from support import assert_frugal_headers, header

# A 1×1 transparent PNG.
PNG_B64 = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)).decode()


def text_of_system(body: dict) -> str:
    """An Anthropic `system` as text (string or text blocks)."""
    s = body.get("system")
    if isinstance(s, list):
        return "".join(b.get("text", "") for b in s)
    return s or ""


def text_of_content(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if p.get("type") == "text")


# --- OpenAI SDK → Claude -------------------------------------------------------------


def test_openai_sdk_to_claude_explicit(gw, mock):
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="test-claude-medium",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello claude"},
        ],
        temperature=0.3,
        top_p=0.9,
    )
    resp = raw.parse()
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content == "mock answer from test-claude-medium: hello claude"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert_frugal_headers(raw.headers, model="test-claude-medium", tier="medium")

    rec = mock.only_request()
    assert rec["path"] == "/v1/messages"
    body = rec["body"]
    assert body["model"] == "test-claude-medium"
    # Anthropic requires max_tokens: frugal fills it in from the model's output limit.
    assert isinstance(body["max_tokens"], int) and body["max_tokens"] > 0
    assert text_of_system(body) == "Be brief."
    assert all(m["role"] in ("user", "assistant") for m in body["messages"])
    assert text_of_content(body["messages"][-1]["content"]) == "hello claude"
    assert body["temperature"] == pytest.approx(0.3)
    assert body["top_p"] == pytest.approx(0.9)
    assert header(rec, "x-api-key") is not None
    assert header(rec, "anthropic-version")
    assert header(rec, "authorization") is None


def test_openai_sdk_to_claude_max_tokens_and_stop(gw, mock):
    client = gw.openai()
    # 3 tokens ≈ 12 characters of mock answer: cut short.
    resp = client.chat.completions.create(
        model="test-claude-medium", messages=[{"role": "user", "content": "long answer please"}], max_tokens=3)
    assert resp.choices[0].finish_reason == "length"
    assert mock.only_request()["body"]["max_tokens"] == 3

    mock.clear()
    resp = client.chat.completions.create(
        model="test-claude-medium", messages=[{"role": "user", "content": "one two three"}], stop=["two"])
    assert resp.choices[0].message.content == "mock answer from test-claude-medium: one "
    assert resp.choices[0].finish_reason == "stop"
    assert mock.only_request()["body"]["stop_sequences"] == ["two"]


def test_openai_sdk_to_claude_multipart_and_image(gw, mock):
    gw.openai().chat.completions.create(
        model="test-claude-medium",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "what is"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
            {"type": "text", "text": "in this picture?"},
        ]}],
    )
    blocks = mock.only_request()["body"]["messages"][-1]["content"]
    assert [b["type"] for b in blocks] == ["text", "image", "text"]
    assert blocks[0]["text"] == "what is" and blocks[2]["text"] == "in this picture?"
    assert blocks[1]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG_B64}


def test_openai_sdk_to_claude_stream(gw, mock):
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="test-claude-medium",
        messages=[{"role": "user", "content": "stream across"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert_frugal_headers(raw.headers, model="test-claude-medium", tier="medium")
    text, finish, usage, ids = "", None, None, set()
    for chunk in raw.parse():
        assert chunk.object == "chat.completion.chunk"
        ids.add(chunk.id)
        for ch in chunk.choices:
            text += ch.delta.content or ""
            finish = ch.finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == "mock answer from test-claude-medium: stream across"
    assert finish == "stop"
    assert len(ids) == 1, "every chunk of one completion shares its id"
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    rec = mock.only_request()
    assert rec["path"] == "/v1/messages" and rec["body"]["stream"] is True


def test_openai_sdk_routed_to_claude_by_tier(gw, mock):
    """Routing (not the caller) picks a Claude model: medium's cheapest is test-claude-medium."""
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-frugal-min-tier": "medium"},
    )
    model = raw.headers["x-frugal-model"]
    assert raw.headers["x-frugal-tier"] == "medium"
    assert model == "test-claude-medium"
    assert raw.parse().choices[0].message.content == "mock answer from test-claude-medium: hi"
    rec = mock.only_request()
    assert rec["path"] == "/v1/messages" and "max_tokens" in rec["body"]


# --- Anthropic SDK → GPT -------------------------------------------------------------


def test_anthropic_sdk_to_gpt_explicit(gw, mock):
    raw = gw.anthropic().messages.with_raw_response.create(
        model="test-gpt-medium",
        max_tokens=300,
        system="Be brief.",
        messages=[{"role": "user", "content": "hello gpt"}],
        # The 2.x SDK has no sampling parameters of its own; the API still takes them.
        extra_body={"temperature": 0.2, "top_p": 0.8},
    )
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "mock answer from test-gpt-medium: hello gpt"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert_frugal_headers(raw.headers, model="test-gpt-medium", tier="medium")

    rec = mock.only_request()
    assert rec["path"] == "/v1/chat/completions"
    body = rec["body"]
    assert body["model"] == "test-gpt-medium"
    assert body["messages"][0]["role"] in ("system", "developer")
    assert text_of_content(body["messages"][0]["content"]) == "Be brief."
    assert body["messages"][-1]["role"] == "user"
    assert text_of_content(body["messages"][-1]["content"]) == "hello gpt"
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 300
    assert body["temperature"] == pytest.approx(0.2)
    assert body["top_p"] == pytest.approx(0.8)
    assert header(rec, "authorization") is not None
    assert header(rec, "x-api-key") is None


def test_anthropic_sdk_to_gpt_max_tokens_and_stop(gw, mock):
    client = gw.anthropic()
    msg = client.messages.create(
        model="test-gpt-medium", max_tokens=3, messages=[{"role": "user", "content": "long answer please"}])
    assert msg.stop_reason == "max_tokens"

    mock.clear()
    msg = client.messages.create(
        model="test-gpt-medium", max_tokens=100, stop_sequences=["two"],
        messages=[{"role": "user", "content": "one two three"}])
    assert msg.content[0].text == "mock answer from test-gpt-medium: one "
    # OpenAI cannot say a stop sequence matched; frugal reports a normal end of turn.
    assert msg.stop_reason in ("end_turn", "stop_sequence")
    stop = mock.only_request()["body"]["stop"]
    assert stop in (["two"], "two")


def test_anthropic_sdk_to_gpt_image(gw, mock):
    gw.anthropic().messages.create(
        model="test-gpt-medium", max_tokens=100,
        messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
            {"type": "text", "text": "describe"},
        ]}],
    )
    parts = mock.only_request()["body"]["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    assert parts[0]["image_url"]["url"] == f"data:image/png;base64,{PNG_B64}"


def test_anthropic_sdk_to_gpt_stream(gw, mock):
    with gw.anthropic().messages.stream(
        model="test-gpt-medium", max_tokens=300,
        messages=[{"role": "user", "content": "stream across"}],
    ) as stream:
        assert_frugal_headers(stream.response.headers, model="test-gpt-medium", tier="medium")
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "mock answer from test-gpt-medium: stream across"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0
    rec = mock.only_request()
    assert rec["path"] == "/v1/chat/completions" and rec["body"]["stream"] is True


def test_anthropic_sdk_routed_to_gpt(gw, mock):
    """`auto` from the Anthropic SDK: the simple tier's cheapest model is a GPT model."""
    raw = gw.anthropic().messages.with_raw_response.create(
        model="auto", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-frugal-tier"] == "simple"
    assert raw.headers["x-frugal-model"] == "test-gpt-small"
    assert raw.parse().content[0].text == "mock answer from test-gpt-small: hi"
    rec = mock.only_request()
    assert rec["path"] == "/v1/chat/completions"
    assert rec["body"]["model"] == "test-gpt-small"


# --- what cannot cross ---------------------------------------------------------------


def test_untranslatable_openai_field_to_claude_is_400_naming_it(gw, mock):
    """`logprobs` has no Anthropic equivalent: refuse, don't drop it silently."""
    with pytest.raises(openai.BadRequestError) as exc:
        gw.openai().chat.completions.create(
            model="test-claude-medium", messages=[{"role": "user", "content": "hi"}], logprobs=True)
    err = exc.value.response.json()["error"]
    assert "logprobs" in err["message"]
    assert err["type"] == "invalid_request_error"
    assert mock.chat_requests() == [], "nothing may reach the provider"


def test_untranslatable_field_passes_when_formats_match(gw, mock):
    """The same field is forwarded untouched to a provider of the client's own format."""
    gw.openai().chat.completions.create(
        model="test-gpt-small", messages=[{"role": "user", "content": "hi"}], logprobs=True, seed=7)
    body = mock.only_request()["body"]
    assert body["logprobs"] is True and body["seed"] == 7


def test_untranslatable_anthropic_field_to_gpt_is_400_naming_it(gw, mock):
    """`top_k` has no OpenAI equivalent."""
    with pytest.raises(anthropic.BadRequestError) as exc:
        gw.anthropic().messages.create(
            model="test-gpt-medium", max_tokens=50, extra_body={"top_k": 5}, messages=[{"role": "user", "content": "hi"}])
    body = exc.value.response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "top_k" in body["error"]["message"]
    assert mock.chat_requests() == []


def test_anthropic_native_fields_pass_through(gw, mock):
    gw.anthropic().messages.create(
        model="test-claude-small", max_tokens=50, extra_body={"top_k": 5}, metadata={"user_id": "u-1"},
        messages=[{"role": "user", "content": "hi"}])
    body = mock.only_request()["body"]
    assert body["top_k"] == 5 and body["metadata"] == {"user_id": "u-1"}


def test_anthropic_beta_header_reaches_anthropic_only(gw, mock):
    """`anthropic-beta` is forwarded when an Anthropic client reaches an Anthropic model, and
    means nothing to (so is not sent to) an OpenAI provider."""
    gw.anthropic().messages.create(model="test-claude-small", max_tokens=20, messages=[{"role": "user", "content": "hi"}],
                                   extra_headers={"anthropic-beta": "some-feature-2025-01-01"})
    assert header(mock.only_request(), "anthropic-beta") == "some-feature-2025-01-01"
    mock.clear()
    gw.anthropic().messages.create(model="test-gpt-small", max_tokens=20, messages=[{"role": "user", "content": "hi"}],
                                   extra_headers={"anthropic-beta": "some-feature-2025-01-01"})
    assert header(mock.only_request(), "anthropic-beta") is None


UNICODE = "héllo wörld 👋 日本語 ünïcödé"


@pytest.mark.parametrize("model", ["test-claude-small", "test-gpt-small"])
def test_unicode_survives_streams_both_ways(gw, model):
    stream = gw.openai().chat.completions.create(
        model=model, messages=[{"role": "user", "content": UNICODE}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == \
        f"mock answer from {model}: {UNICODE}"
    with gw.anthropic().messages.stream(model=model, max_tokens=200,
                                        messages=[{"role": "user", "content": UNICODE}]) as s:
        assert "".join(s.text_stream) == f"mock answer from {model}: {UNICODE}"
