"""The OpenAI path's error handling, with the real openai client on an httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from selfinstruct.backends.base import BackendError, Decoding, Request
from selfinstruct.backends.openai_api import OpenAIBackend, default_api, resolve_api_key
from selfinstruct.cache import ResponseCache
from selfinstruct.client import CallFailed, ModelClient, RetryPolicy
from selfinstruct.errors import UserError

DECODING = Decoding(max_tokens=5, temperature=0.0, top_p=1.0)
REQUEST = Request("classify", "Task: x\nIs it classification?", DECODING, seed=3)


def chat_body(text: str, finish_reason: str = "stop") -> dict:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
    }


def backend_with(handler, api: str = "chat") -> OpenAIBackend:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return OpenAIBackend(
        model="m", base_url="http://127.0.0.1:9/v1", api=api, http_client=client, timeout=5
    )


def run(coro):
    return asyncio.run(coro)


def test_chat_answer_and_usage_and_request_shape():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["path"] = request.url.path
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, json=chat_body("Yes"))

    completion = run(backend_with(handler).complete(REQUEST, "hello"))
    assert completion.text == "Yes"
    assert (completion.prompt_tokens, completion.completion_tokens) == (7, 2)
    assert seen["path"] == "/v1/chat/completions"
    assert seen["body"]["messages"] == [{"role": "user", "content": "hello"}]
    assert seen["body"]["seed"] == 3 and seen["body"]["max_tokens"] == 5


def test_completion_api_uses_completions_endpoint():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/completions"
        body = {
            "id": "c", "object": "text_completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "text": " Yes", "finish_reason": "length", "logprobs": None}],
        }  # fmt: skip
        return httpx.Response(200, json=body)

    completion = run(backend_with(handler, api="completion").complete(REQUEST, "p"))
    assert completion.text == " Yes" and completion.finish_reason == "length"


@pytest.mark.parametrize(
    ("status", "kind"), [(500, "server"), (503, "server"), (429, "rate_limit"), (401, "auth"),
                         (404, "not_found"), (400, "bad_request")],
)  # fmt: skip
def test_http_errors_map_to_kinds(status, kind):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": {"message": "boom"}})

    with pytest.raises(BackendError) as caught:
        run(backend_with(handler).complete(REQUEST, "p"))
    assert caught.value.kind == kind


def test_retry_after_is_read_from_429():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, headers={"retry-after": "2"}, json={"error": {"message": "slow"}}
        )

    with pytest.raises(BackendError) as caught:
        run(backend_with(handler).complete(REQUEST, "p"))
    assert caught.value.retry_after == 2.0


@pytest.mark.parametrize(
    "body",
    [b"this is not json", b'{"choices": []}', b'{"unexpected": true}'],
)
def test_malformed_body_is_malformed(body):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    with pytest.raises(BackendError) as caught:
        run(backend_with(handler).complete(REQUEST, "p"))
    assert caught.value.kind == "malformed"


def test_connection_error_is_connection():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(BackendError) as caught:
        run(backend_with(handler).complete(REQUEST, "p"))
    assert caught.value.kind == "connection" and caught.value.retryable
    assert caught.value.message == (
        "cannot connect to http://127.0.0.1:9/v1: [Errno 111] Connection refused"
    )


@pytest.mark.parametrize(
    "error",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
    ],
)
def test_connection_closed_mid_answer_is_dropped_not_connection(error):
    def handler(request: httpx.Request) -> httpx.Response:
        error.request = request
        raise error

    with pytest.raises(BackendError) as caught:
        run(backend_with(handler).complete(REQUEST, "p"))
    assert caught.value.kind == "dropped" and caught.value.retryable
    assert caught.value.message == (
        "http://127.0.0.1:9/v1 closed the connection before the answer was complete "
        f"(incomplete response: {error})"
    )


def test_dropped_before_any_answer_gets_every_attempt(tmp_path):
    """Only "connection" means "probably not running" (two attempts before any answer); a
    server that hangs up mid-answer is there, so the whole retry schedule applies."""
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 4:
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return httpx.Response(200, json=chat_body("Yes"))

    client = ModelClient(backend_with(handler), ResponseCache(tmp_path / "c.sqlite"), 1,
                         retry=RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.001))  # fmt: skip
    _, completion = run(client.call(REQUEST))
    assert completion.text == "Yes" and calls["n"] == 5 and client.usage.retries == 4


def chat_without_content(message: dict) -> dict:
    body = chat_body("unused")
    body["choices"][0]["message"] = message
    return body


def completion_body(choice: dict) -> dict:
    return {"id": "c", "object": "text_completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", **choice}]}  # fmt: skip


@pytest.mark.parametrize(
    ("api", "body", "field"),
    [
        ("chat", chat_without_content({"role": "assistant", "content": None}), "message.content"),
        ("chat", chat_without_content({"role": "assistant"}), "message.content"),
        ("chat", chat_without_content({"role": "assistant", "content": None, "refusal": "no"}),
         "message.content"),
        ("completion", completion_body({"text": None}), "text"),
        ("completion", completion_body({}), "text"),
    ],
)  # fmt: skip
def test_null_or_missing_answer_text_is_malformed(api, body, field):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    with pytest.raises(BackendError) as caught:
        run(backend_with(handler, api=api).complete(REQUEST, "p"))
    assert caught.value.kind == "malformed" and caught.value.retryable
    assert caught.value.message == f"response without answer text ({field} is missing or null)"
    assert caught.value.raw is not None and '"choices"' in caught.value.raw


def test_empty_answer_text_is_still_an_answer():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=chat_body(""))

    assert run(backend_with(handler).complete(REQUEST, "p")).text == ""


def test_null_content_is_retried_and_never_cached(tmp_path):
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            return httpx.Response(200, json=chat_without_content({"content": None}))
        return httpx.Response(200, json=chat_body("No"))

    cache = ResponseCache(tmp_path / "c.sqlite")
    client = ModelClient(backend_with(handler), cache, 1,
                         retry=RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.001))  # fmt: skip
    with pytest.raises(CallFailed) as caught:
        run(client.call(REQUEST))
    assert caught.value.error.kind == "malformed" and caught.value.attempts == 2
    assert len(cache) == 0 and client.usage.failures["malformed"] == 1
    # The next session asks again and gets (and caches) a real answer.
    _, completion = run(client.call(REQUEST))
    assert completion.text == "No" and not completion.cached and len(cache) == 1


def test_client_retries_then_succeeds_and_caches(tmp_path):
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            return httpx.Response(500, json={"error": {"message": "flaky"}})
        return httpx.Response(200, json=chat_body("No"))

    cache = ResponseCache(tmp_path / "c.sqlite")
    client = ModelClient(
        backend_with(handler),
        cache,
        concurrency=4,
        retry=RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.02),
    )
    key, completion = run(client.call(REQUEST))
    assert completion.text == "No" and calls["n"] == 3 and client.usage.retries == 2
    key2, again = run(client.call(REQUEST))
    assert key2 == key and again.cached and calls["n"] == 3


def test_client_gives_up_and_never_invents_an_answer(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"message": "down"}})

    client = ModelClient(
        backend_with(handler),
        ResponseCache(tmp_path / "c.sqlite"),
        concurrency=1,
        retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.01),
    )
    with pytest.raises(CallFailed) as caught:
        run(client.call(REQUEST))
    assert caught.value.attempts == 3 and client.usage.failures["server"] == 1
    assert len(client.cache) == 0


def test_auth_and_unknown_model_end_the_run(tmp_path):
    for status, words in ((401, "rejected the API key"), (404, "model 'm' was not found")):

        def handler(request: httpx.Request, status=status) -> httpx.Response:
            return httpx.Response(status, json={"error": {"message": "x"}})

        client = ModelClient(backend_with(handler), ResponseCache(tmp_path / f"{status}.sqlite"), 1)
        with pytest.raises(UserError, match=words):
            run(client.call(REQUEST))


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        resolve_api_key(None, None)
    assert resolve_api_key(None, "http://127.0.0.1:1/v1") == "not-needed"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert resolve_api_key(None, None) == "sk-test"


def test_default_api_by_model_name():
    assert default_api("gpt-4o-mini") == "chat"
    assert default_api("davinci-002") == "completion"


def capture(seen: list[httpx.Request], reply: dict | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=reply or chat_body("Yes"))

    return handler


def test_request_is_the_backend_body_posted_as_json_with_the_key():
    seen: list[httpx.Request] = []
    backend = backend_with(capture(seen))
    run(backend.complete(REQUEST, "hello"))
    (request,) = seen
    assert request.method == "POST"
    assert json.loads(request.content) == backend.body(REQUEST, "hello")
    assert request.headers["authorization"] == "Bearer not-needed"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("AsyncOpenAI/Python")


def test_sdk_telemetry_headers_are_not_sent():
    """The client's x-stainless-* headers (platform, versions, retry count, read timeout) say
    nothing the server needs for an answer, and building them is a tenth of a request's CPU."""
    seen: list[httpx.Request] = []
    run(backend_with(capture(seen)).complete(REQUEST, "hello"))
    assert [name for name in seen[0].headers if name.lower().startswith("x-stainless")] == []


