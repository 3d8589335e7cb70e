"""Routing aliases and profiles, explicit models passing through untouched, headers, and
the read-only endpoints."""

from __future__ import annotations

import json
import tomllib

import anthropic
import httpx
import openai
import pytest

from support import CATALOG, MAIN_TIERS, assert_frugal_headers

# A prompt short and plain enough that any complexity scorer calls it simple.
HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("alias", ["auto", "frugal/auto", "frugal/eco"])
def test_routing_aliases_route_simple_prompt_to_cheapest(gw, mock, alias):
    raw = gw.openai().chat.completions.with_raw_response.create(model=alias, messages=HI)
    assert_frugal_headers(raw.headers, model="test-gpt-small", tier="simple")
    assert raw.parse().choices[0].message.content == "mock answer from test-gpt-small: hi"
    assert mock.models_called() == ["test-gpt-small"]


def test_reformatting_pasted_json_is_simple_and_the_json_reaches_the_model(gw, mock):
    rows = [{"id": i, "name": f"user{i}", "email": f"u{i}@example.com", "tags": ["a", "b"]} for i in range(40)]
    payload = json.dumps(rows)
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": f"Reformat this JSON as YAML: {payload}"}])
    assert_frugal_headers(raw.headers, model="test-gpt-small", tier="simple")
    assert raw.headers["x-frugal-stage"] == "rules"
    sent = mock.only_request()["body"]["messages"][0]["content"]
    assert "u39@example.com" in sent  # the material is forwarded whole


PASSAGE = ("Frank Sinatra recorded the song in 1969 for his album of the same name; it was written by "
           "Teddy Randazzo and later covered by Sammy Davis Jr., who made it a signature tune of his live shows. ")


def test_a_question_about_supplied_documents_is_scored_on_the_question(gw, mock):
    # A retrieval-augmented prompt (Anthropic's documents-in-XML shape): long, quoted
    # material around a lookup question. Scored on its length it went to the top tiers.
    docs = "".join(f'<document index="{i}"><document_content>{PASSAGE * 3}</document_content></document>'
                   for i in range(1, 4))
    content = f"<documents>{docs}</documents>\nAnswer using only the documents.\n<question>Who wrote the song?</question>"
    raw = gw.anthropic().messages.with_raw_response.create(
        model="auto", max_tokens=50, messages=[{"role": "user", "content": content}])
    assert_frugal_headers(raw.headers, model="test-gpt-small", tier="simple")
    sent = mock.only_request()["body"]["messages"][0]["content"]
    assert sent.count("Sammy Davis Jr.") == 9  # the documents are forwarded whole


def test_premium_profile_never_routes_below_complex(gw, mock):
    raw = gw.openai().chat.completions.with_raw_response.create(model="frugal/premium", messages=HI)
    assert raw.headers["x-frugal-tier"] == "complex"
    assert raw.headers["x-frugal-model"] == "test-gpt-large"
    assert mock.models_called() == ["test-gpt-large"]


def test_premium_profile_from_anthropic_sdk(gw, mock):
    raw = gw.anthropic().messages.with_raw_response.create(model="frugal/premium", max_tokens=50, messages=HI)
    assert_frugal_headers(raw.headers, model="test-gpt-large", tier="complex")
    assert raw.parse().content[0].text == "mock answer from test-gpt-large: hi"


@pytest.mark.parametrize("tier,model", [("medium", "test-claude-medium"), ("frontier", "test-claude-frontier")])
def test_min_tier_header_raises_the_tier(gw, mock, tier, model):
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="auto", messages=HI, extra_headers={"x-frugal-min-tier": tier})
    assert_frugal_headers(raw.headers, model=model, tier=tier)
    assert mock.models_called() == [model]


def test_route_off_header_uses_the_baseline_model(gw, mock):
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="auto", messages=HI, extra_headers={"x-frugal-route": "off"})
    assert raw.headers["x-frugal-model"] == "test-claude-large"
    assert mock.models_called() == ["test-claude-large"]


def test_bad_routing_header_is_400(gw, mock):
    with pytest.raises(openai.BadRequestError) as exc:
        gw.openai().chat.completions.create(model="auto", messages=HI, extra_headers={"x-frugal-min-tier": "huge"})
    assert "x-frugal-min-tier" in exc.value.response.json()["error"]["message"]
    assert mock.chat_requests() == []


@pytest.mark.parametrize("name", ["test-gpt-medium", "test-claude-large", "test-gpt-frontier"])
def test_explicit_model_passes_through_untouched(gw, mock, name):
    """A model the caller names is the model the provider gets, whatever routing would say."""
    raw = gw.openai().chat.completions.with_raw_response.create(model=name, messages=HI)
    tier = {m: t for t, ms in MAIN_TIERS.items() for m in ms}[name]
    assert_frugal_headers(raw.headers, model=name, tier=tier)
    rec = mock.only_request()
    assert rec["model"] == name
    assert rec["body"]["model"] == name


