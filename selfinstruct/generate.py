"""Turn command-line choices into a backend and run settings.

Kept apart from the click command so the same choices can be made from Python.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Api, Backend, Decoding, decoding_problem
from selfinstruct.config import (
    CHAT_CLASSIFY_DECODING,
    CHAT_INSTRUCTION_STOP,
    CLASSIFICATION_INSTANCE_DECODING,
    CLASSIFY_DECODING,
    GENERATION_INSTANCE_DECODING,
    INSTRUCTION_DECODING,
    AlpacaSettings,
    InstructionRunSettings,
    SelfInstructSettings,
    default,
    file_sha256,
    validated,
)
from selfinstruct.errors import UserError

DECODING_STAGES = {
    "instructions": "instruction_decoding",
    "classify": "classify_decoding",
    "classification_instances": "classification_instance_decoding",
    "generation_instances": "generation_instance_decoding",
}
_FLOAT_PARAMS = {"temperature", "top_p", "frequency_penalty", "presence_penalty"}


def build_backend(
    model: str | None,
    base_url: str | Sequence[str] | None,
    api_key: str | None,
    api: str,
    model_path: Path | None,
    timeout: float,
    concurrency: int,
) -> Backend:
    """The bundled model when neither --model nor --base-url is given, else a server, or a
    pool of servers when --base-url names several (``concurrency`` is each one's limit unless
    its URL carries ``#N``)."""
    if model is not None and not model.strip():
        raise UserError(
            "--model is empty: name the model the server serves, or leave --model out for the "
            "bundled model"
        )
    chosen_api: Api | None = None if api == "auto" else api  # type: ignore[assignment]
    if base_url is not None and not isinstance(base_url, str):
        from selfinstruct.endpoints import parse_endpoints

        endpoints = parse_endpoints(base_url)
        if len(endpoints) > 1 and model is not None and model_path is None:
            from selfinstruct.backends.pool import connect_pool

            return connect_pool(model, endpoints, api_key, chosen_api, timeout, concurrency)
        base_url = endpoints[0].url if endpoints else None
        concurrency = (endpoints[0].limit if endpoints else None) or concurrency
    if model is None and base_url is None:
        from selfinstruct.backends.local import LocalBackend

        return LocalBackend(model_path=model_path, api=chosen_api or "completion")
    if model_path is not None:
        raise UserError(
            "--model-path runs a local GGUF file; it cannot be combined with --model/--base-url"
        )
    if model is None:
        raise UserError("--base-url needs --model: pass the model name the server serves")
    from selfinstruct.backends.openai_api import OpenAIBackend

    return OpenAIBackend(
        model=model,
        base_url=base_url,
        api_key=api_key,
        api=chosen_api,
        timeout=timeout,
        max_concurrency=concurrency,
    )


def parse_decoding_overrides(
    items: tuple[str, ...], stages: Collection[str] = DECODING_STAGES
) -> dict[str, dict[str, Any]]:
    """``("instructions.temperature=1.0", ...)`` -> ``{"instructions": {"temperature": 1.0}}``.

    ``stages`` are the names a command's ``--decoding`` accepts (every method has its own)."""
    from math import isfinite  # local: only these function bodies are edited in this change

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
        problem = decoding_problem(param, parsed) if param != "stop" else None
        if problem is not None:
            raise UserError(f"--decoding {item!r}: {problem}")
        overrides.setdefault(stage, {})[param] = parsed
    return overrides


def _unescape(text: str) -> str:
    """Let a shell user write a newline stop as \\n (and a tab as \\t)."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


def parse_price(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        prompt_price, completion_price = (float(part) for part in text.split(","))
    except ValueError:
        raise UserError(
            f"--price {text!r}: expected two numbers, IN,OUT (USD per million tokens)"
        ) from None
    from math import isfinite  # local: only these function bodies are edited in this change

    # NaN passes every comparison and would reach summary.json, which is then not JSON.
    if not all(isfinite(p) and p >= 0 for p in (prompt_price, completion_price)):
        raise UserError(
            f"--price {text!r}: prices must be finite numbers, 0 or more (USD per million tokens)"
        )
    return prompt_price, completion_price


def build_settings(
    n: int,
    backend: Backend,
    seeds_file: Path,
    decoding: dict[str, dict[str, Any]] | None = None,
    method: str = "self-instruct",
    **options: Any,
) -> InstructionRunSettings:
    """The settings of a run; options left as None take the method's defaults."""
    chosen = {k: v for k, v in options.items() if v is not None}
    overrides = decoding or {}
    common = {
        "n": n,
        "model": backend.model,
        "base_url": backend.base_url,
        "api": backend.api,
        "seeds_path": str(seeds_file),
        "seeds_sha256": file_sha256(seeds_file),
    }
    if method == "alpaca":
        unknown = set(overrides) - {"instructions"}
        if unknown:
            raise UserError(
                f"--decoding {sorted(unknown)[0]}.*: --method alpaca has one stage, instructions"
            )
        base = default(AlpacaSettings, "decoding")
        tasks = dataclasses.replace(base, **overrides.get("instructions", {}))
        return validated(AlpacaSettings, **common, decoding=tasks, **chosen)
    instruction = INSTRUCTION_DECODING
    classify = CLASSIFY_DECODING
    if backend.api == "chat":
        instruction = dataclasses.replace(instruction, stop=CHAT_INSTRUCTION_STOP)
        classify = CHAT_CLASSIFY_DECODING
    defaults = {
        "instructions": instruction,
        "classify": classify,
        "classification_instances": CLASSIFICATION_INSTANCE_DECODING,
        "generation_instances": GENERATION_INSTANCE_DECODING,
    }
    decodings = {
        DECODING_STAGES[stage]: dataclasses.replace(base, **overrides.get(stage, {}))
        for stage, base in defaults.items()
    }
    return validated(SelfInstructSettings, **common, **decodings, **chosen)
