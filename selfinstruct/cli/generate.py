"""`selfinstruct generate`: parse options, build the settings and backend, run the pipeline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from selfinstruct.cli.options import (
    FINITE_NONNEGATIVE,
    FiniteFloatRange,
    instruction_filter_options,
)
from selfinstruct.config import MAX_CONCURRENCY, RunSettings, SelfInstructSettings, default
from selfinstruct.engine import Progress, RunResult, StopKind
from selfinstruct.errors import UserError
from selfinstruct.generate import (
    build_backend,
    build_settings,
    parse_decoding_overrides,
    parse_price,
)
from selfinstruct.methods import run
from selfinstruct.records import load_seed_tasks
from selfinstruct.resources import default_seed_path

# Exit status by how a run stopped: a budget stop is what was asked for.
EXIT_CODES = {
    StopKind.COMPLETE: 0,
    StopKind.BUDGET: 0,
    StopKind.INTERRUPTED: 130,
    StopKind.STALLED: 2,
    StopKind.FAILED: 2,
}
# Options that only Self-Instruct has.
SELF_INSTRUCT_ONLY = ("pool_lag", "classification_only")


class _Bar:
    """A tqdm bar fed by pipeline progress events: tasks finished out of --n, refreshed at
    most ten times a second."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.bar = tqdm(total=total, unit="task", disable=quiet, dynamic_ncols=True)
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
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
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _folder(value: str) -> Path:
    if not value.strip():
        raise click.BadParameter("must name a folder, e.g. --out data/run1")
    return Path(value)


