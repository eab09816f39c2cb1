"""``--decoding STAGE.PARAM=VALUE``: the one parser every method's overrides go through.

A method declares its stages (``Method.stages``: stage name -> settings field); an override
changes one parameter of one stage's decoding and keeps the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from math import isfinite
from typing import Any

from selfinstruct.backends.base import Decoding, decoding_problem
from selfinstruct.errors import UserError


def parse_decoding_overrides(
    items: Sequence[str], stages: Collection[str], default_stage: str | None = None
) -> dict[str, dict[str, Any]]:
    """``("instructions.temperature=1.0", ...)`` -> ``{"instructions": {"temperature": 1.0}}``.

    ``stages`` are the names a command's ``--decoding`` accepts (every method has its own);
    ``default_stage`` takes an item that names none (``PARAM=VALUE``)."""
    overrides: dict[str, dict[str, Any]] = {}
    fields = {f.name for f in dataclasses.fields(Decoding)}
    for item in items:
        target, sep, value = item.partition("=")
        stage, dot, param = target.partition(".")
        if not dot and default_stage is not None:
            stage, dot, param = default_stage, ".", target
        if not sep or not dot:
            raise UserError(f"--decoding {item!r}: expected STAGE.PARAM=VALUE")
        if stage not in stages:
            raise UserError(f"--decoding {item!r}: stage must be one of {', '.join(stages)}")
        if param not in fields:
            raise UserError(
                f"--decoding {item!r}: parameter must be one of {', '.join(sorted(fields))}"
            )
        parsed: Any
        try:
            if param == "stop":
                parsed = tuple(_unescape(part) for part in value.split("|") if part)
            elif param == "max_tokens":
                parsed = int(value)
            else:
                parsed = float(value)
        except ValueError:
            kind = "a whole number" if param == "max_tokens" else "a number"
            raise UserError(f"--decoding {item!r}: {value!r} is not {kind}") from None
        # Servers answer nonsense values with an error on every request, or not at all (NaN).
        if isinstance(parsed, float) and not isfinite(parsed):
            raise UserError(f"--decoding {item!r}: {value!r} is not a finite number")
        problem = decoding_problem(param, parsed) if param != "stop" else None
        if problem is not None:
            raise UserError(f"--decoding {item!r}: {problem}")
        overrides.setdefault(stage, {})[param] = parsed
    return overrides


def _unescape(text: str) -> str:
    """Let a shell user write a newline stop as \\n (and a tab as \\t)."""
    return text.replace("\\n", "\n").replace("\\t", "\t")
