"""Teacher responses (the GPT-4-LLM recipe, Peng et al. 2023): regenerate every output.

Every instance of every task is answered again by a teacher model, ``n_responses`` times (each
with its own seed), asked with Alpaca's prompt (with or without input) as the paper asked GPT-4;
on a completion API the answer stops where a new "### Instruction:" block would open, and an
answer cut at ``max_tokens`` is flagged (``truncated``). The original output stays beside the
new one, both models named. Unnatural Instructions' ``constraints`` follow the instruction.

With ``compare`` a judge (the teacher, or the model the backend routes the ``compare`` stage
to) rates the candidates of each instance: the original, the new ones and the answers of other
models' earlier runs (``candidate_paths``), all in one request, side by side, 1 to 10 each, as
the paper's comparison data (or, with ``rating="separate"``, each alone). Scores are parsed
strictly; an unparseable rating is recorded as such. ``export --format preference`` turns them
into ranked pairs.

With ``translate`` (the paper's Chinese data) the instructions and inputs are first translated
by the model the backend routes the ``translate`` stage to, then answered in that language;
the original texts are kept beside the translations.

Up to three passes on the engine's ordered loop: translations, answers, ratings. None depends
on earlier answers of its own pass, so all requests of a pass are in flight together, committed
in order; a resume replays received answers from the cache.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Backend, Decoding, Request
from selfinstruct.client import Answer
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine
from selfinstruct.errors import UserError
from selfinstruct.export import load_tasks
from selfinstruct.gate import Rejection
from selfinstruct.judgments import task_key
from selfinstruct.methods.base import Method
from selfinstruct.methods.judge.method import input_fingerprint
from selfinstruct.methods.judge.verdicts import SCORES, parse_score
from selfinstruct.methods.respond.candidates import Candidates, check_coverage, load_candidates
from selfinstruct.methods.respond.prompts import (
    ALPACA_STOP,
    framed,
    language_name,
    side_by_side_prompt,
    translate_prompt,
    with_constraints,
)
from selfinstruct.methods.respond.rating import parse_scores, scores_grammar
from selfinstruct.methods.respond.settings import RespondSettings
from selfinstruct.prompting import load_prompt
from selfinstruct.records import Task
from selfinstruct.templates import ChatTemplate, resolve


@dataclass
class Item:
    """One task, as the teacher is asked it (translated, when the run translates)."""

    key: str
    task: Task
    instruction: str
    inputs: list[str]
    constraints: str = ""
    rejection: Rejection | None = None


@dataclass
class Slot:
    """One instance to answer again, and what came back."""

    item: Item
    instance: int
    candidates: list[dict[str, Any]] = field(default_factory=list)
    failed: bool = False
    truncated: bool = False
    rating: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return self.item.key


def respond_request(
    instruction: str,
    input_text: str,
    system: str | None,
    chat: bool,
    template: ChatTemplate | None,
    decoding: Decoding,
    seed: int,
    framing: str = "alpaca",
    language: str | None = None,
) -> Request:
    """The teacher's request: the framed question (see :func:`prompts.framed`) as the user turn
    (chat) or the prompt (completion). With ``system``: a real system message on a chat API; on
    a completion endpoint the system and user turns rendered through the model's chat template
    when one is known (stopping at its end-of-turn marker), else the documented fallback of
    ``system`` as a text prefix."""
    if system is None or (not chat and template is None):
        user = framed(instruction, input_text, framing, chat, language)
        text = f"{system.strip()}\n\n{user}" if system else user
        return Request("respond", text, decoding, seed=seed)
    user = framed(instruction, input_text, framing, True, language)  # a chat turn either way
    turns = (("system", system.strip()), ("user", user))
    if chat:
        return Request("respond", user, decoding, seed=seed, messages=turns)
    assert template is not None
    text = template.render(turns, add_generation_prompt=True)
    stop = (*decoding.stop, template.end_of_turn)
    return Request("respond", text, dataclasses.replace(decoding, stop=stop), seed=seed)


def score_prompt(instruction: str, input_text: str, output: str) -> str:
    return load_prompt("judge/score.txt").format(
        instruction=instruction.strip(), input=input_text.strip() or "(none)",
        output=output.strip(),
    )  # fmt: skip


def _constraints(task: Task) -> str:
    value = (task.model_extra or {}).get("constraints")
    return value.strip() if isinstance(value, str) else ""


class Respond(Method):
    """GPT-4-LLM: every instance answered again by a teacher model."""

    name = "respond"
    Settings = RespondSettings
    stages = {"respond": "decoding", "judge": "judge_decoding", "translate": "translate_decoding"}
    default_stage = "respond"  # `--decoding max_tokens=256`, the form before stages
    shardable = True  # task i (after duplicates are dropped) goes to shard i mod N

    def __init__(
        self,
        settings: RespondSettings,
        tasks: list[Task],
        api: str,
        candidates: Sequence[Candidates] = (),
    ) -> None:
        self.s = settings
        self.chat = api == "chat"
        self.language = language_name(settings.translate) if settings.translate else None
        self.sources = list(candidates)
        seen: set[str] = set()
        self.items: list[Item] = []
        for task in tasks:
            key = task_key(task)
            if key not in seen and task.instances:
                seen.add(key)
                self.items.append(Item(key, task, task.instruction,
                                       [i.input for i in task.instances], _constraints(task)))  # fmt: skip
        self.items = self.shard_of(settings).take(self.items)
        self.slots = self._slots()
        self.k = settings.n_responses
        self.written = 0
        self.constrain = False  # the scores' label set, when the backend can enforce it

    def _slots(self) -> list[Slot]:
        return [Slot(item, i) for item in self.items if item.rejection is None
                for i in range(len(item.task.instances))]  # fmt: skip

    # ------------------------------------------------------------------ translations

    def _texts(self) -> list[tuple[Item, str, int | None]]:
        """What to translate: each task's instruction (and constraints) and non-empty inputs."""
        texts: list[tuple[Item, str, int | None]] = []
        for item in self.items:
            texts.append((item, "instruction", None))
            if item.constraints:
                texts.append((item, "constraints", None))
            texts += [(item, "input", i) for i, text in enumerate(item.inputs) if text.strip()]
        return texts

    async def _translate(self, engine: Engine) -> bool:
        """Translate every text; a task with a failed or cut translation is rejected. False when
        the run stopped first."""
        assert self.language is not None
        texts = self._texts()
        done = [0]

        def ask(k: int) -> Request:
            item, part, i = texts[k]
            source = {"instruction": item.task.instruction, "constraints": item.constraints,
                      "input": item.inputs[i] if i is not None else ""}[part]  # fmt: skip
            return Request("translate", translate_prompt(source, self.language or ""),
                           self.s.translate_decoding)  # fmt: skip

        def translated(k: int, answer: Answer | None) -> bool:
            done[0] = k + 1
            item, part, i = texts[k]
            if answer is None or not answer.completion.text.strip():
                item.rejection = item.rejection or Rejection("translation_failed", {"part": part})
                return True
            if answer.completion.finish_reason == "length":
                item.rejection = item.rejection or Rejection("translation_truncated",
                                                             {"part": part})  # fmt: skip
            text = answer.completion.text.strip()
            if part == "instruction":
                item.instruction = text
            elif part == "constraints":
                item.constraints = text
            else:
                assert i is not None
                item.inputs[i] = text
            return True

        await engine.in_order("translate", ask, translated, wanted=lambda: done[0] < len(texts),
                              lag=lambda k: k, count=len(texts))  # fmt: skip
        if done[0] < len(texts) or engine.stopping:
            return False
        for item in self.items:
            if item.rejection is not None:
                engine.reject(item.key, "translate", item.rejection, item.task.instruction, "")
        self.slots = self._slots()
        return True

    # ------------------------------------------------------------------ answers and ratings

    def _ask(self, k: int) -> Request:
        slot, j = self.slots[k // self.k], k % self.k
        item = slot.item
        seed = random.Random(f"{self.s.seed}:respond:{slot.key}:{slot.instance}:{j}")
        return respond_request(
            with_constraints(item.instruction, item.constraints), item.inputs[slot.instance],
            self.s.system, self.chat, self.s.template, self.s.decoding, seed.randrange(2**31),
            framing=self.s.framing, language=self.language,
        )  # fmt: skip

    def _opened(self, slot: Slot) -> None:
        """The candidates before the teacher's: the original output (not when translated: it
        answers the untranslated text)."""
        slot.candidates = []
        if self.language is None:
            original = slot.item.task.instances[slot.instance].output
            slot.candidates.append({"model": self.s.original_model, "output": original})

    def _closed(self, slot: Slot) -> None:
        """The candidates after the teacher's: other models' answers to the same instance."""
        instance = slot.item.task.instances[slot.instance]
        for source in self.sources:
            found = source.answer(slot.item.task.instruction, instance.input)
            assert found is not None  # coverage is checked before the run
            slot.candidates.append({"model": found["model"], "output": found["output"]})

    def _scored(self) -> list[tuple[Slot, dict[str, Any]]]:
        return [(slot, c) for slot in self.slots if not slot.failed for c in slot.candidates]

    def _score(self, pairs: list[tuple[Slot, dict[str, Any]]], k: int) -> Request:
        slot, candidate = pairs[k]
        item = slot.item
        text = score_prompt(with_constraints(item.instruction, item.constraints),
                            item.inputs[slot.instance], candidate["output"])  # fmt: skip
        labels = SCORES if self.constrain else ()
        return Request("compare", text, self.s.judge_decoding, labels=labels)

    def _rate(self, rated: list[Slot], k: int) -> Request:
        slot = rated[k]
        item = slot.item
        text = side_by_side_prompt(with_constraints(item.instruction, item.constraints),
                                   item.inputs[slot.instance],
                                   [c["output"] for c in slot.candidates])  # fmt: skip
        grammar = scores_grammar(len(slot.candidates)) if self.constrain else ""
        return Request("compare", text, self.s.judge_decoding, grammar=grammar)

    async def __call__(self, engine: Engine) -> int:
        engine.progress.target = len(self.items)
        self.constrain = engine.backend.constrains_answers
        if self.language is not None and not await self._translate(engine):
            return self.written
        total = len(self.slots) * self.k
        done = [0]

        def answered(k: int, answer: Answer | None) -> bool:
            done[0] = k + 1
            slot = self.slots[k // self.k]
            if k % self.k == 0:
                self._opened(slot)
            if answer is None:
                slot.failed = True
            else:
                candidate = {"model": self.s.model, "output": answer.completion.text.strip()}
                if answer.completion.finish_reason == "length":
                    candidate["truncated"] = True
                slot.candidates.append(candidate)
            if k % self.k == self.k - 1:
                self._closed(slot)
                if not self.s.compare:
                    self._settle(engine, k // self.k)
            return True

        await engine.in_order("respond", self._ask, answered, wanted=lambda: done[0] < total,
                              lag=lambda k: k, count=total)  # fmt: skip
        if not self.s.compare or engine.stopping:
            return self.written
        if self.s.rating == "separate":
            complete = await self._rate_separately(engine)
        else:
            complete = await self._rate_side_by_side(engine)
        if complete:  # every rating is in: write the tasks, in order
            for index in range(len(self.slots)):
                self._settle(engine, index)
        return self.written

    async def _rate_separately(self, engine: Engine) -> bool:
        pairs = self._scored()
        done = [0]

        def scored(k: int, answer: Answer | None) -> bool:
            done[0] = k + 1
            _, candidate = pairs[k]
            if answer is None:
                candidate.update(score=None, failed=True)
            else:
                verdict = parse_score(answer.completion.text)
                candidate.update(score=int(verdict.label) if verdict.label else None,
                                 reason=verdict.reason, raw=verdict.raw)  # fmt: skip
            return True

        await engine.in_order("compare", lambda k: self._score(pairs, k), scored,
                              wanted=lambda: done[0] < len(pairs),
                              lag=lambda k: k, count=len(pairs))  # fmt: skip
        return done[0] == len(pairs)

    async def _rate_side_by_side(self, engine: Engine) -> bool:
        rated = [slot for slot in self.slots if not slot.failed]
        done = [0]

        def scored(k: int, answer: Answer | None) -> bool:
            done[0] = k + 1
            slot = rated[k]
            rating: dict[str, Any] = {"mode": "side-by-side", "parsed": False}
            scores: list[int] | None = None
            if answer is None:
                rating["failed"] = True
            else:
                scores, reason = parse_scores(answer.completion.text, len(slot.candidates))
                rating.update(parsed=scores is not None, reason=reason,
                              raw=answer.completion.text)  # fmt: skip
            for n, candidate in enumerate(slot.candidates):
                candidate["score"] = scores[n] if scores is not None else None
            slot.rating = rating
            return True

        await engine.in_order("compare", lambda k: self._rate(rated, k), scored,
                              wanted=lambda: done[0] < len(rated),
                              lag=lambda k: k, count=len(rated))  # fmt: skip
        return done[0] == len(rated)

    def _settle(self, engine: Engine, index: int) -> None:
        """Write a task once the last of its instances is settled."""
        slot = self.slots[index]
        if index + 1 < len(self.slots) and self.slots[index + 1].key == slot.key:
            return
        item = slot.item
        # A task's slots are consecutive and end here: walk back to its first (reading every
        # slot at every task's end made a job's cost grow with its square).
        start = index
        while start > 0 and self.slots[start - 1].item is item:
            start -= 1
        slots = self.slots[start : index + 1]
        if any(s.failed for s in slots):
            engine.reject(slot.key, "respond", Rejection("response_failed"),
                          item.task.instruction, "")  # fmt: skip
            return
        written = engine.write("tasks", self._record(item, slots))
        self.written += 1
        engine.report(accepted=self.written, finished=1, tasks=int(written))

    def _record(self, item: Item, slots: list[Slot]) -> dict[str, Any]:
        instances = []
        for s in slots:
            first = s.candidates[0 if self.language is not None else 1]  # the teacher's first
            original = item.task.instances[s.instance]
            instance: dict[str, Any] = {
                "input": item.inputs[s.instance], "output": first["output"],
                "model": self.s.model, "truncated": bool(first.get("truncated")),
                "original_output": original.output, "original_model": self.s.original_model,
                "candidates": s.candidates,
            }  # fmt: skip
            if self.language is not None:
                instance["original_input"] = original.input
            if s.rating is not None:
                instance["rating"] = s.rating
            instances.append(instance)
        record: dict[str, Any] = {"id": item.key, "instruction": item.instruction,
                                  "is_classification": item.task.is_classification}  # fmt: skip
        if item.constraints:
            record["constraints"] = item.constraints
        if self.language is not None:
            record.update(original_instruction=item.task.instruction,
                          language=self.s.translate)  # fmt: skip
            if item.constraints:
                record["original_constraints"] = _constraints(item.task)
        record["instances"] = instances
        return record

    # ------------------------------------------------------------------ building

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Respond:
        assert isinstance(settings, RespondSettings)
        return build(settings, api)

    @classmethod
    def base_decodings(cls, backend: Backend, values: Mapping[str, Any]) -> dict[str, Decoding]:
        """A completion model runs on past its answer into a new "### Instruction:" block:
        stop it there."""
        base = super().base_decodings(backend, values)
        if backend.api == "completion":
            base["decoding"] = dataclasses.replace(base["decoding"], stop=ALPACA_STOP)
        return base

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """``input_path``: the tasks to answer (fingerprinted; ``n`` defaults to all of them);
        ``candidate_paths``: earlier runs on the same data to rate beside (fingerprinted).
        With ``system`` on an in-process completion model, its own chat template renders
        the system and user turns."""
        path = Path(values.pop("input_path"))
        if "n" not in values:
            tasks = load_tasks(path)
            if not tasks:
                raise UserError(f"{path}: holds no tasks")
            values["n"] = len(tasks)
        if values.get("translate") is not None:
            language_name(values["translate"])
        paths = tuple(str(p) for p in values.pop("candidate_paths", ()) or ())
        for candidate in paths:
            if not Path(candidate).exists():
                raise UserError(f"--candidates {candidate}: no such file or folder")
        if values.get("system") is not None and backend.api == "completion":
            values.setdefault("template", resolve(None, getattr(backend, "model_path", None)))
        return super().configure(
            backend, decoding=decoding, input_path=str(path),
            input_sha256=input_fingerprint(path), candidate_paths=paths,
            candidates_sha256=tuple(input_fingerprint(Path(p)) for p in paths), **values,
        )  # fmt: skip


def build(settings: RespondSettings, api: str) -> Respond:
    tasks = load_tasks(settings.input_path)
    if not tasks:
        raise UserError(f"{settings.input_path}: holds no tasks")
    sources = [load_candidates(path) for path in settings.candidate_paths]
    for source in sources:
        check_coverage(source, tasks)
    return Respond(settings, tasks, api, sources)