def test_explicit_model_upstream_name(gw, mock):
    """A catalogue entry with `upstream_name` is sent under the provider's name for it."""
    raw = gw.openai().chat.completions.with_raw_response.create(model="test-renamed", messages=HI)
    assert raw.headers["x-frugal-model"] == "test-renamed"
    assert mock.only_request()["body"]["model"] == "provider-side-name"


def test_explicit_model_that_fails_is_not_replaced(gw, mock):
    """No fallback to another model when the caller chose the model: the error comes back."""
    with pytest.raises(openai.APIStatusError) as exc:
        gw.openai().chat.completions.create(model="gpt-fail-500", messages=HI)
    assert exc.value.status_code >= 500
    err = exc.value.response.json()["error"]
    assert "gpt-fail-500" in err["message"]
    assert exc.value.response.headers.get("x-frugal-request-id")
    assert mock.models_called() == ["gpt-fail-500"]


def test_explicit_model_that_fails_is_not_replaced_anthropic_stream(gw, mock):
    with pytest.raises(anthropic.APIStatusError) as exc:
        with gw.anthropic().messages.stream(model="claude-fail-500", max_tokens=50, messages=HI) as s:
            s.get_final_message()
    assert exc.value.status_code >= 500
    body = exc.value.response.json()
    assert body["type"] == "error" and "claude-fail-500" in body["error"]["message"]
    assert mock.models_called() == ["claude-fail-500"]


def test_unknown_model_is_404_in_each_format(gw, mock):
    with pytest.raises(openai.NotFoundError) as exc:
        gw.openai().chat.completions.create(model="no-such-model", messages=HI)
    err = exc.value.response.json()["error"]
    assert "no-such-model" in err["message"] and err["code"] == "model_not_found"

    with pytest.raises(anthropic.NotFoundError) as exc2:
        gw.anthropic().messages.create(model="frugal/bogus", max_tokens=10, messages=HI)
    body = exc2.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert "frugal/bogus" in body["error"]["message"]
    assert mock.chat_requests() == []


def test_models_endpoint_lists_aliases_and_models(gw):
    ids = [m.id for m in gw.openai().models.list()]
    for alias in ("auto", "frugal/auto", "frugal/eco", "frugal/premium"):
        assert alias in ids
    assert ids.index("auto") < ids.index("test-gpt-small"), "aliases come first"
    for name in ("test-gpt-small", "test-claude-medium", "test-gpt-frontier"):
        assert name in ids


def test_models_endpoint_on_builtin_catalogue(catalogue_gw):
    r = httpx.get(catalogue_gw.url + "/v1/models", timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    by_id = {m["id"]: m for m in body["data"]}
    with open(CATALOG, "rb") as f:
        catalogue = tomllib.load(f)["models"]
    for name in catalogue:
        assert name in by_id, f"catalogue model {name} missing from /v1/models"
        info = by_id[name]["frugal"]
        assert info["tier"] == catalogue[name]["tier"]
        assert info["available"] is True
        assert float(info["usd_per_mtok"]["input"]) == pytest.approx(catalogue[name]["input"])
    assert "auto" in by_id and "frugal/premium" in by_id


def test_builtin_catalogue_routes_to_a_simple_catalogue_model(catalogue_gw, mock):
    """Zero configuration besides where the providers live: the embedded catalogue routes."""
    with open(CATALOG, "rb") as f:
        catalogue = tomllib.load(f)["models"]
    simple = {n for n, m in catalogue.items() if m["tier"] == "simple"}
    raw = catalogue_gw.openai().chat.completions.with_raw_response.create(model="auto", messages=HI)
    chosen = raw.headers["x-frugal-model"]
    assert raw.headers["x-frugal-tier"] == "simple"
    assert chosen in simple
    assert mock.models_called() == [chosen]
    # The cheapest goes first: no other simple model is cheaper on both input and output.
    price = lambda n: (catalogue[n]["input"], catalogue[n]["output"])  # noqa: E731
    cheaper = [n for n in simple if n != chosen and all(a < b for a, b in zip(price(n), price(chosen)))]
    assert not cheaper, f"{chosen} chosen although {cheaper} cost less"


def test_unknown_path_is_404_json(gw):
    r = httpx.get(gw.url + "/v1/nothing-here", timeout=5)
    assert r.status_code == 404
    assert "error" in r.json()


def test_error_answers_carry_request_id(gw):
    r = httpx.post(gw.url + "/v1/chat/completions", content=b"{", timeout=5,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.headers.get("x-frugal-request-id")
    assert r.headers.get("x-frugal-overhead-ms")


def test_request_ids_are_unique(gw):
    ids = set()
    for _ in range(3):
        raw = gw.openai().chat.completions.with_raw_response.create(model="auto", messages=HI)
        ids.add(raw.headers["x-frugal-request-id"])
    assert len(ids) == 3
