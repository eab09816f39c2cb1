"""Options and parameter types shared by the commands (generate, filter, the methods)."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import click

from selfinstruct.config import InstructionRunSettings, default

F = TypeVar("F", bound=Callable[..., Any])


class FiniteFloatRange(click.FloatRange):
    """A click.FloatRange that also refuses NaN and infinity.

    click's range check compares with < and >, which NaN always passes: ``--threshold nan``
    would reject nothing, and a NaN budget or price ends up in summary.json, which is then not
    JSON. The error names the option, like every click error (exit status 2)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)


# A finite number, 0 or more: amounts such as --max-cost.
FINITE_NONNEGATIVE = FiniteFloatRange(min=0)


def instruction_filter_options(func: F) -> F:
    """--threshold, --tokenizer, --blacklist and --allow-non-ascii-start, the same everywhere."""
    options = [
        click.option(
            "--threshold",
            type=FiniteFloatRange(0, 1),
            default=default(InstructionRunSettings, "threshold"),
            show_default=True,
            help="Reject an instruction whose ROUGE-L F against an earlier one is above this.",
        ),
        click.option(
            "--tokenizer",
            type=click.Choice(["rouge", "unicode"]),
            default=default(InstructionRunSettings, "tokenizer"),
            show_default=True,
            help="ROUGE-L tokens: rouge_score's ([a-z0-9] only, the paper's) or unicode "
            "(letters of any script; needed for non-English data).",
        ),
        click.option(
            "--blacklist",
            type=click.Choice(["paper", "alpaca", "none"]),
            default=default(InstructionRunSettings, "blacklist"),
            show_default=True,
            help="Forbidden words: the paper's 13, or Alpaca's (adds video, audio, music, "
            "flowchart, diagram).",
        ),
        click.option(
            "--allow-non-ascii-start",
            is_flag=True,
            help="Keep instructions that start with a non-ASCII character (non-English work).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


# ------------------------------------------------------------------ --decoding, every method


def decoding_option(stages: Collection[str], example: str, note: str = "") -> Callable[[F], F]:
    """``--decoding STAGE.PARAM=VALUE`` (repeatable), its help naming the command's stages."""
    return click.option(
        "--decoding",
        "decoding",
        multiple=True,
        metavar="STAGE.PARAM=VALUE",
        help=f"Override a decoding parameter, e.g. {example}. Stages: {', '.join(stages)}"
        f"{note}; params: max_tokens, temperature, top_p, frequency_penalty, "
        "presence_penalty, stop (separate with |, \\n for a newline). Repeatable; saved with "
        "the run like every data setting.",
    )
