"""``--decoding STAGE.PARAM=VALUE``: the one parser every method's overrides go through.

A method declares its stages (``Method.stages``: stage name -> settings field); an override
changes one parameter of one stage's decoding and keeps the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from math import isfinite
from typing import Any

from selfinstruct.backends.base import Decoding
from selfinstruct.errors import UserError


def parse_decoding_overrides(
    items: tuple[str, ...], stages: Collection[str]
) -> dict[str, dict[str, Any]]:
    """``("instructions.temperature=1.0", ...)`` -> ``{"instructions": {"temperature": 1.0}}``.

    ``stages`` are the names a command's ``--decoding`` accepts (every method has its own)."""
    overrides: dict[str, dict[str, Any]] = {}
    fields = {f.name for f in dataclasses.fields(Decoding)}
    for item in items:
        target, sep, value = item.partition("=")
        stage, dot, param = target.partition(".")
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
        if param == "max_tokens" and parsed < 1:
            raise UserError(f"--decoding {item!r}: max_tokens must be 1 or more")
        if param == "temperature" and parsed < 0:
            raise UserError(f"--decoding {item!r}: temperature must be 0 or more")
        if param == "top_p" and not 0 <= parsed <= 1:
            raise UserError(f"--decoding {item!r}: top_p must be between 0 and 1")
        overrides.setdefault(stage, {})[param] = parsed
    return overrides


def _unescape(text: str) -> str:
    """Let a shell user write a newline stop as \\n (and a tab as \\t)."""
    return text.replace("\\n", "\n").replace("\\t", "\t")
