"""The HTTP transport under the openai client: aiohttp when installed, httpx otherwise.

The two raise different exception classes for the same event (aiohttp's refused connection even
reaches the openai client as a connect *timeout*), so every failure kind is checked through the
real stub server under both transports.
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx2
import openai
import pytest
from stub_server import Fault, StubServer

from selfinstruct.backends.base import BackendError, Completion, Decoding, Request
from selfinstruct.backends.openai_api import OpenAIBackend, transport_kind

REQUEST = Request("classify", "Task: Sort fruit by colour.\nIs it classification?",
                  Decoding(max_tokens=3, temperature=0.0, top_p=0.0), seed=1)  # fmt: skip
TRANSPORTS = ["aiohttp", "httpx"]


def call(stub_url: str, transport: str, timeout: float = 5.0) -> Completion | BackendError:
    backend = OpenAIBackend(model="stub", base_url=stub_url, timeout=timeout,
                            transport=transport)  # type: ignore[arg-type]  # fmt: skip
    assert backend.transport == transport

    async def go() -> Completion | BackendError:
        try:
            return await backend.complete(REQUEST, REQUEST.prompt)
        except BackendError as error:
            return error
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_aiohttp_is_the_default_when_installed():
    backend = OpenAIBackend(model="stub", base_url="http://127.0.0.1:9/v1")
    assert backend.transport == "aiohttp"


def test_missing_aiohttp_extra_falls_back_to_httpx(monkeypatch):
    class Missing:  # what the openai client offers without its aiohttp extra
        def __init__(self, **_kwargs: object) -> None:
            raise RuntimeError("To use the aiohttp client you must have installed the extra")

    monkeypatch.setattr(openai, "DefaultAioHttpClient", Missing)
    backend = OpenAIBackend(model="stub", base_url="http://127.0.0.1:9/v1")
    assert backend.transport == "httpx"
    with StubServer(delay=0.0) as stub:
        answer = call(stub.base_url, "httpx")
    assert isinstance(answer, Completion) and answer.text == "Yes"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_answers_arrive(transport):
    with StubServer(delay=0.0) as stub:
        answer = call(stub.base_url, transport)
    assert isinstance(answer, Completion) and answer.text == "Yes"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_refused_connection_is_connection(transport):
    with StubServer(delay=0.0) as stub:
        url = stub.base_url
    error = call(url, transport)  # the server is gone: nothing listens on the port
    assert isinstance(error, BackendError) and error.kind == "connection"
    assert error.message.startswith(f"cannot connect to {url}: ")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("fault", ["truncated_body", "reset_mid_body", "drop"])
def test_server_hanging_up_mid_answer_is_dropped(transport, fault):
    with StubServer(delay=0.0, faults=[Fault(fault, first=1)]) as stub:
        error = call(stub.base_url, transport)
        answer = call(stub.base_url, transport)
        hits = dict(stub.state.fault_hits)
    assert isinstance(error, BackendError) and error.kind == "dropped", error
    prefix = f"{stub.base_url} closed the connection before the answer was complete ("
    assert error.message.startswith(prefix + "incomplete response: ")
    assert hits == {fault: 1}
    assert isinstance(answer, Completion) and answer.text == "Yes"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_slow_answer_past_the_timeout_is_timeout(transport):
    with StubServer(delay=0.0, faults=[Fault("slow", first=1, seconds=3.0)]) as stub:
        error = call(stub.base_url, transport, timeout=0.5)
    assert isinstance(error, BackendError)
    assert (error.kind, error.message) == ("timeout", "the request timed out")


def adapter_error(root: BaseException) -> openai.APIConnectionError:
    """``root`` as the aiohttp adapter and the openai client hand it on: wrapped in the httpx
    class the adapter maps it to (a connect timeout, for every connection error), then in the
    openai client's timeout error."""
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    try:
        try:
            try:
                raise root
            except Exception as exc:
                raise httpx2.ConnectTimeout(str(exc)) from exc
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request) from exc  # type: ignore[arg-type]
    except openai.APITimeoutError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("root", "kind"),
    [
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "dropped"),
        (aiohttp.ClientConnectionError("Connection closed"), "dropped"),
        (aiohttp.ServerDisconnectedError(), "dropped"),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "dropped"),
        (aiohttp.ServerTimeoutError("Timeout on reading data from socket"), "timeout"),
        (ConnectionRefusedError(111, "Connect call failed"), "connection"),
    ],
)
def test_aiohttp_failures_are_judged_by_their_own_class_not_the_adapters(root, kind):
    assert transport_kind(adapter_error(root)) == kind
