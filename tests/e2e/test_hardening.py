"""Careless and hostile clients: a client that never finishes its headers or its body is
disconnected (408 / closed) within the configured timeout while others are served; idle
kept-alive connections are closed; connections beyond the cap get a clear 503; bodies
beyond the memory budget get 503 + retry-after; wrong methods and oversized feedback get
JSON errors in the route's format."""
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
