"""The OpenAI Responses API through frugal with the official OpenAI SDK
(`client.responses.create` / `.stream`): routed and named models on both providers, tools
with a function_call_output round trip, streams, the stateless refusals, Responses-only
models reached from Chat Completions and Anthropic clients, and the ledger row. The mock's
request log shows what each provider really received."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

from support import (
    MAIN_BASELINE,
    MAIN_MODELS,
    MAIN_TIERS,
    assert_frugal_headers,
    assert_no_secret,
    model,
    render_config,
)
from test_ledger import by_id

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def rgw(mock, frugal_instance, tmp_path_factory):
    """The main models, a Responses-only model, and a SQLite ledger."""
    path = tmp_path_factory.mktemp("responses") / "ledger.sqlite"
    models = dict(MAIN_MODELS)
    models["test-gpt-codex"] = model("openai", "complex", 1.25, 10.0, api="responses")
    text = render_config(mock.url, models, MAIN_TIERS, MAIN_BASELINE)
    gw = frugal_instance("responses", text + f'\n[ledger]\npath = "{path}"\n')
    gw.ledger_path = path
    return gw


def test_auto_text_answer_with_headers_and_ledger_row(rgw, mock):
    raw = rgw.openai().responses.with_raw_response.create(
        model="auto", instructions="Be brief.", input="hello responses", store=False)
    resp = raw.parse()
    served = raw.headers["x-frugal-model"]
    assert_frugal_headers(raw.headers)
    assert resp.object == "response" and resp.status == "completed"
    assert resp.output_text == f"mock answer from {served}: hello responses"
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    rec = mock.only_request()
    if served.startswith("test-gpt"):
        # Same wire: the client's body, only `model` replaced.
        assert rec["path"] == "/v1/responses"
        assert rec["body"]["instructions"] == "Be brief."
        assert rec["body"]["store"] is False
    else:
        assert rec["path"] == "/v1/messages"
    row = by_id(rgw.ledger_path, raw.headers["x-frugal-request-id"])
    assert row["format"] == "responses"
    assert row["requested_model"] == "auto"
    assert row["model"] == served
    assert row["status"] == 200
    assert row["input_tokens"] == resp.usage.input_tokens
    assert row["output_tokens"] == resp.usage.output_tokens
    assert_no_secret(json.dumps(row), "a ledger row")


def test_openai_model_gets_the_clients_body(rgw, mock):
    """Reasoning items, include, text.format and unknown-to-frugal fields reach OpenAI as sent."""
    input_items = [
        {"role": "user", "content": [{"type": "input_text", "text": "what is 2+2"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB-opaque"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "4"}]},
        {"role": "user", "content": "and 3+3?"},
    ]
    fmt = {"format": {"type": "json_schema", "name": "answer", "strict": True,
                      "schema": {"type": "object", "properties": {"n": {"type": "integer"}},
                                 "required": ["n"], "additionalProperties": False}}}
    resp = rgw.openai().responses.create(
        model="test-gpt-medium", input=input_items, text=fmt, store=False,
        include=["reasoning.encrypted_content"], reasoning={"effort": "low"})
    assert resp.output_text == "mock answer from test-gpt-medium: and 3+3?"
    body = mock.only_request()["body"]
    assert mock.only_request()["path"] == "/v1/responses"
    assert body["model"] == "test-gpt-medium"
    assert body["input"] == input_items
    assert body["text"] == fmt
    assert body["reasoning"] == {"effort": "low"}
    assert body["include"] == ["reasoning.encrypted_content"]


def test_stream_from_openai_model(rgw, mock):
    with rgw.openai().responses.stream(model="test-gpt-small", input="stream one two three") as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert "response.output_text.delta" in types
    assert final.output_text == "mock answer from test-gpt-small: stream one two three"
    assert final.usage.output_tokens > 0
    assert mock.only_request()["path"] == "/v1/responses"


def test_stream_from_claude_is_translated(rgw, mock):
    """The SDK's own stream accumulator checks every event's indices and ids."""
    with rgw.openai().responses.stream(
            model="test-claude-medium", instructions="Be brief.", input="stream from claude") as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert types == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * types.count("response.output_text.delta"),
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    assert final.output_text == "mock answer from test-claude-medium: stream from claude"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0
    rec = mock.only_request()
    assert rec["path"] == "/v1/messages"
    assert rec["body"]["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}]) or \
        "Be brief." in json.dumps(rec["body"]["system"])


@pytest.mark.parametrize("target", ["test-claude-medium", "test-gpt-medium"])
def test_tool_round_trip(rgw, mock, target):
    client = rgw.openai()
    first = client.responses.create(model=target, input="Weather in Paris?", tools=[WEATHER],
                                    tool_choice="required", store=False)
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments)["city"]
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather",
         "arguments": calls[0].arguments},
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "18 C, sunny"},
    ]
    mock.clear()
    second = client.responses.create(model=target, input=history, tools=[WEATHER], store=False)
    assert second.output_text == f"mock answer from {target}: tool result was 18 C, sunny"
    rec = mock.only_request()
    if target.startswith("test-claude"):
        msgs = rec["body"]["messages"]
        assert msgs[1]["content"][0]["type"] == "tool_use"
        assert msgs[1]["content"][0]["id"] == calls[0].call_id
        assert msgs[2]["content"][0] == {"type": "tool_result", "tool_use_id": calls[0].call_id,
                                         "content": "18 C, sunny"}
    else:
        assert rec["body"]["input"] == history


def test_stateless_refusals(rgw):
    client = rgw.openai()
    for kwargs in ({"previous_response_id": "resp_123"}, {"conversation": "conv_123"}):
        with pytest.raises(openai.BadRequestError) as e:
            client.responses.create(model="auto", input="continue", **kwargs)
        err = e.value.body
        assert "stateless" in err["message"] and "store: false" in err["message"], err
        assert err["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.retrieve("resp_123")
    assert "stateless" in e.value.body["message"]
    for method, path in (("DELETE", "/v1/responses/resp_1"), ("POST", "/v1/responses/resp_1/cancel"),
                         ("GET", "/v1/responses/resp_1/input_items")):
        r = httpx.request(method, rgw.url + path)
        assert r.status_code == 404, (method, path, r.text)
        assert "only POST /v1/responses is served" in r.json()["error"]["message"]


def test_untranslatable_items_are_named_or_routed_around(rgw, mock):
    items = [
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
        {"role": "user", "content": "and now?"},
    ]
    with pytest.raises(openai.BadRequestError) as e:
        rgw.openai().responses.create(model="test-claude-medium", input=items,
                                      tools=[{"type": "web_search"}])
    msg = e.value.body["message"]
    assert "input[1] (type `reasoning`)" in msg and "tools[0] (type `web_search`)" in msg, msg
    assert mock.chat_requests() == []
    # Routed: candidates that cannot carry the request are passed over for ones that can.
    raw = rgw.openai().responses.with_raw_response.create(
        model="auto", input=items, extra_headers={"x-frugal-min-tier": "medium"})
    assert raw.headers["x-frugal-model"].startswith("test-gpt")
    assert mock.only_request()["path"] == "/v1/responses"


def test_upstream_failure_is_an_openai_error(rgw):
    with pytest.raises(openai.APIStatusError) as e:
        rgw.openai().responses.create(model="gpt-fail-500", input="x")
    assert e.value.status_code == 502
    assert e.value.body["attempts"][0]["model"] == "gpt-fail-500"


def test_responses_only_model_from_chat_and_anthropic_clients(rgw, mock):
    chat = rgw.openai().chat.completions.create(
        model="test-gpt-codex", messages=[{"role": "system", "content": "sys"},
                                          {"role": "user", "content": "hi codex"}])
    assert chat.choices[0].message.content == "mock answer from test-gpt-codex: hi codex"
    rec = mock.only_request()
    assert rec["path"] == "/v1/responses"
    assert rec["body"]["instructions"] == "sys"
    assert rec["body"]["store"] is False
    assert rec["body"]["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi codex"}]}]

    mock.clear()
    stream = rgw.openai().chat.completions.create(
        model="test-gpt-codex", messages=[{"role": "user", "content": "stream codex"}], stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "mock answer from test-gpt-codex: stream codex"
    assert chunks[-1].usage.completion_tokens > 0

    mock.clear()
    msg = rgw.anthropic().messages.create(
        model="test-gpt-codex", max_tokens=100, tools=[{
            "name": "get_weather", "input_schema": WEATHER["parameters"]}],
        tool_choice={"type": "any"}, messages=[{"role": "user", "content": "weather?"}])
    assert msg.stop_reason == "tool_use"
    assert msg.content[-1].type == "tool_use" and msg.content[-1].name == "get_weather"
    body = mock.only_request()["body"]
    assert body["tool_choice"] == "required"
    assert body["tools"][0]["name"] == "get_weather"


def test_compression_reaches_responses_items(rgw, mock):
    pretty = json.dumps({"rows": [1, 2, 3], "ok": True}, indent=4)
    rgw.openai().responses.create(model="test-gpt-small", input=[
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": pretty},
    ])
    body = mock.only_request()["body"]
    assert body["input"][2]["output"] == json.dumps(json.loads(pretty), separators=(",", ":"))
