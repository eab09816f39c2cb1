"""`selfinstruct paraphrase IN`: the command, built from selfinstruct's shared options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from selfinstruct.cli.options import decoding_option
from selfinstruct.cli.running import (
    model_options,
    out_option,
    run_and_report,
    run_options,
    take_backend,
)
from selfinstruct.config import default
from selfinstruct.decoding import parse_decoding_overrides
from selfinstruct_paraphrase import Paraphrase, ParaphraseSettings


@click.command("paraphrase")
@click.argument("in_path", metavar="IN", type=click.Path(exists=True))
@click.option("--ways", type=click.IntRange(1, 10), default=default(ParaphraseSettings, "ways"),
              show_default=True, help="Rewrites asked per instruction.")  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Paraphrase only the first N tasks of IN.")  # fmt: skip
@click.option("--threshold", type=click.FloatRange(0, 1),
              default=default(ParaphraseSettings, "threshold"), show_default=True,
              help="Drop a rewrite whose ROUGE-L F against an earlier text is above this.")  # fmt: skip
@decoding_option(Paraphrase.stages, "paraphrase.temperature=1.0")
@out_option("data/paraphrase")
@model_options
@run_options
def paraphrase(in_path: str, out: Path, limit: int | None, **options: Any) -> None:
    """Rewrite every instruction of IN (a task file or a run folder) several ways.

    A rewrite is kept when it passes the instruction rules and is ROUGE-L novel against every
    original and every rewrite kept before it. Writes a run folder: tasks.jsonl (the kept
    rewrites with their original's instances), paraphrases.jsonl, rejected.jsonl, summary.json.
    Run the same command again to resume.
    """
    o = dict(options)
    decoding = o.pop("decoding")
    parse_decoding_overrides(decoding, Paraphrase.stages)  # before a model is loaded
    backend = take_backend(o)
    operational = {k: o.pop(k) for k in ("price", "quiet", "allow_setting_changes")}
    chosen = {k: v for k, v in o.items() if v is not None}
    settings = Paraphrase.configure(
        backend, decoding=decoding, input_path=in_path, n=limit, **chosen
    )
    run_and_report(settings, backend, out, operational, unit="instruction")
