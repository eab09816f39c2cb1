"""Magpie (Xu et al. 2024): an aligned model writes the user queries itself.

Given only its chat template's *pre-query template* (everything up to where a user's message
begins, e.g. ChatML's ``<|im_start|>user\\n``), an instruct model continues with a plausible user
message and closes the turn with its end-of-turn token. Each query is sampled with its own seed
(temperature 1, top_p 1), then answered through the same template (greedy).

This needs raw completion in which the template's special tokens are real tokens, not text: the
bundled model or a ``--model-path`` GGUF in-process (llama.cpp tokenises completion prompts with
special tokens), or a completion endpoint that does not re-template. A chat API cannot do it.

Queries are committed in sample order and dropped when empty, cut off at max_tokens, not a
request (an answer, a statement) or failing the instruction gate (rules and ROUGE-L novelty
against every kept query). Sample k and the answer to its query are one unit of the engine's
ordered scheduler, so the files are written in sample order whatever the timing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from selfinstruct.backends.base import Backend, Decoding, Request
from selfinstruct.client import Answer
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine
from selfinstruct.errors import UserError
from selfinstruct.gate import InstructionGate, Rejection
from selfinstruct.methods.base import Method
from selfinstruct.methods.chat.dialogue import not_request
from selfinstruct.methods.chat.setup import backend_template
from selfinstruct.methods.magpie.settings import MagpieSettings
from selfinstruct.templates import ChatTemplate

if TYPE_CHECKING:
    import click


def with_stop(decoding: Decoding, marker: str) -> Decoding:
    return Decoding(**{**decoding.as_dict(), "stop": (*decoding.stop, marker)})


class Magpie(Method):
    """Queries sampled from the pre-query template alone, each then answered."""

    name = "magpie"
    Settings = MagpieSettings
    stages = {"query": "query_decoding", "response": "response_decoding"}
    unit = "query"
    shardable = True  # shard K of N makes its share of --n from samples K, K+N, ...
    merge_renumber = True

    def __init__(self, settings: MagpieSettings, template: ChatTemplate) -> None:
        self.s = settings
        self.template = template
        self.gate = InstructionGate.from_settings(
            settings.blacklist, settings.ascii_first_char, settings.tokenizer, settings.threshold
        )
        self.kept = 0
        self.shard = self.shard_of(settings)

    def query_request(self, k: int) -> Request:
        seed = random.Random(f"{self.s.seed}:query:{self.shard.global_index(k)}").randrange(2**31)
        decoding = with_stop(self.s.query_decoding, self.template.end_of_turn)
        return Request("query", self.template.pre_query, decoding, seed=seed)

    def response_request(self, query: str) -> Request:
        text = self.template.render([("user", query)], add_generation_prompt=True)
        decoding = with_stop(self.s.response_decoding, self.template.end_of_turn)
        return Request("response", text, decoding, seed=0)

    async def __call__(self, engine: Engine) -> int:
        target = max(self.shard.share(self.s.n), len(engine.known("tasks")))
        engine.progress.target = target

        async def sample(k: int) -> bool:
            kept: list[tuple[str, str]] = []

            def decide(answer: Answer | None) -> bool:
                found = self._commit(engine, k, answer, target)
                if found is not None:
                    kept.append(found)
                return found is not None

            if not await engine.ask_in_turn(self.query_request(k), decide):
                return False
            task_id, query = kept[0]
            if task_id in engine.known("tasks"):
                engine.report(finished=1)
            else:
                await self._answer(engine, task_id, query, k)
            return True

        await engine.ordered(
            "query",
            sample,
            wanted=lambda: self.kept < target,
            lag=lambda k: k,  # every query is sampled from the same pre-query template
            needed=lambda: target - self.kept,
        )
        return self.kept

    def check(self, text: str, truncated: bool) -> Rejection | None:
        if not text:
            return Rejection("empty")
        if truncated:
            return Rejection("truncated")
        if not_request(text):
            return Rejection("not_request")
        return self.gate.check(text)

    def _commit(
        self, engine: Engine, k: int, answer: Answer | None, target: int
    ) -> tuple[str, str] | None:
        """Sample k's query, in order: its task id and text when it is kept."""
        if answer is None or self.kept >= target:
            return None
        completion = answer.completion
        query = completion.text.strip()
        rejection = self.check(query, completion.finish_reason == "length")
        if rejection is not None:
            engine.reject(f"r{k:06d}", "query", rejection, completion.text, answer.key)
            return None
        self.gate.admit(query)
        self.kept += 1
        engine.report(accepted=self.kept)
        return f"task_{self.kept:06d}", query

    async def _answer(self, engine: Engine, task_id: str, query: str, k: int) -> None:
        try:
            answer = await engine.ask(self.response_request(query), task_id)
            if answer is None:
                return
            completion = answer.completion
            text = completion.text.strip()
            reason = "empty_response" if not text else None
            if completion.finish_reason == "length":
                reason = "response_truncated"
            if reason is not None:
                engine.reject(task_id, "response", Rejection(reason), completion.text,
                              answer.key, query=query)  # fmt: skip
                return
            record = {
                "id": task_id,
                "instruction": query,
                "is_classification": None,
                "instances": [{"input": "", "output": text}],
                "turns": [
                    {"role": "user", "content": query},
                    {"role": "assistant", "content": text},
                ],
                "source": "magpie",
                "sample": k,
                "template": self.template.name,
                "models": {"user": self.s.model, "assistant": self.s.model},
            }
            engine.report(tasks=int(engine.write("tasks", record)))
        finally:
            engine.report(finished=1)

    @classmethod
    def merge_gate(cls, settings: RunSettings) -> InstructionGate:
        return cls.settings_gate(settings)

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Magpie:
        assert isinstance(settings, MagpieSettings)
        check_backend(api, settings.template)
        assert settings.template is not None
        return cls(settings, settings.template)

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """``template``: a built-in name or a Jinja file (default: the GGUF file's own)."""
        template = backend_template(backend, values.pop("template", None))
        check_backend(backend.api, template)  # before anything is shown or written
        return super().configure(backend, decoding=decoding, template=template, **values)

    @classmethod
    def command(cls) -> click.Command:
        from selfinstruct.methods.magpie.command import magpie

        return magpie


def check_backend(api: str, template: ChatTemplate | None) -> None:
    if api == "chat":
        raise UserError(
            "magpie needs raw completion with the chat template's special tokens: use the "
            "bundled model, --model-path, or --api completion with a server that does not "
            "re-template prompts"
        )
    if template is None:
        raise UserError(
            "magpie needs the model's chat template: pass --template chatml|llama3|smollm2|FILE"
        )
