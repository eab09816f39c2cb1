"""Two models behind one backend: GLAN's answers may come from another (cheaper) model.

The engine talks to one backend; this one sends requests of the answer stage to the answer
model and every other request to the main model. Both are reached the same way (the same
server or the OpenAI API, the same key and API kind). The answer model's name is part of the
cache identity, so a folder's cached answers never come from the wrong model.
"""

from __future__ import annotations

from typing import Any

from selfinstruct.backends.base import Backend, Completion, EndpointStats, Request
from selfinstruct.errors import UserError


class RoutingBackend(Backend):
    def __init__(self, main: Backend, answers: Backend, answer_stage: str = "answers") -> None:
        self.main = main
        self.answers = answers
        self.answer_stage = answer_stage
        self.model = main.model
        self.answer_model = answers.model
        self.api = main.api
        self.base_url = main.base_url
        self.max_concurrency = min(main.max_concurrency, answers.max_concurrency)

    def identity(self) -> dict[str, Any]:
        identity = {**self.main.identity(), "answer_model": self.answer_model}
        if self.answers.base_url != self.main.base_url:  # only then: same-server keys unchanged
            identity["answer_base_url"] = self.answers.base_url
        return identity

    async def complete(self, request: Request, text: str) -> Completion:
        target = self.answers if request.stage == self.answer_stage else self.main
        return await target.complete(request, text)

    async def aclose(self) -> None:
        await self.main.aclose()
        await self.answers.aclose()

    def endpoint_stats(self) -> list[EndpointStats]:
        return self.main.endpoint_stats()  # a pool's answer model shares its endpoints


def with_answer_model(
    backend: Backend, answer_model: str | None, api_key: str | None, timeout: float
) -> Backend:
    """``backend``, or a router sending answers to ``answer_model`` on the same server."""
    if answer_model is None or answer_model == backend.model:
        return backend
    from selfinstruct.backends.openai_api import OpenAIBackend
    from selfinstruct.backends.pool import PoolBackend

    if isinstance(backend, PoolBackend):  # the answer model on the same endpoints
        members = [
            OpenAIBackend(
                model=answer_model,
                base_url=s.url,
                api_key=api_key,
                api=backend.api,
                timeout=timeout,
                max_concurrency=s.limit,
            )  # fmt: skip
            for s in backend.endpoint_stats()
        ]
        return RoutingBackend(backend, backend.sharing(members))
    if not isinstance(backend, OpenAIBackend):
        raise UserError(
            "--answer-model names a second model on the same server: it needs --model "
            "(and --base-url for a self-hosted server), not the bundled model"
        )
    answers = OpenAIBackend(
        model=answer_model, base_url=backend.base_url, api_key=api_key, api=backend.api,
        timeout=timeout, max_concurrency=backend.max_concurrency,
    )  # fmt: skip
    return RoutingBackend(backend, answers)


def with_judge_model(
    backend: Backend,
    judge_model: str | None,
    judge_base_url: str | None,
    api_key: str | None,
    timeout: float,
    concurrency: int,
) -> Backend:
    """``backend``, or a router sending ``respond --compare``'s scoring requests to
    ``judge_model`` (on ``judge_base_url``, else the teacher's server; the API kind is chosen
    for the judge's own name, as ``--api auto`` would)."""
    if judge_model is None or (
        judge_model == backend.model and judge_base_url in (None, backend.base_url)
    ):
        return backend
    from selfinstruct.backends.factory import build_backend

    judge = build_backend(
        model=judge_model, base_url=judge_base_url or backend.base_url, api_key=api_key,
        api="auto", model_path=None, timeout=timeout, concurrency=concurrency,
    )  # fmt: skip
    return RoutingBackend(backend, judge, answer_stage="compare")
