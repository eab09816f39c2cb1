"""`selfinstruct evolve`: Evol-Instruct (WizardLM) over an instruction set, on the run engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from selfinstruct.cli.options import decoding_option
from selfinstruct.cli.running import model_options, run_and_report, run_options, take_backend
from selfinstruct.config import default
from selfinstruct.decoding import parse_decoding_overrides
from selfinstruct.methods.evolve.method import Evolve, input_file, load_roots
from selfinstruct.methods.evolve.report import evolve_stats, render_evolve
from selfinstruct.methods.evolve.settings import EVOLVE_OPERATIONS, EvolveSettings
from selfinstruct.pricing import parse_price


def _folder(ctx: click.Context, param: click.Parameter, value: str) -> Path:
    if not value.strip():
        raise click.BadParameter("must name a folder, e.g. --out data/evolved")
    return Path(value)


def _operations(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [op for op in chosen if op not in EVOLVE_OPERATIONS]
    if unknown or not chosen:
        raise click.BadParameter(
            f"{(unknown or [''])[0]!r} is not an operation; choose from "
            f"{','.join(EVOLVE_OPERATIONS)}"
        )
    return chosen


@click.command()
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(file_okay=False),
    callback=_folder,
    default="data/evolved",
    show_default=True,
    help="Run folder. An existing run folder is resumed.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Evolve only the first N instructions of IN.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1, max=100),
    default=default(EvolveSettings, "rounds"),
    show_default=True,
    help="Rounds of evolution (the paper: 4).",
)
@click.option(
    "--operations",
    callback=_operations,
    default=",".join(EVOLVE_OPERATIONS),
    show_default=True,
    help="Comma-separated operations to draw from, each with the same chance: the five "
    "in-depth rewrites and breadth (a new, rarer instruction of the same domain).",
)
@click.option(
    "--novelty",
    is_flag=True,
    help="Also drop an evolution whose ROUGE-L to any kept instruction outside its own "
    "lineage exceeds --threshold (not in the paper).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=default(EvolveSettings, "threshold"),
    show_default=True,
    help="ROUGE-L threshold of --novelty.",
)
@click.option(
    "--keep-inputs/--no-keep-inputs",
    default=default(EvolveSettings, "keep_inputs"),
    show_default=True,
    help="Write the input tasks that have an answer as round 0 beside their evolutions.",
)
@decoding_option(Evolve.stages, "respond.max_tokens=300")
@model_options
@run_options
def evolve(source: Path, out: Path, limit: int | None, **options: Any) -> None:
    """Evolve the instructions of IN (Evol-Instruct, WizardLM): harder and broader, round by
    round, with the paper's elimination step.

    IN is our tasks JSONL, Alpaca JSON or JSONL, a run folder, or a JSONL of
    {"instruction": ...} records. Writes a run folder: tasks.jsonl (the inputs as round 0 and
    every passed evolution, each with its response and lineage: root_id, parent_id,
    operation, round), evolutions.jsonl (every evolution tried, with its outcome),
    rejected.jsonl (eliminations with their rule), failures.jsonl, summary.json and
    cache.sqlite. Run the same command again to resume.
    """
    o = dict(options)
    parse_price(o["price"])
    decoding = o.pop("decoding")
    parse_decoding_overrides(decoding, Evolve.stages)
    load_roots(input_file(source), limit)  # before a model is loaded
    backend = take_backend(o)
    operational = {k: o.pop(k) for k in ("price", "quiet", "allow_setting_changes")}
    chosen = {k: v for k, v in o.items() if v is not None}
    settings = Evolve.configure(
        backend, decoding=decoding, seeds_path=source, limit=limit, **chosen
    )
    try:
        run_and_report(settings, backend, out, operational, unit="evolution")
    except SystemExit:
        # The run is over (complete or stopped): the per-round report follows the summary.
        report = evolve_stats(out)
        if report is not None:
            click.echo(render_evolve(report), err=True, nl=False)
        raise
