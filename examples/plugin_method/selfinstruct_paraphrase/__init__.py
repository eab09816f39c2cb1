"""Paraphrase: each instruction rewritten K ways, a rewrite kept only when it is novel.

The method in three stages, as a paper's algorithm section would put it:

1. For input task k (in file order), ask the model for ``ways`` rewrites of its instruction.
2. Parse the numbered list; a cut-off answer is dropped whole (its last item may be cut).
3. Each rewrite passes the instruction rules and ROUGE-L novelty against every original
   instruction and every rewrite kept before it; a kept rewrite becomes a task with the
   original's instances.

Answers are committed in input order (``Engine.in_order``), so the data never depends on timing,
and a resumed run (its answers come back from the cache) writes the same files.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from selfinstruct import (
    Answer,
    Backend,
    Decoding,
    Engine,
    InstructionGate,
    Method,
    Rejection,
    Request,
    RunSettings,
    UserError,
)
from selfinstruct.config import file_sha256
from selfinstruct.export import load_tasks
from selfinstruct.jsonio import read_jsonl
from selfinstruct.records import Task
from selfinstruct.store import tasks_file

PARAPHRASES_FILE = "paraphrases.jsonl"
PROMPT = (
    "Rewrite the instruction below in {ways} different ways. Keep its meaning and anything it "
    "refers to; change the wording and the sentence structure.\n\n"
    "Instruction: {instruction}\n\nRewrites:\n1."
)
_ITEM = re.compile(r"^\s*(\d+)[.)]\s*(.*\S)\s*$")


class ParaphraseSettings(RunSettings):
    """``n``: how many input tasks are paraphrased (the first ``n``)."""

    OPERATIONAL: ClassVar[frozenset[str]] = RunSettings.OPERATIONAL | {"input_path"}
    method: Literal["paraphrase"] = "paraphrase"
    input_path: str
    input_sha256: str
    ways: int = Field(default=3, ge=1, le=10, description="rewrites asked per instruction")
    threshold: float = Field(default=0.7, ge=0, le=1)
    tokenizer: Literal["rouge", "unicode"] = "rouge"
    decoding: Decoding = Decoding(max_tokens=300, temperature=0.7, top_p=1.0, stop=("\n\n",))


def parse_rewrites(text: str, ways: int) -> list[str]:
    """The numbered items of an answer that continues "1.", at most ``ways`` of them."""
    items: list[str] = []
    for line in ("1." + text).splitlines():
        match = _ITEM.match(line)
        if match and int(match.group(1)) == len(items) + 1:
            items.append(match.group(2))
    return items[:ways]


def _source_file(path: Path) -> Path:
    return tasks_file(path) if path.is_dir() else path


class Paraphrase(Method):
    """Each instruction rewritten ``ways`` ways; novel rewrites kept with the instances."""

    name = "paraphrase"
    Settings = ParaphraseSettings
    stages = {"paraphrase": "decoding"}
    logs = {"paraphrases": PARAPHRASES_FILE}
    unit = "instruction"

    def __init__(self, settings: ParaphraseSettings, tasks: list[Task], api: str) -> None:
        self.s = settings
        self.tasks = tasks[: settings.n]
        self.chat = api == "chat"
        self.gate = InstructionGate.from_settings(
            "none", False, settings.tokenizer, settings.threshold
        )
        self.gate.remember(task.instruction for task in self.tasks)
        self.committed = 0

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Paraphrase:
        assert isinstance(settings, ParaphraseSettings)
        tasks = load_tasks(settings.input_path)
        if not tasks:
            raise UserError(f"{settings.input_path}: holds no tasks")
        return cls(settings, tasks, api)

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """``input_path``: a task file or a run folder; ``n`` defaults to all of its tasks."""
        path = Path(values.pop("input_path"))
        if values.get("n") is None:
            values["n"] = max(1, len(load_tasks(path)))
        return super().configure(
            backend, decoding=decoding, input_path=str(path),
            input_sha256=file_sha256(_source_file(path)), **values,
        )  # fmt: skip

    @classmethod
    def command(cls) -> Any:
        from selfinstruct_paraphrase.command import paraphrase

        return paraphrase

    # ------------------------------------------------------------------ the run

    def request(self, k: int) -> Request:
        prompt = PROMPT.format(ways=self.s.ways, instruction=self.tasks[k].instruction.strip())
        if self.chat:
            prompt += "\n\n(Continue the numbered list.)"
        return Request("paraphrase", prompt, self.s.decoding, seed=self.s.seed)

    async def __call__(self, engine: Engine) -> int:
        engine.progress.target = len(self.tasks)
        kept = 0

        def commit(k: int, answer: Answer | None) -> bool:
            nonlocal kept
            added = self.commit(engine, k, answer)
            kept += added
            self.committed = k + 1
            engine.report(accepted=kept, finished=1)
            return added > 0

        await engine.in_order(
            "paraphrase",
            self.request,
            commit,
            wanted=lambda: self.committed < len(self.tasks),
            # Every request is independent of the answers before it.
            lag=lambda k: k,
            count=len(self.tasks),
            needed=lambda: len(self.tasks) - self.committed,
        )
        return kept

    def commit(self, engine: Engine, k: int, answer: Answer | None) -> int:
        """Gate answer k's rewrites in order; return how many were kept."""
        ident = f"r{k:06d}"
        if answer is None:  # failed for good: logged in failures.jsonl
            return 0
        task = self.tasks[k]
        if answer.completion.finish_reason == "length":
            engine.reject(ident, "paraphrase", Rejection("truncated"), answer.completion.text,
                          answer.key)  # fmt: skip
            engine.write("paraphrases", {"id": ident, "kept": 0, "rejected": 0, "cut": True})
            return 0
        kept = rejected = 0
        for j, rewrite in enumerate(parse_rewrites(answer.completion.text, self.s.ways)):
            rejection = self.gate.check(rewrite)
            if rejection is not None:
                engine.reject(f"{ident}.{j}", "paraphrase", rejection, rewrite, answer.key,
                              source=task.instruction)  # fmt: skip
                rejected += 1
                continue
            self.gate.admit(rewrite)
            kept += 1
            written = engine.write("tasks", {
                "id": f"para_{k:06d}_{j}",
                "instruction": rewrite,
                "is_classification": task.is_classification,
                "instances": [{"input": i.input, "output": i.output} for i in task.instances],
                "source_instruction": task.instruction,
            })  # fmt: skip
            engine.report(tasks=int(written))
        engine.write("paraphrases", {"id": ident, "kept": kept, "rejected": rejected})
        return kept

    # ------------------------------------------------------------------ its report

    @classmethod
    def report(cls, folder: Path) -> dict[str, Any] | None:
        path = folder / PARAPHRASES_FILE
        if not path.is_file():
            return None
        counts: Counter[str] = Counter()
        for _, record in read_jsonl(path, skip_torn_tail=True):
            counts["instructions"] += 1
            counts["kept"] += int(record.get("kept") or 0)
            counts["rejected"] += int(record.get("rejected") or 0)
            counts["cut"] += bool(record.get("cut"))
        per = counts["kept"] / counts["instructions"] if counts["instructions"] else None
        return {**counts, "kept_per_instruction": per}

    @classmethod
    def render_report(cls, section: dict[str, Any]) -> list[str]:
        per = section.get("kept_per_instruction")
        return [
            "Paraphrase",
            f"  instructions {section.get('instructions', 0):,}, rewrites kept "
            f"{section.get('kept', 0):,} ({'-' if per is None else f'{per:.2f}'} each), "
            f"rejected {section.get('rejected', 0):,}, answers cut {section.get('cut', 0):,}",
        ]
