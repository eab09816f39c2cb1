"""Several servers of one model behind one backend: requests spread, failing servers benched.

Each endpoint (one OpenAI-compatible server, e.g. a vLLM replica) has its own limit of requests
in flight. A request goes to the endpoint with the most free slots among those in rotation. An
endpoint that fails with a fault another server may not have (no connection, a dropped answer,
a timeout, a 5xx) is taken out of rotation for a cooldown that doubles with each failure in a
row and resets on its next answer, and the request is sent at once to another endpoint. Only
when every endpoint has failed it, or is out, does the error reach the caller (the model
client, whose retry policy then waits, Retry-After being the time until one comes back).

Which server answered never changes the data: requests are sent unchanged, and the cache
identity is the first endpoint's (see :meth:`PoolBackend.identity`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from selfinstruct.backends.base import (
    Api,
    Backend,
    BackendError,
    Completion,
    EndpointStats,
    Request,
)
from selfinstruct.endpoints import Endpoint

# Faults of one server rather than of the request: another server may well answer.
MOVABLE: frozenset[str] = frozenset({"connection", "dropped", "timeout", "server"})
COOLDOWN_SECONDS = 1.0
MAX_COOLDOWN_SECONDS = 60.0


class _Rotation:
    """The endpoints' shared state: slots in use, cooldowns, counts. Pools for two models on
    the same servers (GLAN's answer model) share one, so a server's limit holds for both."""

    def __init__(
        self,
        endpoints: Sequence[tuple[str, int]],
        cooldown: float,
        max_cooldown: float,
        clock: Callable[[], float],
    ) -> None:
        self.stats = [EndpointStats(url=url, limit=limit) for url, limit in endpoints]
        self.inflight = [0] * len(self.stats)
        self.streak = [0] * len(self.stats)
        self.last_kind = "connection"
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.clock = clock
        self._waiters: list[asyncio.Future[None]] = []

    async def take(self, tried: set[int]) -> int | None:
        """A slot on the endpoint with the most free ones, among those in rotation and not yet
        tried by this request; waits while they are all busy; None when there are none."""
        while True:
            now = self.clock()
            live = [i for i, s in enumerate(self.stats) if i not in tried and s.out_until <= now]
            if not live:
                return None
            free = [i for i in live if self.inflight[i] < self.stats[i].limit]
            if free:
                best = max(free, key=lambda i: (self.stats[i].limit - self.inflight[i], -i))
                self.inflight[best] += 1
                self.stats[best].requests += 1
                return best
            benched = [
                s.out_until - now
                for i, s in enumerate(self.stats)
                if i not in tried and s.out_until > now
            ]
            await self._wait(min(benched) if benched else None)

    def release(self, index: int) -> None:
        self.inflight[index] -= 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def answered(self, index: int, seconds: float) -> None:
        stats = self.stats[index]
        stats.answered += 1
        stats.latency_seconds += seconds
        self.streak[index] = 0

    def failed(self, index: int, error: BackendError) -> None:
        """Count the failure; a fault of the server benches it (once per outage: answers
        already on their way when it went out do not lengthen the cooldown)."""
        stats = self.stats[index]
        stats.errors[error.kind] += 1
        self.last_kind = error.kind
        if error.kind not in MOVABLE:
            return
        now = self.clock()
        if stats.out_until > now:
            return
        self.streak[index] += 1
        wait = min(self.max_cooldown, self.cooldown * 2 ** (self.streak[index] - 1))
        stats.out_until = now + max(wait, min(error.retry_after or 0.0, self.max_cooldown))
        stats.benched += 1

    def back_in(self) -> float:
        """Seconds until the first endpoint out of rotation is back."""
        now = self.clock()
        return max(0.0, min(s.out_until for s in self.stats) - now)

    async def _wait(self, timeout: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


class PoolBackend(Backend):
    """One model on several servers."""

    def __init__(
        self,
        endpoints: Sequence[tuple[str, int, Backend]],
        *,
        cooldown: float = COOLDOWN_SECONDS,
        max_cooldown: float = MAX_COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        rotation: _Rotation | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("a pool needs at least one endpoint")
        self._backends = [backend for _, _, backend in endpoints]
        first = self._backends[0]
        self.model = first.model
        self.api = first.api
        self.base_url = endpoints[0][0]
        self.max_concurrency = sum(limit for _, limit, _ in endpoints)
        self._rotation = rotation or _Rotation(
            [(url, limit) for url, limit, _ in endpoints], cooldown, max_cooldown, clock
        )

    def identity(self) -> dict[str, Any]:
        """The first endpoint's identity: a folder begun on one server keeps its cache keys
        when replicas are added after it, and which replica answered is not part of a key.
        The URL stays in it so that answers of another deployment are never reused."""
        return self._backends[0].identity()

    def endpoint_stats(self) -> list[EndpointStats]:
        return self._rotation.stats

    def sharing(self, backends: Sequence[Backend]) -> PoolBackend:
        """A pool of other backends (another model) on the same endpoints, limits and
        cooldowns (one backend per endpoint, in order)."""
        stats = self._rotation.stats
        return PoolBackend(
            [(s.url, s.limit, b) for s, b in zip(stats, backends, strict=True)],
            rotation=self._rotation,
        )

    async def complete(self, request: Request, text: str) -> Completion:
        rotation = self._rotation
        tried: set[int] = set()
        last: BackendError | None = None
        while True:
            index = await rotation.take(tried)
            if index is None:
                raise self._all_out(last)
            started = rotation.clock()
            try:
                completion = await self._backends[index].complete(request, text)
            except BackendError as error:
                rotation.failed(index, error)
                if error.kind not in MOVABLE:
                    error.where = rotation.stats[index].url
                    raise
                tried.add(index)
                last = error
                continue
            finally:
                rotation.release(index)
            rotation.answered(index, rotation.clock() - started)
            return completion

    def _all_out(self, last: BackendError | None) -> BackendError:
        stats = self._rotation.stats
        kind = last.kind if last is not None else self._rotation.last_kind
        detail = f" (last: {last})" if last is not None else ""
        error = BackendError(
            kind,  # type: ignore[arg-type]
            f"all {len(stats)} endpoints failed or are out of rotation{detail}",
            retry_after=self._rotation.back_in(),
        )
        error.where = "any of " + ", ".join(s.url for s in stats)
        return error

    async def aclose(self) -> None:
        for backend in self._backends:
            await backend.aclose()


def connect_pool(
    model: str,
    endpoints: Sequence[Endpoint],
    api_key: str | None,
    api: Api | None,
    timeout: float,
    concurrency: int,
) -> PoolBackend:
    """A pool of OpenAI-compatible servers; an endpoint without ``#N`` gets ``concurrency``."""
    from selfinstruct.backends.openai_api import OpenAIBackend

    members: list[tuple[str, int, Backend]] = []
    for endpoint in endpoints:
        limit = endpoint.limit or concurrency
        backend = OpenAIBackend(
            model=model, base_url=endpoint.url, api_key=api_key, api=api, timeout=timeout,
            max_concurrency=limit,
        )  # fmt: skip
        members.append((endpoint.url, limit, backend))
    return PoolBackend(members)
