"""`selfinstruct evolve`: Evol-Instruct (WizardLM) over an instruction set, on the run engine."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from selfinstruct.backends.base import Backend
from selfinstruct.cli.options import decoding_fields, decoding_option, model_decodings
from selfinstruct.cli.running import model_options, run_and_report, run_options, take_backend
from selfinstruct.config import EVOLVE_OPERATIONS, EvolveSettings, default, file_sha256
from selfinstruct.errors import UserError
from selfinstruct.evolve_stats import evolve_stats, render_evolve
from selfinstruct.generate import parse_price
from selfinstruct.methods.evolve import input_file, load_roots

# A completion model runs on past its answer into a new labelled block: stop it there.
COMPLETION_EVOLVE_STOP = ("\n#",)
COMPLETION_RESPONSE_STOP = ("\nRequest:",)
# --decoding stage -> the setting holding its decoding (stages as requests name them).
DECODING_FIELDS = {
    "evolve": "evolve_decoding", "respond": "response_decoding", "judge": "judge_decoding",
}  # fmt: skip


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


def build_evolve_settings(
    backend: Backend, source: Path, n: int, decoding: tuple[str, ...] = (), **options: Any
) -> EvolveSettings:
    """The settings of an evolve run; completion models get stop sequences, and ``decoding``
    (``--decoding`` items) changes single parameters on top of those."""
    values: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    base = model_decodings(EvolveSettings, DECODING_FIELDS)
    if backend.api == "completion":
        base["evolve_decoding"] = dataclasses.replace(
            base["evolve_decoding"], stop=COMPLETION_EVOLVE_STOP
        )
        base["response_decoding"] = dataclasses.replace(
            base["response_decoding"], stop=COMPLETION_RESPONSE_STOP
        )
        values.update(evolve_decoding=base["evolve_decoding"])
        values.update(response_decoding=base["response_decoding"])
    values.update(decoding_fields(decoding, DECODING_FIELDS, base))
    try:
        return EvolveSettings(
            n=n, model=backend.model, base_url=backend.base_url, api=backend.api,
            seeds_path=str(source), seeds_sha256=file_sha256(source), **values,
        )  # fmt: skip
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise UserError(f"invalid setting {name}={first.get('input')!r}: {first['msg']}") from None


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
@decoding_option(DECODING_FIELDS, "respond.max_tokens=300")
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
    decoding_fields(
        o["decoding"], DECODING_FIELDS, model_decodings(EvolveSettings, DECODING_FIELDS)
    )
    source_file = input_file(source)
    n = len(load_roots(source_file, limit))
    backend = take_backend(o)
    operational = {k: o.pop(k) for k in ("price", "quiet", "allow_setting_changes")}
    settings = build_evolve_settings(backend, source_file, n, **o)
    try:
        run_and_report(settings, backend, out, operational, unit="evolution")
    except SystemExit:
        # The run is over (complete or stopped): the per-round report follows the summary.
        report = evolve_stats(out)
        if report is not None:
            click.echo(render_evolve(report), err=True, nl=False)
        raise
