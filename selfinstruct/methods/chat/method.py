"""UltraChat (Ding et al. 2023): dialogues between a simulated user and an assistant.

Openings come from the paper's sectors and one of ours: *world* (a meta-topic -> subtopics ->
questions -> related questions, each list generated), *entities* (the paper's other World
source: a user-given entity -> meta-questions -> specific and general questions), *writing* (a
type of writing -> requests for it, most rewritten with more detail), *material* (requests about
a passage of a user-given text, joined to the passage by one of several templates) and
*openings* (the instructions of a task file, as they are). Each root (meta-topic, type,
passage, entity) gives its openings in a fixed order (``openings.py``); candidate k takes the
next one of a root chosen by k alone, and candidates pass the instruction gate (rules and
ROUGE-L novelty) strictly in order k, so which openings are kept never depends on timing.

Each kept opening starts a dialogue of a drawn number of rounds (the source's range, or
``--turns``; uniform, seeded by the dialogue's id), run in the candidate's own unit of work
after its turn, so dialogues reach ``tasks.jsonl`` in opening order. Round 1's user message is
the opening; later user messages come from the user simulator, prompted to be a curious,
specific person who follows up, asks for changes and pushes back. A simulated user turn that
speaks as the assistant or answers its own question is asked for once more with another seed,
then the dialogue ends early with the reason. An empty or refused reply also ends the dialogue;
a reply cut at max_tokens is kept and flagged (``"truncated": true``). A dialogue without one
whole round is rejected. Rounds of one dialogue are sequential; dialogues run concurrently.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Backend, Decoding, Request
from selfinstruct.client import NotSent
from selfinstruct.config import RunSettings
from selfinstruct.engine import STALL_LIMIT, Engine
from selfinstruct.errors import UserError
from selfinstruct.gate import InstructionGate, Rejection
from selfinstruct.methods.base import Method
from selfinstruct.methods.chat import openings as streams
from selfinstruct.methods.chat.dialogue import (
    clean_user_turn,
    draw_rounds,
    is_refusal,
    parse_list,
    passages,
    role_confusion,
    transcript,
)
from selfinstruct.methods.chat.openings import Item, Listed, Note, Stream, Walk
from selfinstruct.methods.chat.settings import SECTOR_TURNS, ChatSettings
from selfinstruct.methods.chat.setup import chat_values
from selfinstruct.prompting import load_prompt
from selfinstruct.records import iter_tasks

Turns = list[tuple[str, str]]


def _lines(filename: str) -> list[str]:
    return [line.strip() for line in load_prompt(filename).splitlines() if line.strip()]


def user_content(instruction: str, input_text: str) -> str:
    instruction, input_text = instruction.strip(), input_text.strip()
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def clean_rewrite(text: str) -> str:
    """A rewritten request without a "Request:" label or wrapping quotes."""
    text = text.strip()
    if text.lower().startswith("request:"):
        text = text[len("request:") :].strip()
    return text.strip('"').strip()


@dataclass(frozen=True)
class Opening:
    """A candidate first user message; ``question`` is what the gate judges (without any
    attached passage)."""

    source: str
    question: str
    text: str
    origin: dict[str, Any] = field(default_factory=dict)
    key: str = ""


# A candidate: an opening, why there is none, or None (its root is used up); and the notes of
# the lists its stream dropped on the way to it.
Candidate = tuple[Opening | Rejection | None, tuple[Note, ...]]


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
        entities: list[str] | None = None,
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
        self.entities = entities or []
        self.meta_topics = _lines("chat/meta_topics.txt")
        self.writing_types = _lines("chat/writing_types.txt")
        self.templates = streams.material_templates()
        self.gate = InstructionGate.from_settings(
            settings.blacklist, settings.ascii_first_char, settings.tokenizer, settings.threshold
        )
        self._lists: dict[str, asyncio.Task[Listed]] = {}
        self._streams: dict[tuple[str, int], Stream] = {}
        roots = {"world": self.meta_topics, "writing": self.writing_types,
                 "material": material, "entities": self.entities, "openings": openings}  # fmt: skip
        self._roots: dict[str, list[int]] = {}
        for source, items in roots.items():
            order = list(range(len(items)))
            # "openings" keeps the seed it always had: its order is unchanged for old folders.
            purpose = "openings" if source == "openings" else f"roots:{source}"
            random.Random(f"{settings.seed}:{purpose}").shuffle(order)
            self._roots[source] = order
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

    def _start_list(self, engine: Engine, kind: str, prompt: str) -> asyncio.Task[Listed]:
        """A generated list (subtopics, questions, requests), asked once per prompt."""
        if prompt not in self._lists:
            self._lists[prompt] = asyncio.ensure_future(self._ask_list(engine, kind, prompt))
        return self._lists[prompt]

    async def _list(self, engine: Engine, kind: str, prompt: str) -> Listed:
        # Shielded: one stream given up on must not cancel the list others wait for.
        return await asyncio.shield(self._start_list(engine, kind, prompt))

    async def _ask_list(self, engine: Engine, kind: str, prompt: str) -> Listed:
        seed = self._seed("list", prompt)
        ident = f"list_{seed:010d}"
        if ident in self._earlier:
            # Dropped in an earlier session (maybe its request failed then): the data does not
            # depend on when a server was down.
            return Listed([])
        answer = await engine.ask(self._single(kind, prompt, self.s.list_decoding, seed), ident)
        if answer is None:
            return Listed([], note=Note(ident, kind, "list_failed", "", ""))
        items = parse_list(answer.completion.text)
        if not items:
            note = Note(ident, kind, "empty_list", answer.completion.text, answer.key)
            return Listed([], answer.key, note)
        return Listed(items, answer.key)

    def _stream(self, engine: Engine, source: str, root: int) -> Stream:
        """The stream of openings of one root, made on first use."""
        stream = self._streams.get((source, root))
        if stream is not None:
            return stream

        def start(kind: str, text: str) -> None:
            self._start_list(engine, kind, text)

        walk = Walk(lambda kind, text: self._list(engine, kind, text), start)
        items: AsyncIterator[Item]
        if source == "world":
            items = streams.world(walk, self.meta_topics[root])
        elif source == "writing":
            items = streams.writing(walk, self.writing_types[root])
        elif source == "entities":
            items = streams.entity(walk, self.entities[root])
        else:
            items = streams.material(walk, root, self.material[root])
        stream = self._streams[(source, root)] = Stream(walk, items)
        return stream

    async def candidate(self, engine: Engine, k: int) -> Candidate:
        """Opening candidate k: from source ``sources[k % len(sources)]``, the next opening of
        one of its roots (taken in a seeded order, in turn)."""
        sources = self.s.sources
        source = sources[k % len(sources)]
        i = k // len(sources)
        roots = self._roots[source]
        root = roots[i % len(roots)]
        if source == "openings":
            instruction, input_text = self.openings[root]
            return Opening(source, instruction, user_content(instruction, input_text),
                           {"line": root + 1}), ()  # fmt: skip
        stream = self._stream(engine, source, root)
        j = i // len(roots)
        item = await stream.item(j)
        if item is None:
            return None, stream.leftover(j)
        question, origin = item.question, dict(item.origin)
        text = question
        if source == "writing" and random.Random(f"{self.s.seed}:detail:{k}").random() < (
            streams.DETAILED_SHARE
        ):
            detailed = await self._detail(engine, k, question)
            if isinstance(detailed, Rejection):
                return detailed, item.notes
            origin["detailed_from"] = question
            question = text = detailed
        elif source == "material":
            t = random.Random(f"{self.s.seed}:template:{k}").randrange(len(self.templates))
            text = self.templates[t].format(passage=self.material[root], request=question)
            origin["template"] = t + 1
        return Opening(source, question, text, origin, item.key), item.notes

    async def _detail(self, engine: Engine, k: int, request: str) -> str | Rejection:
        """The writing request rewritten with more detail."""
        prompt = streams.prompt("detail").format(request=request)
        seed = self._seed("detail", k)
        request_ = self._single("detail", prompt, self.s.list_decoding, seed)
        answer = await engine.ask(request_, f"c{k:06d}.detail")
        if answer is None:
            return Rejection("no_detail")
        text = clean_rewrite(answer.completion.text)
        if not text or answer.completion.finish_reason == "length":
            return Rejection("empty_detail" if not text else "detail_truncated")
        return text

    # ------------------------------------------------------------------ the run

    async def __call__(self, engine: Engine) -> int:
        target = max(self.shard.share(self.s.n), len(engine.known("tasks")))
        engine.progress.target = target
        window = max(1, self.s.concurrency)
        # A candidate rejected in an earlier session stays rejected, even one whose list request
        # failed then and would be answered now: the data never depends on when a server was down.
        self._earlier = set(engine.known("rejected"))

        async def opening(k: int) -> bool:
            result, notes = await self.candidate(engine, self.shard.global_index(k))
            accepted: list[str] = []

            def decide() -> bool:
                for note in notes:
                    engine.reject(note.ident, note.stage, Rejection(note.reason), note.text,
                                  note.key)  # fmt: skip
                dialogue_id = self._decide(engine, k, result)
                engine.report(accepted=self.kept)
                if dialogue_id is None:
                    return False
                accepted.append(dialogue_id)
                return True

            if not await engine.turn(decide):
                return False
            # The dialogue is this unit's: its records reach the files in opening order.
            assert isinstance(result, Opening)
            if accepted[0] not in engine.known("tasks"):
                await self._dialogue(engine, accepted[0], result)
            return True

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
            for stream in self._streams.values():
                await stream.close()
            unfinished = list(self._lists.values())
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        return self.kept

    def _decide(self, engine: Engine, k: int, result: Opening | Rejection | None) -> str | None:
        """The id of the dialogue candidate k opens, or None."""
        ident = f"c{k:06d}"
        if ident in self._earlier or result is None:
            return None
        if isinstance(result, Rejection):
            engine.reject(ident, "opening", result, "", "")
            return None
        rejection = self.gate.check(result.question)
        if rejection is not None:
            engine.reject(ident, "opening", rejection, result.question, result.key,
                          source=result.source)  # fmt: skip
            return None
        self.gate.admit(result.question)
        self.kept += 1
        return f"task_{self.kept:06d}"

    # ------------------------------------------------------------------ dialogues

    def rounds_range(self, source: str) -> tuple[int, int]:
        """The range a dialogue's rounds are drawn from: --turns, else its source's own."""
        if self.s.turns_min is not None and self.s.turns_max is not None:
            return self.s.turns_min, self.s.turns_max
        return SECTOR_TURNS[source]

    async def _dialogue(self, engine: Engine, dialogue_id: str, opening: Opening) -> None:
        try:
            await self._converse(engine, dialogue_id, opening)
        finally:
            engine.report(finished=1)

    async def _converse(self, engine: Engine, dialogue_id: str, opening: Opening) -> None:
        rounds = draw_rounds(self.s.seed, dialogue_id, *self.rounds_range(opening.source))
        turns: Turns = [("user", opening.text)]
        cut: set[int] = set()  # indices of replies cut at max_tokens, kept
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
            if ended == "reply_truncated":
                cut.add(len(turns))
                ended = None
            turns.append(("assistant", reply))
        if ended == "request_failed":
            return  # logged in failures.jsonl; a resume holds the dialogue again (then last)
        if len(turns) < 2:
            engine.reject(dialogue_id, "dialogue", Rejection(ended or "no_round"),
                          opening.text, opening.key, source=opening.source)  # fmt: skip
            return
        record = {
            "id": dialogue_id,
            "instruction": turns[0][1],
            "is_classification": None,
            "instances": [{"input": "", "output": turns[1][1]}],
            "turns": [
                {"role": role, "content": content, **({"truncated": True} if i in cut else {})}
                for i, (role, content) in enumerate(turns)
            ],
            "rounds": len(turns) // 2,
            "rounds_drawn": rounds,
            "ended_early": ended,
            "truncated": bool(cut),
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
        """The reply, and why the dialogue ends (None: it goes on); a reply cut at max_tokens
        is kept, with the reason ``reply_truncated``."""
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
        elif is_refusal(text):
            reason = "refusal"
        if reason is None:
            return text, "reply_truncated" if completion.finish_reason == "length" else None
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
        """``template``, ``material``, ``openings``, ``entities`` and ``sources`` as the command
        takes them."""
        names = ("template", "material", "openings", "entities", "sources")
        files = {k: values.pop(k, None) for k in names}
        return super().configure(
            backend, decoding=decoding, **chat_values(backend, **files), **values
        )


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


def load_entities(path: str) -> list[str]:
    """One entity a line (blank lines and repeats skipped)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (--entities)") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text (--entities)") from None
    found = list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
    if not found:
        raise UserError(f"{path}: holds no entities, one a line (--entities)")
    return found


def build(settings: ChatSettings, api: str) -> Chat:
    """The method, its --material, --openings and --entities read and checked."""
    low, high = settings.turns_min, settings.turns_max
    if (low is None) != (high is None):
        raise UserError("turns_min and turns_max: give both (one range) or neither")
    if low is not None and high is not None and low > high:
        raise UserError(f"--turns {low}-{high}: MIN is above MAX")
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
    entities: list[str] = []
    if "entities" in settings.sources:
        if settings.entities_path is None:
            raise UserError("source 'entities' needs --entities FILE")
        entities = load_entities(settings.entities_path)
    return Chat(settings, api, material, openings, entities)
