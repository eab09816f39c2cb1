"""A live request under the aiohttp transport skips the openai client's ``request`` (two thirds
of a request's CPU) and posts through the client's own aiohttp session: the server must see
the same request, and the backend must get the same text and the same errors, as through the
client (``backend._direct = None`` forces the client's path)."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from stub_server import Fault, StubServer

from selfinstruct.backends.base import BackendError, Completion, Decoding, Request
from selfinstruct.backends.direct import DirectPost
from selfinstruct.backends.openai_api import OpenAIBackend

REQUEST = Request("classify", "Tâche : trier « fruits » 🍎\nIs it classification?",
                  Decoding(max_tokens=3, temperature=0.0, top_p=0.0, stop=("\n",)), seed=1)  # fmt: skip
ANSWER = {
    "choices": [{"message": {"content": "Oui — 🍏"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2},
}
CLASSIFY = Request("classify", "Task: Sort fruit by colour.\nIs it classification?",
                   REQUEST.decoding, seed=1)  # fmt: skip
Reply = tuple[int, list[tuple[str, str]], bytes]


@contextmanager
def server(reply: Reply) -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """An HTTP/1.1 server that records each request (line, headers, body) and sends ``reply``."""
    seen: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.requestline, {k.lower(): v for k, v in self.headers.items()}, body))
            status, headers, content = reply
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def complete(url: str, direct: bool, timeout: float = 5.0) -> Completion | BackendError:
    """One request through the backend, by the direct path or the openai client's."""
    backend = OpenAIBackend(model="m", base_url=url, api_key="sk-test", timeout=timeout)
    if not direct:
        backend._direct = None

    async def go() -> Completion | BackendError:
        try:
            return await backend.complete(REQUEST, REQUEST.prompt)
        except BackendError as error:
            return error
        finally:
            await backend.aclose()

    return asyncio.run(go())


def both(url: str, timeout: float = 5.0) -> tuple[object, object]:
    def view(result: Completion | BackendError) -> object:
        if isinstance(result, Completion):
            return result
        return (result.kind, result.message, result.retry_after, result.raw)

    return view(complete(url, True, timeout)), view(complete(url, False, timeout))


def test_a_live_request_does_not_go_through_the_clients_request(monkeypatch):
    async def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("the openai client's request() was called")

    with StubServer(delay=0.0) as stub:
        backend = OpenAIBackend(model="stub", base_url=stub.base_url)
        monkeypatch.setattr(backend._client, "request", refuse)

        async def go() -> Completion:
            try:
                return await backend.complete(CLASSIFY, CLASSIFY.prompt)
            finally:
                await backend.aclose()

        answer = asyncio.run(go())
    assert isinstance(backend._direct, DirectPost)
    assert answer.text == "Yes"


def test_the_server_sees_the_same_request_and_the_backend_the_same_answer():
    reply = (200, [("Content-Type", "application/json")], json.dumps(ANSWER).encode())
    with server(reply) as (url, seen):
        direct, client = both(url)
    assert direct == client
    assert isinstance(direct, Completion) and direct.text == "Oui — 🍏"
    (line1, headers1, body1), (line2, headers2, body2) = seen
    assert line1 == line2 == "POST /v1/chat/completions HTTP/1.1"
    assert headers1 == headers2
    assert body1 == body2  # the same JSON bytes


def test_a_gzipped_answer_is_read_the_same():
    body = gzip.compress(json.dumps(ANSWER).encode())
    reply = (200, [("Content-Type", "application/json"), ("Content-Encoding", "gzip")], body)
    with server(reply) as (url, _):
        direct, client = both(url)
    assert direct == client and isinstance(direct, Completion)


@pytest.mark.parametrize(
    "reply",
    [
        (429, [("Retry-After", "7"), ("Content-Type", "application/json")],
         b'{"error": {"message": "slow down", "type": "rate"}}'),
        (500, [("Content-Type", "text/plain")], b"upstream exploded"),
        (503, [("Retry-After", "soon")], b""),
        (400, [("Content-Type", "application/json")], b'{"detail": "bad"}'),
        (401, [], b"{}"),
        (404, [("Content-Type", "application/json")], b'{"error": {"message": "no model"}}'),
        (200, [("Content-Type", "application/json")], b"not json"),
        (200, [("Content-Type", "application/json; charset=latin-1")], b'{"choices": [{"te'),
        (422, [("Content-Encoding", "gzip")], gzip.compress(b'{"error": {"message": "zip"}}')),
    ],
)  # fmt: skip
def test_status_errors_and_bad_bodies_are_judged_the_same(reply):
    with server(reply) as (url, _):
        direct, client = both(url)
    assert direct == client
    assert not isinstance(direct, Completion)


@pytest.mark.parametrize("fault", ["truncated_body", "reset_mid_body", "drop", "slow"])
def test_transport_failures_are_judged_the_same(fault):
    with StubServer(delay=0.0, faults=[Fault(fault, seconds=2.0)]) as stub:
        direct, client = both(stub.base_url, timeout=0.5)
    assert direct == client
    assert not isinstance(direct, Completion)


def test_a_refused_connection_is_judged_the_same():
    with StubServer(delay=0.0) as stub:
        url = stub.base_url
    direct, client = both(url)
    assert direct == client
    assert not isinstance(direct, Completion)


def test_a_proxy_from_the_environment_keeps_the_clients_path(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    backend = OpenAIBackend(model="m", base_url="http://127.0.0.1:8/v1")
    assert DirectPost.of(backend._client, backend._options) is None


def test_a_redirect_is_followed_by_the_client():
    reply = (200, [("Content-Type", "application/json")], json.dumps(ANSWER).encode())
    with server(reply) as (target, seen):
        moved = (307, [("Location", f"{target}/chat/completions")], b"moved")
        with server(moved) as (url, first):
            direct, client = both(url)
    assert direct == client and isinstance(direct, Completion)
    assert len(first) == 3  # the direct path's redirect, then the client's request and its
    assert len(seen) == 2  # the same request, at the new place, once per path


@pytest.mark.parametrize("stop", [(), ("\n",), ("\n\n", "16", "16.", "16 .")])
def test_decoding_as_dict_is_every_field_in_order_with_stop_as_a_list(stop):
    """It is part of every request's cache key (and of the stored request): built by hand now,
    it must equal what dataclasses.asdict gave, key order included."""
    decoding = Decoding(max_tokens=7, temperature=0.5, top_p=0.9, frequency_penalty=-1.0,
                        presence_penalty=2, stop=stop)  # fmt: skip
    expected = {**dataclasses.asdict(decoding), "stop": list(stop)}
    assert list(decoding.as_dict().items()) == list(expected.items())
