"""Model calls with the response cache, bounded concurrency, retries and usage accounting.

Every call goes through :meth:`ModelClient.call`: a cached answer is returned without a request;
otherwise the backend is asked under the concurrency limit, retried with exponential backoff and
jitter on transient faults (honouring Retry-After), and the answer is stored before it is used.
A call that still fails raises :class:`CallFailed`; nothing is ever invented in its place.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from selfinstruct.backends.base import Backend, BackendError, Completion, Request
from selfinstruct.cache import ResponseCache, request_key
from selfinstruct.errors import UserError
from selfinstruct.ratelimit import RateLimiter

# A request that timed out is tried at most this many times, whatever --max-retries says: each
# try costs a whole --timeout, and a server that let it pass twice is most likely hung.
TIMEOUT_ATTEMPTS = 3


class Answer(NamedTuple):
    key: str  # the response-cache key of the request
    completion: Completion


class CallFailed(Exception):
    def __init__(self, error: BackendError, attempts: int, key: str = "") -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts
        self.key = key


class NotSent(Exception):
    """The run is stopping: a request not yet sent (or not yet retried) is not sent."""


@dataclass
class StageUsage:
    requests: int = 0
    cached: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: Completion) -> None:
        """Count an answer; tokens only for fresh requests, since cached ones cost nothing."""
        if completion.cached:
            self.cached += 1
            return
        self.requests += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens


@dataclass
class Usage:
    stages: dict[str, StageUsage] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    retries: int = 0

    def stage(self, name: str) -> StageUsage:
        return self.stages.setdefault(name, StageUsage())

    @property
    def prompt_tokens(self) -> int:
        return sum(s.prompt_tokens for s in self.stages.values())

    @property
    def completion_tokens(self) -> int:
        return sum(s.completion_tokens for s in self.stages.values())

    @property
    def answered(self) -> int:
        """Answers received this session, fresh or from the cache."""
        return self.requests + self.cached

    @property
    def cached(self) -> int:
        return sum(s.cached for s in self.stages.values())

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.stages.values())


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, error: BackendError, rng: random.Random) -> float:
        if error.retry_after is not None:
            return min(error.retry_after, self.max_delay)
        return min(self.max_delay, self.base_delay * 2**attempt) * (0.5 + rng.random())


def request_description(backend: Backend, request: Request) -> dict[str, object]:
    """Everything that decides a request's answer; its hash is the response-cache key (and a
    batch line's ``custom_id``)."""
    description: dict[str, object] = {
        **backend.identity(),
        "text": request.prompt,
        "decoding": request.decoding.as_dict(),
        "seed": request.seed,
    }
    if request.messages:  # only then: the keys of one-message requests stay as they were
        description["messages"] = [list(message) for message in request.messages]
    if request.labels:  # likewise: only constrained requests' keys carry it
        description["labels"] = list(request.labels)
    if request.grammar:
        description["grammar"] = request.grammar
    return description


def inflight_limit(concurrency: int, backend: Backend) -> int:
    """Requests in flight at once: --concurrency, unless the backend batches (then every
    request may wait in a batch file at once)."""
    if getattr(backend, "window", None):
        return max(1, backend.max_concurrency)
    return max(1, min(concurrency, backend.max_concurrency))


class ModelClient:
    def __init__(
        self,
        backend: Backend,
        cache: ResponseCache,
        concurrency: int,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.backend = backend
        self.limiter = limiter or RateLimiter()
        self.cache = cache
        self.retry = retry or RetryPolicy()
        self.usage = Usage()
        self._semaphore = asyncio.Semaphore(inflight_limit(concurrency, backend))
        self._jitter = random.Random()
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Task[Completion]] = set()
        self.waiting = 0  # calls not answered from the cache and not yet settled
        self._heard = time.monotonic()  # when something last came back from the server

    def silent_seconds(self) -> float:
        """How long nothing has come back from the server while calls wait (0: none waits)."""
        return time.monotonic() - self._heard if self.waiting else 0.0

    def stop(self) -> None:
        """Send nothing new: requests waiting for a slot or a retry raise NotSent."""
        self._stopping.set()

    def cancel_inflight(self) -> None:
        """Abandon the requests on their way (after Ctrl-C, once their grace period is over)."""
        for task in list(self._inflight):
            task.cancel()

    def key_for(self, request: Request) -> tuple[str, dict[str, object]]:
        description = request_description(self.backend, request)
        return request_key(description), description

    async def call(self, request: Request) -> Answer:
        key, description = self.key_for(request)
        usage = self.usage.stage(request.stage)
        cached = self.cache.get(key)
        if cached is not None:
            usage.add(cached)
            return Answer(key, cached)
        if not self.waiting:
            self._heard = time.monotonic()  # the silence is counted from the first waiting call
        self.waiting += 1
        try:
            completion = await self._fetch(request, key, usage)
        finally:
            self.waiting -= 1
        self.cache.put(key, request.stage, description, completion)
        usage.add(completion)
        return Answer(key, completion)

    async def _fetch(self, request: Request, key: str, usage: StageUsage) -> Completion:
        """Ask the backend, under the concurrency limit and the rate limits, with retries."""
        text = request.prompt
        attempt = 0
        async with self._semaphore:
            while True:
                if self._stopping.is_set():
                    raise NotSent
                estimate = len(text) // 4 + request.decoding.max_tokens
                started = await self.limiter.acquire(estimate) if self.limiter.active else 0.0
                try:
                    completion = await self._send(request, text)
                    if self.limiter.active:
                        used = completion.prompt_tokens + completion.completion_tokens
                        self.limiter.settle(started, estimate, used or estimate)
                    self._heard = time.monotonic()
                    return completion
                except BackendError as error:
                    if error.kind != "timeout":
                        self._heard = time.monotonic()
                    self._raise_if_fatal(error)
                    attempt += 1
                    if not error.retryable or attempt >= self._attempts_for(error):
                        usage.failed += 1
                        self.usage.failures[error.kind] += 1
                        raise CallFailed(error, attempt, key) from None
                    self.usage.retries += 1
                    await self._pause(self.retry.delay(attempt - 1, error, self._jitter))

    async def _send(self, request: Request, text: str) -> Completion:
        """The backend call as a task of its own, so that an interrupt can abandon it."""
        task = asyncio.ensure_future(self.backend.complete(request, text))
        self._inflight.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            if task.cancelled() and self._stopping.is_set():
                raise NotSent from None
            raise
        finally:
            self._inflight.discard(task)

    async def _pause(self, seconds: float) -> None:
        """Wait before a retry, but not past a stop."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            return
        raise NotSent

    def _attempts_for(self, error: BackendError) -> int:
        """A server that has never answered and refuses connections is most likely not running:
        give up after two attempts so the user hears about it in seconds, not minutes."""
        if error.kind == "connection" and self.usage.answered == 0:
            return min(2, self.retry.attempts)
        if error.kind == "timeout":  # likewise a server that lets every request time out
            return min(TIMEOUT_ATTEMPTS if self.usage.answered else 2, self.retry.attempts)
        return self.retry.attempts

    def _raise_if_fatal(self, error: BackendError) -> None:
        where = error.where or self.backend.base_url or "the OpenAI API"
        if error.kind == "auth":
            raise UserError(f"{where} rejected the API key: check OPENAI_API_KEY or --api-key")
        if error.kind == "not_found":
            raise UserError(
                f"model '{self.backend.model}' was not found at {where}: check --model "
                "(list the server's models with GET /v1/models)"
            )
