"""Coding-agent and SDK surface beyond chat (issue 17, first slice): what Claude Code sends
to `/v1/messages` (`?beta=true`, `role: "system"` messages inside `messages`, `thinking`,
`context_management`, `output_config`, `metadata`), Anthropic's `count_tokens` through the
official SDK, and OpenAI `/v1/embeddings` through the official SDK, metered in the ledger."""

from __future__ import annotations

import json
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from support import (
    MAIN_BASELINE,
    MAIN_MODELS,
    MAIN_TIERS,
    assert_frugal_headers,
    assert_no_secret,
    header,
    model,
    render_config,
)
from test_ledger import by_id

EMBEDDING_MODEL = "text-embedding-3-small"


@pytest.fixture(scope="module")
def agents_gw(mock, frugal_instance, tmp_path_factory):
    path = tmp_path_factory.mktemp("agents") / "ledger.sqlite"
    models = dict(MAIN_MODELS)
    # Named only: `enabled = false` keeps a model out of routing, a request naming it is served.
    models[EMBEDDING_MODEL] = model("openai", "simple", 0.02, 0, tools=False, vision=False,
                                    context_window=8192, enabled=False)
    text = render_config(mock.url, models, MAIN_TIERS, MAIN_BASELINE)
    gw = frugal_instance("agents", text + f'\n[ledger]\npath = "{path}"\n')
    gw.ledger_path = path
    return gw


def claude_code_messages() -> list[dict]:
    return [
        {"role": "user", "content": [{"type": "text", "text": "hi, what is in this folder?"}]},
        {"role": "system", "content": "MCP server instructions: prefer the read tool."},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me look."}]},
        {"role": "user", "content": "just say hello"},
        {"role": "system", "content": [{"type": "text", "text": "<system-reminder>be brief</system-reminder>"}]},
    ]


# --- /v1/messages as Claude Code sends it ---------------------------------------------


def test_auto_with_system_role_messages_thinking_off_and_metadata(agents_gw, mock):
    """Posted to `/v1/messages?beta=true`, as Claude Code does; a simple prompt goes to the
    cheapest (OpenAI) model, so the request crosses formats: system messages become system
    text, metadata.user_id becomes OpenAI's `user`."""
    raw = agents_gw.anthropic().beta.messages.with_raw_response.create(
        model="auto", max_tokens=200, system="You are a coding agent.",
        messages=claude_code_messages(),
        thinking={"type": "disabled"}, metadata={"user_id": "user_cc_1"},
        extra_query={"beta": "true"},
    )
    assert raw.http_request.url.params.get("beta") == "true"
    assert_frugal_headers(raw.headers, model="test-gpt-small", tier="simple")
    msg = raw.parse()
    assert msg.content[0].text
    sent = mock.only_request()
    assert sent["path"] == "/v1/chat/completions"
    body = sent["body"]
    assert body["user"] == "user_cc_1"
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "system" and "system" not in roles[1:], roles
    system = json.dumps(body["messages"][0])
    for text in ("You are a coding agent.", "MCP server instructions", "be brief"):
        assert text in system
    assert system.index("You are a coding agent.") < system.index("MCP server") < system.index("be brief")


def test_named_claude_model_gets_system_messages_where_every_model_takes_them(agents_gw, mock):
    """Same format: the client's body is forwarded, fields frugal does not model intact.
    Only Claude Opus 4.8 accepts `role: "system"` inside `messages`: the opening's system
    message joins the top-level system, a later one stays in place as a user turn (moving
    it to `system` would change the cached prefix of the whole conversation)."""
    fields = {
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": "user_cc_2"},
    }
    r = agents_gw.http.post(
        "/v1/messages?beta=true",
        headers={"x-api-key": "client-key", "anthropic-version": "2023-06-01",
                 "anthropic-beta": "context-management-2025-06-27"},
        json={"model": "test-claude-small", "max_tokens": 2048,
              "system": [{"type": "text", "text": "You are a coding agent."}],
              "messages": claude_code_messages(), **fields},
    )
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "message"
    sent = mock.only_request()
    assert sent["path"] == "/v1/messages"
    body = sent["body"]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "user"]
    assert [b["text"] for b in body["system"]] == [
        "You are a coding agent.",
        "MCP server instructions: prefer the read tool.",
    ]
    assert body["messages"][3]["content"] == [
        {"type": "text", "text": "<system-reminder>be brief</system-reminder>"}]
    for k, v in fields.items():
        assert body[k] == v, k
    assert header(sent, "anthropic-beta") == "context-management-2025-06-27"
    # frugal's own key (the mock's log shows it redacted), never the client's.
    assert header(sent, "x-api-key") not in (None, "client-key")


