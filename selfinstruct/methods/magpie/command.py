"""`selfinstruct magpie`: user queries sampled from the chat template's pre-query alone."""

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
from selfinstruct.decoding import parse_decoding_overrides
from selfinstruct.methods.chat.command import dialogue_gate_options, operational
from selfinstruct.methods.magpie.method import Magpie


@click.command()
@click.option("--n", "n", type=click.IntRange(min=1), default=100, show_default=True,
              help="Number of queries to accept (each then answered).")  # fmt: skip
@click.option("--turns", type=click.IntRange(1, 50), default=1, show_default=True,
              help="User turns per conversation: after each answer the model goes on as the "
              "user (Magpie's multi-turn extension).")  # fmt: skip
@click.option("--task", type=click.Choice(["math", "code", "translation"]), default=None,
              help="Steer the queries to this task with a system prompt before the user turn.")  # fmt: skip
@click.option("--system", default=None, metavar="TEXT",
              help="A system prompt before the user turn the queries are sampled from.")  # fmt: skip
@click.option("--no-stop-at-newline", is_flag=True,
              help="Let a query run past its first newline (Magpie stops there by default).")  # fmt: skip
@click.option("--requests-only", is_flag=True,
              help="Not Magpie's: drop a query that neither asks a question nor opens with a "
              "request word (drops maths and coding problems too).")  # fmt: skip
@decoding_option(Magpie.stages, "query.temperature=1.2")
@out_option("data/magpie")
@model_options
@dialogue_gate_options
@run_options
def magpie(n: int, out: Path, **options: Any) -> None:
    """Instruction data the Magpie way (Xu et al. 2024), with no prompt at all.

    The model is given only its chat template's opening of a user turn (e.g.
    "<|im_start|>user\\n") and writes a query; the query is then answered. Needs raw
    completion with special tokens: the bundled model, --model-path, or --api completion with
    a server that does not re-template (pass --template). Run again to resume.
    """
    o = dict(options)
    o["stop_at_newline"] = not o.pop("no_stop_at_newline")
    decoding = o.pop("decoding")
    parse_decoding_overrides(decoding, Magpie.stages)
    ops = operational(o)
    backend = take_backend(o)
    chosen = {k: v for k, v in o.items() if v is not None}
    settings = Magpie.configure(backend, decoding=decoding, n=n, **chosen)
    run_and_report(settings, backend, out, ops, unit="query")
