"""Tool calls round trip: the model calls a tool, the client sends the result back and gets a
text answer. Every combination of client SDK × provider format, plain and streamed.

mock-upstream calls the first offered tool with arguments built from its schema
(strings "mock", integers 1), and answers a trailing tool result with
"mock answer from MODEL: tool result was RESULT".
"""

from __future__ import annotations

import json

import pytest

from support import assert_frugal_headers

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}
EXPECTED_ARGS = {"city": "mock", "days": 1}
RESULT = "sunny, 21C"
OPENAI_TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather forecast for a city", "parameters": SCHEMA}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Weather forecast for a city", "input_schema": SCHEMA}]
QUESTION = "Weather in Paris?"

# (model, provider format, prefix of the provider's tool-call ids)
OPENAI_MODEL = ("test-gpt-small", "openai", "call_")
CLAUDE_MODEL = ("test-claude-medium", "anthropic", "toolu_")


def expected_answer(model: str) -> str:
    return f"mock answer from {model}: tool result was {RESULT}"


# --- OpenAI SDK ----------------------------------------------------------------------


def openai_call_tool(client, model: str, stream: bool):
    """First leg: returns (assistant message dict to send back, tool call id, raw headers)."""
    messages = [{"role": "user", "content": QUESTION}]
    if not stream:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=messages, tools=OPENAI_TOOLS)
        choice = raw.parse().choices[0]
        assert choice.finish_reason == "tool_calls"
        calls = choice.message.tool_calls
        assert len(calls) == 1
        call = calls[0]
        assert call.type == "function" and call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == EXPECTED_ARGS
        assistant = {"role": "assistant", "content": choice.message.content, "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": call.function.name, "arguments": call.function.arguments}}]}
        return assistant, call.id, raw.headers
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=messages, tools=OPENAI_TOOLS, stream=True)
    calls: dict[int, dict] = {}
    content, finish = "", None
    for chunk in raw.parse():
        for ch in chunk.choices:
            content += ch.delta.content or ""
            finish = ch.finish_reason or finish
            for tc in ch.delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    assert slot["id"] in (None, tc.id), "a tool call's id changed mid-stream"
                    slot["id"] = tc.id
                if tc.function is not None:
                    slot["name"] += tc.function.name or ""
                    slot["arguments"] += tc.function.arguments or ""
    assert finish == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == EXPECTED_ARGS
    assistant = {"role": "assistant", "content": content or None, "tool_calls": [
        {"id": call["id"], "type": "function",
         "function": {"name": call["name"], "arguments": call["arguments"]}}]}
    return assistant, call["id"], raw.headers


def openai_send_result(client, model: str, assistant: dict, call_id: str, stream: bool) -> str:
    messages = [
        {"role": "user", "content": QUESTION},
        assistant,
        {"role": "tool", "tool_call_id": call_id, "content": RESULT},
    ]
    if not stream:
        resp = client.chat.completions.create(model=model, messages=messages, tools=OPENAI_TOOLS)
        assert resp.choices[0].finish_reason == "stop"
        return resp.choices[0].message.content
    text = ""
    for chunk in client.chat.completions.create(model=model, messages=messages, tools=OPENAI_TOOLS, stream=True):
        for ch in chunk.choices:
            text += ch.delta.content or ""
    return text


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("target", [OPENAI_MODEL, CLAUDE_MODEL], ids=["to-openai", "to-anthropic"])
def test_openai_sdk_tool_round_trip(gw, mock, target, stream):
    model, provider, id_prefix = target
    client = gw.openai()
    assistant, call_id, headers = openai_call_tool(client, model, stream)
    assert_frugal_headers(headers, model=model)
    # Tool-call ids are the provider's own, preserved across formats.
    assert call_id.startswith(id_prefix), call_id

    first = mock.only_request()
    if provider == "anthropic":
        assert first["path"] == "/v1/messages"
        assert first["body"]["tools"][0]["name"] == "get_weather"
        assert first["body"]["tools"][0]["input_schema"] == SCHEMA
    else:
        assert first["path"] == "/v1/chat/completions"
        assert first["body"]["tools"] == OPENAI_TOOLS

    mock.clear()
    assert openai_send_result(client, model, assistant, call_id, stream) == expected_answer(model)
    second = mock.only_request()["body"]
    if provider == "anthropic":
        # The assistant's tool_use and the user's tool_result carry the same id.
        uses = [b for m in second["messages"] if m["role"] == "assistant" and isinstance(m["content"], list)
                for b in m["content"] if b.get("type") == "tool_use"]
        assert [(u["id"], u["name"], u["input"]) for u in uses] == [(call_id, "get_weather", EXPECTED_ARGS)]
        last = second["messages"][-1]
        assert last["role"] == "user"
        results = [b for b in last["content"] if b.get("type") == "tool_result"]
        assert len(results) == 1 and results[0]["tool_use_id"] == call_id
        assert RESULT in json.dumps(results[0]["content"])
    else:
        assert second["messages"][-1] == {"role": "tool", "tool_call_id": call_id, "content": RESULT}


