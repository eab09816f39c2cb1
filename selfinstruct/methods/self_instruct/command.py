"""`selfinstruct generate`: Self-Instruct or Alpaca's one pass, from seed tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from selfinstruct.cli.options import decoding_option, instruction_filter_options
from selfinstruct.cli.running import (
    model_options,
    out_option,
    run_and_report,
    run_options,
    take_backend,
)
from selfinstruct.config import default, seeded
from selfinstruct.decoding import parse_decoding_overrides
from selfinstruct.errors import UserError
from selfinstruct.methods.alpaca.method import Alpaca
from selfinstruct.methods.self_instruct.method import SelfInstruct
from selfinstruct.methods.self_instruct.settings import SelfInstructSettings
from selfinstruct.pricing import parse_price

# Self-Instruct's bootstrap rounds in batch mode (the reference asks 5 prompts per round; a
# batch takes hours, so a round here is large).
DEFAULT_BATCH_ROUND = 1000
# Options that only one method has.
ONLY = {
    "self-instruct": ("pool_lag", "classification_only", "batch_round"),
    "alpaca": ("merged_items", "layout"),
}


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
@out_option("data/run")
@model_options
@click.option(
    "--seeds",
    "seeds_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Seed tasks JSONL in the paper's schema (default: ours, 186 tasks).",
)
@instruction_filter_options
@click.option(
    "--classification-only",
    is_flag=True,
    help="Self-Instruct: ask only for classification tasks, shown only classification seeds.",
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
    "--batch-round",
    type=click.IntRange(min=1),
    default=None,
    help="Self-Instruct in batch mode: prompts go in rounds of this many, each sampling the "
    f"pool as it stood after the previous round. [default with --batch: {DEFAULT_BATCH_ROUND}]",
)
@click.option(
    "--merged-items",
    type=click.Choice(["keep", "drop"]),
    default=None,
    help="Alpaca: two items written without ### between them: keep the first with the "
    "second in its output (the reference), or drop it. [default: keep]",
)
@click.option(
    "--layout",
    type=click.Choice(["grammar", "free"]),
    default=None,
    help="Alpaca on an in-process model (the bundled one, --model-path): a grammar holds each "
    "answer to the items' layout, or the model writes freely as on a server. "
    "[default: grammar]",
)
@decoding_option(SelfInstruct.stages, "instructions.temperature=1.0", " (alpaca: instructions)")
@run_options
@click.pass_context
def generate(ctx: click.Context, method: str, n: int, out: Path, **options: Any) -> None:
    """Generate instruction data (Self-Instruct, or Alpaca's one-pass variant).

    Writes a run folder: settings.json, machine_instructions.jsonl, classification.jsonl,
    tasks.jsonl (the final data), rejected.jsonl (every drop with its reason),
    failures.jsonl, summary.json and cache.sqlite (every model answer). Run the same command
    again to resume an interrupted run or to extend it to a larger --n.
    """
    o = dict(options)
    for owner, names in ONLY.items():
        if owner == method:
            continue
        for name in names:
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
                flag = "--" + name.replace("_", "-")
                raise UserError(f"{flag} applies to --method {owner} only")
            o.pop(name)
    if ctx.get_parameter_source("blacklist") is click.core.ParameterSource.DEFAULT:
        o.pop("blacklist")  # the method's own default (Alpaca adds five words)
    kind = Alpaca if method == "alpaca" else SelfInstruct
    # Cheap checks first: nothing is loaded or contacted before the options are known good.
    decoding = o.pop("decoding")
    parse_decoding_overrides(decoding, kind.stages)
    parse_price(o["price"])
    values = seeded({"seeds_path": o.pop("seeds_path")})
    batching = o["batch"] or o["batch_file_only"]
    if method == "self-instruct" and o.get("batch_round") is None and batching:
        o["batch_round"] = DEFAULT_BATCH_ROUND
    backend = take_backend(o)
    operational = {k: o.pop(k) for k in ("price", "quiet", "allow_setting_changes")}
    o["ascii_first_char"] = not o.pop("allow_non_ascii_start")
    chosen = {k: v for k, v in o.items() if v is not None}
    settings = kind.configure(backend, decoding=decoding, n=n, **values, **chosen)
    run_and_report(settings, backend, out, operational)