@click.command()
@click.option(
    "--method",
    type=click.Choice(["self-instruct", "alpaca"]),
    default="self-instruct",
    show_default=True,
    help="self-instruct: the paper's bootstrap (8 shots, 2 from the pool; classification; "
    "instances). alpaca: Stanford Alpaca's one pass (3 seed shots, whole tasks per request).",
)
@click.option(
    "--n",
    "n",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Number of machine-generated instructions to accept.",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False),
    callback=lambda ctx, param, value: _folder(value),
    default="data/run",
    show_default=True,
    help="Run folder. An existing run folder is resumed up to --n.",
)
@click.option(
    "--model",
    default=None,
    help="Model name on the server. Omit (with no --base-url) to use the bundled "
    "SmolLM2-135M-Instruct, which needs no key and no network.",
)
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    default=None,
    help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vLLM, Ollama, "
    "llama.cpp server). Env: OPENAI_BASE_URL. Default: the OpenAI API when "
    "--model is given.",
)
@click.option(
    "--api-key",
    default=None,
    show_envvar=False,
    help="API key (default: the OPENAI_API_KEY environment variable). Never saved.",
)
@click.option(
    "--api",
    "api",
    type=click.Choice(["auto", "chat", "completion"]),
    default="auto",
    show_default=True,
    help="Chat API (prompt sent as a user message) or completion API (the paper's "
    "text continuation). auto: completion for base models and the bundled model, "
    "chat otherwise.",
)
@click.option(
    "--model-path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Run another local GGUF file in-process instead of the bundled one.",
)
@click.option(
    "--seeds",
    "seeds_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Seed tasks JSONL in the paper's schema (default: ours, 186 tasks).",
)
@click.option(
    "--seed",
    type=int,
    default=default(RunSettings, "seed"),
    show_default=True,
    help="Random seed for prompt sampling (and the server's sampler, when supported).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=MAX_CONCURRENCY),
    default=default(RunSettings, "concurrency"),
    show_default=True,
    help="Requests in flight at once (the bundled model always runs one at a time).",
)
@instruction_filter_options
@click.option(
    "--classification-only",
    is_flag=True,
    help="Ask only for classification tasks, shown only classification seeds.",
)
@click.option(
    "--pool-lag",
    type=click.IntRange(min=0),
    default=None,
    help="Self-Instruct: prompt k samples the pool as of answer k-1-min(LAG, k//2), so "
    "that up to LAG+1 bootstrap requests can be in flight while the data stays "
    f"reproducible. [default: {default(SelfInstructSettings, 'pool_lag')}]",
)
@click.option(
    "--decoding",
    "decoding",
    multiple=True,
    metavar="STAGE.PARAM=VALUE",
    help="Override a decoding parameter, e.g. instructions.temperature=1.0. Stages: "
    "instructions, classify, classification_instances, generation_instances; "
    "params: max_tokens, temperature, top_p, frequency_penalty, presence_penalty, "
    "stop (separate with |). Repeatable.",
)
@click.option(
    "--max-cost",
    type=FINITE_NONNEGATIVE,
    default=None,
    help="Stop cleanly once this many USD are spent (known models or --price).",
)
@click.option(
    "--max-tokens",
    "max_total_tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Stop cleanly once this many tokens are used.",
)
@click.option(
    "--rpm",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many requests per minute (the provider's rate limit).",
)
@click.option(
    "--tpm",
    type=click.IntRange(min=1),
    default=None,
    help="At most about this many tokens per minute (estimated before each request).",
)
@click.option(
    "--price",
    default=None,
    metavar="IN,OUT",
    help="USD per million input and output tokens, overriding the built-in table.",
)
@click.option(
    "--timeout",
    type=FiniteFloatRange(min=1),
    default=default(RunSettings, "timeout"),
    show_default=True,
    help="Seconds before a request is abandoned and retried.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=1),
    default=default(RunSettings, "max_retries"),
    show_default=True,
    help="Attempts per request on rate limits, server errors and timeouts.",
)
@click.option(
    "--allow-setting-changes",
    is_flag=True,
    help="Resume a run folder even if data settings differ from the saved ones.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; print only the summary.")
@click.pass_context
def generate(ctx: click.Context, method: str, n: int, out: Path, **options: Any) -> None:
    """Generate instruction data (Self-Instruct, or Alpaca's one-pass variant).

    Writes a run folder: settings.json, machine_instructions.jsonl, classification.jsonl,
    tasks.jsonl (the final data), rejected.jsonl (every drop with its reason),
    failures.jsonl, summary.json and cache.sqlite (every model answer). Run the same command
    again to resume an interrupted run or to extend it to a larger --n.
    """
    o = dict(options)
    if method != "self-instruct":
        for name in SELF_INSTRUCT_ONLY:
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
                flag = "--" + name.replace("_", "-")
                raise UserError(f"{flag} applies to --method self-instruct only")
        for name in SELF_INSTRUCT_ONLY:
            o.pop(name)
    if ctx.get_parameter_source("blacklist") is click.core.ParameterSource.DEFAULT:
        o["blacklist"] = None  # the method's own default (Alpaca adds five words)
    # Cheap checks first: nothing is loaded or contacted before the options are known good.
    decoding = parse_decoding_overrides(o.pop("decoding"))
    price = parse_price(o.pop("price"))
    seeds_file = o.pop("seeds_path") or default_seed_path()
    load_seed_tasks(seeds_file)
    backend = build_backend(
        model=o.pop("model"), base_url=o.pop("base_url"), api_key=o.pop("api_key"),
        api=o.pop("api"), model_path=o.pop("model_path"), timeout=o["timeout"],
        concurrency=o["concurrency"],
    )  # fmt: skip
    quiet = o.pop("quiet")
    allow_changes = o.pop("allow_setting_changes")
    o["ascii_first_char"] = not o.pop("allow_non_ascii_start")
    settings = build_settings(
        n=n, backend=backend, seeds_file=seeds_file, decoding=decoding, method=method, **o
    )

    def resuming() -> None:
        if not quiet:
            click.echo(f"Resuming {out} (answers already received come from its cache).", err=True)

    bar = _Bar(n, quiet)
    try:
        result = run(
            settings, backend, out, allow_changes=allow_changes, on_resume=resuming,
            on_progress=bar, price=price,
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
    if result.stop is not StopKind.COMPLETE:
        # A budget stop's reason says how to continue.
        hint = "" if result.stop is StopKind.BUDGET else " Run the same command again to resume."
        click.echo(f"Stopped: {summary.stop_reason}.{hint}", err=True)
