"""What every command that runs a method shares: the model and run options, and running.

A method's command parses its own options, builds its settings, and hands them to
:func:`run_and_report`, which shows progress, prints the summary and exits with the status that
the stop kind calls for (never by matching message strings).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from selfinstruct.backends.base import Backend
from selfinstruct.backends.factory import build_backend
from selfinstruct.cli.options import FINITE_NONNEGATIVE, FiniteFloatRange
from selfinstruct.config import MAX_CONCURRENCY, RunSettings, default
from selfinstruct.engine import Progress
from selfinstruct.errors import UserError
from selfinstruct.pricing import batch_price, parse_price, price_for
from selfinstruct.runner import run
from selfinstruct.shards import Shard
from selfinstruct.summary import EndpointSummary, RunResult, StopKind

F = TypeVar("F", bound=Callable[..., Any])

# Exit status by how a run stopped: a budget stop is what was asked for.
EXIT_CODES = {
    StopKind.COMPLETE: 0,
    StopKind.BUDGET: 0,
    StopKind.INTERRUPTED: 130,  # 128 + SIGINT, as a shell reports it
    StopKind.TERMINATED: 143,  # 128 + SIGTERM
    StopKind.STALLED: 2,
    StopKind.FAILED: 2,
    StopKind.BATCH_FILES: 0,
}

# The progress line says how long requests have waited once nothing has come back for this long,
# and one warning line is printed (even with --quiet) once nothing has for this long.
WAITING_SHOWN_SECONDS = 10.0
SILENCE_WARNING_SECONDS = 60.0


def _folder(value: str) -> Path:
    if not value.strip():
        raise click.BadParameter("must name a folder, e.g. --out data/run1")
    return Path(value)


def out_option(default_folder: str) -> Callable[[F], F]:
    return click.option(
        "--out",
        "out",
        type=click.Path(file_okay=False),
        callback=lambda ctx, param, value: _folder(value),
        default=default_folder,
        show_default=True,
        help="Run folder. An existing run folder is resumed (or extended to a larger --n).",
    )


def _apply(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def model_options(func: F) -> F:
    """--model, --base-url, --api-key, --api, --model-path: which model answers."""
    return _apply(func, [
    click.option(
        "--model",
        default=None,
        help="Model name on the server. Omit (with no --base-url) to use the bundled "
        "SmolLM2-135M-Instruct, which needs no key and no network.",
    ),
    click.option(
        "--base-url",
        envvar="OPENAI_BASE_URL",
        multiple=True,
        help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vLLM, Ollama, "
        "llama.cpp server). Env: OPENAI_BASE_URL. Default: the OpenAI API when "
        "--model is given. Repeat it (or give @FILE, one URL per line) to spread requests "
        "over several servers of the same model; URL#N limits one to N requests in flight "
        "(default: --concurrency each). See docs/endpoints.md.",
    ),
    click.option(
        "--api-key",
        default=None,
        show_envvar=False,
        help="API key (default: the OPENAI_API_KEY environment variable). Never saved.",
    ),
    click.option(
        "--api",
        "api",
        type=click.Choice(["auto", "chat", "completion"]),
        default="auto",
        show_default=True,
        help="Chat API (prompt sent as a user message) or completion API (the paper's "
        "text continuation). auto: completion for base models and the bundled model, "
        "chat otherwise.",
    ),
    click.option(
        "--model-path",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="Run another local GGUF file in-process instead of the bundled one.",
    ),
    ])  # fmt: skip


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(Shard.parse(value))
    except UserError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1]) from None


def run_options(func: F) -> F:
    """--seed, --shard, --concurrency, budgets, limits, retries, --allow-setting-changes, --quiet."""
    return _apply(func, [
    click.option(
        "--seed",
        type=int,
        default=default(RunSettings, "seed"),
        show_default=True,
        help="Random seed for prompt sampling (and the server's sampler, when supported).",
    ),
    click.option(
        "--shard",
        default=None,
        metavar="K/N",
        callback=_shard,
        help="Do part K of N (K from 0) of the work, for N processes or machines writing N run "
        "folders; join them with `selfinstruct merge`. See docs/scale.md.",
    ),
    click.option(
        "--concurrency",
        type=click.IntRange(min=1, max=MAX_CONCURRENCY),
        default=default(RunSettings, "concurrency"),
        show_default=True,
        help="Requests in flight at once (the bundled model always runs one at a time).",
    ),
    click.option(
        "--max-cost",
        type=FINITE_NONNEGATIVE,
        default=None,
        help="Stop cleanly once this many USD are spent (known models or --price).",
    ),
    click.option(
        "--max-tokens",
        "max_total_tokens",
        type=click.IntRange(min=1),
        default=None,
        help="Stop cleanly once this many tokens are used.",
    ),
    click.option(
        "--rpm",
        type=click.IntRange(min=1),
        default=None,
        help="At most this many requests per minute (the provider's rate limit).",
    ),
    click.option(
        "--tpm",
        type=click.IntRange(min=1),
        default=None,
        help="At most about this many tokens per minute (estimated before each request).",
    ),
    click.option(
        "--price",
        default=None,
        metavar="IN,OUT",
        help="USD per million input and output tokens, overriding the built-in table.",
    ),
    click.option(
        "--timeout",
        type=FiniteFloatRange(min=1),
        default=default(RunSettings, "timeout"),
        show_default=True,
        help="Seconds before a request is abandoned and retried.",
    ),
    click.option(
        "--max-retries",
        type=click.IntRange(min=1),
        default=default(RunSettings, "max_retries"),
        show_default=True,
        help="Attempts per request on rate limits, server errors and timeouts (a timeout is "
        "tried at most 3 times, and twice while the server has answered nothing).",
    ),
    click.option(
        "--allow-setting-changes",
        is_flag=True,
        help="Resume a run folder even if data settings differ from the saved ones.",
    ),
    click.option("--quiet", "-q", is_flag=True, help="No progress bar; print only the summary."),
    *batch_option_list(),
    ])  # fmt: skip


MODEL_OPTIONS = ("model", "base_url", "api_key", "api", "model_path")
RUN_OPTIONS = (
    "seed", "shard", "concurrency", "max_cost", "max_total_tokens", "rpm", "tpm", "timeout", "max_retries",
)  # fmt: skip


def take_backend(options: dict[str, Any]) -> Backend:
    """Build the backend from (and remove) the model and batch options; nothing is loaded yet."""
    return take_batch(options, take_model_backend(options))


def take_model_backend(options: dict[str, Any]) -> Backend:
    """The live backend from (and without) the model options.

    --concurrency is each server's limit unless its URL says #N, so the run's is their sum."""
    if options.get("batch_file_only") and options.get("api_key") is None:
        options["api_key"] = "not-needed"  # the files go to `vllm run-batch`, not to a provider
    urls = options.pop("base_url") or None
    backend = build_backend(
        model=options.pop("model"), base_url=urls, api_key=options.pop("api_key"),
        api=options.pop("api"), model_path=options.pop("model_path"),
        timeout=options["timeout"], concurrency=options["concurrency"],
    )  # fmt: skip
    if urls:
        options["concurrency"] = min(backend.max_concurrency, MAX_CONCURRENCY)
    return backend


class _Bar:
    """A tqdm bar fed by pipeline progress events: tasks finished out of --n, refreshed at
    most ten times a second; and how long requests have waited for a silent server."""

    def __init__(
        self, total: int, quiet: bool, unit: str = "task", warn_silence: bool = True
    ) -> None:
        """``warn_silence``: warn once when a server has sent nothing for a minute (not for an
        in-process model, whose long silence is its own decoding)."""
        self.bar = tqdm(total=total, unit=unit, disable=quiet, dynamic_ncols=True)
        self._last = 0.0
        self._warned = False
        self.warn_silence = warn_silence

    def __call__(self, progress: Progress) -> None:
        self._warn_if_silent(progress)
        now = time.monotonic()
        if now - self._last < 0.1 and progress.finished < progress.target:
            return
        self._last = now
        if self.bar.total != progress.target:
            self.bar.total = progress.target  # a resume may hold more than --n already
        elapsed = max(now - progress.started, 1e-9)
        self.bar.n = progress.finished
        postfix = {
            "instr": progress.accepted,
            "rej": progress.rejected,
            "req/s": f"{progress.requests / elapsed:.1f}",
            "tok": progress.tokens,
        }
        if progress.failed:
            postfix["failed"] = progress.failed
        if progress.cost_usd is not None:
            postfix["$"] = f"{progress.cost_usd:.4f}"
        if progress.waiting and progress.silent_seconds >= WAITING_SHOWN_SECONDS:
            postfix["waiting"] = f"{progress.silent_seconds:.0f}s"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def _warn_if_silent(self, progress: Progress) -> None:
        if self._warned or not progress.waiting or not self.warn_silence:
            return
        if progress.silent_seconds < SILENCE_WARNING_SECONDS:
            return
        self._warned = True
        count = progress.waiting
        tqdm.write(
            f"Warning: nothing has come back from the server for {SILENCE_WARNING_SECONDS:g}s "
            f"({count} request{'s' * (count != 1)} waiting): it may be hung or overloaded. "
            "Ctrl-C stops the run; the same command resumes it.",
            file=sys.stderr,
        )

    def close(self) -> None:
        self.bar.close()


def run_and_report(
    settings: RunSettings,
    backend: Backend,
    out: Path,
    options: dict[str, Any],
    unit: str = "task",
) -> None:
    """Run ``settings`` on ``backend`` into ``out`` with the operational options left in
    ``options`` (price, quiet, allow_setting_changes), print the outcome, exit."""
    price = parse_price(options.get("price"))
    quiet = bool(options.get("quiet"))
    if is_batch(backend):
        price = batch_price(price_for(settings.model, price))

    def resuming() -> None:
        if not quiet:
            click.echo(f"Resuming {out} (answers already received come from its cache).", err=True)

    bar = _Bar(settings.n, quiet, unit, warn_silence=not backend.in_process)
    try:
        result = run(
            settings, backend, out, allow_changes=bool(options.get("allow_setting_changes")),
            on_resume=resuming, on_progress=bar, price=price,
        )  # fmt: skip
    finally:
        bar.close()
    _report(result, out)
    raise SystemExit(EXIT_CODES[result.stop])


def _report(result: RunResult, out: Path) -> None:
    summary = result.summary
    click.echo(
        f"{summary.accepted_instructions}/{summary.target} instructions, {summary.tasks} tasks, "
        f"{summary.instances} instances in {out} ({summary.wall_seconds:.0f}s)",
        err=True,
    )
    if summary.rejected:
        click.echo(
            "rejected: " + ", ".join(f"{k} {v}" for k, v in summary.rejected.items()), err=True
        )
    if summary.failures:
        click.echo(
            "failed requests: " + ", ".join(f"{k} {v}" for k, v in summary.failures.items()),
            err=True,
        )
    run_usage = summary.run_usage
    if run_usage.get("total_tokens"):
        spent = run_usage.get("cost_usd")
        click.echo(
            f"tokens (whole run): {run_usage['total_tokens']}"
            + (f", {spent:.4f} USD" if spent is not None else ""),
            err=True,
        )
    if len(summary.endpoints) > 1:
        for url, endpoint in summary.endpoints.items():
            click.echo(f"endpoint {url}: {_endpoint_line(endpoint)}", err=True)
    if result.stop is not StopKind.COMPLETE:
        # A budget stop's reason says how to continue.
        hint = (
            ""
            if result.stop in (StopKind.BUDGET, StopKind.BATCH_FILES)
            else " Run the same command again to resume."
        )
        click.echo(f"Stopped: {summary.stop_reason}.{hint}", err=True)


def _endpoint_line(endpoint: EndpointSummary) -> str:
    """``120 requests, 118 answered, mean 0.21s, errors (dropped 2), out of rotation 1 time``."""
    count = endpoint.requests
    parts = [f"{count} request{'s' * (count != 1)}", f"{endpoint.answered} answered"]
    if endpoint.mean_latency_seconds is not None:
        parts.append(f"mean {endpoint.mean_latency_seconds:.2f}s")
    if endpoint.errors:
        parts.append("errors (" + ", ".join(f"{k} {v}" for k, v in endpoint.errors.items()) + ")")
    if endpoint.benched:
        parts.append(f"out of rotation {endpoint.benched} time{'s' * (endpoint.benched > 1)}")
    return ", ".join(parts)


# ------------------------------------------------------------------ batch mode (issue 14)


def batch_option_list() -> list[Callable[[F], F]]:
    """--batch, --batch-file-only, --poll-interval, --batch-window, --batch-quiet."""
    return [
        click.option(
            "--batch",
            is_flag=True,
            help="Send requests through the provider's Batch API (half price at OpenAI; "
            "answers within 24 hours). Rerun the same command to take up a killed run.",
        ),
        click.option(
            "--batch-file-only",
            is_flag=True,
            help="Write batch input files for `vllm run-batch` and stop; bring the results "
            "back with `selfinstruct batches RUN --import OUT`.",
        ),
        click.option(
            "--poll-interval",
            type=FiniteFloatRange(min=0),
            default=30.0,
            show_default=True,
            help="Batch mode: seconds between two looks at a running batch.",
        ),
        click.option(
            "--batch-window",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help="Batch mode: ordered requests (prompts for new tasks) waiting at once.",
        ),
        click.option(
            "--batch-quiet",
            type=FiniteFloatRange(min=0),
            default=1.0,
            show_default=True,
            help="Batch mode: seconds without a new request before they go into a file.",
        ),
    ]


BATCH_OPTIONS = ("batch", "batch_file_only", "poll_interval", "batch_window", "batch_quiet")


def is_batch(backend: Backend) -> bool:
    from selfinstruct.batch.backend import BatchBackend

    return isinstance(backend, BatchBackend)


def take_batch(options: dict[str, Any], backend: Backend) -> Backend:
    """``backend`` itself, or (with --batch / --batch-file-only) a batching backend over it;
    removes the batch options."""
    chosen = {name: options.pop(name) for name in BATCH_OPTIONS}
    if not (chosen["batch"] or chosen["batch_file_only"]):
        return backend
    from selfinstruct.backends.openai_api import OpenAIBackend
    from selfinstruct.backends.pool import PoolBackend
    from selfinstruct.backends.routing import RoutingBackend
    from selfinstruct.batch.backend import BatchBackend

    flag = "--batch-file-only" if chosen["batch_file_only"] else "--batch"
    if isinstance(backend, RoutingBackend):
        raise UserError(f"{flag} does not take --answer-model: run without it")
    if isinstance(backend, PoolBackend):
        raise UserError(f"{flag} takes one --base-url: a batch goes to one provider")
    if not isinstance(backend, OpenAIBackend):
        raise UserError(
            f"{flag} needs a server model: pass --model (and --base-url for a self-hosted "
            "server); the bundled model runs in-process"
        )
    return BatchBackend(
        backend, file_only=chosen["batch_file_only"], poll_interval=chosen["poll_interval"],
        quiet=chosen["batch_quiet"], window=chosen["batch_window"],
        notify=lambda line: click.echo(line, err=True),
    )  # fmt: skip
