"""One backend for the engine, several models behind it: ``--translate-model`` answers the
``translate`` stage (GPT-4-LLM's translations came from ChatGPT, the answers from GPT-4)."""

from __future__ import annotations

from typing import Any

from selfinstruct.backends.base import Backend, Completion, EndpointStats, Request


class StageRouter(Backend):
    """Requests of ``stage`` go to ``other``, the rest to ``main``. The other model's name (and
    its server, when not main's) is part of the cache identity."""

    def __init__(self, main: Backend, other: Backend, stage: str) -> None:
        self.main = main
        self.other = other
        self.stage = stage
        self.model = main.model
        self.api = main.api
        self.base_url = main.base_url
        self.max_concurrency = min(main.max_concurrency, other.max_concurrency)
        self.constrains_answers = main.constrains_answers  # the rated stages go to main

    def identity(self) -> dict[str, Any]:
        identity = {**self.main.identity(), f"{self.stage}_model": self.other.model}
        if self.other.base_url != self.main.base_url:
            identity[f"{self.stage}_base_url"] = self.other.base_url
        return identity

    async def complete(self, request: Request, text: str) -> Completion:
        target = self.other if request.stage == self.stage else self.main
        return await target.complete(request, text)

    async def aclose(self) -> None:
        await self.main.aclose()
        await self.other.aclose()

    def endpoint_stats(self) -> list[EndpointStats]:
        return self.main.endpoint_stats()


def with_stage_model(
    backend: Backend,
    stage: str,
    model: str | None,
    base_url: str | None,
    api_key: str | None,
    timeout: float,
    concurrency: int,
) -> Backend:
    """``backend``, or a router sending ``stage``'s requests to ``model`` (on ``base_url``, else
    the main model's server; the API kind chosen for the model's name, as ``--api auto``)."""
    if model is None or (model == backend.model and base_url in (None, backend.base_url)):
        return backend
    from selfinstruct.backends.factory import build_backend

    other = build_backend(
        model=model, base_url=base_url or backend.base_url, api_key=api_key, api="auto",
        model_path=None, timeout=timeout, concurrency=concurrency,
    )  # fmt: skip
    return StageRouter(backend, other, stage)
