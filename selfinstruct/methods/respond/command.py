"""`selfinstruct respond`: a teacher model answers every instance again (GPT-4-LLM recipe)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from selfinstruct.backends.routing import with_judge_model
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
from selfinstruct.errors import UserError
from selfinstruct.export import load_tasks
from selfinstruct.methods.respond.method import Respond
from selfinstruct.methods.respond.prompts import language_name
from selfinstruct.methods.respond.routing import with_stage_model
from selfinstruct.methods.respond.settings import RespondSettings
from selfinstruct.pricing import parse_price
from selfinstruct.templates import resolve


@click.command("respond")
@click.argument("in_path", metavar="IN", type=click.Path(exists=True))
@out_option("data/respond")
@click.option("-o", "out_alias", type=click.Path(file_okay=False), default=None,
              help="Same as --out.")  # fmt: skip
@click.option(
    "--system",
    default=None,
    help="System prompt for the teacher: a system message on a chat API; on the completion API "
    "the system and user turns rendered with the model's chat template (the bundled model's or "
    "--model-path's own). A completion server's template is unknown: there it is put before "
    "the prompt as text.",
)
@click.option(
    "--n-responses",
    type=click.IntRange(1, 16),
    default=default(RespondSettings, "n_responses"),
    show_default=True,
    help="New candidates per instance, each with its own seed.",
)
@click.option(
    "--framing",
    type=click.Choice(["alpaca", "plain"]),
    default=default(RespondSettings, "framing"),
    show_default=True,
    help="The teacher's question: Alpaca's prompt with or without input, as GPT-4-LLM asked "
    "(alpaca), or the instruction and input alone (plain; a short template on a completion "
    "API).",
)
@click.option(
    "--compare",
    is_flag=True,
    help="Rate every candidate (the original, the new ones, --candidates) 1-10.",
)
@click.option(
    "--rating",
    type=click.Choice(["side-by-side", "separate"]),
    default=default(RespondSettings, "rating"),
    show_default=True,
    help="With --compare: all candidates of an instance in one request, rated against each "
    "other as GPT-4-LLM did (side-by-side), or each candidate alone (separate).",
)
@click.option(
    "--candidates",
    "candidate_paths",
    multiple=True,
    type=click.Path(),
    help="An earlier run (or task file) with another model's answers to the same data, rated "
    "beside the teacher's with --compare. Repeatable.",
)
@click.option(
    "--translate",
    metavar="LANGUAGE",
    default=None,
    help="Translate instructions and inputs into LANGUAGE (a code such as zh, or a name) "
    "first, then answer in it; the original texts are kept (GPT-4-LLM's Chinese data).",
)
@click.option(
    "--translate-model",
    default=None,
    help="With --translate: the model that translates (default: the teacher), on the "
    "teacher's server unless --translate-base-url; same API key.",
)
@click.option(
    "--translate-base-url",
    default=None,
    help="With --translate-model: the translator's OpenAI-compatible server.",
)
@click.option(
    "--judge-model",
    default=None,
    help="With --compare: the model that scores (default: the teacher), on the teacher's "
    "server unless --judge-base-url; same API key.",
)
@click.option(
    "--judge-base-url",
    default=None,
    help="With --judge-model: the judge's OpenAI-compatible server (default: the teacher's).",
)
@click.option(
    "--original-model",
    default=default(RespondSettings, "original_model"),
    show_default=True,
    help="Name recorded for the model that wrote the original outputs.",
)
@decoding_option(Respond.stages, "respond.max_tokens=1024",
                 " (respond when no stage is named)")  # fmt: skip
@model_options
@run_options
def respond(in_path: str, out: Path, out_alias: str | None, **options: Any) -> None:
    """Answer every instance of IN (a task/Alpaca file or a run folder) with a teacher model.

    Writes OUT/tasks.jsonl: each instance's new output, with the original output and both
    models beside it (and with --compare, every candidate's score). Then
    `selfinstruct export OUT --format preference` writes the ranked pairs (DPO).
    """
    o = dict(options)
    if out_alias is not None:
        out = Path(out_alias)
    decoding = o.pop("decoding")
    parse_decoding_overrides(decoding, Respond.stages, Respond.default_stage)
    parse_price(o["price"])
    if o["system"] is not None and not o["system"].strip():
        raise UserError("--system must not be empty")
    if o["judge_model"] is None and o["judge_base_url"] is not None:
        raise UserError("--judge-base-url needs --judge-model: pass the judge's model name")
    if o["judge_model"] is not None and not o["compare"]:
        raise UserError("--judge-model scores candidates: it needs --compare")
    if o["candidate_paths"] and not o["compare"]:
        raise UserError("--candidates are rated beside the teacher's answers: add --compare")
    if o["translate_base_url"] is not None and o["translate_model"] is None:
        raise UserError("--translate-base-url needs --translate-model: pass the model's name")
    if o["translate_model"] is not None and o["translate"] is None:
        raise UserError("--translate-model needs --translate LANGUAGE")
    if o["translate"] is not None:
        language_name(o["translate"])
    tasks = load_tasks(in_path)
    if not tasks:
        raise UserError(f"{in_path}: holds no tasks")
    api_key = o["api_key"]
    backend = take_backend(o)
    template = None
    if o["system"] is not None and backend.api == "completion":
        template = resolve(None, getattr(backend, "model_path", None))
    backend = with_judge_model(backend, o["judge_model"], o["judge_base_url"], api_key,
                               o["timeout"], o["concurrency"])  # fmt: skip
    backend = with_stage_model(backend, "translate", o["translate_model"],
                               o["translate_base_url"], api_key, o["timeout"], o["concurrency"])  # fmt: skip
    operational = {k: o.pop(k) for k in ("price", "quiet", "allow_setting_changes")}
    chosen = {k: v for k, v in o.items() if v is not None}
    settings = Respond.configure(
        backend, decoding=decoding, n=len(tasks), input_path=in_path, template=template,
        **chosen,
    )  # fmt: skip
    run_and_report(settings, backend, out, operational)
