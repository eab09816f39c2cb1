"""`selfinstruct glan`: instructions from a taxonomy of human knowledge (GLAN, Li et al. 2024)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from selfinstruct.backends.routing import with_answer_model
from selfinstruct.cli.options import FiniteFloatRange, decoding_option
from selfinstruct.cli.running import (
    model_options,
    out_option,
    run_and_report,
    run_options,
    take_batch,
    take_model_backend,
)
from selfinstruct.config import default
from selfinstruct.decoding import parse_decoding_overrides
from selfinstruct.methods.glan.inputs import load_benchmark, load_taxonomy
from selfinstruct.methods.glan.method import Glan
from selfinstruct.methods.glan.settings import GLAN_LEVELS, GlanSettings
from selfinstruct.pricing import parse_price


def _default(name: str) -> Any:
    return default(GlanSettings, name)


@click.command("glan")
@click.option(
    "--taxonomy",
    "taxonomy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Taxonomy file to use instead of asking the model: JSONL lines {field, sub_field, "
    "discipline} (a run's taxonomy.jsonl, edited), YAML field: {sub_field: [discipline]}, or "
    ".txt with one name a line, indented two spaces (or a tab) per level.",
)
@click.option(
    "--disciplines",
    type=click.IntRange(min=1),
    default=None,
    help="Disciplines in all: asked of the model, spread over fields and sub-fields; with "
    f"--taxonomy, its first N (default: all). [default: {_default('disciplines')}]",
)
@click.option(
    "--subjects",
    type=click.IntRange(min=1),
    default=_default("subjects"),
    show_default=True,
    help="Subjects per discipline.",
)
@click.option(
    "--questions",
    type=click.IntRange(min=1),
    default=_default("questions"),
    show_default=True,
    help="Homework questions per subject (one syllabus per subject).",
)
@click.option(
    "--two-session-share",
    type=FiniteFloatRange(min=0, max=1),
    default=_default("two_session_share"),
    show_default=True,
    help="Share of questions combining two class sessions (harder); the rest use one.",
)
@click.option(
    "--subject-requests",
    type=click.IntRange(min=1, max=20),
    default=_default("subject_requests"),
    show_default=True,
    help="Subject lists asked per discipline (temperature 1.0) and merged.",
)
@click.option(
    "--sessions",
    type=click.IntRange(min=1, max=40),
    default=_default("sessions"),
    show_default=True,
    help="Class sessions asked for per syllabus.",
)
@click.option(
    "--answer-model",
    default=None,
    help="Model that answers the questions, on the same server (default: --model).",
)
@click.option(
    "--question-novelty",
    is_flag=True,
    help="Ours, not the paper's: drop a question whose ROUGE-L to a kept question is above "
    "--threshold.",
)
@click.option(
    "--threshold",
    type=FiniteFloatRange(min=0, max=1),
    default=_default("threshold"),
    show_default=True,
    help="With --question-novelty: the ROUGE-L F above which a question is dropped.",
)
@click.option(
    "--decontaminate",
    "decontaminate_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Benchmark items (JSONL/JSON with question/instruction/prompt/problem/input/text, or "
    ".txt one per line): drop questions that overlap one too much.",
)
@click.option(
    "--decontaminate-threshold",
    type=FiniteFloatRange(min=0, max=1, min_open=True),
    default=_default("decontaminate_threshold"),
    show_default=True,
    help="Drop a question when this share of its word n-grams appears in one benchmark item.",
)
@click.option(
    "--decontaminate-ngram",
    type=click.IntRange(min=1, max=50),
    default=_default("decontaminate_ngram"),
    show_default=True,
    help="n of the word n-grams compared.",
)
@click.option(
    "--until",
    type=click.Choice(GLAN_LEVELS),
    default="answers",
    show_default=True,
    help="Stop after this level; run again with a later level (or none) to go on.",
)
@decoding_option(Glan.stages, "answers.max_tokens=300")
@out_option("data/glan")
@model_options
@run_options
@click.pass_context
def glan(ctx: click.Context, out: Path, **options: Any) -> None:
    """Generate instruction data from a taxonomy of knowledge (GLAN).

    Fields -> sub-fields -> disciplines (asked of the model, or --taxonomy), then subjects per
    discipline, a syllabus per subject, homework questions from one or two class sessions, and
    answers. Writes a run folder: taxonomy.jsonl, subjects.jsonl, syllabi.jsonl,
    questions.jsonl, tasks.jsonl (the final data, each record with its path), rejected.jsonl,
    failures.jsonl, summary.json, cache.sqlite. Run the same command again to resume.
    """
    o = dict(options)
    parse_price(o["price"])
    decoding = o.pop("decoding")
    parse_decoding_overrides(decoding, Glan.stages)
    files = {name: o.pop(name) for name in ("taxonomy_path", "decontaminate_path")}
    for name, path in files.items():  # before a model is loaded
        if path is not None:
            (load_taxonomy if name == "taxonomy_path" else load_benchmark)(path)
    api_key = o["api_key"]
    backend = take_model_backend(o)
    backend = with_answer_model(backend, o["answer_model"], api_key, o["timeout"])
    backend = take_batch(o, backend)
    operational = {k: o.pop(k) for k in ("price", "quiet", "allow_setting_changes")}
    chosen = {k: v for k, v in {**o, **files}.items() if v is not None}
    settings = Glan.configure(backend, decoding=decoding, **chosen)
    if settings.until != "answers" and not operational["quiet"]:
        click.echo(f"Stopping after the {settings.until} level (--until).", err=True)
    run_and_report(settings, backend, out, operational, unit="question")
