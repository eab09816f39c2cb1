"""A backend that batches: requests wait for a batch file's answers instead of being sent.

``complete`` enqueues the request body (exactly what the live backend would POST) under its
response-cache key as ``custom_id`` and waits. A collector writes the queue into an input file
once no request arrived for ``quiet`` seconds (or a file is full); each file is then uploaded,
run as a batch, polled, and its results saved in the run folder and handed to the waiting
requests. The model client above keeps its cache and retries: a line that expired or failed is
a retryable error, so only that request goes into a later file.

On a rerun every unfinished file is taken up where the state log says it stopped, and requests
asked again attach to the file that already holds them. ``file_only`` writes input files for
``vllm run-batch`` and stops the run; their results come back by ``selfinstruct batches RUN
--import``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Backend, BackendError, Completion, Request
from selfinstruct.backends.openai_api import OpenAIBackend, redact, usage_tokens
from selfinstruct.batch.files import (
    MAX_BYTES,
    MAX_LINES,
    Line,
    Result,
    input_ids,
    input_lines,
    read_line_at,
    read_results,
    results_problem,
    split,
    write_atomic,
)
from selfinstruct.batch.provider import BatchInfo, Provider, missing_endpoint
from selfinstruct.batch.state import TERMINAL, BatchState, FileState
from selfinstruct.cache import request_key
from selfinstruct.client import NotSent, request_description
from selfinstruct.errors import UserError
from selfinstruct.store import batch_input_file, batch_output_file
from selfinstruct.summary import StopKind

# For tests of kill -9 at each step: the process kills itself at the named point.
FAULT_ENV = "SELFINSTRUCT_BATCH_KILL_AT"
FAULT_POINTS = ("before_upload", "after_upload", "after_create", "polling", "reading")
# Provider calls that fail (network, 5xx) are tried this many times before the waiting
# requests get the error (and the model client's own retries take over).
PROVIDER_ATTEMPTS = 5


def fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


Stop = Callable[[StopKind, str], None]


class BatchBackend(Backend):
    def __init__(
        self,
        inner: OpenAIBackend,
        *,
        file_only: bool = False,
        poll_interval: float = 30.0,
        quiet: float = 1.0,
        window: int = 1000,
        notify: Callable[[str], None] | None = None,
        max_lines: int = MAX_LINES,
        max_bytes: int = MAX_BYTES,
        provider: Provider | None = None,
    ) -> None:
        self.inner = inner
        self.model = inner.model
        self.api = inner.api
        self.base_url = inner.base_url
        # Every request may wait in a file at once; ordered stages launch ``window`` at a time.
        self.max_concurrency = max_lines
        self.window = window
        self.file_only = file_only
        self.poll_interval = poll_interval
        self.quiet = quiet
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.notify = notify or (lambda line: None)
        self._provider = provider
        self.folder: Path | None = None
        self._stop: Stop | None = None
        self._state: BatchState | None = None
        self._queue: dict[str, Line] = {}
        self._waiting: dict[str, asyncio.Future[Result]] = {}
        self._in_file: dict[str, str] = {}  # custom_id -> the unfinished file holding it
        self._answers: dict[str, tuple[Path, int]] = {}  # custom_id -> saved answer line
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._collector: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._last = 0.0
        self._stopped = False

    # ------------------------------------------------------------------ the Backend

    def identity(self) -> dict[str, Any]:
        """The live backend's: a batch answer and a live one are the same cached answer."""
        return self.inner.identity()

    def bind(self, folder: Path, stop: Stop) -> None:
        """The engine's run folder and its way to stop the run (file-only mode stops it)."""
        self.folder = folder
        self._stop = stop

    async def complete(self, request: Request, text: str) -> Completion:
        self._start()
        if self._stopped:
            raise NotSent
        custom_id = request_key(request_description(self, request))
        saved = self._answers.get(custom_id)
        if saved is not None:
            return self._answer(saved)
        future = self._waiting.get(custom_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[custom_id] = future
            holder = self._in_file.get(custom_id)
            if holder is not None:
                self._drive(holder)
            else:
                self._enqueue(custom_id, request, text)
        result = await asyncio.shield(future)
        return self._completion(result)

    async def aclose(self) -> None:
        tasks = [*self._drivers.values(), *([self._collector] if self._collector else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._state is not None:
            self._state.close()
        if self._provider is not None:
            await self._provider.close()
        await self.inner.aclose()

    async def abandon_pending(self) -> None:
        """Cancel every batch still running and keep unsubmitted files from being submitted:
        the run needs none of their answers. Lines a batch already answered are billed; a rerun
        saves them when it finds the batch cancelled."""
        if self._state is None or self.file_only:
            return
        drivers = list(self._drivers.values())
        for task in drivers:
            task.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)
        for state in list(self._state.files.values()):
            if state.finished or state.status in TERMINAL:
                continue
            batch_id, provider = state.batch_id, self._provider_for()
            try:
                if batch_id is None and state.file_id is not None:
                    # the batch may have been created as its driver stopped
                    batch_id = await self._call("list", partial(provider.find, state.file_id))
                if batch_id is None:
                    self._state.record({"event": "abandoned", "file": state.name})
                    continue
                await self._call("cancel", partial(provider.cancel, batch_id))
            except (BackendError, UserError) as error:
                self.notify(f"batch file {state.name} could not be cancelled: {error}")
                continue
            self._state.record({"event": "cancelled", "file": state.name, "batch_id": batch_id})
            self.notify(f"batch {batch_id} ({state.name}) cancelled: the run needs none of its "
                        "answers")  # fmt: skip

    # ------------------------------------------------------------------ answers

    def _completion(self, result: Result) -> Completion:
        if result.ok:
            return self.inner.parse(json.dumps(result.body))
        status = result.status
        if status in (401, 403):
            kind = "auth"
        elif status == 404:
            kind = "not_found"
        elif status is None or status == 429 or status >= 500:
            kind = "server"  # expired, cancelled or refused for load: worth another file
        else:
            kind = "bad_request"
        message = redact(f"batch line {result.code}: {result.message}", self.inner.api_key)
        raise BackendError(kind, message)  # type: ignore[arg-type]

    def _answer(self, saved: tuple[Path, int]) -> Completion:
        path, offset = saved
        data = json.loads(read_line_at(path, offset))
        return self.inner.parse(json.dumps(data["response"]["body"]))

    def _settle(self, custom_id: str, result: Result) -> None:
        future = self._waiting.pop(custom_id, None)
        if future is not None and not future.done():
            future.set_result(result)

    # ------------------------------------------------------------------ starting

    def _start(self) -> None:
        """On first use: read the state log, index saved answers, take up unfinished files."""
        if self._state is not None:
            return
        if self.folder is None:
            raise UserError("batch mode needs a run folder (the engine binds one)")
        self._state = BatchState(self.folder)
        self._wake = asyncio.Event()
        for state in self._state.files.values():
            if state.results:
                self._index(state)
        for state in self._state.files.values():
            if not state.finished:
                for custom_id in input_ids(batch_input_file(self.folder, state.name)):
                    self._in_file[custom_id] = state.name
                if not self.file_only:
                    self._drive(state.name)
        self._collector = asyncio.ensure_future(self._collect())

    def _index(self, state: FileState) -> None:
        assert self.folder is not None
        for relative in state.results:
            path = self.folder / relative
            for _, offset, result in read_results(path):
                if result.ok:
                    self._answers[result.custom_id] = (path, offset)

    # ------------------------------------------------------------------ collecting

    def _enqueue(self, custom_id: str, request: Request, text: str) -> None:
        endpoint = "/v1" + self.inner.path
        self._queue[custom_id] = Line(
            custom_id, self.model, endpoint, self.inner.body(request, text)
        )
        self._last = time.monotonic()
        assert self._wake is not None
        self._wake.set()

    async def _collect(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                since = time.monotonic() - self._last
                if since >= self.quiet or len(self._queue) >= self.max_lines:
                    self._flush()
                    break
                await asyncio.sleep(self.quiet - since)

    def _flush(self) -> None:
        assert self._state is not None and self.folder is not None
        lines, self._queue = list(self._queue.values()), {}
        written = []
        for group in split(lines, self.max_lines, self.max_bytes):
            first = json.loads(group[0])
            written.append(self._write(self._state.next_name(), group, first["body"]["model"],
                                       first["url"]))  # fmt: skip
        if self.file_only:
            self._stop_for_files(written)
            return
        for name in written:
            self._drive(name)

    def _write(self, name: str, group: list[bytes], model: str, endpoint: str,
               parent: str | None = None) -> str:  # fmt: skip
        assert self._state is not None and self.folder is not None
        write_atomic(batch_input_file(self.folder, name), b"".join(group))
        self._state.record({"event": "written", "file": name, "model": model,
                            "endpoint": endpoint, "lines": len(group), "parent": parent})  # fmt: skip
        for raw in group:
            self._in_file[str(json.loads(raw)["custom_id"])] = name
        return name

    def _stop_for_files(self, names: list[str]) -> None:
        """File-only mode: the input files are written; stop and say what to run next."""
        assert self.folder is not None
        self._stopped = True
        paths = " ".join(str(batch_input_file(self.folder, name)) for name in names)
        out = batch_output_file(self.folder, names[0], "vllm")
        reason = (
            f"batch input files written ({paths}): run `vllm run-batch -i FILE -o {out} "
            f"--model {self.model}` for each, then `selfinstruct batches {self.folder} "
            f"--import {out}`"
        )
        if self._stop is not None:
            self._stop(StopKind.BATCH_FILES, reason)
        for future in list(self._waiting.values()):
            if not future.done():
                future.set_exception(NotSent())
        self._waiting.clear()

    # ------------------------------------------------------------------ one file's way

    def _drive(self, name: str) -> None:
        if self.file_only:
            self._stop_for_files([name])
            return
        task = self._drivers.get(name)
        if task is None or task.done():
            self._drivers[name] = asyncio.ensure_future(self._run_file(name))

    def _provider_for(self) -> Provider:
        if self._provider is None:
            self._provider = Provider(self.base_url, self.inner.api_key, self.inner.timeout)
        return self._provider

    async def _run_file(self, name: str) -> None:
        assert self._state is not None and self.folder is not None
        state = self._state.files[name]
        try:
            info = await self._submit_and_wait(state)
            if info.status == "failed":
                await self._refused(state, info)
                return
            await self._save_results(state, info)
        except BackendError as error:
            self.notify(f"batch file {name}: {error}")
            self._fail_waiters(name, error)
        except UserError as error:
            self._halt(error)

    async def _call(self, what: str, work: Callable[[], Any]) -> Any:
        """A provider call, tried PROVIDER_ATTEMPTS times on transient faults."""
        for attempt in range(PROVIDER_ATTEMPTS):
            try:
                return await work()
            except Exception as exc:  # noqa: BLE001 - every failure becomes a BackendError
                missing = missing_endpoint(exc, self._provider_for().where)
                if missing is not None:
                    raise missing from None
                error = self._provider_for().error(exc)
                if not error.retryable or attempt == PROVIDER_ATTEMPTS - 1:
                    raise error from None
                await asyncio.sleep(min(self.poll_interval, 2.0**attempt))
        raise AssertionError("unreachable")

    async def _submit_and_wait(self, state: FileState) -> BatchInfo:
        assert self._state is not None and self.folder is not None
        provider = self._provider_for()
        token = self._state.ensure_token()
        if state.file_id is None:
            fault_point("before_upload")
            path = batch_input_file(self.folder, state.name)
            remote = f"selfinstruct-{token}-{state.name}.jsonl"
            file_id = await self._call("upload", lambda: provider.upload(remote, path))
            fault_point("after_upload")
            self._state.record({"event": "uploaded", "file": state.name, "file_id": file_id})
        if state.batch_id is None:
            assert state.file_id is not None
            file_id = state.file_id
            metadata = {"selfinstruct_run": token, "selfinstruct_file": state.name}
            batch_id = await self._call(
                "create", lambda: provider.create(file_id, state.endpoint, metadata)
            )
            fault_point("after_create")
            self._state.record({"event": "created", "file": state.name, "batch_id": batch_id})
        assert state.batch_id is not None
        batch_id = state.batch_id
        while True:
            info: BatchInfo = await self._call("retrieve", lambda: provider.retrieve(batch_id))
            if info.status != state.status or info.counts != state.counts:
                self._state.record({"event": "status", "file": state.name,
                                    "status": info.status, "counts": info.counts,
                                    "errors": info.errors})  # fmt: skip
            if info.status in TERMINAL:
                return info
            fault_point("polling")
            await asyncio.sleep(self.poll_interval)

    async def _save_results(self, state: FileState, info: BatchInfo) -> None:
        assert self._state is not None and self.folder is not None
        saved: list[str] = []
        for kind, file_id in (("output", info.output_file_id), ("error", info.error_file_id)):
            if not file_id:
                continue
            data = await self._download(state, info, kind, file_id)
            path = batch_output_file(self.folder, state.name, kind)
            write_atomic(path, data)
            saved.append(str(path.relative_to(self.folder)))
        self._finish(state, saved, "downloaded")

    async def _download(self, state: FileState, info: BatchInfo, kind: str, file_id: str) -> bytes:
        """A result file, tried PROVIDER_ATTEMPTS times whatever went wrong (an HTTP error, a
        body that is no result file): the answers are done and wait at the provider, so when
        it still fails the run stops, and the same command fetches them later."""
        provider = self._provider_for()
        problem = ""
        for attempt in range(PROVIDER_ATTEMPTS):
            if attempt:
                await asyncio.sleep(min(self.poll_interval, 2.0 ** (attempt - 1)))
            try:
                data: bytes = await provider.content(file_id)
            except Exception as exc:  # noqa: BLE001 - every failure is tried again
                problem = provider.error(exc).message
                continue
            problem = results_problem(data) or ""
            if not problem:
                return data
        raise UserError(
            f"batch {info.id} ({state.name}) is {info.status}, but its {kind} file {file_id} "
            f"could not be downloaded from {provider.where} in {PROVIDER_ATTEMPTS} attempts "
            f"(last: {problem}); run the same command again to fetch it"
        )

    def _halt(self, error: UserError) -> None:
        """A failure no retry fixes now (a result file that cannot be fetched, a full disk):
        every waiting request gets it, so the run stops with it as its one line. The state log
        keeps each file where it was; the same command takes them up again."""
        self._stopped = True
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)
        self._waiting.clear()

    def _finish(self, state: FileState, saved: list[str], event: str) -> None:
        """Record the saved result files, then answer every request waiting on the file."""
        assert self._state is not None and self.folder is not None
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "completed": 0, "failed": 0}
        results: dict[str, Result] = {}
        for relative in saved:
            path = self.folder / relative
            for _, offset, result in read_results(path):
                results[result.custom_id] = result
                if result.ok:
                    self._answers[result.custom_id] = (path, offset)
                    # A malformed usage counts as 0 (the answer warns when it is read).
                    prompt, completion, _ = usage_tokens((result.body or {}).get("usage"))
                    usage["prompt_tokens"] += prompt
                    usage["completion_tokens"] += completion
        ids = input_ids(batch_input_file(self.folder, state.name))
        usage["completed"] = sum(1 for i in ids if i in results and results[i].ok)
        usage["failed"] = len(ids) - usage["completed"]
        self._state.record({"event": event, "file": state.name, "results": saved,
                            "usage": usage})  # fmt: skip
        missing = Result("", None, None, "no_answer",
                         "the batch ended without an answer for this request")  # fmt: skip
        for number, custom_id in enumerate(ids):
            if number == len(ids) // 2:
                fault_point("reading")
            if self._in_file.get(custom_id) == state.name:
                del self._in_file[custom_id]
            self._settle(custom_id, results.get(custom_id, missing))

    async def _refused(self, state: FileState, info: BatchInfo) -> None:
        """The provider failed the whole batch (too many enqueued tokens, a line it cannot
        validate): say so, wait, and send its lines again in two files of half the size. A
        single line that is still refused fails its request."""
        assert self._state is not None and self.folder is not None
        reason = "; ".join(info.errors) or "no reason given"
        lines = input_lines(batch_input_file(self.folder, state.name))
        if len(lines) == 1:
            self.notify(f"batch {info.id} ({state.name}, 1 request) was refused: {reason}")
            self._state.record({"event": "refused", "file": state.name, "children": []})
            custom_id = str(json.loads(lines[0])["custom_id"])
            self._in_file.pop(custom_id, None)
            self._settle(custom_id, Result(custom_id, None, 400, "refused", reason))
            return
        half = (len(lines) + 1) // 2
        self.notify(
            f"batch {info.id} ({state.name}, {len(lines)} requests) was refused: {reason}; "
            f"sending it again as two files of {half} and {len(lines) - half}"
        )
        await asyncio.sleep(self.poll_interval)
        children = []
        for number, part in enumerate((lines[:half], lines[half:]), start=1):
            child = f"{state.name}.{number}"
            if child not in self._state.files:
                self._write(child, part, state.model, state.endpoint, parent=state.name)
            children.append(child)
        self._state.record({"event": "refused", "file": state.name, "children": children})
        for child in children:
            self._drive(child)

    def _fail_waiters(self, name: str, error: BackendError) -> None:
        """A file that cannot be driven now: its waiting requests get the error (a retry
        attaches to the file again and takes it up where the log says)."""
        for custom_id, holder in list(self._in_file.items()):
            if holder == name:
                future = self._waiting.pop(custom_id, None)
                if future is not None and not future.done():
                    future.set_exception(error)
