"""The run engine every method runs on: model calls, ordered commits, budgets, stops, summary.

A method (``selfinstruct.methods``) says what to ask and what to keep; the engine does the rest.
It owns the model-call layer (cache, concurrency, retries, rate limits), the run folder's logs,
the failure policy (a failed request is logged, never invented; a streak of failures, a run that
accepts nothing for ``STALL_LIMIT`` answers, a budget, Ctrl-C or SIGTERM stops the run cleanly;
a run in which every request failed has failed), progress events and the summary.

:meth:`Engine.ordered` is the one scheduler that keeps data independent of timing. Units of work
k = 0, 1, 2, ... (coroutines that may make several requests each) run concurrently, but each takes
its *turn* (its decision, which may depend on every earlier unit's) strictly in order k, and
everything a unit writes reaches the files when it ends, also in order k: the files are the same
whatever the timing, and a kill -9 leaves a prefix of them that a resume completes.
:meth:`Engine.in_order` is its one-request case.

A request that still fails after its retries never leaves a failure in the data that a resume
would not have: inside a unit it stops the run there, like Ctrl-C (the unit and every later one
are written by the resume, which asks it again), so a resumed run equals an uninterrupted one
across an outage. Two failures are settled in order instead: a request the server refused as
such (``bad_request``: the same request fails the same way every time), and one whose answer
later requests are built from (``lag``: Self-Instruct's pool), which is logged as *skipped* and
replayed as a failure on resume, so the data never depends on when a server was down.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
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
# How far past unit k :meth:`Engine.ordered` looks for a later unit built from k's answer
# (unit j waits for units 0 .. j-1-lag(j)); no method's lag reaches further.
LAG_HORIZON = 4096
# While requests wait, progress is reported this often: the display says how long nothing has
# come back.
TICK_SECONDS = 1.0
# The signals that stop a run cleanly: the stop, its reason, and the line a second one prints.
STOP_SIGNALS = {
    signal.SIGINT: (StopKind.INTERRUPTED, "interrupted", "Interrupted again"),
    signal.SIGTERM: (StopKind.TERMINATED, "terminated (SIGTERM)", "Terminated again"),
}


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
    waiting: int = 0  # requests waiting for the server
    silent_seconds: float = 0.0  # how long nothing has come back while requests wait
    started: float = field(default_factory=time.monotonic)


# Settles answer k (None: it failed for good); True when it added anything.
Commit = Callable[[int, Answer | None], bool]
# Unit of work k: True when it added anything, None when it could not finish (the run stops).
Unit = Callable[[int], Awaitable[bool | None]]
Outcome = tuple[str, Completion | None, CallFailed | None]

STALLED = (
    f"no instruction accepted in the last {STALL_LIMIT} answers: the model is not producing "
    "new, valid instructions"
)


@dataclass(eq=False)
class _Order:
    """One run of :meth:`Engine.ordered`."""

    stage: str
    skipped: set[int]
    lag: Callable[[int], int] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False  # a unit past its turn did not finish: nothing more is written


@dataclass(eq=False)
class _Slot:
    """Unit k of an ordered run: its task, its turn, and the records it wrote so far."""

    k: int
    order: _Order
    task: asyncio.Task[bool | None] | None = None
    decide: Callable[[], bool | None] | None = None  # set when the unit asks for its turn
    turn: asyncio.Future[bool | None] | None = None
    declined: bool = False
    writes: list[tuple[Kind, dict[str, Any]]] | None = field(default_factory=list)
    dropped: bool = False

    @property
    def waiting(self) -> bool:
        """Asking for its turn, or ended (a unit that ends without one takes it then)."""
        assert self.task is not None
        return self.decide is not None or self.task.done()


# The unit whose task (or turn) is running: its writes wait for its end.
_SLOT: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar("_SLOT", default=None)


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
        section: Callable[[Path], dict[str, Any] | None] | None = None,
    ) -> None:
        """``section``: the method's own part of the summary (``Method.report``)."""
        self.settings = settings
        self.backend = backend
        self.folder = folder
        self.method = method
        self.section = section
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
        self._last_failure: str | None = None  # the last request that failed for good
        self._held = False  # a request failed for good inside a unit: the run stopped there
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
        """Append a record to the run folder's log of ``kind`` (once per id). Inside a unit of
        :meth:`ordered` the record is written when the unit ends, in unit order."""
        slot = _SLOT.get()
        if slot is not None and slot.writes is not None:
            slot.writes.append((kind, record))
            return record["id"] not in self.folder.log(kind).ids
        if slot is not None and slot.dropped:
            return False  # a unit that did not finish: a resume writes it again, in order
        return self.folder.log(kind).write(record)

    def write_many(self, kind: Kind, records: list[dict[str, Any]]) -> None:
        """:meth:`write` for each record, but in one append (and one flush) outside a unit."""
        slot = _SLOT.get()
        if slot is not None:
            for record in records:
                self.write(kind, record)
            return
        self.folder.log(kind).write_many(records)

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
            self.folder.log(kind).write(record())  # already in order: never a unit's

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
        """One request: the answer, or None when it failed for good (the failure is logged).
        Raises NotSent when the run is stopping, and inside a unit of :meth:`ordered` when the
        request failed for good on the server's side: the run stops there and a resume asks
        it again (see the module's docstring)."""
        try:
            answer = await self.client.call(request)
        except CallFailed as failure:
            if self._never_reached(failure):
                self._fail_run(self._unreachable(failure))
                raise NotSent from None
            if _SLOT.get() is not None and failure.error.retryable:
                self._hold(request.stage, ident, failure)
                raise NotSent from None
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
            _SLOT.set(None)  # its writes are its own, not those of the unit that spawned it
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
        if not getattr(self.backend, "window", None):  # a batch may take hours to come back
            self.progress.waiting = self.client.waiting
            self.progress.silent_seconds = self.client.silent_seconds()
        self.on_progress(self.progress)

    async def ordered(
        self,
        stage: str,
        unit: Unit,
        *,
        count: int | None = None,
        wanted: Callable[[], bool] | None = None,
        lag: Callable[[int], int] | None = None,
        needed: Callable[[], int] | None = None,
        limit: Callable[[], int] | None = None,
        stalled: str = STALLED,
    ) -> None:
        """Run ``unit(k)`` for k = 0, 1, ... (``count`` of them, or while ``wanted()``), many at
        once, so that the files are the same whatever the timing.

        A unit makes its requests (:meth:`ask`; :meth:`ask_in_turn` for the one whose failure
        later units must not depend on), then takes its turn once with ``await
        engine.turn(decide)``: ``decide()`` runs in order k, after every earlier unit's, and
        says whether the unit added anything. After its turn a unit may ask more (the answer to
        what it kept). A unit that ends without a turn takes it then, with its return value;
        None means it could not finish (the run is stopping). Everything a unit writes reaches
        the files when it ends, in order k. Unit k starts only once units 0 .. k-1-lag(k)
        (default: all before it) had their turns, so it may depend on exactly those; at most
        ``limit()`` units wait for their turns at once (default: --concurrency, or a batching
        backend's window but no more than ``needed()``, the items still wanted: a request sent
        in a batch is paid for even if its answer is never used). A run whose turns add nothing
        ``STALL_LIMIT`` times in a row stops with ``stalled``."""
        order = _Order(stage, self._skipped_requests(stage), lag)
        slots: dict[int, _Slot] = {}
        launched = turned = committed = 0

        def more() -> bool:
            return (wanted is None or wanted()) and not self.stopping

        try:
            while True:
                committed = self._commit_ended(order, slots, committed, turned)
                if not more():
                    break
                cap = limit() if limit is not None else self._ordered_limit(needed)
                before = launched
                while (
                    launched - turned < cap
                    and (count is None or launched < count)
                    and (lag is None or launched - lag(launched) <= turned)
                    and not self.stopping
                ):
                    slots[launched] = self._launch(order, unit, launched)
                    launched += 1
                current = slots.get(turned)
                if current is None:
                    break
                if not current.waiting:
                    self._write_later_now()  # the loop would wait idle: build pending records now
                    while not current.waiting:
                        order.wake.clear()
                        await order.wake.wait()
                        committed = self._commit_ended(order, slots, committed, turned)
                elif launched > before:
                    # Let the new requests go out now: the turns of the units already waiting (a
                    # whole wave of them, tens of milliseconds) would otherwise hold them back.
                    await asyncio.sleep(0)
                productive = self._take_turn(current)
                if productive is None:
                    break
                turned += 1
                self._count_stall(productive, stalled)
                self.report()
            # Units past their turns finish (their writes are wanted); the others are told no.
            waiting = [slots[k] for k in range(turned, launched)]
            batch = bool(getattr(self.backend, "window", None))
            for slot in waiting:
                slot.declined = True
                if slot.turn is not None and not slot.turn.done():
                    slot.turn.set_result(None)
                if batch and slot.task is not None:
                    # A batch may take hours: the run does not wait for answers it no longer
                    # needs (the backend cancels their batches when the run ends complete; a
                    # resume takes them up).
                    slot.task.cancel()
            tasks = [slot.task for slot in slots.values() if slot.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)
            self._commit_ended(order, slots, committed, turned)
        finally:
            for slot in slots.values():
                if slot.task is not None and not slot.task.done():
                    slot.task.cancel()

    async def turn(self, decide: Callable[[], bool]) -> bool:
        """Inside a unit of :meth:`ordered`: run ``decide()`` in unit order (after every
        earlier unit's turn; it must not await) and return what it returned, whether the unit
        added anything. Raises NotSent when the run ends before this unit's turn."""
        slot = _SLOT.get()
        if slot is None or slot.decide is not None:
            raise RuntimeError("turn() is taken once, inside a unit of Engine.ordered")
        if slot.declined:
            raise NotSent
        slot.turn = asyncio.get_running_loop().create_future()
        slot.decide = decide
        slot.order.wake.set()
        productive = await slot.turn
        if productive is None:
            raise NotSent
        return productive

    async def ask_in_turn(self, request: Request, decide: Callable[[Answer | None], bool]) -> bool:
        """Inside unit k of :meth:`ordered`: ask ``request``, then take the unit's turn with
        ``decide(answer)`` (None: the request failed for good). A failure is logged in order as
        ``r<k>``. When a later unit's request is built from this answer (``lag``), or the
        server refused the request as such, the failure is marked skipped and a resume replays
        it as a failure, so later units see the same data whenever the server was down;
        otherwise the run stops here and a resume asks it again. Raises NotSent when the run
        stops first."""
        slot = _SLOT.get()
        if slot is None:
            raise RuntimeError("ask_in_turn() is for a unit of Engine.ordered")
        order, k = slot.order, slot.k
        skipped = k in order.skipped
        key, completion, failure = await self._ask_ordered(request, skipped)

        def settle() -> bool | None:
            if skipped:
                return decide(None)  # failed in an earlier session; the data moved on
            if failure is not None:
                if self._never_reached(failure):
                    self._fail_run(self._unreachable(failure))
                    return None
                if failure.error.retryable and not _seen_later(order.lag, k):
                    self._hold(order.stage, f"r{k:06d}", failure)
                    return None  # the unit did not finish: a resume asks it again
                self._record_failure(order.stage, f"r{k:06d}", failure, skipped=True)
                return decide(None)
            if completion is None:
                return None  # not sent: the run is stopping
            productive = decide(Answer(key, completion))
            self._count_cut_off(completion)
            return productive

        try:
            return await self.turn(settle)
        except NotSent:
            if slot.declined and failure is not None and not skipped:
                # Answers already requested stay in the cache for a resume; failures are logged.
                self._record_failure(order.stage, f"r{k:06d}", failure, skipped=False)
            raise

    async def in_order(
        self,
        stage: str,
        request_for: Callable[[int], Request],
        commit: Commit,
        wanted: Callable[[], bool],
        lag: Callable[[int], int],
        needed: Callable[[], int] | None = None,
        count: int | None = None,
    ) -> None:
        """:meth:`ordered` with one request per unit: ask ``request_for(k)`` for k = 0, 1, ...
        (``count`` of them) while ``wanted()``, and commit the answers with ``commit(k,
        answer)`` in order. Request k is built only once answers 0 .. k-1-lag(k) are
        committed, so it may depend on exactly those. ``commit`` returns whether the answer
        added anything (the stall rule)."""

        async def unit(k: int) -> bool:
            return await self.ask_in_turn(request_for(k), lambda answer: commit(k, answer))

        await self.ordered(stage, unit, count=count, wanted=wanted, lag=lag, needed=needed)

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
        handled = self._install_signals(loop)
        ticker = asyncio.create_task(self._tick())
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
            ticker.cancel()
            for signum in handled:
                loop.remove_signal_handler(signum)
            self._write_later_now()
        self._check_nothing_answered()
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

    async def _tick(self) -> None:
        """Report progress while requests wait, so that a silent server shows as one."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if self.client.waiting:
                self.report()

    def _launch(self, order: _Order, unit: Unit, k: int) -> _Slot:
        slot = _Slot(k, order)

        async def run() -> bool | None:
            _SLOT.set(slot)
            try:
                return await unit(k)
            except NotSent:
                return None
            except UserError as error:
                self._fail_run(error)
                return None
            finally:
                order.wake.set()

        slot.task = asyncio.create_task(run())
        return slot

    def _take_turn(self, slot: _Slot) -> bool | None:
        """Unit ``slot.k``'s turn: its decision (run here, in order; its writes are the
        unit's), or its result when it ended without one. None: the run stops here."""
        assert slot.task is not None
        if slot.decide is None:
            return slot.task.result()  # raises a unit's bug here
        token = _SLOT.set(slot)
        try:
            productive = slot.decide()
        finally:
            _SLOT.reset(token)
        assert slot.turn is not None
        slot.turn.set_result(productive)
        return productive

    def _commit_ended(
        self, order: _Order, slots: dict[int, _Slot], committed: int, turned: int
    ) -> int:
        """Write the records of the units that had their turns and ended, in order, up to the
        first that did not finish: it and every unit after it are dropped (a resume redoes
        them, so the files stay a prefix of an uninterrupted run's)."""
        while committed < turned and not order.dropped:
            slot = slots[committed]
            assert slot.task is not None
            if not slot.task.done():
                break
            failed = slot.task.cancelled() or slot.task.exception() is not None
            if failed or slot.task.result() is None:
                order.dropped = True
                for later in slots.values():
                    later.writes, later.dropped = None, True
                if not slot.task.cancelled():
                    slot.task.result()  # raises a unit's bug
                break
            writes, slot.writes = slot.writes or [], None
            for kind, record in writes:
                self.folder.log(kind).write(record)
            del slots[committed]
            committed += 1
        return committed

    async def _ask_ordered(self, request: Request, skipped: bool) -> Outcome:
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

    def _count_cut_off(self, completion: Completion) -> None:
        """The failure streak: an answer cut off at max_tokens is as useless as a failed
        request, and a server that cuts every answer must stop the run."""
        if completion.finish_reason == "length":
            self._bump_failures("an answer cut off at max_tokens")
        else:
            self._consecutive_failures = 0

    def _count_stall(self, productive: bool, stalled: str) -> None:
        """The stall rule: a run whose turns add nothing STALL_LIMIT times in a row stops."""
        if productive:
            self._unproductive = 0
            return
        self._unproductive += 1
        if self._unproductive >= STALL_LIMIT:
            self.stop(StopKind.STALLED, stalled)

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
        """A connection failure or a timeout before any answer at all: the server is not there
        (or hung), so the run ends with one clear error instead of logging every request as
        failed, one --timeout after another."""
        kind = failure.error.kind
        return kind in ("connection", "timeout") and self.client.usage.answered == 0

    def _unreachable(self, failure: CallFailed) -> UserError:
        where = failure.error.where or self.backend.base_url or "the OpenAI API"
        if failure.error.kind == "timeout":
            return UserError(
                f"no answer from {where} within --timeout {self.settings.timeout:g}s "
                f"({failure.attempts} tries): is the server hung or overloaded? (a slow model "
                "needs a larger --timeout)"
            )
        return UserError(f"cannot reach {where}: is the server running? (check --base-url)")

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
        self._last_failure = str(error)
        self._bump_failures(str(error))

    def _hold(self, stage: str, ident: str, failure: CallFailed) -> None:
        """A request inside a unit failed for good on the server's side: log it and stop the
        run there (the unit and every later one are the resume's, which asks it again)."""
        self._record_failure(stage, ident, failure, skipped=False)
        self._held = True
        self.stop(
            StopKind.FAILED,
            f"a request failed for good ({failure.error}; {stage} {ident}); check the server",
        )

    def _bump_failures(self, last: str) -> None:
        self._consecutive_failures += 1
        if self._consecutive_failures >= self.settings.max_consecutive_failures:
            self.stop(
                StopKind.FAILED,
                f"{self._consecutive_failures} requests in a row failed or were cut off "
                f"(last: {last}); check the server",
            )

    def _check_nothing_answered(self) -> None:
        """A run that ended with failed requests and not one answer produced nothing because
        everything failed (fewer requests than the failure streak, e.g. 20 to `respond`): it
        failed, whatever else it would have been called."""
        if not self._last_failure or self.client.usage.answered:
            return
        reason = f"every request failed (last: {self._last_failure}); check the server"
        if self.stop_kind is None:
            self.stop(StopKind.FAILED, reason)
        elif self._held and self.stop_kind is StopKind.FAILED:
            self.stop_reason = reason  # more to the point than the first request that failed

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

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        """Ctrl-C, and SIGTERM (what containers, systemd and Ray send), stop the run cleanly;
        a second one of either stops it at once."""

        def on_signal(signum: signal.Signals) -> None:
            kind, reason, again = STOP_SIGNALS[signum]
            self._interrupts += 1
            if self._interrupts > 1:
                # Every answer is already in the cache and every line is whole: leaving now
                # keeps the folder resumable.
                sys.stderr.write(
                    f"\n{again}: stopped at once. Run the same command again to resume.\n"
                )
                sys.stderr.flush()
                os._exit(128 + signum)
            self.stop(kind, reason)
            loop.call_later(INTERRUPT_GRACE_SECONDS, self.client.cancel_inflight)

        installed: list[signal.Signals] = []
        for signum in STOP_SIGNALS:
            try:
                loop.add_signal_handler(signum, on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append(signum)
        return installed

    def _summary(self, accepted: int, kind: StopKind, wall_seconds: float) -> RunSummary:
        return summarize(
            self.folder.path,
            method=self.method,
            section=self.section,
            stop=kind,
            stop_reason=self.stop_reason,
            target=self.progress.target,
            accepted=accepted,
            usage=self.client.usage,
            totals=self.cache.totals(),
            price=self.price,
            wall_seconds=wall_seconds,
            endpoints=self.backend.endpoint_stats(),
            counts=self.folder.task_counts(),
            rejections=self.folder.rejection_counts(),
        )


def _seen_later(lag: Callable[[int], int] | None, k: int) -> bool:
    """Whether a later unit's request is built from unit k's answer: unit j waits for units
    0 .. j-1-lag(j) (no ``lag``: for none)."""
    if lag is None:
        return False
    return any(j - 1 - lag(j) >= k for j in range(k + 1, k + 2 + LAG_HORIZON))
