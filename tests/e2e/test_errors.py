"""The error body a malformed request gets, in each client's own format, and that nothing
reaches the provider when frugal refuses a request."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from support import MAIN_MODELS, MAIN_TIERS, render_config

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
JSON_HEADERS = {"content-type": "application/json"}


def assert_openai_error(body: dict, status_type: str = "invalid_request_error") -> dict:
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"message", "type", "param", "code"} <= set(err), err
    assert isinstance(err["message"], str) and err["message"]
    assert err["type"] == status_type
    return err


def assert_anthropic_error(body: dict, error_type: str = "invalid_request_error") -> dict:
    assert body["type"] == "error", body
    err = body["error"]
    assert err["type"] == error_type
    assert isinstance(err["message"], str) and err["message"]
    return err


def test_openai_sdk_bad_request(gw, mock):
    with pytest.raises(openai.BadRequestError) as exc:
        gw.openai().chat.completions.create(model="auto", messages=[{"role": "wizard", "content": "hi"}])
    assert exc.value.status_code == 400
    err = assert_openai_error(exc.value.response.json())
    assert "messages[0]" in err["message"] and "role" in err["message"]
    assert exc.value.response.headers.get("x-frugal-request-id")
    assert mock.chat_requests() == []


def test_openai_sdk_out_of_range_field(gw, mock):
    with pytest.raises(openai.BadRequestError) as exc:
        gw.openai().chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}], temperature=7)
    err = assert_openai_error(exc.value.response.json())
    assert "temperature" in err["message"]
    assert mock.chat_requests() == []


def test_anthropic_sdk_bad_request(gw, mock):
    with pytest.raises(anthropic.BadRequestError) as exc:
        gw.anthropic().messages.create(model="auto", max_tokens=10, messages=[{"role": "wizard", "content": "hi"}])
    assert exc.value.status_code == 400
    err = assert_anthropic_error(exc.value.response.json())
    assert "messages[0]" in err["message"] and "role" in err["message"]
    assert mock.chat_requests() == []


def test_anthropic_sdk_missing_max_tokens(gw, mock):
    """Anthropic requires max_tokens; frugal validates like the real API."""
    with pytest.raises(anthropic.BadRequestError) as exc:
        gw.anthropic().messages.create(model="auto", max_tokens=None,  # type: ignore[arg-type]
                                       messages=[{"role": "user", "content": "hi"}])
    err = assert_anthropic_error(exc.value.response.json())
    assert "max_tokens" in err["message"]
    assert mock.chat_requests() == []


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe"], ids=["broken", "empty", "binary"])
def test_invalid_json_openai_endpoint(gw, mock, body):
    r = httpx.post(gw.url + "/v1/chat/completions", content=body, headers=JSON_HEADERS, timeout=5)
    assert r.status_code == 400
    err = assert_openai_error(r.json())
    assert "JSON" in err["message"]
    assert mock.chat_requests() == []


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe"], ids=["broken", "empty", "binary"])
def test_invalid_json_anthropic_endpoint(gw, mock, body):
    r = httpx.post(gw.url + "/v1/messages", content=body, headers=ANTHROPIC_HEADERS, timeout=5)
    assert r.status_code == 400
    err = assert_anthropic_error(r.json())
    assert "JSON" in err["message"]
    assert mock.chat_requests() == []


def test_json_that_is_not_an_object(gw):
    r = httpx.post(gw.url + "/v1/chat/completions", content=b"[1, 2]", headers=JSON_HEADERS, timeout=5)
    assert r.status_code == 400
    assert "object" in assert_openai_error(r.json())["message"]
    r = httpx.post(gw.url + "/v1/messages", content=b'"hi"', headers=ANTHROPIC_HEADERS, timeout=5)
    assert r.status_code == 400
    assert "object" in assert_anthropic_error(r.json())["message"]


def test_missing_fields_are_named(gw):
    r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "auto"}, timeout=5)
    assert r.status_code == 400
    assert "messages" in assert_openai_error(r.json())["message"]
    r = httpx.post(gw.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=5)
    assert r.status_code == 400
    assert "model" in assert_openai_error(r.json())["message"]
    r = httpx.post(gw.url + "/v1/messages", json={"model": "auto", "max_tokens": 5}, headers=ANTHROPIC_HEADERS, timeout=5)
    assert r.status_code == 400
    assert "messages" in assert_anthropic_error(r.json())["message"]


def test_wrong_field_type_is_named(gw):
    r = httpx.post(gw.url + "/v1/chat/completions", timeout=5,
                   json={"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"})
    assert r.status_code == 400
    assert "stream" in assert_openai_error(r.json())["message"]
    r = httpx.post(gw.url + "/v1/messages", headers=ANTHROPIC_HEADERS, timeout=5,
                   json={"model": "auto", "max_tokens": "many", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400
    assert "max_tokens" in assert_anthropic_error(r.json())["message"]


@pytest.fixture(scope="module")
def small_body_gw(frugal_instance, mock):
    """A gateway whose server.max_body_bytes is 2 KiB."""
    text = render_config(mock.url, MAIN_MODELS, MAIN_TIERS) + "\n[server]\nmax_body_bytes = 2048\n"
    return frugal_instance("small-body", text)


BIG = {"model": "auto", "messages": [{"role": "user", "content": "x" * 5000}]}


def test_oversized_body_is_413(small_body_gw, mock):
    r = httpx.post(small_body_gw.url + "/v1/chat/completions", json=BIG, timeout=5)
    assert r.status_code == 413
    assert mock.chat_requests() == []


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_oversized_body_error_is_in_the_clients_format(small_body_gw, path):
    r = httpx.post(small_body_gw.url + path, json=dict(BIG, max_tokens=5), headers=ANTHROPIC_HEADERS, timeout=5)
    assert r.status_code == 413
    assert r.headers.get("x-frugal-request-id")
    if path == "/v1/messages":
        assert_anthropic_error(r.json(), "request_too_large")
    else:
        assert_openai_error(r.json())
