"""UltraChat (Ding et al. 2023): dialogues between a simulated user and an assistant.

Openings come from the paper's three sectors and one of ours: *world* (a meta-topic -> subtopics
-> questions, each list generated), *writing* (a type of writing -> requests for it), *material*
(requests about a passage of a user-given text, the passage attached) and *openings* (the
instructions of a task file, as they are). Openings are drawn in turn from the chosen sources,
candidate k with ``random.Random(f"{seed}:opening:{k}")``, and pass the instruction gate
(rules and ROUGE-L novelty) strictly in candidate order, so which openings are kept never
depends on timing.

Each kept opening starts a dialogue of a drawn number of rounds (``--turns``, uniform, seeded by
the dialogue's id). Round 1's user message is the opening; later user messages come from the
user simulator, prompted to be a curious, specific person who follows up, asks for changes and
pushes back. A simulated user turn that speaks as the assistant or answers its own question is
asked for once more with another seed, then the dialogue ends early with the reason. An empty
or refused or cut-off reply also ends the dialogue; a dialogue without one whole round is
rejected. Rounds of one dialogue are sequential; dialogues run concurrently.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfinstruct.backends.base import Backend, Decoding, Request
from selfinstruct.client import NotSent
from selfinstruct.config import RunSettings
from selfinstruct.engine import STALL_LIMIT, Engine
from selfinstruct.errors import UserError
from selfinstruct.gate import InstructionGate, Rejection
from selfinstruct.methods.base import Method
from selfinstruct.methods.chat.dialogue import (
    clean_user_turn,
    draw_rounds,
    is_refusal,
    parse_list,
    passages,
    role_confusion,
    transcript,
)
from selfinstruct.methods.chat.settings import ChatSettings
from selfinstruct.methods.chat.setup import chat_values
from selfinstruct.prompting import load_prompt
from selfinstruct.records import iter_tasks

if TYPE_CHECKING:
    import click

Turns = list[tuple[str, str]]


def _lines(filename: str) -> list[str]:
    return [line.strip() for line in load_prompt(filename).splitlines() if line.strip()]


def user_content(instruction: str, input_text: str) -> str:
    instruction, input_text = instruction.strip(), input_text.strip()
    return f"{instruction}\n\n{input_text}" if input_text else instruction


@dataclass(frozen=True)
class Opening:
    """A candidate first user message; ``question`` is what the gate judges (without any
    attached passage)."""

    source: str
    question: str
    text: str
    origin: dict[str, Any] = field(default_factory=dict)
    key: str = ""


class Chat(Method):
    """A simulated user and an assistant talk for a drawn number of rounds."""

    name = "chat"
    Settings = ChatSettings
    stages = {
        "openings": "list_decoding", "user": "user_decoding", "assistant": "assistant_decoding",
    }  # fmt: skip
    unit = "dialogue"
    shardable = True
    merge_renumber = True

    def __init__(
        self,
        settings: ChatSettings,
        api: str,
        material: list[str],
        openings: list[tuple[str, str]],
    ) -> None:
        self.s = settings
        self.chat_api = api == "chat"
        if not self.chat_api and settings.template is None:
            raise UserError(
                "chat over a completion API needs the model's chat template: pass --template "
                "chatml|llama3|smollm2|FILE, or use --api chat"
            )
        self.material = material
        self.openings = openings
        self.meta_topics = _lines("chat/meta_topics.txt")
        self.writing_types = _lines("chat/writing_types.txt")
        self.gate = InstructionGate.from_settings(
            settings.blacklist, settings.ascii_first_char, settings.tokenizer, settings.threshold
        )
        self._lists: dict[str, asyncio.Task[tuple[list[str], str] | None]] = {}
        order = list(range(len(openings)))
        random.Random(f"{settings.seed}:openings").shuffle(order)
        self._opening_order = order
        self.kept = 0
        self._earlier: set[str] = set()
        self.stop_marker = () if settings.template is None else (settings.template.end_of_turn,)
        self.shard = self.shard_of(settings)  # shard K of N takes openings K, K+N, ...

    # ------------------------------------------------------------------ requests

    def _decoding(self, decoding: Decoding) -> Decoding:
        if not self.stop_marker:
            return decoding
        return Decoding(**{**decoding.as_dict(), "stop": tuple(decoding.stop) + self.stop_marker})

    def _single(self, stage: str, prompt: str, decoding: Decoding, seed: int) -> Request:
        """One user message: sent as it is (chat API) or through the chat template."""
        if self.chat_api:
            return Request(stage, prompt, decoding, seed=seed)
        assert self.s.template is not None
        text = self.s.template.render([("user", prompt)], add_generation_prompt=True)
        return Request(stage, text, self._decoding(decoding), seed=seed)

    def _assistant_request(self, turns: Turns, seed: int) -> Request:
        decoding = self.s.assistant_decoding
        if self.chat_api:
            return Request("assistant", transcript(turns), decoding, seed=seed,
                           messages=tuple(turns))  # fmt: skip
        assert self.s.template is not None
        text = self.s.template.render(turns, add_generation_prompt=True)
        return Request("assistant", text, self._decoding(decoding), seed=seed)

    def _seed(self, *parts: object) -> int:
        return random.Random(":".join([str(self.s.seed), *map(str, parts)])).randrange(2**31)

    # ------------------------------------------------------------------ openings

    async def _list(self, engine: Engine, kind: str, prompt: str) -> tuple[list[str], str] | None:
        """A generated list (subtopics, questions, requests), asked once per prompt."""
        if prompt not in self._lists:
            self._lists[prompt] = asyncio.ensure_future(self._ask_list(engine, kind, prompt))
        # Shielded: one candidate given up on must not cancel the list others wait for.
        return await asyncio.shield(self._lists[prompt])

    async def _ask_list(
        self, engine: Engine, kind: str, prompt: str
    ) -> tuple[list[str], str] | None:
        seed = self._seed("list", prompt)
        ident = f"list_{seed:010d}"
        answer = await engine.ask(self._single(kind, prompt, self.s.list_decoding, seed), ident)
        if answer is None:
            return None
        items = parse_list(answer.completion.text)
        if not items:
            engine.reject(ident, kind, Rejection("empty_list"), answer.completion.text, answer.key)
            return None
        return items, answer.key

    async def candidate(self, engine: Engine, k: int) -> Opening | Rejection:
        """Opening candidate k, from source ``sources[k % len(sources)]``."""
        sources = self.s.sources
        source = sources[k % len(sources)]
        rng = random.Random(f"{self.s.seed}:opening:{k}")
        if source == "openings":
            j = self._opening_order[(k // len(sources)) % len(self.openings)]
            instruction, input_text = self.openings[j]
            return Opening(source, instruction, user_content(instruction, input_text),
                           {"line": j + 1})  # fmt: skip
        if source == "world":
            topic = rng.choice(self.meta_topics)
            prompt = load_prompt("chat/subtopics.txt").format(topic=topic)
            subtopics = await self._list(engine, "subtopics", prompt)
            if subtopics is None:
                return Rejection("no_list")
            subtopic = rng.choice(subtopics[0])
            prompt = load_prompt("chat/questions.txt").format(topic=topic, subtopic=subtopic)
            found = await self._list(engine, "questions", prompt)
            origin: dict[str, Any] = {"meta_topic": topic, "subtopic": subtopic}
        elif source == "writing":
            kind = rng.choice(self.writing_types)
            prompt = load_prompt("chat/writing.txt").format(kind=kind)
            found = await self._list(engine, "writing", prompt)
            origin = {"writing_type": kind}
        else:  # material
            index = rng.randrange(len(self.material))
            passage = self.material[index]
            prompt = load_prompt("chat/material.txt").format(passage=passage)
            found = await self._list(engine, "material", prompt)
            origin = {"passage": index}
        if found is None:
            return Rejection("no_list")
        items, key = found
        question = rng.choice(items)
        text = f"{question}\n\n{passage}" if source == "material" else question
        return Opening(source, question, text, origin, key)

    # ------------------------------------------------------------------ the run

    async def __call__(self, engine: Engine) -> int:
        target = max(self.shard.share(self.s.n), len(engine.known("tasks")))
        engine.progress.target = target
        window = max(1, self.s.concurrency)
        # A candidate rejected in an earlier session stays rejected, even one whose list request
        # failed then and would be answered now: the data never depends on when a server was down.
        self._earlier = set(engine.known("rejected"))

        async def opening(k: int) -> bool:
            result = await self.candidate(engine, self.shard.global_index(k))

            def decide() -> bool:
                productive = self._decide(engine, k, result)
                engine.report(accepted=self.kept)
                return productive

            return await engine.turn(decide)

        try:
            await engine.ordered(
                "opening",
                opening,
                wanted=lambda: self.kept < target,
                limit=lambda: min(window, target - self.kept),
                stalled=f"no opening accepted in the last {STALL_LIMIT} candidates: the model "
                "is not producing new, valid openings",
            )
        finally:
            unfinished = list(self._lists.values())
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        return self.kept

    def _decide(self, engine: Engine, k: int, result: Opening | Rejection) -> bool:
        ident = f"c{k:06d}"
        if ident in self._earlier:
            return False
        if isinstance(result, Rejection):
            engine.reject(ident, "opening", result, "", "")
            return False
        rejection = self.gate.check(result.question)
        if rejection is not None:
            engine.reject(ident, "opening", rejection, result.question, result.key,
                          source=result.source)  # fmt: skip
            return False
        self.gate.admit(result.question)
        self.kept += 1
        dialogue_id = f"task_{self.kept:06d}"
        if dialogue_id not in engine.known("tasks"):
            engine.spawn(self._dialogue(engine, dialogue_id, result))
        return True

    # ------------------------------------------------------------------ dialogues

    async def _dialogue(self, engine: Engine, dialogue_id: str, opening: Opening) -> None:
        try:
            await self._converse(engine, dialogue_id, opening)
        finally:
            engine.report(finished=1)

    async def _converse(self, engine: Engine, dialogue_id: str, opening: Opening) -> None:
        rounds = draw_rounds(self.s.seed, dialogue_id, self.s.turns_min, self.s.turns_max)
        turns: Turns = [("user", opening.text)]
        ended: str | None = None
        for r in range(rounds):
            if r > 0:
                user, ended = await self._user_turn(engine, dialogue_id, turns, r)
                if user is None:
                    break
                turns.append(("user", user))
            reply, ended = await self._assistant_turn(engine, dialogue_id, turns, r)
            if reply is None:
                turns.pop()  # a user message without its reply is not training data
                break
            turns.append(("assistant", reply))
        if ended == "request_failed":
            return  # logged in failures.jsonl; a resume holds the dialogue again from the start
        if len(turns) < 2:
            engine.reject(dialogue_id, "dialogue", Rejection(ended or "no_round"),
                          opening.text, opening.key, source=opening.source)  # fmt: skip
            return
        record = {
            "id": dialogue_id,
            "instruction": turns[0][1],
            "is_classification": None,
            "instances": [{"input": "", "output": turns[1][1]}],
            "turns": [{"role": role, "content": content} for role, content in turns],
            "rounds": len(turns) // 2,
            "rounds_drawn": rounds,
            "ended_early": ended,
            "source": opening.source,
            "origin": opening.origin,
            "models": {"user": self.s.model, "assistant": self.s.model},
        }
        engine.report(tasks=int(engine.write("tasks", record)))

    async def _user_turn(
        self, engine: Engine, dialogue_id: str, turns: Turns, r: int
    ) -> tuple[str | None, str | None]:
        prompt = load_prompt("chat/user.txt").format(transcript=transcript(turns))
        attempts = 2 if self.s.regenerate_confused else 1
        reason = "no_user_turn"
        for attempt in range(attempts):
            if engine.stopping:
                raise NotSent
            ident = f"{dialogue_id}.u{r}.{attempt}"
            seed = self._seed("user", dialogue_id, r, attempt)
            answer = await engine.ask(self._single("user", prompt, self.s.user_decoding, seed),
                                      ident)  # fmt: skip
            if answer is None:
                return None, "request_failed"
            completion = answer.completion
            text = clean_user_turn(completion.text)
            if not text:
                reason = "empty_user_turn"
            elif completion.finish_reason == "length":
                reason = "user_turn_truncated"
            else:
                confusion = role_confusion(text)
                if confusion is None:
                    return text, None
                reason = confusion
            engine.reject(ident, "user", Rejection(reason), completion.text, answer.key,
                          dialogue_id=dialogue_id)  # fmt: skip
            if reason in ("empty_user_turn", "user_turn_truncated"):
                break  # only role confusion earns a second try
        return None, reason

    async def _assistant_turn(
        self, engine: Engine, dialogue_id: str, turns: Turns, r: int
    ) -> tuple[str | None, str | None]:
        if engine.stopping:
            raise NotSent
        ident = f"{dialogue_id}.a{r}"
        request = self._assistant_request(turns, self._seed("assistant", dialogue_id, r))
        answer = await engine.ask(request, ident)
        if answer is None:
            return None, "request_failed"
        completion = answer.completion
        text = completion.text.strip()
        reason = None
        if not text:
            reason = "empty_reply"
        elif completion.finish_reason == "length":
            reason = "reply_truncated"
        elif is_refusal(text):
            reason = "refusal"
        if reason is None:
            return text, None
        engine.reject(ident, "assistant", Rejection(reason), completion.text, answer.key,
                      dialogue_id=dialogue_id)  # fmt: skip
        return None, reason

    @classmethod
    def merge_gate(cls, settings: RunSettings) -> InstructionGate:
        return cls.settings_gate(settings)

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Chat:
        assert isinstance(settings, ChatSettings)
        return build(settings, api)

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """``template``, ``material``, ``openings`` and ``sources`` as the command takes them."""
        files = {k: values.pop(k, None) for k in ("template", "material", "openings", "sources")}
        return super().configure(
            backend, decoding=decoding, **chat_values(backend, **files), **values
        )

    @classmethod
    def command(cls) -> click.Command:
        from selfinstruct.methods.chat.command import chat

        return chat


def load_openings(path: str) -> list[tuple[str, str]]:
    found = [(t.instruction, t.instances[0].input if t.instances else "")
             for _, t in iter_tasks(path)]  # fmt: skip
    if not found:
        raise UserError(f"{path}: holds no tasks to open dialogues with")
    return found


def load_material(path: str, words: int) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (--material)") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text (--material)") from None
    found = passages(text, words)
    if not found:
        raise UserError(f"{path}: holds no text to ask about (--material)")
    return found


def build(settings: ChatSettings, api: str) -> Chat:
    """The method, its --material and --openings read and checked."""
    if settings.turns_min > settings.turns_max:
        raise UserError(f"--turns {settings.turns_min}-{settings.turns_max}: MIN is above MAX")
    material: list[str] = []
    openings: list[tuple[str, str]] = []
    if "material" in settings.sources:
        if settings.material_path is None:
            raise UserError("source 'material' needs --material FILE")
        material = load_material(settings.material_path, settings.passage_words)
    if "openings" in settings.sources:
        if settings.openings_path is None:
            raise UserError("source 'openings' needs --openings FILE")
        openings = load_openings(settings.openings_path)
    return Chat(settings, api, material, openings)
