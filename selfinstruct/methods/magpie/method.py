"""Magpie (Xu et al. 2024): an aligned model writes the user queries itself.

Given only its chat template's *pre-query template* (everything up to where a user's message
begins, e.g. ChatML's ``<|im_start|>user\\n``), an instruct model continues with a plausible user
message and closes the turn with its end-of-turn token. Each query is sampled with its own seed
(temperature 1, top_p 1, stopped at the end-of-turn marker, at "assistant" and by default at the
first newline), then answered through the same template (greedy). ``--task`` or ``--system``
puts a system prompt before the user turn to steer the queries; the answer is asked without it.
With ``--turns N`` the model then continues as the user after each answer (the conversation
under a multi-turn system prompt, then a user turn's opening), and each further query is
answered from the conversation.

This needs raw completion in which the template's special tokens are real tokens, not text: the
bundled model or a ``--model-path`` GGUF in-process (llama.cpp tokenises completion prompts with
special tokens), or a completion endpoint that does not re-template. A chat API cannot do it.

Queries are committed in sample order and dropped when empty, cut off at max_tokens or failing
the instruction gate (ROUGE-L novelty against every kept query; with ``requests_only``, ours,
also when not a request). A response cut at max_tokens is kept and flagged (``truncated``).
Sample k and its conversation are one unit of the engine's ordered scheduler, so the files are
written in sample order whatever the timing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from selfinstruct.backends.base import Backend, Decoding, Request
from selfinstruct.client import Answer
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine
from selfinstruct.errors import UserError
from selfinstruct.gate import InstructionGate, Rejection
from selfinstruct.methods.base import Method
from selfinstruct.methods.chat.dialogue import not_request
from selfinstruct.methods.chat.setup import backend_template
from selfinstruct.methods.magpie.prompts import multi_turn_system, system_prompt, user_opening
from selfinstruct.methods.magpie.settings import MagpieSettings
from selfinstruct.templates import ChatTemplate


def with_stop(decoding: Decoding, *markers: str) -> Decoding:
    return Decoding(**{**decoding.as_dict(), "stop": (*decoding.stop, *markers)})


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
        system = system_prompt(settings.task, settings.system)
        self.pre_query = user_opening(template, [("system", system)] if system else [])
        self.kept = 0
        self.shard = self.shard_of(settings)

    def _query_stops(self, first: bool) -> tuple[str, ...]:
        # The reference stops the first query at "assistant" too; its multi-turn script not.
        stops = (self.template.end_of_turn, *(("assistant",) if first else ()))
        return (*stops, "\n") if self.s.stop_at_newline else stops

    def query_request(self, k: int) -> Request:
        seed = random.Random(f"{self.s.seed}:query:{self.shard.global_index(k)}").randrange(2**31)
        decoding = with_stop(self.s.query_decoding, *self._query_stops(first=True))
        return Request("query", self.pre_query, decoding, seed=seed)

    def follow_up_request(self, k: int, conversation: Sequence[tuple[str, str]]) -> Request:
        """The next user turn: the conversation under the multi-turn system prompt, continued
        with the opening of a user turn."""
        turn = len(conversation) // 2 + 1
        seed = random.Random(f"{self.s.seed}:query:{self.shard.global_index(k)}:{turn}")
        seed = seed.randrange(2**31)
        text = user_opening(self.template, [("system", multi_turn_system()), *conversation])
        decoding = with_stop(self.s.query_decoding, *self._query_stops(first=False))
        return Request("query", text, decoding, seed=seed)

    def response_request(self, conversation: Sequence[tuple[str, str]]) -> Request:
        text = self.template.render(conversation, add_generation_prompt=True)
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
                try:
                    await self._converse(engine, task_id, query, k)
                finally:
                    engine.report(finished=1)
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
        if self.s.requests_only and not_request(text):
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

    async def _converse(self, engine: Engine, task_id: str, query: str, k: int) -> None:
        """Answer the query, then (``turns`` > 1) let the model go on as the user and answer
        each further query. A user turn or answer that is empty (or a user turn cut off) ends
        the conversation there; the conversation so far is written when it has an answer."""
        conversation: list[tuple[str, str]] = [("user", query)]
        truncated = False
        for turn in range(1, self.s.turns + 1):
            if turn > 1:
                ident = f"{task_id}.q{turn}"
                answer = await engine.ask(self.follow_up_request(k, conversation), ident)
                if answer is None:
                    return
                completion = answer.completion
                follow_up = completion.text.strip()
                reason = "empty" if not follow_up else None
                if follow_up and completion.finish_reason == "length":
                    reason = "truncated"
                if reason is not None:
                    engine.reject(ident, "query", Rejection(reason), completion.text, answer.key)
                    break
                conversation.append(("user", follow_up))
            ident = task_id if turn == 1 else f"{task_id}.a{turn}"
            answer = await engine.ask(self.response_request(conversation), ident)
            if answer is None:
                return
            completion = answer.completion
            text = completion.text.strip()
            if not text:
                engine.reject(ident, "response", Rejection("empty_response"), completion.text,
                              answer.key, query=conversation[-1][1])  # fmt: skip
                conversation.pop()
                break
            truncated = truncated or completion.finish_reason == "length"
            conversation.append(("assistant", text))
        if len(conversation) < 2:
            return
        record = {
            "id": task_id,
            "instruction": query,
            "is_classification": None,
            "instances": [{"input": "", "output": conversation[1][1]}],
            "turns": [{"role": role, "content": text} for role, text in conversation],
            "source": "magpie",
            "sample": k,
            "template": self.template.name,
            "models": {"user": self.s.model, "assistant": self.s.model},
            "truncated": truncated,
        }
        engine.report(tasks=int(engine.write("tasks", record)))

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
        if values.get("task") is not None and values.get("system") is not None:
            raise UserError("magpie: --task and --system both set the system prompt: give one")
        template = backend_template(backend, values.pop("template", None))
        check_backend(backend.api, template)  # before anything is shown or written
        return super().configure(backend, decoding=decoding, template=template, **values)


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
