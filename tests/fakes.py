"""The synthetic model for engine and method tests: a deterministic in-process backend whose
answers depend only on the prompt and the request's stage, and which records every request it
receives, so a test can assert what the model was shown (the 6 + 2 shots), not only what came
out. The answers are each method's, in tests/answers/ (one module per method)."""

from __future__ import annotations

import answers

from selfinstruct.backends.base import Backend, BackendError, Completion, Request


class FakeBackend(Backend):
    def __init__(self, api: str = "completion", fail_every: int = 0) -> None:
        self.model = "fake-model"
        self.api = api  # type: ignore[assignment]
        self.base_url = None
        self.max_concurrency = 64
        self.calls = 0
        self.fail_every = fail_every
        self.requests: list[Request] = []  # every request received, in arrival order

    async def complete(self, request: Request, text: str) -> Completion:
        self.calls += 1
        self.requests.append(request)
        if self.fail_every and self.calls % self.fail_every == 0:
            raise BackendError("bad_request", "injected failure")
        answer = answers.answer(text, chat=self.api == "chat", stage=request.stage,
                                seed=request.seed)  # fmt: skip
        return Completion(
            text=answer,
            finish_reason="stop",
            prompt_tokens=len(text) // 4,
            completion_tokens=len(answer) // 4,
        )
