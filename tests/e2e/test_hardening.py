"""Careless and hostile clients: a client that never finishes its headers or its body is
disconnected (408 / closed) within the configured timeout while others are served; idle
kept-alive connections are closed; connections beyond the cap get a clear 503; bodies
beyond the memory budget get 503 + retry-after; wrong methods and oversized feedback get
JSON errors in the route's format, and so do the request heads hyper rejects before any
handler runs (431 huge headers, 400 malformed header line or content-length, 408 stalled
head), on the first request, a kept-alive second one and pipelined ones."""
from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from support import MAIN_BASELINE, MAIN_MODELS, MAIN_TIERS, render_config

HI = {"model": "test-gpt-small", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def strict(mock, frugal_instance):
    text = render_config(mock.url, MAIN_MODELS, MAIN_TIERS, MAIN_BASELINE)
    text += ("\n[server]\nheader_timeout_secs = 2\nbody_timeout_secs = 2\nmax_connections = 4\n"
             "body_budget_bytes = 200000\nmax_body_bytes = 1000000\n")
    return frugal_instance("strict", text)


def addr(gw) -> tuple[str, int]:
    host, port = gw.url.removeprefix("http://").split(":")
    return host, int(port)


def read_all(s: socket.socket, limit: float) -> bytes:
    """Everything the server sends until it closes (or `limit` seconds pass)."""
    s.settimeout(limit)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def test_stalled_headers_are_disconnected_while_others_are_served(strict):
    s = socket.create_connection(addr(strict))
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    # Meanwhile the gateway answers everyone else.
    assert strict.http.post("/v1/chat/completions", json=HI).status_code == 200
    read_all(s, 10)
    assert time.monotonic() - started < 6, "closed within the header timeout"
    s.close()


def test_a_body_that_stops_arriving_gets_408_in_the_clients_format(strict):
    s = socket.create_connection(addr(strict))
    s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
              b"anthropic-version: 2023-06-01\r\ncontent-length: 1000\r\n\r\n" + b'{"model": "test-')
    started = time.monotonic()
    raw = read_all(s, 10)
    s.close()
    assert time.monotonic() - started < 6
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), raw[:200]
    err = json.loads(body)
    assert err["type"] == "error" and err["error"]["type"] == "timeout_error", err


def test_idle_kept_alive_connections_are_closed(strict):
    s = socket.create_connection(addr(strict))
    body = json.dumps(HI).encode()
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
              b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    started = time.monotonic()
    raw = read_all(s, 15)
    s.close()
    assert raw.startswith(b"HTTP/1.1 200"), raw[:100]
    assert time.monotonic() - started < 10, "an idle connection is not kept for ever"


def test_connections_over_the_cap_get_a_clear_503(strict):
    held = [socket.create_connection(addr(strict)) for _ in range(4)]
    try:
        time.sleep(0.2)
        extra = socket.create_connection(addr(strict))
        raw = read_all(extra, 5)
        extra.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), raw[:200]
        assert b"retry-after: 1" in head.lower()
        assert json.loads(body)["error"]["code"] == "too_many_connections"
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    assert strict.http.post("/v1/chat/completions", json=HI).status_code == 200


def test_bodies_beyond_the_memory_budget_are_told_to_retry(strict):
    big = {"model": "test-gpt-small", "messages": [{"role": "user", "content": "x" * 300_000}]}
    r = strict.http.post("/v1/chat/completions", json=big)
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert r.json()["error"]["type"] == "server_error"
    # The refused body's share came back: a normal request still fits.
    assert strict.http.post("/v1/chat/completions", json=HI).status_code == 200


def test_parallel_bodies_share_the_budget(strict):
    """Many concurrent 150 kB bodies against a 200 kB budget: each is answered (200 or 503),
    none hangs, and afterwards the budget is whole again."""
    body = {"model": "test-gpt-small", "messages": [{"role": "user", "content": "y" * 150_000}]}
    statuses: list[int] = []

    def one():
        with httpx.Client(base_url=strict.url, timeout=15) as c:
            statuses.append(c.post("/v1/chat/completions", json=body).status_code)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(statuses)) <= [200, 503] and 200 in statuses, statuses
    assert strict.http.post("/v1/chat/completions", json=body).status_code == 200


