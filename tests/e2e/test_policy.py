"""Routing policy around the classifier: session stickiness (the tier of a conversation
may rise but not fall), per-key policies ("never route down", minimum tier) and
`auth.require_key`."""

from __future__ import annotations

import anthropic
import openai
import pytest

from support import MAIN_BASELINE, MAIN_MODELS, MAIN_TIERS, render_config

HI = [{"role": "user", "content": "hi"}]


def test_session_id_keeps_a_follow_up_at_the_sessions_tier(gw, mock):
    client = gw.openai()
    first = client.chat.completions.with_raw_response.create(
        model="auto", messages=HI,
        extra_headers={"x-session-id": "sess-sticky-1", "x-frugal-min-tier": "complex"})
    assert first.headers["x-frugal-tier"] == "complex"
    # The follow-up is trivial, but its session already needed the complex tier.
    follow = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "ok thanks"}],
        extra_headers={"x-session-id": "sess-sticky-1"})
    assert follow.headers["x-frugal-tier"] == "complex"
    # Another session is not affected.
    other = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "ok thanks"}],
        extra_headers={"x-session-id": "sess-sticky-2"})
    assert other.headers["x-frugal-tier"] == "simple"


def test_fingerprinted_conversation_keeps_its_tier_on_follow_ups(gw, mock):
    opening = [{"role": "system", "content": "You are the release bot of project zeta-42."},
               {"role": "user", "content": "prepare the release notes"}]
    client = gw.openai()
    first = client.chat.completions.with_raw_response.create(
        model="auto", messages=opening, extra_headers={"x-frugal-min-tier": "frontier"})
    assert first.headers["x-frugal-tier"] == "frontier"
    follow_up = opening + [{"role": "assistant", "content": "Here they are."},
                           {"role": "user", "content": "now commit it"}]
    second = client.chat.completions.with_raw_response.create(model="auto", messages=follow_up)
    assert second.headers["x-frugal-tier"] == "frontier"
    # A fresh conversation with the same opening starts its own session: no floor.
    fresh = client.chat.completions.with_raw_response.create(model="auto", messages=opening)
    assert fresh.headers["x-frugal-tier"] != "frontier"


def _keys_config(mock_url: str, require: bool) -> str:
    text = render_config(mock_url, MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE)
    text += "\n[keys.billing]\nkey_env = \"FRUGAL_TEST_KEY_BILLING\"\nnever_route_down = true\n"
    text += "\n[keys.support]\nkey_env = \"FRUGAL_TEST_KEY_SUPPORT\"\nmin_tier = \"medium\"\n"
    if require:
        text += "\n[auth]\nrequire_key = true\n"
    return text


KEYS = {"FRUGAL_TEST_KEY_BILLING": "fk-billing-123", "FRUGAL_TEST_KEY_SUPPORT": "fk-support-456"}


@pytest.fixture(scope="module")
def keyed_gw(mock, frugal_instance):
    return frugal_instance("keyed", _keys_config(mock.url, require=True), **KEYS)


def test_never_route_down_key_gets_the_top_tier(keyed_gw, mock):
    client = openai.OpenAI(base_url=keyed_gw.url + "/v1", api_key="fk-billing-123", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert raw.headers["x-frugal-tier"] == "frontier"


def test_min_tier_key_policy_from_anthropic_sdk(keyed_gw, mock):
    client = anthropic.Anthropic(base_url=keyed_gw.url, api_key="fk-support-456", max_retries=0)
    raw = client.messages.with_raw_response.create(model="auto", max_tokens=20, messages=HI)
    assert raw.headers["x-frugal-tier"] == "medium"


def test_require_key_refuses_unknown_keys_in_each_format(keyed_gw, mock):
    with pytest.raises(openai.AuthenticationError) as e1:
        openai.OpenAI(base_url=keyed_gw.url + "/v1", api_key="wrong", max_retries=0).chat.completions.create(
            model="auto", messages=HI)
    assert e1.value.response.json()["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.AuthenticationError) as e2:
        anthropic.Anthropic(base_url=keyed_gw.url, api_key="wrong", max_retries=0).messages.create(
            model="auto", max_tokens=20, messages=HI)
    body = e2.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert mock.chat_requests() == []
    assert "wrong" not in e1.value.response.text
