"""A judge model answers the Self-Instruct paper's quality questions about each task.

The paper (Wang et al. 2022, section 4) sampled 200 generated tasks, took one random instance of
each, and asked an expert three questions: does the instruction describe a valid task, is the
input appropriate for the instruction, is the output a correct and acceptable response. Here a
judge model is asked the same three questions, one request each, and must open its answer with
Yes or No; ``rate`` also asks for the paper's A-D rating of the response. Answers are parsed
strictly (``verdicts.py``): an unparseable answer is recorded as such. The questions are the
paper's own words (``prompts/judge/README.md`` says which parts are quoted).

Every task also gets the model-free heuristics (``heuristics.py``). Each verdict
goes to ``judgments.jsonl`` keyed by the task's content key, which ``filter --judged`` reads.

Requests do not depend on answers, so all are in flight together; answers are committed in
request order, so the file's order never depends on timing, and a resumed run replays answers
already received from the cache without asking again.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Backend, Request
from selfinstruct.client import Answer
from selfinstruct.config import RunSettings, file_sha256
from selfinstruct.engine import Engine
from selfinstruct.errors import UserError
from selfinstruct.export import load_tasks
from selfinstruct.jsonio import read_jsonl
from selfinstruct.judgments import JUDGMENTS_FILE, QUESTIONS, judgments_file, overall, task_key
from selfinstruct.methods.base import Method
from selfinstruct.methods.judge.heuristics import check
from selfinstruct.methods.judge.report import build_report, describe
from selfinstruct.methods.judge.settings import JudgeSettings
from selfinstruct.methods.judge.verdicts import RATINGS, YES_NO, parse_rating, parse_yes_no
from selfinstruct.prompting import load_prompt
from selfinstruct.records import Task
from selfinstruct.store import tasks_file

NO_INPUT = "(none)"


@dataclass(frozen=True)
class Item:
    """One sampled task and the instance shown to the judge."""

    key: str
    task: Task
    instance: int

    @property
    def input(self) -> str:
        return self.task.instances[self.instance].input if self.task.instances else ""

    @property
    def output(self) -> str:
        return self.task.instances[self.instance].output if self.task.instances else ""


def input_fingerprint(path: Path) -> str:
    """What the data depends on: the file, or a run folder's tasks."""
    source = tasks_file(path) if path.is_dir() else path
    if not source.is_file():
        missing = (
            "not a run folder with tasks (no tasks.jsonl)" if path.is_dir() else "no such file"
        )
        raise UserError(f"{path}: {missing}")
    return file_sha256(source)


def sample(tasks: list[Task], n: int, seed: int) -> list[Item]:
    """``n`` distinct tasks in a seeded random order (a larger n extends a smaller n's sample),
    then put back in file order; one seeded instance each, as in the paper."""
    unique: dict[str, Task] = {}
    for task in tasks:
        unique.setdefault(task_key(task), task)
    keys = list(unique)
    random.Random(f"{seed}:judge:sample").shuffle(keys)
    chosen = set(keys[:n])
    items = []
    for key, task in unique.items():
        if key in chosen:
            count = max(1, len(task.instances))
            instance = random.Random(f"{seed}:judge:instance:{key}").randrange(count)
            items.append(Item(key, task, instance))
    return items


def render(question: str, item: Item) -> str:
    return load_prompt(f"judge/{question}.txt").format(
        instruction=item.task.instruction.strip(),
        input=item.input.strip() or NO_INPUT,
        output=item.output.strip(),
    )


def heuristic_record(item: Item) -> dict[str, Any]:
    flags = check(item.task.instruction, item.input, item.output)
    return {
        "id": item.key,
        "key": item.key,
        "task_id": item.task.id,
        "instruction": item.task.instruction,
        "input": item.input,
        "output": item.output,
        "instance": item.instance,
        "heuristics": [{"reason": f.reason, "detail": f.detail} for f in flags],
    }


