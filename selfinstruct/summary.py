"""What a run produced and what it cost: ``summary.json``, and how a run stopped.

Counts are read back from the run folder (every session's records), tokens and cost from the
response cache (every answer the folder was ever given) and from this session's usage.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from selfinstruct.backends.base import EndpointStats
from selfinstruct.client import Usage
from selfinstruct.jsonio import read_jsonl
from selfinstruct.pricing import cost
from selfinstruct.store import rejected_file, rejection_key, tasks_file


class StopKind(str, enum.Enum):
    COMPLETE = "complete"
    BUDGET = "budget"
    INTERRUPTED = "interrupted"  # Ctrl-C
    TERMINATED = "terminated"  # SIGTERM
    STALLED = "stalled"
    FAILED = "failed"
    BATCH_FILES = "batch_files"  # --batch-file-only: input files written for an offline run


class StageSummary(BaseModel):
    requests: int
    cached: int
    failed: int
    prompt_tokens: int
    completion_tokens: int


class EndpointSummary(BaseModel):
    """One server of several, this session: what it was sent and what came back."""

    limit: int  # requests in flight at once
    requests: int  # attempts sent (a request moved after a failure counts on both servers)
    answered: int
    errors: dict[str, int]  # failed attempts by kind
    benched: int  # times taken out of rotation
    mean_latency_seconds: float | None  # of answered requests


class RunSummary(BaseModel):
    """``summary.json``: what a run produced and what it cost.

    A method's own section (``Method.report``) is written under the method's name, and only for
    that method's runs."""

    model_config = ConfigDict(extra="allow")

    method: str
    status: str  # "complete" or "stopped"
    stop: StopKind
    stop_reason: str | None
    target: int
    accepted_instructions: int
    tasks: int
    instances: int
    classification_tasks: int
    rejected: dict[str, int]
    failures: dict[str, int]
    retries: int
    usage: dict[str, StageSummary]
    run_usage: dict[str, Any]  # the whole run folder, every session
    prompt_tokens: int  # this session's fresh requests
    completion_tokens: int
    cost_usd: float | None
    wall_seconds: float
    # By URL, when requests were spread over several servers (--base-url repeated).
    endpoints: dict[str, EndpointSummary] = {}

    def section(self, method: str) -> dict[str, Any] | None:
        """The method's own section (``Method.report``), when it wrote one."""
        extra = self.model_extra or {}
        value = extra.get(method)
        return value if isinstance(value, dict) else None


@dataclass
class RunResult:
    folder: Path
    stop: StopKind
    summary: RunSummary

    @property
    def stop_reason(self) -> str | None:
        return self.summary.stop_reason


def summarize(
    folder: Path,
    *,
    method: str,
    section: Callable[[Path], dict[str, Any] | None] | None = None,
    stop: StopKind,
    stop_reason: str | None,
    target: int,
    accepted: int,
    usage: Usage,
    totals: dict[str, dict[str, int]],
    price: tuple[float, float] | None,
    wall_seconds: float,
    endpoints: Sequence[EndpointStats] = (),
    counts: tuple[int, int, int] | None = None,
    rejections: Counter[str] | None = None,
) -> RunSummary:
    """``counts``: (tasks, instances, classification tasks) of ``tasks.jsonl``, and
    ``rejections``: ``rejected.jsonl``'s records by ``stage:reason``, when the run kept them as
    it wrote (:meth:`RunFolder.task_counts`, :meth:`RunFolder.rejection_counts`); else the
    files are read."""
    rejected: Counter[str] = Counter()
    if rejections is not None:
        rejected = Counter(rejections)
    elif rejected_file(folder).exists():
        for _, record in read_jsonl(rejected_file(folder)):
            rejected[rejection_key(record)] += 1
    tasks = instances = classification = 0
    if counts is not None:
        tasks, instances, classification = counts
    elif tasks_file(folder).exists():
        for _, record in read_jsonl(tasks_file(folder)):
            tasks += 1
            instances += len(record.get("instances", []))
            classification += bool(record.get("is_classification"))
    run_prompt = sum(t["prompt_tokens"] for t in totals.values())
    run_completion = sum(t["completion_tokens"] for t in totals.values())
    spent = cost(usage.prompt_tokens, usage.completion_tokens, price)
    own = section(folder) if section is not None else None
    return RunSummary(
        **({method: own} if own is not None else {}),
        method=method,
        status="stopped" if stop is not StopKind.COMPLETE else "complete",
        stop=stop,
        stop_reason=stop_reason,
        target=target,
        accepted_instructions=accepted,
        tasks=tasks,
        instances=instances,
        classification_tasks=classification,
        rejected=dict(sorted(rejected.items())),
        failures=dict(usage.failures),
        retries=usage.retries,
        usage={
            name: StageSummary(
                requests=s.requests,
                cached=s.cached,
                failed=s.failed,
                prompt_tokens=s.prompt_tokens,
                completion_tokens=s.completion_tokens,
            )
            for name, s in usage.stages.items()
        },
        run_usage={
            "responses": sum(t["responses"] for t in totals.values()),
            "prompt_tokens": run_prompt,
            "completion_tokens": run_completion,
            "total_tokens": run_prompt + run_completion,
            "cost_usd": cost(run_prompt, run_completion, price),
            "by_stage": {
                stage: {**t, "cost_usd": cost(t["prompt_tokens"], t["completion_tokens"], price)}
                for stage, t in totals.items()
            },
        },
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=spent if spent is None or math.isfinite(spent) else None,
        wall_seconds=round(wall_seconds, 2),
        endpoints={e.url: _endpoint_summary(e) for e in endpoints},
    )


def _endpoint_summary(stats: EndpointStats) -> EndpointSummary:
    mean = stats.latency_seconds / stats.answered if stats.answered else None
    return EndpointSummary(
        limit=stats.limit,
        requests=stats.requests,
        answered=stats.answered,
        errors=dict(sorted(stats.errors.items())),
        benched=stats.benched,
        mean_latency_seconds=None if mean is None else round(mean, 4),
    )
