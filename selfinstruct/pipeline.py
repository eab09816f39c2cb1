"""The Self-Instruct pipeline as one asynchronous run over a run folder.

The bootstrap loop sends instruction requests concurrently but commits their answers strictly in
request order; prompt k samples the machine pool as it stood after response k-1-pool_lag was
committed, and its random choices come from (seed, k) alone. So the data depends on the seed
and the answers, never on timing or concurrency, and a resume can replay the run exactly:
answers already paid for come from the response cache, and records already in the output files
are not written again.

Classification and instance generation for an accepted instruction start as soon as it is
accepted and run while the bootstrap continues.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Backend, Completion, Request
from selfinstruct.cache import ResponseCache
from selfinstruct.client import CallFailed, ModelClient, NotSent, RetryPolicy
from selfinstruct.config import GenerateSettings, data_differences, load_settings, save_settings
from selfinstruct.errors import UserError
from selfinstruct.filters import filter_instances, instruction_rules
from selfinstruct.jsonio import JsonlAppender, read_jsonl, repair_tail
from selfinstruct.novelty import NoveltyIndex
from selfinstruct.parse import parse_instances, parse_instructions, parse_is_classification
from selfinstruct.pricing import cost, price_for
from selfinstruct.prompting import classification_prompt, instances_prompt, instruction_prompt
from selfinstruct.ratelimit import RateLimiter
from selfinstruct.records import SeedTask

MACHINE_FILE = "machine_instructions.jsonl"
REJECTED_FILE = "rejected.jsonl"
CLASSIFICATION_FILE = "classification.jsonl"
TASKS_FILE = "tasks.jsonl"
FAILURES_FILE = "failures.jsonl"
SUMMARY_FILE = "summary.json"
CACHE_FILE = "cache.sqlite"

# A run that commits this many responses in a row without accepting anything is going nowhere.
STALL_LIMIT = 200


class RunLog:
    """An output file whose records carry an ``id``; on resume, known ids are not rewritten."""

    def __init__(self, path: Path) -> None:
        repair_tail(path)
        self.ids: set[str] = set()
        if path.exists():
            self.ids = {str(obj.get("id")) for _, obj in read_jsonl(path)}
        self._out = JsonlAppender(path)

    def write(self, record: dict[str, Any]) -> None:
        if record["id"] in self.ids:
            return
        self.ids.add(record["id"])
        self._out.write(record)

    def close(self) -> None:
        self._out.close()


@dataclass
class Progress:
    """What the progress display shows; updated as the run advances."""

    target: int
    accepted: int = 0  # instructions accepted into the pool
    finished: int = 0  # accepted instructions through classification and instances
    rejected: int = 0
    tasks: int = 0  # tasks written with at least one instance
    requests: int = 0
    cached: int = 0
    failed: int = 0
    tokens: int = 0
    cost_usd: float | None = None
    started: float = field(default_factory=time.monotonic)


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]

    @property
    def stop_reason(self) -> str | None:
        return self.summary.get("stop_reason")


def prepare_run_dir(run_dir: Path, settings: GenerateSettings, allow_changes: bool) -> bool:
    """Create or validate the run folder; returns True when resuming an earlier run."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to {run_dir}: {exc.strerror}") from None
    previous = load_settings(run_dir)
    if previous is None:
        if any(run_dir.glob("*.jsonl")):
            raise UserError(f"{run_dir} holds JSONL files but no settings.json: use another --out")
        save_settings(run_dir, settings)
        return False
    differing = data_differences(previous, settings)
    if differing and not allow_changes:
        first = differing[0]
        before = previous.model_dump(mode="json")[first]
        after = settings.model_dump(mode="json")[first]
        raise UserError(
            f"{run_dir} was generated with {first}={before!r}, not {after!r}: resuming would mix "
            f"two datasets; use another --out, or pass --allow-setting-changes"
        )
    save_settings(run_dir, settings)
    return True