@pytest.mark.parametrize(
    ("base_url", "api", "url"),
    [
        ("http://127.0.0.1:9/v1", "chat", "http://127.0.0.1:9/v1/chat/completions"),
        ("http://127.0.0.1:9/v1/", "chat", "http://127.0.0.1:9/v1/chat/completions"),
        ("http://127.0.0.1:9/proxy/v1", "completion", "http://127.0.0.1:9/proxy/v1/completions"),
        (None, "chat", "https://api.openai.com/v1/chat/completions"),
    ],
)
def test_request_goes_to_the_path_under_the_base_url(monkeypatch, base_url, api, url):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    seen: list[httpx.Request] = []
    reply = chat_body("Yes") if api == "chat" else completion_body({"text": "Yes"})
    client = httpx.AsyncClient(transport=httpx.MockTransport(capture(seen, reply)))
    backend = OpenAIBackend("m", base_url=base_url, api_key="sk-test", api=api,  # type: ignore[arg-type]
                            http_client=client)  # fmt: skip
    assert run(backend.complete(REQUEST, "p")).text == "Yes"
    assert str(seen[0].url) == url


def test_the_base_url_from_the_environment_is_honoured(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/env/v1")
    seen: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(capture(seen)))
    backend = OpenAIBackend("m", api_key="sk-test", http_client=client)
    run(backend.complete(REQUEST, "p"))
    assert str(seen[0].url) == "http://127.0.0.1:9/env/v1/chat/completions"