def test_wrong_methods_and_oversized_feedback_answer_json_in_the_routes_format(strict):
    r = strict.http.get("/v1/chat/completions")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = strict.http.get("/v1/messages")
    assert r.status_code == 405 and r.json()["type"] == "error"
    r = strict.http.post("/v1/feedback", content=b"{" + b" " * 70_000 + b"}",
                         headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["message"], r.text


# Request heads hyper itself rejects (before any handler runs) are still answered in JSON, in
# the format of the route the request named.
ROUTES = [
    ("/v1/chat/completions", "openai"),
    ("/v1/responses", "openai"),
    ("/v1/embeddings", "openai"),
    ("/v1/messages", "anthropic"),
    ("/v1/messages/count_tokens", "anthropic"),
    ("/v1/feedback", "frugal"),
]


def exchange(gw, data: bytes, limit: float = 10) -> bytes:
    s = socket.create_connection(addr(gw))
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    raw = read_all(s, limit)
    s.close()
    return raw


def responses(raw: bytes) -> list[tuple[bytes, bytes]]:
    """The (head, body) of each response in `raw`, bodies framed by content-length."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, raw[:300]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        out.append((head, rest[:length]))
        raw = rest[length:]
    return out


def assert_json_error(head: bytes, body: bytes, status: int, shape: str) -> dict:
    assert head.startswith(b"HTTP/1.1 %d" % status), head
    assert b"content-type: application/json" in head.lower(), head
    err = json.loads(body)
    if shape == "anthropic":
        assert err["type"] == "error", err
        assert err["error"]["type"] and err["error"]["message"], err
    else:
        # OpenAI's shape; frugal's own endpoints answer in the same shape, with a code.
        assert set(err["error"]) >= {"message", "type", "param", "code"}, err
        assert err["error"]["message"] and err["error"]["code"], err
    return err


def still_serving(gw):
    assert gw.http.post("/v1/chat/completions", json=HI).status_code == 200


@pytest.mark.parametrize("path,shape", ROUTES)
def test_huge_headers_get_431_json_in_the_routes_format(strict, path, shape):
    many = b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 40) for i in range(150))
    raw = exchange(strict, b"POST " + path.encode() + b" HTTP/1.1\r\nhost: x\r\n" + many + b"\r\n")
    [(head, body)] = responses(raw)
    err = assert_json_error(head, body, 431, shape)
    assert "header" in json.dumps(err)
    still_serving(strict)


@pytest.mark.parametrize("path,shape", ROUTES[::3])
def test_one_header_beyond_the_size_limit_gets_431_json(strict, path, shape):
    s = socket.create_connection(addr(strict))
    sender = threading.Thread(target=lambda: _send_quietly(
        s, b"POST " + path.encode() + b" HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 600_000 + b"\r\n\r\n"))
    sender.start()
    raw = read_all(s, 10)
    sender.join()
    s.close()
    [(head, body)] = responses(raw)
    assert_json_error(head, body, 431, shape)
    still_serving(strict)


def _send_quietly(s: socket.socket, data: bytes):
    try:
        s.sendall(data)
    except OSError:
        pass


@pytest.mark.parametrize("path,shape", ROUTES)
def test_a_malformed_header_line_gets_400_json(strict, path, shape):
    raw = exchange(strict, b"POST " + path.encode() + b" HTTP/1.1\r\nhost: x\r\n"
                   b"this line is no header\r\ncontent-length: 2\r\n\r\n{}")
    [(head, body)] = responses(raw)
    assert_json_error(head, body, 400, shape)
    still_serving(strict)


@pytest.mark.parametrize("path,shape", ROUTES)
def test_a_content_length_that_is_no_number_gets_400_json(strict, path, shape):
    raw = exchange(strict, b"POST " + path.encode() + b" HTTP/1.1\r\nhost: x\r\n"
                   b"content-type: application/json\r\ncontent-length: abc\r\n\r\n{}")
    [(head, body)] = responses(raw)
    assert_json_error(head, body, 400, shape)
    still_serving(strict)


def _chat_request() -> bytes:
    body = json.dumps(HI).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.mark.parametrize("path,shape", ROUTES)
def test_a_malformed_second_request_on_a_kept_alive_connection_gets_json(strict, path, shape):
    s = socket.create_connection(addr(strict))
    s.sendall(_chat_request())
    # The first answer, whole, before the second request goes out.
    first = read_one(s)
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nhost: x\r\ncontent-length: 1x\r\n\r\n")
    raw = read_all(s, 10)
    s.close()
    assert first.startswith(b"HTTP/1.1 200"), first[:200]
    [(head, body)] = responses(raw)
    assert_json_error(head, body, 400, shape)
    still_serving(strict)


def read_one(s: socket.socket) -> bytes:
    """One whole response (framed by content-length), the connection left open."""
    s.settimeout(10)
    raw = b""
    while True:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if sep:
            lengths = [int(l.partition(b":")[2]) for l in head.split(b"\r\n")
                       if l.lower().startswith(b"content-length:")]
            if lengths and len(rest) >= lengths[0]:
                return raw
        chunk = s.recv(65536)
        assert chunk, raw
        raw += chunk


@pytest.mark.parametrize("path,shape", ROUTES[::3])
def test_pipelined_requests_each_get_their_answer_and_the_malformed_one_json(strict, path, shape):
    """A good request, then a malformed one, in one write: the first is answered by the
    handler as usual, the second in JSON of its own route (not of the first)."""
    raw = exchange(strict, _chat_request() + b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"
                   + b"POST " + path.encode() + b" HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n")
    got = responses(raw)
    assert len(got) == 3, raw[:500]
    assert got[0][0].startswith(b"HTTP/1.1 200") and json.loads(got[0][1])["choices"]
    assert got[1][0].startswith(b"HTTP/1.1 200") and json.loads(got[1][1])["status"] == "ok"
    assert_json_error(*got[2], 400, shape)
    still_serving(strict)


@pytest.mark.parametrize("path,shape", ROUTES[::3])
def test_a_stalled_head_gets_408_json_before_the_connection_closes(strict, path, shape):
    started = time.monotonic()
    raw = exchange(strict, b"POST " + path.encode() + b" HTTP/1.1\r\nhost: x\r\n", limit=10)
    assert time.monotonic() - started < 6
    [(head, body)] = responses(raw)
    assert_json_error(head, body, 408, shape)
    still_serving(strict)


def test_the_handlers_own_errors_are_left_as_they_are(strict):
    """A 400 a handler wrote (bad JSON) keeps its own message: only hyper's empty answers
    are replaced."""
    raw = exchange(strict, b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                   b"connection: close\r\ncontent-length: 3\r\n\r\n{x}")
    [(head, body)] = responses(raw)
    err = assert_json_error(head, body, 400, "anthropic")
    assert "not valid JSON" in err["error"]["message"], err
