"""`selfinstruct tools SPEC`: tool-use data from API documentation; `selfinstruct tools eval
PRED GOLD`: Gorilla's AST match of predicted calls against reference calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from selfinstruct.cli.options import FiniteFloatRange, decoding_option
from selfinstruct.cli.running import (
    model_options,
    out_option,
    run_and_report,
    run_options,
    take_backend,
)
from selfinstruct.config import default
from selfinstruct.decoding import parse_decoding_overrides
from selfinstruct.jsonio import read_records
from selfinstruct.methods.tools.match import evaluate
from selfinstruct.methods.tools.method import Tools
from selfinstruct.methods.tools.settings import ToolsSettings
from selfinstruct.methods.tools.spec import load_tools
from selfinstruct.pricing import parse_price
from selfinstruct.store import tasks_file


def _default(name: str) -> Any:
    return default(ToolsSettings, name)


class _Tools(click.Group):
    """``tools SPEC ...`` runs ``tools generate SPEC ...``; ``tools eval`` is the matcher."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["generate", *args]
        return super().parse_args(ctx, args)


@click.group("tools", cls=_Tools)
def tools() -> None:
    """Tool-use data from API documentation (Gorilla, ToolBench).

    \b
      selfinstruct tools SPEC [OPTIONS]       generate request-call pairs (see: tools generate -h)
      selfinstruct tools eval PRED GOLD       match predicted calls against reference calls
    """


@tools.command("generate")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--n", "n", type=click.IntRange(min=1), default=100, show_default=True,
              help="Request-call pairs to keep.")  # fmt: skip
@click.option("--requests", type=click.IntRange(1, 40), default=_default("requests"),
              show_default=True, help="New pairs asked per prompt (Gorilla asked about 10).")  # fmt: skip
@click.option("--shots", type=click.IntRange(0, 20), default=_default("shots"),
              show_default=True, help="Example pairs shown per prompt.")  # fmt: skip
@click.option("--examples", "examples_path", type=click.Path(dir_okay=False), default=None,
              help="Your example pairs, JSONL {request, calls, tools?} (tools left out: the "
              "spec's own). Default: ours, prompts/tools/examples.jsonl.")  # fmt: skip
@click.option("--combine", is_flag=True,
              help="Also prompt with sets of 2+ tools of one group (an OpenAPI tag or a "
              "\"group\" field), ToolBench's multi-tool instructions.")  # fmt: skip
@click.option("--combine-share", type=FiniteFloatRange(0, 1), default=_default("combine_share"),
              show_default=True, help="With --combine: the share of prompts on a tool set.")  # fmt: skip
@click.option("--set-size", type=click.IntRange(2, 8), default=_default("set_size"),
              show_default=True, help="With --combine: at most this many tools a set.")  # fmt: skip
@click.option("--responses", is_flag=True,
              help="Also the assistant's final reply after each call's result (from --mock, "
              "else simulated by the model and labelled so).")  # fmt: skip
@click.option("--mock", "mock_path", type=click.Path(dir_okay=False), default=None,
              help="Canned tool results for --responses: a JSON object, tool name -> result.")  # fmt: skip
@click.option("--threshold", type=FiniteFloatRange(0, 1), default=_default("threshold"),
              show_default=True, help="Drop a request whose ROUGE-L against a kept request "
              "with the same calls is above this.")  # fmt: skip
@decoding_option(Tools.stages, "requests.temperature=1.0")
@out_option("data/tools")
@model_options
@run_options
def generate(spec_path: str, n: int, out: Path, **options: Any) -> None:
    """Request-call pairs for the tools of SPEC, every call checked against its schema.

    SPEC: a JSON list of tools in the OpenAI tools format, or an OpenAPI 3 document (JSON or
    YAML; each operation is a tool named by its operationId). Writes a run folder: tasks.jsonl
    (each pair with its calls and tools), rejected.jsonl (every drop with its reason),
    failures.jsonl, summary.json, cache.sqlite. Run the same command again to resume.
    """
    o = dict(options)
    parse_price(o["price"])
    decoding = o.pop("decoding")
    parse_decoding_overrides(decoding, Tools.stages)
    if o["mock_path"] is not None and not o["responses"]:
        raise click.UsageError("--mock gives tool results for --responses; add --responses")
    load_tools(spec_path)  # before a model is loaded
    backend = take_backend(o)
    operational = {k: o.pop(k) for k in ("price", "quiet", "allow_setting_changes")}
    chosen = {k: v for k, v in o.items() if v is not None}
    settings = Tools.configure(backend, decoding=decoding, spec_path=spec_path, n=n, **chosen)
    run_and_report(settings, backend, out, operational, unit="pair")


@tools.command("eval")
@click.argument("pred", type=click.Path(exists=True))
@click.argument("gold", type=click.Path(exists=True))
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The tools that exist (default: the gold records' tools).")  # fmt: skip
def evaluate_command(pred: str, gold: str, spec_path: str | None) -> None:
    """Match the calls of PRED against those of GOLD (Gorilla's AST match).

    Each is a JSONL file (or a run folder) of records with "calls" ([{name, arguments}]),
    paired by "id" (by position when a record has none). A call matches when its tool is the
    reference's and every argument the reference gives has the same value; a call to a tool
    that does not exist is hallucinated.
    """
    names = {t.name for t in load_tools(spec_path)} if spec_path else None
    report = evaluate(_records(pred), _records(gold), names, pred)
    for line in report.lines():
        click.echo(line)


def _records(path: str) -> list[tuple[int, dict[str, Any]]]:
    source = Path(path)
    return list(read_records(tasks_file(source) if source.is_dir() else source))