# --- Anthropic SDK -------------------------------------------------------------------


def anthropic_call_tool(client, model: str, stream: bool):
    """First leg: returns (assistant content to send back, tool_use id, raw headers)."""
    kw = dict(model=model, max_tokens=300, tools=ANTHROPIC_TOOLS,
              messages=[{"role": "user", "content": QUESTION}])
    if not stream:
        raw = client.messages.with_raw_response.create(**kw)
        msg, headers = raw.parse(), raw.headers
    else:
        with client.messages.stream(**kw) as s:
            headers = s.response.headers
            msg = s.get_final_message()
    assert msg.stop_reason == "tool_use"
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert len(uses) == 1
    use = uses[0]
    assert use.name == "get_weather"
    assert use.input == EXPECTED_ARGS
    content = [b.model_dump(exclude_none=True) for b in msg.content]
    return content, use.id, headers


def anthropic_send_result(client, model: str, content: list, use_id: str, stream: bool) -> str:
    kw = dict(model=model, max_tokens=300, tools=ANTHROPIC_TOOLS, messages=[
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use_id, "content": RESULT}]},
    ])
    if not stream:
        msg = client.messages.create(**kw)
    else:
        with client.messages.stream(**kw) as s:
            msg = s.get_final_message()
    assert msg.stop_reason == "end_turn"
    return "".join(b.text for b in msg.content if b.type == "text")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("target", [CLAUDE_MODEL, OPENAI_MODEL], ids=["to-anthropic", "to-openai"])
def test_anthropic_sdk_tool_round_trip(gw, mock, target, stream):
    model, provider, id_prefix = target
    client = gw.anthropic()
    content, use_id, headers = anthropic_call_tool(client, model, stream)
    assert_frugal_headers(headers, model=model)
    assert use_id.startswith(id_prefix), use_id

    first = mock.only_request()
    if provider == "openai":
        assert first["path"] == "/v1/chat/completions"
        fn = first["body"]["tools"][0]["function"]
        assert fn["name"] == "get_weather" and fn["parameters"] == SCHEMA
    else:
        assert first["path"] == "/v1/messages"
        assert first["body"]["tools"] == ANTHROPIC_TOOLS

    mock.clear()
    assert anthropic_send_result(client, model, content, use_id, stream) == expected_answer(model)
    second = mock.only_request()["body"]
    if provider == "openai":
        assistant = [m for m in second["messages"] if m["role"] == "assistant"]
        assert len(assistant) == 1
        calls = assistant[0]["tool_calls"]
        assert [(c["id"], c["function"]["name"]) for c in calls] == [(use_id, "get_weather")]
        assert json.loads(calls[0]["function"]["arguments"]) == EXPECTED_ARGS
        tool_msgs = [m for m in second["messages"] if m["role"] == "tool"]
        assert len(tool_msgs) == 1 and tool_msgs[0]["tool_call_id"] == use_id
        assert RESULT in json.dumps(tool_msgs[0]["content"])
    else:
        last = second["messages"][-1]
        assert last["content"][0]["tool_use_id"] == use_id


def test_tool_choice_translates_both_ways(gw, mock):
    """A forced tool choice keeps its meaning in the other provider's words."""
    gw.openai().chat.completions.create(
        model="test-claude-medium", messages=[{"role": "user", "content": QUESTION}], tools=OPENAI_TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = mock.only_request()["body"]["tool_choice"]
    assert (choice["type"], choice["name"]) == ("tool", "get_weather")

    mock.clear()
    gw.openai().chat.completions.create(
        model="test-claude-medium", messages=[{"role": "user", "content": QUESTION}], tools=OPENAI_TOOLS,
        tool_choice="required")
    assert mock.only_request()["body"]["tool_choice"]["type"] == "any"

    mock.clear()
    gw.anthropic().messages.create(
        model="test-gpt-small", max_tokens=100, messages=[{"role": "user", "content": QUESTION}],
        tools=ANTHROPIC_TOOLS, tool_choice={"type": "tool", "name": "get_weather"})
    assert mock.only_request()["body"]["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}

    mock.clear()
    gw.anthropic().messages.create(
        model="test-gpt-small", max_tokens=100, messages=[{"role": "user", "content": QUESTION}],
        tools=ANTHROPIC_TOOLS, tool_choice={"type": "any"})
    assert mock.only_request()["body"]["tool_choice"] == "required"


def test_routed_request_with_tools(gw, mock):
    """`auto` with tools goes to a tool-capable model and the call comes back intact."""
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Paris?"}], tools=OPENAI_TOOLS)
    chosen = raw.headers["x-frugal-model"]
    assert chosen != "test-no-tools"
    call = raw.parse().choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == EXPECTED_ARGS
    assert mock.models_called() == [chosen]
