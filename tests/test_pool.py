"""The endpoint pool's routing rules, with in-process endpoints (no HTTP, no timing)."""

from __future__ import annotations

import asyncio

import pytest

from selfinstruct.backends.base import Backend, BackendError, Completion, Decoding, Request
from selfinstruct.backends.factory import build_backend
from selfinstruct.backends.openai_api import OpenAIBackend
from selfinstruct.backends.pool import PoolBackend
from selfinstruct.cache import ResponseCache
from selfinstruct.client import ModelClient, RetryPolicy
from selfinstruct.errors import UserError

REQUEST = Request("classify", "Task: Sort fruit.\nIs it classification?",
                  Decoding(max_tokens=3, temperature=0.0, top_p=0.0), seed=1)  # fmt: skip
# The key of REQUEST for model "stub" at http://127.0.0.1:8000/v1, as computed before pools
# existed: a folder written with one --base-url keeps it.
ONE_URL_KEY = "8074770d1b93fe65fc9fc76e91b07b88010228efd7183196c77c337dc5448d2a"
URL = "http://127.0.0.1:8000/v1"


class Endpoint(Backend):
    """An endpoint that answers when released, or fails with the kinds it is given."""

    def __init__(self, name: str, failures: list[str] | None = None, hold: bool = False) -> None:
        self.model, self.api, self.base_url, self.max_concurrency = "m", "chat", name, 64
        self.failures = list(failures or [])
        self.calls = 0
        self.inflight = self.peak = 0
        self.gate = asyncio.Event() if hold else None

    async def complete(self, request: Request, text: str) -> Completion:
        self.calls += 1
        if self.failures:
            raise BackendError(self.failures.pop(0), "injected")  # type: ignore[arg-type]
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0)
        finally:
            self.inflight -= 1
        return Completion(text=f"answer from {self.base_url}", finish_reason="stop")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pool(*endpoints: Endpoint, limits: tuple[int, ...] = (), clock: Clock | None = None):
    limits = limits or tuple(4 for _ in endpoints)
    return PoolBackend(
        [(e.base_url, limit, e) for e, limit in zip(endpoints, limits, strict=True)],  # type: ignore[misc]
        cooldown=1.0, max_cooldown=8.0, clock=clock or Clock(),
    )  # fmt: skip


def test_requests_go_to_the_most_free_capacity_within_each_limit():
    a, b = Endpoint("http://a", hold=True), Endpoint("http://b", hold=True)
    backend = pool(a, b, limits=(3, 1))

    async def main() -> list[Completion]:
        tasks = [asyncio.create_task(backend.complete(REQUEST, "x")) for _ in range(6)]
        for _ in range(5):
            await asyncio.sleep(0)
        assert (a.inflight, b.inflight) == (3, 1)  # 4 slots: the other two wait
        assert a.gate is not None and b.gate is not None
        a.gate.set()
        b.gate.set()
        return await asyncio.gather(*tasks)

    answers = asyncio.run(main())
    assert len(answers) == 6 and a.peak == 3 and b.peak == 1
    assert backend.max_concurrency == 4
    stats = {s.url: s for s in backend.endpoint_stats()}
    assert stats["http://a"].requests + stats["http://b"].requests == 6
    assert stats["http://b"].answered >= 1


def test_a_transient_failure_moves_the_request_and_benches_the_endpoint():
    clock = Clock()
    a, b = Endpoint("http://a", failures=["connection"]), Endpoint("http://b")
    backend = pool(a, b, limits=(4, 1), clock=clock)
    first = asyncio.run(backend.complete(REQUEST, "x"))
    assert first.text == "answer from http://b"  # a failed; retried at once on b
    # a is out of rotation: the next requests go to b even though a has more room.
    assert asyncio.run(backend.complete(REQUEST, "x")).text == "answer from http://b"
    assert a.calls == 1
    clock.now += 1.0  # the first cooldown is over
    assert asyncio.run(backend.complete(REQUEST, "x")).text == "answer from http://a"
    stats = {s.url: s for s in backend.endpoint_stats()}
    assert dict(stats["http://a"].errors) == {"connection": 1}
    assert (stats["http://a"].requests, stats["http://a"].answered) == (2, 1)
    assert stats["http://a"].benched == 1 and stats["http://b"].answered == 2