def test_auto_with_thinking_goes_to_a_model_that_can_take_it(agents_gw, mock):
    """The cheapest candidate (a GPT model) cannot carry `thinking`: routing passes it over
    for a Claude model instead of failing the request, and says so."""
    raw = agents_gw.anthropic().messages.with_raw_response.create(
        model="auto", max_tokens=2048, messages=[{"role": "user", "content": "hi"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_body={"output_config": {"effort": "low"}},
    )
    assert raw.headers["x-frugal-model"].startswith("test-claude"), raw.headers
    assert "openai/test-gpt-small:-" in raw.headers["x-frugal-fallbacks"]
    sent = mock.only_request()
    assert sent["body"]["thinking"]["type"] == "enabled", "forwarded untouched"


def test_thinking_refused_clearly_when_the_named_model_is_openai(agents_gw, mock):
    with pytest.raises(anthropic.BadRequestError) as e:
        agents_gw.anthropic().messages.create(
            model="test-gpt-small", max_tokens=2048, messages=[{"role": "user", "content": "hi"}],
            thinking={"type": "enabled", "budget_tokens": 1024},
            extra_body={"output_config": {"effort": "low"}},
        )
    body = e.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    message = body["error"]["message"]
    assert "thinking" in message and "output_config.effort" in message
    assert mock.chat_requests() == []


def test_unknown_role_is_still_refused(agents_gw):
    with pytest.raises(anthropic.BadRequestError) as e:
        agents_gw.anthropic().messages.create(
            model="auto", max_tokens=20, messages=[{"role": "robot", "content": "hi"}])
    assert "messages[0].role" in e.value.body["error"]["message"]


# --- /v1/messages/count_tokens ---------------------------------------------------------


COUNT_MESSAGES = [{"role": "user", "content": "How many tokens is this sentence, roughly?"}]


def test_count_tokens_exact_from_anthropic(agents_gw, mock):
    raw = agents_gw.anthropic().messages.with_raw_response.count_tokens(
        model="test-claude-small", system="be brief", messages=COUNT_MESSAGES)
    assert raw.headers["x-frugal-token-count"] == "exact"
    assert raw.headers["x-frugal-model"] == "test-claude-small"
    counted = raw.parse().input_tokens
    sent = mock.requests(path="/v1/messages/count_tokens")
    assert len(sent) == 1 and sent[0]["model"] == "test-claude-small"
    assert header(sent[0], "x-api-key") not in (None, "anything")
    # The mock's count is a quarter of the serialized characters: ask it directly.
    direct = httpx.post(mock.url + "/v1/messages/count_tokens", json=sent[0]["body"],
                        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert counted == direct.json()["input_tokens"] > 0


def test_count_tokens_estimated_for_auto_and_openai_models(agents_gw, mock):
    client = agents_gw.anthropic()
    auto = client.messages.with_raw_response.count_tokens(model="auto", messages=COUNT_MESSAGES)
    assert auto.headers["x-frugal-token-count"] == "estimated"
    n_auto = auto.parse().input_tokens
    gpt = client.messages.with_raw_response.count_tokens(model="test-gpt-small", messages=COUNT_MESSAGES)
    assert gpt.headers["x-frugal-token-count"] == "estimated"
    n_gpt = gpt.parse().input_tokens
    assert 5 < n_gpt <= n_auto < 40
    # Deterministic, and larger for a longer prompt.
    again = client.messages.count_tokens(model="auto", messages=COUNT_MESSAGES).input_tokens
    assert again == n_auto
    longer = client.messages.count_tokens(
        model="auto", messages=[{"role": "user", "content": "word " * 200}]).input_tokens
    assert longer > n_auto + 100
    assert mock.requests(path="/v1/messages/count_tokens") == []


def test_count_tokens_falls_back_to_an_estimate_when_the_provider_fails(agents_gw, mock):
    raw = agents_gw.anthropic().messages.with_raw_response.count_tokens(
        model="claude-fail-500", messages=COUNT_MESSAGES)
    assert raw.headers["x-frugal-token-count"] == "estimated"
    assert raw.parse().input_tokens > 0
    assert len(mock.requests(path="/v1/messages/count_tokens")) == 1


def test_count_tokens_errors_in_anthropic_format(agents_gw):
    client = agents_gw.anthropic()
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.count_tokens(model="no-such-model", messages=COUNT_MESSAGES)
    assert e.value.body["type"] == "error" and "no-such-model" in e.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.count_tokens(model="auto", messages=[{"role": "user"}])
    assert e.value.body["error"]["message"] == "messages[0].content: is required"


# --- /v1/embeddings --------------------------------------------------------------------


def test_embeddings_pass_through_and_are_metered(agents_gw, mock):
    oa = agents_gw.openai()
    raw = oa.embeddings.with_raw_response.create(model=EMBEDDING_MODEL, input=["alpha", "beta gamma"])
    assert_frugal_headers(raw.headers, model=EMBEDDING_MODEL)
    emb = raw.parse()
    assert [d.index for d in emb.data] == [0, 1]
    assert all(len(d.embedding) == 8 for d in emb.data)
    assert emb.data[0].embedding != emb.data[1].embedding
    # Deterministic: the same text embeds to the same vector.
    again = oa.embeddings.create(model=EMBEDDING_MODEL, input="alpha", encoding_format="float")
    assert again.data[0].embedding == pytest.approx(emb.data[0].embedding, abs=1e-6)
    sent = mock.requests(path="/v1/embeddings")
    assert len(sent) == 2 and sent[0]["body"]["input"] == ["alpha", "beta gamma"]
    assert header(sent[0], "authorization") not in (None, "Bearer anything")

    tokens = emb.usage.prompt_tokens
    row = by_id(agents_gw.ledger_path, raw.headers["x-frugal-request-id"])
    assert (row["format"], row["decision"], row["model"], row["requested_model"], row["status"]) == (
        "openai", "explicit", EMBEDDING_MODEL, EMBEDDING_MODEL, 200)
    assert (row["input_tokens"], row["output_tokens"]) == (tokens, 0)
    cost = Decimal(tokens) * Decimal("0.02") / Decimal(1_000_000)
    assert Decimal(row["cost_usd"]) == cost == Decimal(raw.headers["x-frugal-cost-usd"])
    assert Decimal(row["savings_routing_usd"]) == 0 and row["baseline_model"] == EMBEDDING_MODEL
    assert_no_secret(json.dumps(row), "an embeddings ledger row")


def test_embeddings_need_a_named_openai_model(agents_gw, mock):
    oa = agents_gw.openai()
    with pytest.raises(openai.BadRequestError) as e:
        oa.embeddings.create(model="auto", input="x")
    assert "embeddings need a named model" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        oa.embeddings.create(model="test-claude-small", input="x")
    assert "no embeddings endpoint" in e.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        oa.embeddings.create(model="no-such-embedder", input="x")
    assert mock.requests(path="/v1/embeddings") == []


def test_embeddings_upstream_failure_is_reported_and_metered(agents_gw, mock):
    r = agents_gw.http.post("/v1/embeddings", json={"model": EMBEDDING_MODEL, "input": "x"},
                            headers={"x-mock-fault": "fail-500"})
    # The fault header is a client header: frugal does not forward it, so this succeeds.
    assert r.status_code == 200, r.text
    fail = agents_gw.http.post("/v1/embeddings", json={"model": "gpt-fail-500", "input": "x"})
    assert fail.status_code == 502
    assert fail.json()["error"]["code"] == "all_upstreams_failed"
    row = by_id(agents_gw.ledger_path, fail.headers["x-frugal-request-id"])
    assert (row["status"], row["error"], row["model"]) == (502, "all_upstreams_failed", "gpt-fail-500")
