"""Fallback along the plan's candidates: 429/5xx/timeouts/broken answers move on to the next
model, a request the provider rejects does not, and a stream that fails after its first
byte ends with an error event in the client's format.

Each scenario runs its own frugal whose routing puts a faulty mock model first: every
model is listed in every tier, and the faulty one is the cheapest, so it leads the plan
whatever tier the classifier picks.
"""

from __future__ import annotations

import time

import anthropic
import openai
import pytest

from support import assert_frugal_headers, model, render_config

HI = [{"role": "user", "content": "hi"}]
TIERS = ("simple", "medium", "complex", "frontier")


def scenario(frugal_instance, mock, name: str, models: list[tuple[str, str]], extra_providers=None):
    """A frugal routing over `models` [(name, provider)] in this order (cheapest first)."""
    entries = {}
    for i, (m, provider) in enumerate(models):
        price = 0.01 * (10 ** i)
        entries[m] = model(provider, "simple", price, price)
    order = [m for m, _ in models]
    text = render_config(mock.url, entries, {t: order for t in TIERS}, baseline=order[-1],
                         extra_providers=extra_providers)
    return frugal_instance(name, text)


# --- 5xx -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fb500(frugal_instance, mock):
    return scenario(frugal_instance, mock, "fb500", [("fb500-gpt-fail-500", "openai"), ("fb500-gpt-ok", "openai")])


def test_fallback_after_500(fb500, mock):
    raw = fb500.openai().chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert_frugal_headers(raw.headers, model="fb500-gpt-ok")
    assert raw.parse().choices[0].message.content == "mock answer from fb500-gpt-ok: hi"
    assert mock.models_called() == ["fb500-gpt-fail-500", "fb500-gpt-ok"]


def test_streaming_fallback_after_500_before_first_byte(fb500, mock):
    raw = fb500.openai().chat.completions.with_raw_response.create(
        model="auto", messages=HI, stream=True, stream_options={"include_usage": True})
    assert raw.headers["x-frugal-model"] == "fb500-gpt-ok"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "mock answer from fb500-gpt-ok: hi"
    assert mock.models_called() == ["fb500-gpt-fail-500", "fb500-gpt-ok"]


def test_streaming_fallback_after_500_anthropic_sdk(fb500, mock):
    with fb500.anthropic().messages.stream(model="auto", max_tokens=100, messages=HI) as s:
        assert s.response.headers["x-frugal-model"] == "fb500-gpt-ok"
        text = "".join(s.text_stream)
    assert text == "mock answer from fb500-gpt-ok: hi"
    assert mock.models_called() == ["fb500-gpt-fail-500", "fb500-gpt-ok"]


def test_fallback_after_503_and_529(frugal_instance, mock):
    gw = scenario(frugal_instance, mock, "fb5xx", [
        ("fb5xx-gpt-fail-503", "openai"), ("fb5xx-claude-fail-529", "anthropic"), ("fb5xx-claude-ok", "anthropic")])
    raw = gw.anthropic().messages.with_raw_response.create(model="auto", max_tokens=100, messages=HI)
    assert raw.headers["x-frugal-model"] == "fb5xx-claude-ok"
    assert raw.parse().content[0].text == "mock answer from fb5xx-claude-ok: hi"
    assert mock.models_called() == ["fb5xx-gpt-fail-503", "fb5xx-claude-fail-529", "fb5xx-claude-ok"]


def test_fail_once_then_recovers(frugal_instance, mock):
    gw = scenario(frugal_instance, mock, "fbonce", [("fbonce-gpt-fail-once-500", "openai"), ("fbonce-gpt-ok", "openai")])
    client = gw.openai()
    first = client.chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert first.headers["x-frugal-model"] == "fbonce-gpt-ok"
    second = client.chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert second.headers["x-frugal-model"] == "fbonce-gpt-fail-once-500"
    assert mock.models_called() == ["fbonce-gpt-fail-once-500", "fbonce-gpt-ok", "fbonce-gpt-fail-once-500"]


# --- 429 -----------------------------------------------------------------------------


def test_fallback_after_429_and_cooldown(frugal_instance, mock):
    """A 429 moves on; its retry-after keeps the model out of the next request too."""
    gw = scenario(frugal_instance, mock, "fb429", [("fb429-claude-fail-429", "anthropic"), ("fb429-claude-ok", "anthropic")])
    client = gw.anthropic()
    raw = client.messages.with_raw_response.create(model="auto", max_tokens=100, messages=HI)
    assert_frugal_headers(raw.headers, model="fb429-claude-ok")
    assert raw.parse().content[0].text == "mock answer from fb429-claude-ok: hi"
    assert mock.models_called() == ["fb429-claude-fail-429", "fb429-claude-ok"]

    # retry-after is 1 s: within it, the rate-limited model is skipped without a call.
    mock.clear()
    raw = client.messages.with_raw_response.create(model="auto", max_tokens=100, messages=HI)
    assert raw.headers["x-frugal-model"] == "fb429-claude-ok"
    assert mock.models_called() == ["fb429-claude-ok"]