def test_the_cooldown_grows_with_repeated_failures_and_resets_on_success():
    clock = Clock()
    a, b = Endpoint("http://a", failures=["server", "server", "timeout"]), Endpoint("http://b")
    backend = pool(a, b, limits=(4, 1), clock=clock)
    waits = []
    for _ in range(3):
        asyncio.run(backend.complete(REQUEST, "x"))  # a fails, b answers
        back = backend.endpoint_stats()[0].out_until - clock.now
        waits.append(back)
        clock.now += back
    assert waits == [1.0, 2.0, 4.0]
    asyncio.run(backend.complete(REQUEST, "x"))  # a answers: the streak is over
    a.failures = ["dropped"]
    asyncio.run(backend.complete(REQUEST, "x"))
    assert backend.endpoint_stats()[0].out_until - clock.now == 1.0


def test_only_when_every_endpoint_is_out_does_the_error_reach_the_caller():
    clock = Clock()
    a = Endpoint("http://a", failures=["connection", "connection"])
    b = Endpoint("http://b", failures=["dropped"])
    backend = pool(a, b, clock=clock)
    with pytest.raises(BackendError) as error:
        asyncio.run(backend.complete(REQUEST, "x"))
    assert error.value.kind == "dropped" and error.value.retry_after == 1.0
    assert error.value.where == "any of http://a, http://b"
    clock.now += 0.25
    with pytest.raises(BackendError) as again:  # nothing is sent while all are out
        asyncio.run(backend.complete(REQUEST, "x"))
    assert again.value.retry_after == 0.75 and (a.calls, b.calls) == (1, 1)


def test_errors_that_moving_cannot_fix_are_not_moved():
    a, b = Endpoint("http://a", failures=["bad_request", "rate_limit"]), Endpoint("http://b")
    backend = pool(a, b, limits=(4, 1))
    for kind in ("bad_request", "rate_limit"):
        with pytest.raises(BackendError) as error:
            asyncio.run(backend.complete(REQUEST, "x"))
        assert error.value.kind == kind
    assert b.calls == 0


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("auth", "http://b rejected the API key: check OPENAI_API_KEY or --api-key"),
        ("not_found", "model 'm' was not found at http://b: check --model (list the server's "
         "models with GET /v1/models)"),
    ],
)  # fmt: skip
def test_auth_and_unknown_model_name_the_endpoint(tmp_path, kind, message):
    a, b = Endpoint("http://a", hold=True), Endpoint("http://b", failures=[kind])
    backend = pool(a, b, limits=(1, 4))
    client = ModelClient(backend, ResponseCache(tmp_path / "c.sqlite"), concurrency=4,
                         retry=RetryPolicy(attempts=3, base_delay=0.01))  # fmt: skip
    with pytest.raises(UserError) as error:
        asyncio.run(client.call(REQUEST))
    assert str(error.value) == message


def test_cache_keys_do_not_depend_on_the_endpoints(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")

    def key(backend: Backend) -> str:
        return ModelClient(backend, cache, concurrency=4).key_for(REQUEST)[0]

    one = build_backend(model="stub", base_url=(URL,), api_key=None, api="auto",
                        model_path=None, timeout=10, concurrency=8)  # fmt: skip
    assert isinstance(one, OpenAIBackend) and key(one) == ONE_URL_KEY
    limited = build_backend(model="stub", base_url=(URL + "#4",), api_key=None, api="auto",
                            model_path=None, timeout=10, concurrency=8)  # fmt: skip
    assert key(limited) == ONE_URL_KEY and limited.max_concurrency == 4
    several = build_backend(model="stub", base_url=(URL, "http://b:8000/v1#2"), api_key=None,
                            api="auto", model_path=None, timeout=10, concurrency=8)  # fmt: skip
    assert isinstance(several, PoolBackend) and key(several) == ONE_URL_KEY
    assert several.max_concurrency == 10 and several.base_url == URL


def test_glan_answer_model_shares_the_endpoints_and_their_limits():
    from selfinstruct.backends.routing import RoutingBackend, with_answer_model

    several = build_backend(model="big", base_url=(URL + "#3", "http://b:8000/v1#2"),
                            api_key=None, api="chat", model_path=None, timeout=10,
                            concurrency=8)  # fmt: skip
    routed = with_answer_model(several, "small", None, 10)
    assert isinstance(routed, RoutingBackend) and isinstance(routed.answers, PoolBackend)
    assert routed.answers.model == "small" and routed.max_concurrency == 5
    assert routed.endpoint_stats() is several.endpoint_stats()
    assert routed.answers.endpoint_stats() is several.endpoint_stats()
    assert routed.identity() == {"model": "big", "api": "chat", "base_url": URL,
                                 "answer_model": "small"}  # fmt: skip
