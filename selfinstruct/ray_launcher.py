"""``selfinstruct ray``: the N shards of one run as Ray tasks over a shared folder, then the merge.

Shard K runs ``python -m selfinstruct COMMAND ... --shard K/N --out OUT/shard-K-of-N --quiet``
as a child of its Ray task (its output in OUT/logs/). A task whose shard is killed (the child
by a signal, or the Ray worker itself: the child dies with it) is retried up to ``retries``
times; the retry resumes the run folder, so answers already received come from its cache and
nothing written is lost or repeated. One progress bar counts the records of every shard
against their shares of ``--n``. When every shard is complete, ``merge`` writes OUT/merged.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct import registry
from selfinstruct.errors import UserError
from selfinstruct.jsonio import read_jsonl
from selfinstruct.merge import MergeReport, merge_runs
from selfinstruct.shards import Shard
from selfinstruct.store import LOG_FILES, saved_setting

# Options the launcher sets for every shard: the command must not give them.
RESERVED = ("--out", "-o", "--shard")
# Exit statuses that mean the shard was stopped from outside, not that it failed: retried.
STOPPED = {130, 143}
POLL_SECONDS = 0.5


class ShardStopped(Exception):
    """The shard's process was killed or stopped: the task is retried (it resumes)."""


@dataclass(frozen=True)
class Job:
    command: tuple[str, ...]
    shards: int
    out: Path

    def folder(self, k: int) -> Path:
        return self.out / f"shard-{k}-of-{self.shards}"

    def log(self, k: int) -> Path:
        return self.out / "logs" / f"shard-{k}-of-{self.shards}.log"

    def argv(self, k: int) -> list[str]:
        return [sys.executable, "-m", "selfinstruct", *self.command, "--shard",
                f"{k}/{self.shards}", "--out", str(self.folder(k)), "--quiet"]  # fmt: skip

    @property
    def merged(self) -> Path:
        return self.out / "merged"


def check_command(command: Sequence[str]) -> None:
    if not command:
        raise UserError("name the method command after --, e.g. -- respond data.json --model m")
    for arg in command:
        name = arg.split("=", 1)[0]
        if name in RESERVED:
            raise UserError(
                f"{name} is set by the launcher for each shard: remove it from the command"
            )


def _die_with_parent() -> None:
    """The shard's process dies with its Ray worker (Linux), so a killed worker leaves no
    process holding the run folder."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_shard(argv: list[str], log: str) -> int:
    """One shard, in a Ray task: its exit status (a stop from outside raises: retried)."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as output:
        done = subprocess.run(argv, stdout=output, stderr=output, preexec_fn=_die_with_parent)
    if done.returncode < 0 or done.returncode in STOPPED:
        raise ShardStopped(f"shard stopped with status {done.returncode}; resuming it")
    return done.returncode


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("selfinstruct ray needs Ray: pip install 'selfinstruct[ray]'") from None
    return ray


def progress(job: Job) -> tuple[int, int]:
    """(records written, records wanted) over every shard, from the run folders alone."""
    written = wanted = 0
    for k in range(job.shards):
        folder = job.folder(k)
        method = saved_setting(folder, "method")
        if method is None:
            continue
        kind = registry.get(method)
        wanted += Shard(k, job.shards).share(int(saved_setting(folder, "n") or 0))
        path = folder / {**LOG_FILES, **kind.logs}[kind.merge_log]
        if path.is_file():
            written += sum(1 for _ in read_jsonl(path))
    return written, wanted


def launch(
    command: Sequence[str],
    shards: int,
    out: str | Path,
    *,
    address: str | None = None,
    retries: int = 3,
    cpus_per_shard: float = 1.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> MergeReport:
    """Run ``command`` (a method's command line, without the program name) as ``shards`` Ray
    tasks into ``out``, then merge them into ``out/merged``."""
    check_command(command)
    ray = _import_ray()
    job = Job(tuple(command), shards, Path(out))
    job.out.mkdir(parents=True, exist_ok=True)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(
        num_cpus=cpus_per_shard, max_retries=retries, retry_exceptions=[ShardStopped]
    )(run_shard)
    pending = {task.remote(job.argv(k), str(job.log(k))): k for k in range(shards)}
    statuses: dict[int, int] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=POLL_SECONDS)
        for ref in ready:
            k = pending.pop(ref)
            try:
                statuses[k] = ray.get(ref)
            except Exception:
                statuses[k] = -1
        if on_progress is not None:
            on_progress(*progress(job))
    failed = sorted(k for k, status in statuses.items() if status != 0)
    if failed:
        k = failed[0]
        raise UserError(
            f"shard {k}/{shards} ended with status {statuses[k]} (see {job.log(k)}); run the "
            "same command again to resume every shard"
        )
    return merge_runs(job.merged, [job.folder(k) for k in range(shards)])
