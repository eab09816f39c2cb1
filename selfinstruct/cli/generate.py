"""`selfinstruct generate`: parse options, build the settings and backend, run the pipeline."""

from __future__ import annotations

import time
from pathlib import Path

import click
from tqdm import tqdm

from selfinstruct import aio
from selfinstruct.cli.options import instruction_filter_options
from selfinstruct.generate import (
    build_backend,
    build_settings,
    parse_decoding_overrides,
    parse_price,
)
from selfinstruct.pipeline import Generator, Progress, prepare_run_dir
from selfinstruct.records import load_seed_tasks
from selfinstruct.resources import default_seed_path


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


@click.command()
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
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/run"),
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
    default=0,
    show_default=True,
    help="Random seed for prompt sampling (and the server's sampler, when supported).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
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
    default=64,
    show_default=True,
    help="Prompt k samples the pool as of response k-1-LAG, so that LAG+1 bootstrap "
    "requests can be in flight while the data stays reproducible.",
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
    type=click.FloatRange(min=0),
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
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Seconds before a request is abandoned and retried.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Attempts per request on rate limits, server errors and timeouts.",
)
@click.option(
    "--allow-setting-changes",
    is_flag=True,
    help="Resume a run folder even if data settings differ from the saved ones.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; print only the summary.")
def generate(
    n: int,
    out: Path,
    model: str | None,
    base_url: str | None,
    api_key: str | None,
    api: str,
    model_path: Path | None,
    seeds_path: Path | None,
    seed: int,
    concurrency: int,
    threshold: float,
    tokenizer: str,
    blacklist: str,
    allow_non_ascii_start: bool,
    classification_only: bool,
    pool_lag: int,
    decoding: tuple[str, ...],
    max_cost: float | None,
    max_total_tokens: int | None,
    rpm: int | None,
    tpm: int | None,
    price: str | None,
    timeout: float,
    max_retries: int,
    allow_setting_changes: bool,
    quiet: bool,
) -> None:
    """Generate instruction data with the Self-Instruct bootstrap.

    Writes a run folder: settings.json, machine_instructions.jsonl, classification.jsonl,
    tasks.jsonl (the final data), rejected.jsonl (every drop with its reason),
    failures.jsonl, summary.json and cache.sqlite (every model answer). Run the same command
    again to resume an interrupted run or to extend it to a larger --n.
    """
    seeds_file = seeds_path or default_seed_path()
    seeds = load_seed_tasks(seeds_file)
    backend = build_backend(
        model=model, base_url=base_url, api_key=api_key, api=api, model_path=model_path,
        timeout=timeout, concurrency=concurrency,
    )  # fmt: skip
    settings = build_settings(
        n=n, backend=backend, seeds_file=seeds_file, seed=seed, concurrency=concurrency,
        threshold=threshold, tokenizer=tokenizer, blacklist=blacklist,
        ascii_first_char=not allow_non_ascii_start, classification_only=classification_only,
        pool_lag=pool_lag, decoding=parse_decoding_overrides(decoding), max_cost=max_cost,
        max_total_tokens=max_total_tokens, timeout=timeout, max_retries=max_retries, rpm=rpm, tpm=tpm,
    )  # fmt: skip
    resuming = prepare_run_dir(out, settings, allow_setting_changes)
    if resuming and not quiet:
        click.echo(f"Resuming {out} (answers already received come from its cache).", err=True)
    bar = _Bar(n, quiet)
    generator = Generator(settings, seeds, backend, out, on_progress=bar, price=parse_price(price))
    try:
        result = aio.run(generator.run())
    finally:
        bar.close()
    summary = result.summary
    click.echo(
        f"{summary['accepted_instructions']}/{n} instructions, {summary['tasks']} tasks, "
        f"{summary['instances']} instances in {out} ({summary['wall_seconds']:.0f}s)",
        err=True,
    )
    rejected = summary["rejected"]
    if rejected:
        click.echo("rejected: " + ", ".join(f"{k} {v}" for k, v in rejected.items()), err=True)
    if summary["failures"]:
        click.echo(
            "failed requests: " + ", ".join(f"{k} {v}" for k, v in summary["failures"].items()),
            err=True,
        )
    run_usage = summary.get("run_usage") or {}
    if run_usage.get("total_tokens"):
        spent = run_usage.get("cost_usd")
        click.echo(
            f"tokens (whole run): {run_usage['total_tokens']}"
            + (f", {spent:.4f} USD" if spent is not None else ""),
            err=True,
        )
    if result.stop_reason:
        budget = result.stop_reason.startswith("--max-")  # the reason says how to continue
        hint = "" if budget else " Run the same command again to resume."
        click.echo(f"Stopped: {result.stop_reason}.{hint}", err=True)
        if result.stop_reason == "interrupted":
            raise SystemExit(130)
        if not result.stop_reason.startswith("--max-"):  # a budget stop is what was asked for
            raise SystemExit(2)
