"""`selfinstruct chat`: UltraChat-style dialogues between a simulated user and an assistant."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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
from selfinstruct.methods.chat.dialogue import parse_turns
from selfinstruct.methods.chat.method import Chat
from selfinstruct.methods.chat.settings import ChatSettings, DialogueGateSettings
from selfinstruct.pricing import parse_price
from selfinstruct.templates import BUILTIN

F = TypeVar("F", bound=Callable[..., Any])
OPERATIONAL = ("price", "quiet", "allow_setting_changes")


def dialogue_gate_options(func: F) -> F:
    """--template, --threshold, --tokenizer, --blacklist: shared by chat and magpie."""
    options = [
        click.option(
            "--template",
            default=None,
            metavar="NAME|FILE",
            help=f"Chat template for raw completion ({', '.join(BUILTIN)}, or a Jinja file). "
            "Default: the GGUF file's own (bundled model, --model-path); a chat API needs none.",
        ),
        click.option(
            "--threshold",
            type=FiniteFloatRange(0, 1),
            default=default(DialogueGateSettings, "threshold"),
            show_default=True,
            help="Reject an opening/query whose ROUGE-L F against a kept one is above this.",
        ),
        click.option(
            "--tokenizer",
            type=click.Choice(["rouge", "unicode"]),
            default=default(DialogueGateSettings, "tokenizer"),
            show_default=True,
            help="ROUGE-L tokens: rouge_score's ([a-z0-9] only) or unicode (any script).",
        ),
        click.option(
            "--blacklist",
            type=click.Choice(["paper", "alpaca", "none"]),
            default=default(DialogueGateSettings, "blacklist"),
            show_default=True,
            help="Forbidden words in an opening/query (none: the papers filter no words).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def operational(options: dict[str, Any]) -> dict[str, Any]:
    parse_price(options["price"])
    return {k: options.pop(k) for k in OPERATIONAL}


@click.command()
@click.option("--n", "n", type=click.IntRange(min=1), default=100, show_default=True,
              help="Number of dialogues (openings accepted).")  # fmt: skip
@click.option(
    "--turns",
    default=None,
    metavar="MIN-MAX",
    help="Rounds (user message + reply) per dialogue, drawn uniformly per dialogue, for every "
    "source. Default: the paper's per source: world and entities 3-7, writing and material "
    "2-4 (openings 2-4).",
)
@click.option(
    "--source",
    "sources",
    type=click.Choice(["world", "entities", "writing", "material", "openings"]),
    multiple=True,
    help="Where openings come from, in turn (repeatable). Default: world and writing, plus "
    "entities, material and openings when their files are given.",
)
@click.option("--entities", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A text file, one entity a line: questions about each open dialogues.")  # fmt: skip
@click.option("--material", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A text file: openings are requests about its passages.")  # fmt: skip
@click.option("--openings", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A task file (ours or Alpaca's): its instructions open dialogues.")  # fmt: skip
@click.option("--passage-words", type=click.IntRange(min=20),
              default=default(ChatSettings, "passage_words"), show_default=True,
              help="Words per --material passage (cut at paragraph breaks).")  # fmt: skip
@click.option(
    "--no-regenerate",
    is_flag=True,
    help="End a dialogue at the first user turn that speaks as the assistant, without asking "
    "once more.",
)
@decoding_option(Chat.stages, "user.temperature=0.8")
@out_option("data/chat")
@model_options
@dialogue_gate_options
@run_options
def chat(n: int, out: Path, **options: Any) -> None:
    """Multi-turn dialogues, UltraChat's way (Ding et al. 2023).

    A simulated user (curious, specific, follows up and pushes back) talks with an assistant
    for a drawn number of rounds, from openings about the world, writing tasks, passages of
    --material or the tasks of --openings. Writes a run folder whose tasks.jsonl holds one
    dialogue per line ("turns", "source", "models"); export it with --format
    sharegpt|messages|openai. Run the same command again to resume.
    """
    o = dict(options)
    turns = o.pop("turns")
    turns_min, turns_max = parse_turns(turns) if turns is not None else (None, None)
    sources = tuple(o.pop("sources")) or None
    regenerate = not o.pop("no_regenerate")
    decoding = o.pop("decoding")
    parse_decoding_overrides(decoding, Chat.stages)
    ops = operational(o)
    backend = take_backend(o)
    chosen = {k: v for k, v in o.items() if v is not None}
    settings = Chat.configure(
        backend, decoding=decoding, n=n, sources=sources, turns_min=turns_min,
        turns_max=turns_max, regenerate_confused=regenerate, **chosen,
    )  # fmt: skip
    run_and_report(settings, backend, out, ops, unit="dialogue")
