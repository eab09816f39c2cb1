"""Teacher responses (the GPT-4-LLM recipe, Peng et al. 2023): regenerate every output.

Every instance of every task is answered again by a teacher model, ``n_responses`` times (each
with its own seed); the original output stays beside the new one, both models named. With
``compare`` a judge (the teacher, or the judge model the backend routes the ``compare`` stage
to: backends.routing.with_judge_model) then scores every candidate, the original and the new
ones, from 1 to 10 with a short reason; scores are parsed strictly (an unparseable score is
recorded as such). ``export --format preference`` turns the scores into chosen/rejected pairs.

Two passes on the engine's ordered loop: the answers, then the scores. Neither depends on
earlier answers of its own pass, so all requests of a pass are in flight together, committed
in order; a resume replays received answers from the cache.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfinstruct.backends.base import Backend, Decoding, Request
from selfinstruct.client import Answer
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine
from selfinstruct.errors import UserError
from selfinstruct.export import load_tasks, user_content
from selfinstruct.gate import Rejection
from selfinstruct.judgments import task_key
from selfinstruct.methods.base import Method
from selfinstruct.methods.judge.method import input_fingerprint
from selfinstruct.methods.judge.verdicts import SCORES, parse_score
from selfinstruct.methods.respond.settings import RespondSettings
from selfinstruct.prompting import load_prompt
from selfinstruct.records import Task
from selfinstruct.templates import ChatTemplate, resolve

if TYPE_CHECKING:
    import click


@dataclass
class Slot:
    """One instance to answer again, and what came back."""

    key: str
    task: Task
    instance: int
    candidates: list[dict[str, Any]] = field(default_factory=list)
    failed: bool = False


def respond_prompt(instruction: str, input_text: str, system: str | None, chat: bool) -> str:
    """Chat: the instruction (and input) as the user turn; completion: a response template.
    ``system`` is put before the text only here, for a completion endpoint whose chat template
    is unknown (see :func:`respond_request` for the other cases)."""
    if chat:
        text = user_content(instruction.strip(), input_text.strip())
    else:
        text = load_prompt("respond/completion.txt").format(
            instruction=instruction.strip(), input=input_text.strip() or "(none)"
        )
    return f"{system.strip()}\n\n{text}" if system else text


def respond_request(
    instruction: str,
    input_text: str,
    system: str | None,
    chat: bool,
    template: ChatTemplate | None,
    decoding: Decoding,
    seed: int,
) -> Request:
    """The teacher's request. Without ``system``: the user turn (chat) or the response template
    (completion). With ``system``: a real system message on a chat API; on a completion endpoint
    the system and user turns rendered through the model's chat template when one is known
    (what a chat endpoint would have done with them, stopping at the end-of-turn marker), else
    the documented fallback of ``system`` as a text prefix of the response template."""
    if system is None or (not chat and template is None):
        return Request("respond", respond_prompt(instruction, input_text, system, chat),
                       decoding, seed=seed)  # fmt: skip
    user = user_content(instruction.strip(), input_text.strip())
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


class Respond(Method):
    """GPT-4-LLM: every instance answered again by a teacher model."""

    name = "respond"
    Settings = RespondSettings
    stages = {"respond": "decoding", "judge": "judge_decoding"}
    default_stage = "respond"  # `--decoding max_tokens=256`, the form before stages

    def __init__(self, settings: RespondSettings, tasks: list[Task], api: str) -> None:
        self.s = settings
        self.chat = api == "chat"
        seen: set[str] = set()
        self.tasks: list[tuple[str, Task]] = []
        for task in tasks:
            key = task_key(task)
            if key not in seen and task.instances:
                seen.add(key)
                self.tasks.append((key, task))
        self.slots = [Slot(key, task, i) for key, task in self.tasks
                      for i in range(len(task.instances))]  # fmt: skip
        self.k = settings.n_responses
        self.written = 0
        self.constrain = False  # the scores' label set, when the backend can enforce it

    def _ask(self, k: int) -> Request:
        slot, j = self.slots[k // self.k], k % self.k
        instance = slot.task.instances[slot.instance]
        seed = random.Random(f"{self.s.seed}:respond:{slot.key}:{slot.instance}:{j}")
        return respond_request(slot.task.instruction, instance.input, self.s.system, self.chat,
                               self.s.template, self.s.decoding, seed.randrange(2**31))  # fmt: skip

    def _scored(self) -> list[tuple[Slot, dict[str, Any]]]:
        return [(slot, c) for slot in self.slots if not slot.failed for c in slot.candidates]

    def _score(self, pairs: list[tuple[Slot, dict[str, Any]]], k: int) -> Request:
        slot, candidate = pairs[k]
        instance = slot.task.instances[slot.instance]
        text = score_prompt(slot.task.instruction, instance.input, candidate["output"])
        labels = SCORES if self.constrain else ()
        return Request("compare", text, self.s.judge_decoding, labels=labels)

    async def __call__(self, engine: Engine) -> int:
        engine.progress.target = len(self.tasks)
        self.constrain = engine.backend.constrains_answers
        total = len(self.slots) * self.k
        done = [0]

        def answered(k: int, answer: Answer | None) -> bool:
            done[0] = k + 1
            slot = self.slots[k // self.k]
            if k % self.k == 0:
                original = slot.task.instances[slot.instance].output
                slot.candidates = [{"model": self.s.original_model, "output": original}]
            if answer is None:
                slot.failed = True
            else:
                slot.candidates.append({"model": self.s.model, "output": answer.completion.text.strip()})  # fmt: skip
            if not self.s.compare and k % self.k == self.k - 1:
                self._settle(engine, k // self.k)
            return True

        await engine.in_order("respond", self._ask, answered, wanted=lambda: done[0] < total,
                              lag=lambda k: k if k < total else -total - 1)  # fmt: skip
        if not self.s.compare or engine.stopping:
            return self.written
        pairs = self._scored()
        done[0] = 0

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
                              lag=lambda k: k if k < len(pairs) else -len(pairs) - 1)  # fmt: skip
        if done[0] == len(pairs):  # every score is in: write the tasks, in order
            for index in range(len(self.slots)):
                self._settle(engine, index)
        return self.written

    def _settle(self, engine: Engine, index: int) -> None:
        """Write a task once the last of its instances is settled."""
        slot = self.slots[index]
        if index + 1 < len(self.slots) and self.slots[index + 1].key == slot.key:
            return
        slots = [s for s in self.slots if s.key == slot.key]
        if any(s.failed for s in slots):
            engine.reject(slot.key, "respond", Rejection("response_failed"),
                          slot.task.instruction, "")  # fmt: skip
            return
        instances = []
        for s in slots:
            original, *new = s.candidates
            instances.append({
                "input": s.task.instances[s.instance].input,
                "output": new[0]["output"],
                "model": self.s.model,
                "original_output": original["output"],
                "original_model": original["model"],
                "candidates": s.candidates,
            })  # fmt: skip
        written = engine.write("tasks", {"id": slot.key, "instruction": slot.task.instruction,
                                         "is_classification": slot.task.is_classification,
                                         "instances": instances})  # fmt: skip
        self.written += 1
        engine.report(accepted=self.written, finished=1, tasks=int(written))

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Respond:
        assert isinstance(settings, RespondSettings)
        return build(settings, api)

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """``input_path``: the tasks to answer (fingerprinted; ``n`` defaults to all of them).
        With ``system`` on an in-process completion model, its own chat template renders
        the system and user turns."""
        path = Path(values.pop("input_path"))
        if "n" not in values:
            tasks = load_tasks(path)
            if not tasks:
                raise UserError(f"{path}: holds no tasks")
            values["n"] = len(tasks)
        if values.get("system") is not None and backend.api == "completion":
            values.setdefault("template", resolve(None, getattr(backend, "model_path", None)))
        return super().configure(
            backend, decoding=decoding, input_path=str(path),
            input_sha256=input_fingerprint(path), **values,
        )  # fmt: skip

    @classmethod
    def command(cls) -> click.Command:
        from selfinstruct.methods.respond.command import respond

        return respond


def build(settings: RespondSettings, api: str) -> Respond:
    tasks = load_tasks(settings.input_path)
    if not tasks:
        raise UserError(f"{settings.input_path}: holds no tasks")
    return Respond(settings, tasks, api)