def test_chat_finish_reason_and_missing_usage_are_read():
    body = chat_body("Ye", finish_reason="length")
    del body["usage"]
    completion = run(backend_with(capture([], body)).complete(REQUEST, "p"))
    assert (completion.text, completion.finish_reason) == ("Ye", "length")
    assert (completion.prompt_tokens, completion.completion_tokens) == (0, 0)


def test_concurrent_requests_each_send_their_own_body():
    """Requests share the backend's prepared request options; none may leak into another."""

    def echo(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["messages"][0]["content"]
        return httpx.Response(200, json=chat_body(prompt.upper()))

    backend = backend_with(echo)

    async def go() -> list[str]:
        answers = await asyncio.gather(*(backend.complete(REQUEST, f"p{i}") for i in range(20)))
        return [answer.text for answer in answers]

    assert run(go()) == [f"P{i}" for i in range(20)]


@pytest.mark.parametrize(
    "usage, tokens",
    [
        ({"prompt_tokens": "lots", "completion_tokens": 2}, (0, 2)),
        ({"prompt_tokens": 7, "completion_tokens": [3]}, (7, 0)),
        ({"prompt_tokens": -1, "completion_tokens": 2.5}, (0, 0)),
        ("n/a", (0, 0)),
    ],
)
def test_a_malformed_usage_keeps_the_answer_counts_unknown_as_0_and_warns_once(
    capsys, usage, tokens
):
    body = chat_body("Yes")
    body["usage"] = usage
    backend = backend_with(capture([], body))
    first = run(backend.complete(REQUEST, "p"))
    second = run(backend.complete(REQUEST, "p"))
    assert first.text == second.text == "Yes"
    assert (first.prompt_tokens, first.completion_tokens) == tokens
    assert capsys.readouterr().err.splitlines() == [
        "warning: http://127.0.0.1:9/v1 sent an answer whose token usage is malformed: the "
        "answer is kept and its unknown token counts are taken as 0 (token and cost figures, "
        "and --max-tokens and --max-cost, count less than was used)"
    ]
