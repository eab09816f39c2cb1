"""The run engine every method runs on: model calls, ordered commits, budgets, stops, summary.

A method (``selfinstruct.methods``) says what to ask and what to keep; the engine does the rest.
It owns the model-call layer (cache, concurrency, retries, rate limits), the run folder's logs,
the failure policy (a failed request is logged, never invented; a streak of failures, a run that
accepts nothing for ``STALL_LIMIT`` answers, a budget or Ctrl-C stops the run cleanly), progress
events and the summary.

:meth:`Engine.in_order` is the loop that keeps data independent of timing: requests run
concurrently but their answers are committed strictly in request order, and request ``k`` may
only be built once the answers it is allowed to see are committed. A request that failed and that
later answers were committed without is logged as *skipped*, and a resume replays it as a
failure, so the data never depends on when a server was down.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from selfinstruct.backends.base import Backend, Completion, Request
from selfinstruct.cache import ResponseCache
from selfinstruct.client import (
    Answer,
    CallFailed,
    ModelClient,
    NotSent,
    RetryPolicy,
    inflight_limit,
)
from selfinstruct.config import RunSettings
from selfinstruct.errors import UserError
from selfinstruct.gate import Rejection
from selfinstruct.jsonio import read_jsonl
from selfinstruct.pricing import cost, price_for
from selfinstruct.ratelimit import RateLimiter
from selfinstruct.store import Kind, RunFolder, failures_file
from selfinstruct.summary import RunResult, RunSummary, StopKind, summarize

# A run that commits this many answers in a row without accepting anything is going nowhere.
STALL_LIMIT = 200
# Records left for later (Engine.write_later) are built together once this many are pending.
WRITE_BATCH = 32
# After Ctrl-C, answers already on their way get this long to arrive (and be saved) before
# their requests are cancelled.
INTERRUPT_GRACE_SECONDS = 3.0


@dataclass
class Progress:
    """What the progress display shows; updated as the run advances."""

    target: int
    accepted: int = 0  # instructions accepted into the pool
    finished: int = 0  # accepted instructions through every stage
    rejected: int = 0
    tasks: int = 0  # tasks written
    requests: int = 0
    cached: int = 0
    failed: int = 0
    tokens: int = 0
    cost_usd: float | None = None
    started: float = field(default_factory=time.monotonic)


# Settles answer k (None: it failed for good); True when it added anything.
Commit = Callable[[int, Answer | None], bool]


class Engine:
    """Runs one method over one run folder."""

    def __init__(
        self,
        settings: RunSettings,
        backend: Backend,
        folder: RunFolder,
        *,
        method: str,
        target: int,
        on_progress: Callable[[Progress], None] | None = None,
        price: tuple[float, float] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.folder = folder
        self.method = method
        self.on_progress = on_progress or (lambda progress: None)
        self.price = price_for(settings.model, price)
        self.cache = ResponseCache(folder.cache_path)
        self.client = ModelClient(
            backend,
            self.cache,
            concurrency=settings.concurrency,
            retry=retry or RetryPolicy(attempts=settings.max_retries),
            limiter=RateLimiter(rpm=settings.rpm, tpm=settings.tpm),
        )
        # Tokens of answers received in earlier sessions: budgets count the whole run folder.
        earlier = self.cache.totals().values()
        self._earlier_tokens = (
            sum(t["prompt_tokens"] for t in earlier),
            sum(t["completion_tokens"] for t in earlier),
        )
        self.progress = Progress(target=target)
        self.stop_kind: StopKind | None = None
        self.stop_reason: str | None = None
        self._fatal: UserError | None = None
        self._consecutive_failures = 0
        self._unproductive = 0
        self._downstream: set[asyncio.Task[None]] = set()
        self._skipped: dict[str, set[int]] = {}
        self._interrupts = 0
        self._later: list[tuple[Kind, Callable[[], dict[str, Any]]]] = []
        bind = getattr(backend, "bind", None)  # a batching backend keeps its state in the folder
        if bind is not None:
            bind(folder.path, self.stop)

    # ------------------------------------------------------------------ for methods

    @property
    def stopping(self) -> bool:
        return self.stop_kind is not None

    def write(self, kind: Kind, record: dict[str, Any]) -> bool:
        """Append a record to the run folder's log of ``kind`` (once per id)."""
        return self.folder.log(kind).write(record)

    def write_later(self, kind: Kind, record: Callable[[], dict[str, Any]]) -> None:
        """Append ``record()`` to the log of ``kind`` (once per id), in the order of the calls,
        but build it later: records that are cheaper to build together (each instruction's
        full ROUGE-L scan) are built in batches, when the ordered loop is about to wait for an
        answer, every ``WRITE_BATCH`` records, and when the run ends. A kill -9 can lose the
        last batch; a resume writes it again."""
        self._later.append((kind, record))
        if len(self._later) >= WRITE_BATCH:
            self._write_later_now()

    def _write_later_now(self) -> None:
        later, self._later = self._later, []
        for kind, record in later:
            self.write(kind, record())

    def known(self, kind: Kind) -> set[str]:
        """Ids already in the log of ``kind`` (from earlier sessions, on resume)."""
        return self.folder.log(kind).ids

    def reject(
        self, ident: str, stage: str, rejection: Rejection, text: str, key: str, **extra: Any
    ) -> None:
        record: dict[str, Any] = {
            "id": ident,
            "stage": stage,
            "reason": rejection.reason,
            "text": text,
            "request_key": key,
        }
        record.update({k: v for k, v in {**rejection.detail, **extra}.items() if v is not None})
        self.write("rejected", record)
        self.progress.rejected += 1

    async def ask(self, request: Request, ident: str) -> Answer | None:
        """One request outside the ordered loop: the answer, or None when it failed for good
        (the failure is logged). Raises NotSent when the run is stopping."""
        try:
            answer = await self.client.call(request)
        except CallFailed as failure:
            self._record_failure(request.stage, ident, failure)
            return None
        except UserError as error:
            self._fail_run(error)
            raise NotSent from None
        self._consecutive_failures = 0
        self._check_budget()
        return answer

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` alongside the ordered loop; the run waits for it before finishing."""

        async def guarded() -> None:
            try:
                await work
            except NotSent:
                pass
            except UserError as error:
                self._fail_run(error)

        task = asyncio.create_task(guarded())
        self._downstream.add(task)
        task.add_done_callback(self._downstream.discard)

    def report(self, accepted: int | None = None, finished: int = 0, tasks: int = 0) -> None:
        if accepted is not None:
            self.progress.accepted = accepted
        self.progress.finished += finished
        self.progress.tasks += tasks
        usage = self.client.usage
        self.progress.requests = usage.requests
        self.progress.cached = usage.cached
        self.progress.failed = sum(usage.failures.values())
        self.progress.tokens = usage.prompt_tokens + usage.completion_tokens
        self.progress.cost_usd = cost(usage.prompt_tokens, usage.completion_tokens, self.price)
        self.on_progress(self.progress)

    async def in_order(
        self,
        stage: str,
        request_for: Callable[[int], Request],
        commit: Commit,
        wanted: Callable[[], bool],
        lag: Callable[[int], int],
        needed: Callable[[], int] | None = None,
    ) -> None:
        """Ask ``request_for(k)`` for k = 0, 1, ... while ``wanted()``, committing answers in
        order. Request k is built only once answers 0 .. k-1-lag(k) are committed, so it may
        depend on exactly those. ``commit`` returns whether the answer added anything (a run
        that adds nothing for STALL_LIMIT answers in a row has stalled). ``needed``: at most
        how many more requests can be of use (the items still wanted), which bounds what a
        batching backend launches at once."""
        skipped = self._skipped_requests(stage)
        inflight: dict[int, asyncio.Task[tuple[str, Completion | None, CallFailed | None]]] = {}
        launched = committed = 0
        while wanted() and not self.stopping:
            limit = self._ordered_limit(needed)
            before = launched
            while (
                len(inflight) < limit
                and launched - lag(launched) <= committed
                and not self.stopping
            ):
                request = request_for(launched)
                inflight[launched] = asyncio.create_task(
                    self._ask_ordered(request, launched in skipped)
                )
                launched += 1
            if committed not in inflight:
                break
            if not inflight[committed].done():
                self._write_later_now()  # the loop would wait idle: build pending records now
            elif launched > before:
                # Let the new requests go out now: committing the answers already here (a whole
                # wave of them, tens of milliseconds) would otherwise hold them back.
                await asyncio.sleep(0)
            key, completion, failure = await inflight.pop(committed)
            ident = f"r{committed:06d}"
            if committed in skipped:
                commit(committed, None)  # failed in an earlier session; the data moved on
            elif failure is not None:
                if self._never_reached(failure):
                    where = failure.error.where or self.backend.base_url or "the OpenAI API"
                    self._fail_run(
                        UserError(
                            f"cannot reach {where}: is the server running? (check --base-url)"
                        )
                    )
                    break
                self._record_failure(stage, ident, failure, skipped=True)
                commit(committed, None)
            elif completion is None:
                break  # not sent: the run is stopping
            else:
                productive = commit(committed, Answer(key, completion))
                self._count_commit(productive, completion)
            committed += 1
            self.report()
        if inflight and getattr(self.backend, "window", None):
            # A batch may take hours: the run does not wait for answers it no longer needs (the
            # backend cancels their batches when the run ends complete; a resume takes them up).
            for task in inflight.values():
                task.cancel()
            await asyncio.gather(*inflight.values(), return_exceptions=True)
            return
        # Answers already requested stay in the cache for a resume; failures are logged.
        for k, task in sorted(inflight.items()):
            _, _, failure = await task
            if failure is not None and k not in skipped:
                self._record_failure(stage, f"r{k:06d}", failure, skipped=False)

    def stop(self, kind: StopKind, reason: str) -> None:
        """Stop sending new requests; answers already in flight are still saved."""
        if self.stop_kind is None:
            self.stop_kind = kind
            self.stop_reason = reason
            self.client.stop()

    # ------------------------------------------------------------------ running

    async def run(self, body: Callable[[Engine], Coroutine[Any, Any, int]]) -> RunResult:
        """Run a method's body; it returns how many instructions it accepted in all."""
        try:
            return await self._run(body)
        except BaseException:
            await self._cancel_the_rest()
            raise
        finally:
            # Also when a write failed (a full disk): a client left open prints "Unclosed
            # client session" after the error's one line.
            await self.backend.aclose()

    async def _cancel_the_rest(self) -> None:
        """After an error out of the body (a full disk): send nothing more, and cancel and
        wait for every other task of the run, so that none fails later on a closed client."""
        self.client.stop()
        await asyncio.sleep(0)  # tasks just created start (a coroutine never started warns)
        current = asyncio.current_task()
        rest = [task for task in asyncio.all_tasks() if task is not current]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    async def _run(self, body: Callable[[Engine], Coroutine[Any, Any, int]]) -> RunResult:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        handles_sigint = self._install_sigint(loop)
        accepted = 0
        try:
            self.folder.log("failures")
            self.progress.tasks = len(self.known("tasks"))
            self._check_budget()
            if not self.stopping:
                accepted = await body(self)
            while self._downstream:
                await asyncio.gather(*list(self._downstream))
        finally:
            if handles_sigint:
                loop.remove_signal_handler(signal.SIGINT)
            self._write_later_now()
        kind = self.stop_kind or StopKind.COMPLETE
        summary = self._summary(accepted, kind, time.monotonic() - started)
        self.folder.write_summary(summary.model_dump(mode="json"))
        self.folder.close()
        self.cache.close()
        if kind in (StopKind.COMPLETE, StopKind.BUDGET):
            await self.backend.abandon_pending()
        if self._fatal is not None:
            raise self._fatal  # after the files are closed and the summary written
        return RunResult(self.folder.path, kind, summary)

    # ------------------------------------------------------------------ internals

    async def _ask_ordered(
        self, request: Request, skipped: bool
    ) -> tuple[str, Completion | None, CallFailed | None]:
        if skipped:
            return "", None, None
        try:
            answer = await self.client.call(request)
        except CallFailed as failure:
            return failure.key, None, failure
        except NotSent:
            return "", None, None
        except UserError as error:
            self._fail_run(error)
            return "", None, None
        self._check_budget()
        return answer.key, answer.completion, None

    def _ordered_limit(self, needed: Callable[[], int] | None) -> int:
        """Ordered requests in flight: --concurrency; a batching backend takes its window, but
        no more than ``needed()`` (a request sent in a batch is paid for even if the run has
        what it wants before its answer is used)."""
        window: int | None = getattr(self.backend, "window", None)
        if not window:
            return inflight_limit(self.settings.concurrency, self.backend)
        return max(1, min(window, needed())) if needed is not None else window

    def _count_commit(self, productive: bool, completion: Completion) -> None:
        """The stall rule, and the failure streak: an answer cut off at max_tokens is as
        useless as a failed request, and a server that cuts every answer must stop the run."""
        if completion.finish_reason == "length":
            self._bump_failures("an answer cut off at max_tokens")
        else:
            self._consecutive_failures = 0
        if productive:
            self._unproductive = 0
            return
        self._unproductive += 1
        if self._unproductive >= STALL_LIMIT:
            self.stop(
                StopKind.STALLED,
                f"no instruction accepted in the last {STALL_LIMIT} answers: the model is not "
                "producing new, valid instructions",
            )

    def _skipped_requests(self, stage: str) -> set[int]:
        if stage not in self._skipped:
            path = failures_file(self.folder.path)
            self._skipped[stage] = (
                {
                    int(str(r["id"])[1:])
                    for _, r in read_jsonl(path)
                    if r.get("stage") == stage and r.get("skipped")
                }
                if path.exists()
                else set()
            )
        return self._skipped[stage]

    def _never_reached(self, failure: CallFailed) -> bool:
        """A connection failure before any answer at all: the server is not there, so the run
        ends with one clear error instead of logging every request as failed."""
        return failure.error.kind == "connection" and self.client.usage.answered == 0

    def _record_failure(
        self, stage: str, ident: str, failure: CallFailed, skipped: bool | None = None
    ) -> None:
        """Log a request that failed for good, with the raw body when there was one.

        ``skipped`` marks an ordered answer the run moved on without (replayed as a failure on
        resume, so the data does not depend on when the server was down)."""
        error = failure.error
        record: dict[str, Any] = {
            "id": ident,
            "stage": stage,
            "kind": error.kind,
            "error": error.message,
            "attempts": failure.attempts,
            "request_key": failure.key,
            "time": time.time(),
        }
        if error.raw is not None:
            record["raw"] = error.raw
        if skipped is not None:
            record["skipped"] = skipped
        self.folder.log("failures").write(record)
        self._bump_failures(str(error))

    def _bump_failures(self, last: str) -> None:
        self._consecutive_failures += 1
        if self._consecutive_failures >= self.settings.max_consecutive_failures:
            self.stop(
                StopKind.FAILED,
                f"{self._consecutive_failures} requests in a row failed or were cut off "
                f"(last: {last}); check the server",
            )

    def _fail_run(self, error: UserError) -> None:
        """An error no retry can fix (rejected key, unknown model): stop, then raise it."""
        if self._fatal is None:
            self._fatal = error
        self.stop(StopKind.FAILED, str(error))

    def _run_tokens(self) -> tuple[int, int]:
        usage = self.client.usage
        return (
            self._earlier_tokens[0] + usage.prompt_tokens,
            self._earlier_tokens[1] + usage.completion_tokens,
        )

    def _check_budget(self) -> None:
        """--max-tokens and --max-cost bound the whole run folder, across resumes."""
        prompt_tokens, completion_tokens = self._run_tokens()
        tokens = prompt_tokens + completion_tokens
        spent = cost(prompt_tokens, completion_tokens, self.price)
        limit = self.settings.max_total_tokens
        if limit is not None and tokens >= limit:
            self.stop(
                StopKind.BUDGET,
                f"--max-tokens {limit} reached ({tokens} tokens used by this run folder); "
                "pass a larger --max-tokens to continue",
            )
        budget = self.settings.max_cost
        if budget is not None and spent is not None and spent >= budget:
            self.stop(
                StopKind.BUDGET,
                f"--max-cost {budget:g} USD reached ({spent:.4f} USD spent by this run "
                "folder); pass a larger --max-cost to continue",
            )

    def _install_sigint(self, loop: asyncio.AbstractEventLoop) -> bool:
        def on_sigint() -> None:
            self._interrupts += 1
            if self._interrupts > 1:
                # Every answer is already in the cache and every line is whole: leaving now
                # keeps the folder resumable.
                sys.stderr.write(
                    "\nInterrupted again: stopped at once. Run the same command again to resume.\n"
                )
                sys.stderr.flush()
                os._exit(130)
            self.stop(StopKind.INTERRUPTED, "interrupted")
            loop.call_later(INTERRUPT_GRACE_SECONDS, self.client.cancel_inflight)

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        except (NotImplementedError, RuntimeError, ValueError):
            return False
        return True

    def _summary(self, accepted: int, kind: StopKind, wall_seconds: float) -> RunSummary:
        return summarize(
            self.folder.path,
            method=self.method,
            stop=kind,
            stop_reason=self.stop_reason,
            target=self.progress.target,
            accepted=accepted,
            usage=self.client.usage,
            totals=self.cache.totals(),
            price=self.price,
            wall_seconds=wall_seconds,
            endpoints=self.backend.endpoint_stats(),
        )
