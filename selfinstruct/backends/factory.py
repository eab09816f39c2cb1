"""The backend a run talks to, from the model options (the command line's and Python's)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from selfinstruct.backends.base import Api, Backend
from selfinstruct.errors import UserError


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