def test_fallback_after_429_cross_format_stream(frugal_instance, mock):
    """OpenAI SDK, streaming; the 429 comes from Anthropic and the answer from OpenAI."""
    gw = scenario(frugal_instance, mock, "fb429x",
                  [("fb429x-claude-fail-429-retry-0", "anthropic"), ("fb429x-gpt-ok", "openai")])
    raw = gw.openai().chat.completions.with_raw_response.create(model="auto", messages=HI, stream=True)
    assert raw.headers["x-frugal-model"] == "fb429x-gpt-ok"
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "mock answer from fb429x-gpt-ok: hi"
    assert mock.models_called() == ["fb429x-claude-fail-429-retry-0", "fb429x-gpt-ok"]


def test_all_rate_limited_is_429(frugal_instance, mock):
    gw = scenario(frugal_instance, mock, "all429", [("all429-gpt-fail-429", "openai"), ("all429-claude-fail-429", "anthropic")])
    with pytest.raises(openai.RateLimitError) as exc:
        gw.openai().chat.completions.create(model="auto", messages=HI)
    err = exc.value.response.json()["error"]
    assert err["type"] == "rate_limit_error"
    assert "all429-gpt-fail-429" in err["message"] and "all429-claude-fail-429" in err["message"]


# --- broken answers and timeouts -----------------------------------------------------


@pytest.fixture(scope="module")
def fbmal(frugal_instance, mock):
    return scenario(frugal_instance, mock, "fbmal", [
        ("fbmal-gpt-malformed-json", "openai"), ("fbmal-claude-malformed-json", "anthropic"), ("fbmal-gpt-ok", "openai")])


def test_fallback_after_malformed_json(fbmal, mock):
    raw = fbmal.openai().chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert raw.headers["x-frugal-model"] == "fbmal-gpt-ok"
    assert raw.parse().choices[0].message.content == "mock answer from fbmal-gpt-ok: hi"
    assert mock.models_called() == ["fbmal-gpt-malformed-json", "fbmal-claude-malformed-json", "fbmal-gpt-ok"]


def test_streaming_fallback_after_malformed_first_event(fbmal, mock):
    with fbmal.anthropic().messages.stream(model="auto", max_tokens=100, messages=HI) as s:
        assert s.response.headers["x-frugal-model"] == "fbmal-gpt-ok"
        text = "".join(s.text_stream)
    assert text == "mock answer from fbmal-gpt-ok: hi"
    assert mock.models_called() == ["fbmal-gpt-malformed-json", "fbmal-claude-malformed-json", "fbmal-gpt-ok"]


@pytest.fixture(scope="module")
def fbslow(frugal_instance, mock):
    """The slow model sits on its own OpenAI-compatible provider with a 300 ms timeout."""
    slowai = {"kind": "openai", "base_url": mock.url + "/v1", "api_key_env": "OPENAI_API_KEY",
              "timeout_ms": 300, "stream_idle_timeout_ms": 300}
    return scenario(frugal_instance, mock, "fbslow",
                    [("fbslow-slow-first-byte-2000", "slowai"), ("fbslow-gpt-ok", "openai")],
                    extra_providers={"slowai": slowai})


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_fallback_after_timeout(fbslow, mock, stream):
    started = time.monotonic()
    raw = fbslow.openai().chat.completions.with_raw_response.create(model="auto", messages=HI, stream=stream)
    assert raw.headers["x-frugal-model"] == "fbslow-gpt-ok"
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    else:
        text = raw.parse().choices[0].message.content
    assert text == "mock answer from fbslow-gpt-ok: hi"
    assert time.monotonic() - started < 1.8, "frugal waited for the slow model instead of timing out"
    assert mock.models_called() == ["fbslow-slow-first-byte-2000", "fbslow-gpt-ok"]
    # overhead excludes time spent waiting on upstreams
    assert float(raw.headers["x-frugal-overhead-ms"]) < 250


# --- requests the provider rejects: no fallback --------------------------------------


@pytest.fixture(scope="module")
def fb400(frugal_instance, mock):
    return scenario(frugal_instance, mock, "fb400", [("fb400-gpt-fail-400", "openai"), ("fb400-gpt-ok", "openai")])


def test_upstream_400_is_returned_not_retried(fb400, mock):
    with pytest.raises(openai.BadRequestError) as exc:
        fb400.openai().chat.completions.create(model="auto", messages=HI)
    err = exc.value.response.json()["error"]
    assert "maximum context length" in err["message"]
    assert mock.models_called() == ["fb400-gpt-fail-400"]


def test_upstream_400_in_the_clients_format(fb400, mock):
    """The OpenAI provider's 400 reaches an Anthropic client as an Anthropic error."""
    with pytest.raises(anthropic.BadRequestError) as exc:
        fb400.anthropic().messages.create(model="auto", max_tokens=50, messages=HI)
    body = exc.value.response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "maximum context length" in body["error"]["message"]
    assert mock.models_called() == ["fb400-gpt-fail-400"]


