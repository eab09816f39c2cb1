"""`selfinstruct templatize TASKS`: labelled datasets rendered through instruction templates."""

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
from selfinstruct.methods.templatize.method import Templatize
from selfinstruct.methods.templatize.settings import TemplatizeSettings as S

SHARE = click.FloatRange(0, 1)


@click.command("templatize")
@click.argument("task_file", metavar="TASKS", type=click.Path(exists=True, dir_okay=False))
@click.option("--n", "n", type=click.IntRange(min=1), default=None,
              help="Examples to write (default: the whole mixture, every task under --cap).")  # fmt: skip
@click.option("--cap", type=click.IntRange(min=1), default=default(S, "cap"), show_default=True,
              help="Examples per task at most (FLAN's cap); tasks are mixed in proportion to "
              "size under it.")  # fmt: skip
@click.option("--templates", "template_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False),
              help="A template file of your own (repeatable): its templates override bundled "
              "ones of the same name and add the others.")  # fmt: skip
@click.option("--only-own-templates", is_flag=True,
              help="Use only the --templates files, not the bundled families.")  # fmt: skip
@click.option("--inverted-share", type=SHARE, default=default(S, "inverted_share"),
              show_default=True, help="Share of rows through a template that turns the task "
              "around (from the answer, ask for the input).")  # fmt: skip
@click.option("--few-shot-share", type=SHARE, default=default(S, "few_shot_share"),
              show_default=True, help="Share of few-shot rows (exemplars from the same task).")  # fmt: skip
@click.option("--cot-share", type=SHARE, default=default(S, "cot_share"), show_default=True,
              help="Share of chain-of-thought rows, in tasks with a rationale column.")  # fmt: skip
@click.option("--shots", type=click.IntRange(1, 32), default=default(S, "shots"),
              show_default=True, help="Exemplars in a few-shot row.")  # fmt: skip
@click.option("--no-options", "options_suffix", flag_value=False, default=True,
              help="No OPTIONS suffix listing the labels after classification inputs.")  # fmt: skip
@click.option("--skip-bad-rows", is_flag=True,
              help="Skip (and count) rows with a missing field or an undeclared label instead "
              "of stopping at the first.")  # fmt: skip
@click.option("--write-templates", type=click.IntRange(0, 50), default=0, show_default=True,
              metavar="K", help="Ask the model for K new templates per task (each checked on "
              "sample rows before use). 0: no model is asked, nor loaded.")  # fmt: skip
@decoding_option(Templatize.stages, "template.temperature=1.0")
@out_option("data/templatize")
@model_options
@run_options
def templatize(task_file: str, out: Path, **options: Any) -> None:
    """Instruction data from labelled datasets by templates, as FLAN and T0 made it.

    TASKS is a TOML (or YAML) file naming each dataset (JSONL, CSV, Parquet or a folder saved
    by `datasets`), its type (classification, extractive_qa, generative_qa, summarization,
    generation), its columns and, for classification, its labels. Every row goes through a
    template chosen by a seeded draw (zero-shot, few-shot, inverted, chain-of-thought); see
    docs/methods/templatize.md. Writes a run folder: tasks.jsonl (with source_task, template,
    family, form), inputs.jsonl, summary.json. Run the same command again to resume.
    """
    o = dict(options)
    decoding = o.pop("decoding")
    parse_decoding_overrides(decoding, Templatize.stages)
    backend = take_backend(o)
    operational = {k: o.pop(k) for k in ("price", "quiet", "allow_setting_changes")}
    chosen = {k: v for k, v in o.items() if v is not None}
    settings = Templatize.configure(backend, decoding=decoding, task_file=task_file, **chosen)
    run_and_report(settings, backend, out, operational, unit="example")