class Generator:
    def __init__(
        self,
        settings: GenerateSettings,
        seeds: list[SeedTask],
        backend: Backend,
        run_dir: Path,
        on_progress: Callable[[Progress], None] | None = None,
        price: tuple[float, float] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.s = settings
        self.backend = backend
        self.run_dir = run_dir
        self.on_progress = on_progress or (lambda progress: None)
        self.price = price_for(settings.model, price)
        self.chat = settings.api == "chat"
        self.cache = ResponseCache(run_dir / CACHE_FILE)
        self.client = ModelClient(
            backend,
            self.cache,
            concurrency=settings.concurrency,
            retry=retry or RetryPolicy(attempts=settings.max_retries),
            limiter=RateLimiter(rpm=settings.rpm, tpm=settings.tpm),
        )
        self.client.should_stop = lambda: self.stop_reason is not None
        # Tokens of answers received in earlier sessions: budgets count the whole run.
        earlier = self.cache.totals().values()
        self._earlier_tokens = (
            sum(t["prompt_tokens"] for t in earlier),
            sum(t["completion_tokens"] for t in earlier),
        )
        self.filter = instruction_rules(
            settings.blacklist, settings.ascii_first_char, settings.tokenizer
        )
        self.index = NoveltyIndex(threshold=settings.threshold, tokenizer=settings.tokenizer)
        for seed in seeds:
            self.index.add(seed.instruction)
        prompt_seeds = [t for t in seeds if t.is_classification or not settings.classification_only]
        if len(prompt_seeds) < settings.prompt_instructions:
            raise UserError(
                f"{settings.seeds_path}: {len(prompt_seeds)} usable seed tasks, but each prompt "
                f"shows {settings.prompt_instructions}"
            )
        self.prompt_seeds = [t.instruction for t in prompt_seeds]
        self.machine: list[str] = []
        self.pool_sizes: list[int] = []  # len(machine) after committing response k
        self.progress = Progress(target=settings.n)
        self.stop_reason: str | None = None
        self._consecutive_failures = 0
        self._responses_since_accept = 0
        self._downstream: set[asyncio.Task[None]] = set()
        self._fatal: UserError | None = None
        self._logs: dict[str, RunLog] = {}

    # ----------------------------------------------------------------- public

    async def run(self) -> RunResult:
        started = time.monotonic()
        for name in (MACHINE_FILE, REJECTED_FILE, CLASSIFICATION_FILE, TASKS_FILE):
            self._logs[name] = RunLog(self.run_dir / name)
        repair_tail(self.run_dir / FAILURES_FILE)
        # Bootstrap responses that failed and that the pool moved on without: a resume replays
        # them as failures (never re-asks), so the pool evolves exactly as it did.
        self._skipped = (
            {
                int(str(r["id"])[1:])
                for _, r in read_jsonl(self.run_dir / FAILURES_FILE)
                if r.get("stage") == "instructions" and r.get("skipped")
            }
            if (self.run_dir / FAILURES_FILE).exists()
            else set()
        )
        self._failures = JsonlAppender(self.run_dir / FAILURES_FILE)
        self._done_tasks = self._logs[TASKS_FILE].ids | {
            i for i in self._logs[REJECTED_FILE].ids if i.startswith("task_") and "." not in i
        }
        self.progress.tasks = len(self._logs[TASKS_FILE].ids)
        self.progress.finished = len(self._done_tasks)
        loop = asyncio.get_running_loop()
        handles_sigint = self._install_sigint(loop)
        try:
            self._check_budget()
            await self._bootstrap()
            if self._downstream:
                await asyncio.gather(*self._downstream)
        finally:
            if handles_sigint:
                loop.remove_signal_handler(signal.SIGINT)
            for log in self._logs.values():
                log.close()
            self._failures.close()
        summary = self._summary(time.monotonic() - started)
        path = self.run_dir / SUMMARY_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
        tmp.replace(path)
        self.cache.close()
        await self.backend.aclose()
        if self._fatal is not None:
            raise self._fatal  # after the files are closed and the summary written
        return RunResult(self.run_dir, summary)

    def _fail_run(self, error: UserError) -> None:
        """An error no retry can fix (rejected key, unknown model): stop, then raise it."""
        if self._fatal is None:
            self._fatal = error
        self.request_stop(str(error))

    def request_stop(self, reason: str) -> None:
        """Stop sending new requests; answers already in flight are still saved."""
        if self.stop_reason is None:
            self.stop_reason = reason

    # -------------------------------------------------------------- bootstrap

    async def _bootstrap(self) -> None:
        inflight: dict[int, asyncio.Task[tuple[str, Completion | None, CallFailed | None]]] = {}
        launched = committed = 0
        launch_limit = max(1, min(self.s.concurrency, self.backend.max_concurrency))
        while len(self.machine) < self.s.n and self.stop_reason is None:
            while (
                len(inflight) < launch_limit
                and launched <= committed + self.s.pool_lag
                and self.stop_reason is None
            ):
                inflight[launched] = asyncio.create_task(self._ask_for_instructions(launched))
                launched += 1
            if committed not in inflight:
                break
            key, completion, failure = await inflight.pop(committed)
            if completion is None and failure is None and committed not in self._skipped:
                break  # not sent: the run is stopping
            self._commit(committed, key, completion, failure)
            committed += 1
        # Answers already requested are kept in the cache for a later resume; failures are logged.
        for k, task in sorted(inflight.items()):
            key, _, failure = await task
            if failure is not None and k not in self._skipped:
                self._record_failure("instructions", f"r{k:06d}", key, failure, skipped=False)

    def _bootstrap_request(self, k: int) -> Request:
        rng = random.Random(f"{self.s.seed}:bootstrap:{k}")
        visible = self.pool_sizes[k - self.s.pool_lag - 1] if k > self.s.pool_lag else 0
        n_machine = min(self.s.machine_instructions, visible)
        chosen = [self.machine[i] for i in rng.sample(range(visible), n_machine)]
        chosen += rng.sample(self.prompt_seeds, self.s.prompt_instructions - n_machine)
        rng.shuffle(chosen)
        prompt = instruction_prompt(chosen, classification_only=self.s.classification_only)
        return Request(
            "instructions", prompt, self.s.instruction_decoding, seed=rng.randrange(2**31)
        )

    async def _ask_for_instructions(
        self, k: int
    ) -> tuple[str, Completion | None, CallFailed | None]:
        request = self._bootstrap_request(k)
        if k in self._skipped:
            return "", None, None
        try:
            key, completion = await self.client.call(request)
        except CallFailed as failure:
            return failure.key, None, failure
        except NotSent:
            return "", None, None
        except UserError as error:
            self._fail_run(error)
            return "", None, None
        self._after_call()
        return key, completion, None

    def _commit(
        self, k: int, key: str, completion: Completion | None, failure: CallFailed | None
    ) -> None:
        """Apply response k to the pool: parse, filter, novelty, accept."""
        try:
            if k in self._skipped:
                return  # failed in an earlier session; the pool moved on without it
            if failure is not None and self._never_reached(failure):
                where = self.backend.base_url or "the OpenAI API"
                self._fail_run(
                    UserError(f"cannot reach {where}: is the server running? (check --base-url)")
                )
                return
            if failure is not None or completion is None:
                self._record_failure("instructions", f"r{k:06d}", key, failure, skipped=True)
                return
            self._consecutive_failures = 0
            if completion.finish_reason == "length":
                self._reject(f"r{k:06d}", "instruction", "response_truncated", completion.text, key)
                return
            accepted_before = len(self.machine)
            for j, text in enumerate(parse_instructions(completion.text, chat=self.chat)):
                if len(self.machine) >= self.s.n:
                    break
                self._consider(f"r{k:06d}.{j}", text, k, key)
            if len(self.machine) > accepted_before:
                self._responses_since_accept = 0
            else:
                self._responses_since_accept += 1
                if self._responses_since_accept >= STALL_LIMIT:
                    self.request_stop(
                        f"no instruction accepted in the last {STALL_LIMIT} responses: the model "
                        "is not producing new, valid instructions"
                    )
        finally:
            self.pool_sizes.append(len(self.machine))
            self._report()

    def _never_reached(self, failure: CallFailed) -> bool:
        """A connection failure before any answer at all: the server is not there, so the run
        ends with one clear error instead of logging every request as failed."""
        return failure.error.kind == "connection" and self.client.usage.answered == 0

    def _consider(self, rid: str, text: str, k: int, key: str) -> None:
        reason = self.filter.reason(text)
        if reason is not None:
            detail = self.filter.blacklisted_word(text) if reason == "blacklist" else None
            self._reject(rid, "instruction", reason, text, key, detail=detail)
            return
        verdict = self.index.query(text, top_k=0)
        if not verdict.novel:
            self._reject(
                rid, "instruction", "rouge_similar", text, key, max_score=verdict.max_score
            )
            return
        scored = self.index.query(text, top_k=10, with_mean=True)
        self.index.add(text)
        self.machine.append(text)
        task_id = f"task_{len(self.machine):06d}"
        self._logs[MACHINE_FILE].write(
            {
                "id": task_id,
                "instruction": text,
                "iteration": k,
                "request_key": key,
                "max_similarity": scored.max_score,
                "avg_similarity_score": scored.mean_score,
                "most_similar": [
                    {"instruction": s.text, "score": s.score} for s in scored.most_similar
                ],
            }
        )
        self.progress.accepted = len(self.machine)
        if task_id not in self._done_tasks:
            task = asyncio.create_task(self._complete_task(task_id, text))
            self._downstream.add(task)
            task.add_done_callback(self._downstream.discard)

    # -------------------------------------------------------------- downstream

    async def _complete_task(self, task_id: str, instruction: str) -> None:
        try:
            await self._classify_and_generate(task_id, instruction)
        except NotSent:
            pass
        except UserError as error:
            self._fail_run(error)
        finally:
            self.progress.finished += 1
            self._report()

    async def _classify_and_generate(self, task_id: str, instruction: str) -> None:
        """Classify, generate instances, filter them, and write the task."""
        if self.stop_reason is not None:
            return
        request = Request("classify", classification_prompt(instruction), self.s.classify_decoding)
        try:
            key, answer = await self.client.call(request)
        except CallFailed as failure:
            self._record_failure("classify", task_id, failure.key, failure)
            return
        self._after_call()
        is_classification = parse_is_classification(answer.text, chat=self.chat)
        self._logs[CLASSIFICATION_FILE].write(
            {
                "id": task_id,
                "instruction": instruction,
                "is_classification": is_classification,
                "raw": answer.text,
                "request_key": key,
            }
        )
        if self.stop_reason is not None:
            return
        decoding = (
            self.s.classification_instance_decoding
            if is_classification
            else self.s.generation_instance_decoding
        )
        request = Request("instances", instances_prompt(instruction, is_classification), decoding)
        try:
            key, answer = await self.client.call(request)
        except CallFailed as failure:
            self._record_failure("instances", task_id, failure.key, failure)
            return
        self._after_call()
        parsed = parse_instances(answer.text, is_classification)
        result = filter_instances(
            parsed, truncated=answer.finish_reason == "length", max_instances=self.s.max_instances
        )
        for j, (instance, reason) in enumerate(result.dropped):
            self._reject(
                f"{task_id}.i{j}", "instances", reason, instance.output, key,
                input=instance.input, task_id=task_id,
            )  # fmt: skip
        if not result.kept:
            self._reject(task_id, "task", "no_valid_instances", instruction, key, raw=answer.text)
        else:
            self._logs[TASKS_FILE].write(
                {
                    "id": task_id,
                    "instruction": instruction,
                    "is_classification": is_classification,
                    "instances": [{"input": i.input, "output": i.output} for i in result.kept],
                }
            )
            self.progress.tasks += 1
        self._report()

    # ---------------------------------------------------------------- records

    def _reject(self, rid: str, stage: str, reason: str, text: str, key: str, **extra: Any) -> None:
        record = {"id": rid, "stage": stage, "reason": reason, "text": text, "request_key": key}
        record.update({k: v for k, v in extra.items() if v is not None})
        self._logs[REJECTED_FILE].write(record)
        self.progress.rejected += 1

    def _record_failure(
        self,
        stage: str,
        ident: str,
        key: str,
        failure: CallFailed | None,
        skipped: bool | None = None,
    ) -> None:
        """Log a request that failed for good: its error, and the raw body when there was one.

        ``skipped`` marks a bootstrap response the pool moved on without (replayed as a failure
        on resume, so the data does not depend on when the server was down)."""
        error = failure.error if failure else None
        record: dict[str, Any] = {
            "id": ident,
            "stage": stage,
            "kind": error.kind if error else "unknown",
            "error": error.message if error else "no answer",
            "attempts": failure.attempts if failure else 0,
            "request_key": key,
            "time": time.time(),
        }
        if error is not None and error.raw is not None:
            record["raw"] = error.raw
        if skipped is not None:
            record["skipped"] = skipped
        self._failures.write(record)
        self._consecutive_failures += 1
        if self._consecutive_failures >= self.s.max_consecutive_failures:
            self.request_stop(
                f"{self._consecutive_failures} requests in a row failed (last: {error}); "
                "check the server"
            )

    def _after_call(self) -> None:
        self._consecutive_failures = 0
        self._check_budget()

    def _run_tokens(self) -> tuple[int, int]:
        """Prompt and completion tokens of the whole run: earlier sessions plus this one."""
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
        limit = self.s.max_total_tokens
        if limit is not None and tokens >= limit:
            self.request_stop(
                f"--max-tokens {limit} reached ({tokens} tokens used by this run folder); "
                "pass a larger --max-tokens to continue"
            )
        if self.s.max_cost is not None and spent is not None and spent >= self.s.max_cost:
            self.request_stop(
                f"--max-cost {self.s.max_cost:g} USD reached ({spent:.4f} USD spent by this run "
                "folder); pass a larger --max-cost to continue"
            )

    def _report(self) -> None:
        usage = self.client.usage
        self.progress.requests = usage.requests
        self.progress.cached = sum(s.cached for s in usage.stages.values())
        self.progress.failed = sum(usage.failures.values())
        self.progress.tokens = usage.prompt_tokens + usage.completion_tokens
        self.progress.cost_usd = cost(usage.prompt_tokens, usage.completion_tokens, self.price)
        self.on_progress(self.progress)

    def _install_sigint(self, loop: asyncio.AbstractEventLoop) -> bool:
        def on_sigint() -> None:
            if self.stop_reason == "interrupted":
                raise KeyboardInterrupt
            self.request_stop("interrupted")

        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        except (NotImplementedError, RuntimeError, ValueError):
            return False
        return True

    # ---------------------------------------------------------------- summary

    def _summary(self, wall_seconds: float) -> dict[str, Any]:
        rejected: Counter[str] = Counter()
        for _, record in read_jsonl(self.run_dir / REJECTED_FILE):
            rejected[f"{record.get('stage')}:{record.get('reason')}"] += 1
        tasks = instances = classification = 0
        for _, record in read_jsonl(self.run_dir / TASKS_FILE):
            tasks += 1
            instances += len(record.get("instances", []))
            classification += bool(record.get("is_classification"))
        usage = self.client.usage
        totals = self.cache.totals()
        run_prompt = sum(t["prompt_tokens"] for t in totals.values())
        run_completion = sum(t["completion_tokens"] for t in totals.values())
        stages = {
            name: {
                "requests": s.requests,
                "cached": s.cached,
                "failed": s.failed,
                "prompt_tokens": s.prompt_tokens,
                "completion_tokens": s.completion_tokens,
            }
            for name, s in usage.stages.items()
        }
        return {
            "status": "stopped" if self.stop_reason else "complete",
            "stop_reason": self.stop_reason,
            "target": self.s.n,
            "accepted_instructions": len(self.machine),
            "tasks": tasks,
            "instances": instances,
            "classification_tasks": classification,
            "rejected": dict(sorted(rejected.items())),
            "failures": dict(usage.failures),
            "retries": usage.retries,
            "usage": stages,
            # The whole run folder (every answer in the cache, all sessions).
            "run_usage": {
                "responses": sum(t["responses"] for t in totals.values()),
                "prompt_tokens": run_prompt,
                "completion_tokens": run_completion,
                "total_tokens": run_prompt + run_completion,
                "cost_usd": cost(run_prompt, run_completion, self.price),
                "by_stage": {
                    stage: {
                        **t,
                        "cost_usd": cost(t["prompt_tokens"], t["completion_tokens"], self.price),
                    }
                    for stage, t in totals.items()
                },
            },
            # This session's fresh requests only.
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_usd": cost(usage.prompt_tokens, usage.completion_tokens, self.price),
            "wall_seconds": round(wall_seconds, 2),
        }