def test_fallback_after_upstream_401(frugal_instance, mock):
    """A provider refusing frugal's key is a provider problem: another provider can answer."""
    gw = scenario(frugal_instance, mock, "fb401", [("fb401-gpt-fail-401", "openai"), ("fb401-claude-ok", "anthropic")])
    raw = gw.openai().chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert raw.headers["x-frugal-model"] == "fb401-claude-ok"
    assert mock.models_called() == ["fb401-gpt-fail-401", "fb401-claude-ok"]


# --- every candidate failing ---------------------------------------------------------


@pytest.fixture(scope="module")
def allfail(frugal_instance, mock):
    return scenario(frugal_instance, mock, "allfail", [("af-gpt-fail-500", "openai"), ("af-claude-fail-503", "anthropic")])


def test_all_candidates_failing_lists_each_attempt_openai(allfail, mock):
    with pytest.raises(openai.APIStatusError) as exc:
        allfail.openai().chat.completions.create(model="auto", messages=HI)
    assert exc.value.status_code == 502
    err = exc.value.response.json()["error"]
    assert err["code"] == "all_upstreams_failed"
    assert "af-gpt-fail-500" in err["message"] and "af-claude-fail-503" in err["message"]
    assert [a["model"] for a in err["attempts"]] == ["af-gpt-fail-500", "af-claude-fail-503"]
    assert [a["status"] for a in err["attempts"]] == [500, 503]
    assert mock.models_called() == ["af-gpt-fail-500", "af-claude-fail-503"]


def test_all_candidates_failing_anthropic_stream(allfail, mock):
    """Streaming: the failure happens before the first byte, so it is a real HTTP error."""
    with pytest.raises(anthropic.APIStatusError) as exc:
        with allfail.anthropic().messages.stream(model="auto", max_tokens=50, messages=HI) as s:
            s.get_final_message()
    assert exc.value.status_code == 502
    body = exc.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    assert [a["model"] for a in body["error"]["attempts"]] == ["af-gpt-fail-500", "af-claude-fail-503"]


# --- failures after the first byte ---------------------------------------------------


@pytest.mark.parametrize("model_name", ["gpt-cut-mid-stream", "claude-cut-mid-stream"])
def test_cut_mid_stream_is_an_openai_error_event(gw, mock, model_name):
    raw = gw.openai().chat.completions.with_raw_response.create(
        model=model_name, messages=[{"role": "user", "content": "a long enough answer to be cut"}], stream=True)
    assert raw.status_code == 200
    assert raw.headers["x-frugal-model"] == model_name
    text = ""
    with pytest.raises(openai.APIError) as exc:
        for chunk in raw.parse():
            for ch in chunk.choices:
                text += ch.delta.content or ""
    assert not isinstance(exc.value, openai.APIConnectionError), "expected an error event, not a dropped connection"
    full = f"mock answer from {model_name}: a long enough answer to be cut"
    assert text and full.startswith(text) and text != full
    assert mock.models_called() == [model_name]


@pytest.mark.parametrize("model_name", ["claude-cut-mid-stream", "gpt-cut-mid-stream"])
def test_cut_mid_stream_is_an_anthropic_error_event(gw, mock, model_name):
    text = ""
    with pytest.raises(anthropic.APIStatusError) as exc:
        with gw.anthropic().messages.stream(
            model=model_name, max_tokens=200,
            messages=[{"role": "user", "content": "a long enough answer to be cut"}],
        ) as s:
            assert s.response.status_code == 200
            for piece in s.text_stream:
                text += piece
    assert isinstance(exc.value.body, dict) and exc.value.body.get("type") == "error", exc.value.body
    full = f"mock answer from {model_name}: a long enough answer to be cut"
    assert text and full.startswith(text) and text != full
    assert mock.models_called() == [model_name]


@pytest.fixture(scope="module")
def fbcut(frugal_instance, mock):
    return scenario(frugal_instance, mock, "fbcut", [("fbcut-gpt-cut-mid-stream", "openai"), ("fbcut-gpt-ok", "openai")])


def test_cut_body_falls_back_when_not_streaming(fbcut, mock):
    """A non-streamed answer cut halfway has reached no client yet: try the next model."""
    raw = fbcut.openai().chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert raw.headers["x-frugal-model"] == "fbcut-gpt-ok"
    assert mock.models_called() == ["fbcut-gpt-cut-mid-stream", "fbcut-gpt-ok"]


def test_cut_stream_after_first_event_cannot_fall_back(fbcut, mock):
    raw = fbcut.openai().chat.completions.with_raw_response.create(model="auto", messages=HI, stream=True)
    assert raw.headers["x-frugal-model"] == "fbcut-gpt-cut-mid-stream"
    with pytest.raises(openai.APIError):
        for _ in raw.parse():
            pass
    assert mock.models_called() == ["fbcut-gpt-cut-mid-stream"]