class Judge(Method):
    """The paper's three questions (and an optional rating) per sampled task."""

    name = "judge"
    Settings = JudgeSettings
    stages = {"judge": "decoding"}
    logs = {"judgments": JUDGMENTS_FILE}
    shardable = True  # sampled task i goes to shard i mod N
    merge_log = "judgments"

    def __init__(self, settings: JudgeSettings, items: list[Item]) -> None:
        self.s = settings
        self.items = items
        self.asked = (QUESTIONS if settings.questions else ()) + (
            ("rating",) if settings.rate else ()
        )
        if not self.asked:
            raise UserError("nothing to ask: pass --rate, or leave the three questions on")
        self.partial: dict[int, dict[str, dict[str, Any]]] = {}
        self.written = 0
        self.constrain = False  # set from the backend when the run starts

    @property
    def total(self) -> int:
        return len(self.items) * len(self.asked)

    def request(self, k: int) -> Request:
        item, question = self.items[k // len(self.asked)], self.asked[k % len(self.asked)]
        stage = "rate" if question == "rating" else "judge"
        labels = (RATINGS if question == "rating" else YES_NO) if self.constrain else ()
        return Request(stage, render(question, item), self.s.decoding, labels=labels)

    async def __call__(self, engine: Engine) -> int:
        engine.progress.target = len(self.items)
        # A backend that can hold the answer to the label set (the in-process model) is asked
        # to; a server's answers are only parsed, strictly.
        self.constrain = engine.backend.constrains_answers
        committed = [0]

        def commit(k: int, answer: Answer | None) -> bool:
            committed[0] = k + 1
            self._commit(engine, k, answer)
            return True  # every answer is a verdict, parseable or not

        await engine.in_order(
            "judge",
            self.request,
            commit,
            wanted=lambda: committed[0] < self.total,
            # No request depends on an answer.
            lag=lambda k: k,
            count=self.total,
        )
        return self.written

    def _commit(self, engine: Engine, k: int, answer: Answer | None) -> None:
        index, question = divmod(k, len(self.asked))
        name = self.asked[question]
        parser = parse_rating if name == "rating" else parse_yes_no
        if answer is None:
            verdict: dict[str, Any] = {"label": None, "failed": True}
        else:
            parsed = parser(answer.completion.text)
            verdict = {"label": parsed.label, "reason": parsed.reason, "raw": parsed.raw}
        self.partial.setdefault(index, {})[name] = verdict
        if question == len(self.asked) - 1:
            self._write(engine, index)

    def _write(self, engine: Engine, index: int) -> None:
        answers = self.partial.pop(index)
        record = heuristic_record(self.items[index])
        rating = answers.pop("rating", None)
        if answers:
            record["answers"] = answers
            record["valid"] = overall(answers)
        else:
            record["valid"] = None
        if rating is not None:
            record["rating"] = rating
        record["judge"] = self.s.model
        written = engine.write("judgments", record)
        self.written += 1
        engine.report(accepted=self.written, finished=1, tasks=int(written))

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Judge:
        assert isinstance(settings, JudgeSettings)
        return build(settings)

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """``input_path``: the tasks to judge (a task file or a run folder), fingerprinted."""
        path = Path(values.pop("input_path"))
        return super().configure(
            backend, decoding=decoding, input_path=str(path),
            input_sha256=input_fingerprint(path), **values,
        )  # fmt: skip

    @classmethod
    def report(cls, folder: Path) -> dict[str, Any] | None:
        """The paper's rates over the folder's verdicts (summary.json's ``judge`` section, so
        a run from Python or a recipe has them too; the command also writes
        judge_report.json)."""
        path = judgments_file(folder)
        if not path.is_file():
            return None
        return build_report([record for _, record in read_jsonl(path, skip_torn_tail=True)])

    @classmethod
    def render_report(cls, section: dict[str, Any]) -> list[str]:
        return describe(section)


def load_items(settings: JudgeSettings) -> list[Item]:
    tasks = load_tasks(settings.input_path)
    if not tasks:
        raise UserError(f"{settings.input_path}: holds no tasks")
    return sample(tasks, settings.n, settings.seed)


def build(settings: JudgeSettings) -> Judge:
    return Judge(settings, Judge.shard_of(settings).take(load_items(settings)))
