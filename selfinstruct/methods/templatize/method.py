"""Templatize: instruction data from labelled datasets by templates, as FLAN (Wei et al. 2021)
and T0 / PromptSource (Sanh et al. 2021) made it.

1. Read each task of the task file (a labelled dataset, its type, its columns) and check every
   row; gather each task type's templates (the bundled family, the user's files) and render
   each on the task's first rows.
2. With ``write_templates`` K: ask the model for K new templates per task, from its description
   and two rows; keep those that render well on sample rows (the others go to rejected.jsonl),
   logged in templates.jsonl so that a resume reuses them.
3. Mix the tasks as FLAN does (at most ``cap`` examples each, in proportion to size under the
   cap) and render every example with a template chosen per row by a seeded draw: inverted
   ("turning the task around") with ``inverted_share``, few-shot (``shots`` exemplars of the
   same task, never the row itself) with ``few_shot_share``, chain-of-thought with
   ``cot_share`` where the task has a rationale, zero-shot otherwise. A classification row's
   input ends with the options suffix listing the label set.

With no ``write_templates`` no model is asked (nor loaded). Every random choice is seeded by
task and row, so a killed run resumed writes the same bytes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfinstruct.backends.base import Backend, Request
from selfinstruct.client import Answer
from selfinstruct.config import RunSettings
from selfinstruct.engine import Engine
from selfinstruct.errors import UserError
from selfinstruct.gate import Rejection
from selfinstruct.jsonio import read_jsonl
from selfinstruct.methods.base import Method
from selfinstruct.methods.templatize.plan import Inputs, Task, load_inputs, render_error
from selfinstruct.methods.templatize.report import (
    INPUTS_FILE,
    TEMPLATES_FILE,
    render_section,
    section,
)
from selfinstruct.methods.templatize.settings import TemplatizeSettings
from selfinstruct.methods.templatize.writing import (
    parse_templates,
    validate,
    writing_prompt,
)
from selfinstruct.summary import StopKind

if TYPE_CHECKING:
    pass

# Rows rendered between two progress reports (and two looks at a stop request).
REPORT_EVERY = 1024
# Rows written together (one write, one flush). Small enough that the records waiting are
# freed before the garbage collector's youngest generation fills (700 containers): held
# longer, a million rows' records are each traversed by collections that find nothing.
WRITE_EVERY = 64


def options_suffix(labels: Sequence[str]) -> str:
    """FLAN's options suffix: the allowed answers, one a line."""
    return "\n\nOPTIONS:\n" + "\n".join(f"- {label}" for label in labels)


class Templatize(Method):
    """Labelled datasets rendered through instruction templates, mixed FLAN's way."""

    name = "templatize"
    Settings = TemplatizeSettings
    stages = {"template": "template_decoding"}
    logs = {"templates": TEMPLATES_FILE, "inputs": INPUTS_FILE}
    unit = "example"

    def __init__(self, settings: TemplatizeSettings, inputs: Inputs, api: str) -> None:
        self.s = settings
        # The method adds the templates a model writes: its own copy of each task's lists.
        self.tasks = [
            Task(t.data, {k: list(v) for k, v in t.templates.items()}, t.base) for t in inputs.tasks
        ]
        self.inputs = inputs
        self.chat = api == "chat"
        # One generator reseeded per row: the same draws as a new Random(seed string) each.
        self._rng = random.Random()
        self._suffixes: dict[tuple[str, ...], str] = {}

    # ------------------------------------------------------------------ building

    @classmethod
    def load(cls, values: dict[str, Any]) -> Inputs:
        return load_inputs(
            values["task_file"], tuple(values.get("template_files") or ()),
            only_own=bool(values.get("only_own_templates")),
            skip_bad_rows=bool(values.get("skip_bad_rows")),
        )  # fmt: skip

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """``task_file``: the tasks; ``template_files``: the user's own templates; ``n``
        defaults to the whole mixture (every task under the cap)."""
        values["task_file"] = str(values["task_file"])
        values["template_files"] = tuple(str(p) for p in values.get("template_files") or ())
        inputs = cls.load(values)
        if values.get("n") is None:
            cap = values.get("cap") or TemplatizeSettings.model_fields["cap"].default
            values["n"] = max(1, inputs.total(cap))
        return super().configure(backend, decoding=decoding, inputs_sha256=inputs.sha256, **values)

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Templatize:
        assert isinstance(settings, TemplatizeSettings)
        inputs = cls.load(settings.model_dump())
        if inputs.sha256 != settings.inputs_sha256:
            raise UserError(
                f"{settings.task_file}: the task file, its data or the template files changed "
                "since the settings were built"
            )
        return cls(settings, inputs, api)

    @classmethod
    def report(cls, folder: Path) -> dict[str, Any] | None:
        return section(folder)

    @classmethod
    def render_report(cls, section: dict[str, Any]) -> list[str]:
        return render_section(section)

    # ------------------------------------------------------------------ the run

    async def __call__(self, engine: Engine) -> int:
        if self.s.write_templates and not await self.write_templates(engine):
            return 0
        return await self.render(engine)

    # -- stage 2: templates a model writes

    def _written(self, engine: Engine) -> dict[str, dict[str, Any]]:
        path = engine.folder.path / TEMPLATES_FILE
        if not path.is_file():
            return {}
        return {str(r["id"]): r for _, r in read_jsonl(path)}

    async def write_templates(self, engine: Engine) -> bool:
        """Every task's model-written templates (from the log, or asked now); False when a
        request failed for good (no example is written with part of the templates)."""
        written = self._written(engine)
        missing = [t for t in self.tasks if t.name not in written]
        committed = 0
        failed: list[str] = []

        def request(k: int) -> Request:
            task = missing[k]
            data = task.data
            rows = [task.variables(i) for i in range(min(2, len(data)))]
            prompt = writing_prompt(
                task.name, task.type, data.spec.description, list(data.spec.fields),
                data.labels, rows, task.templates["plain"][0], self.s.write_templates,
            )  # fmt: skip
            return Request("template", prompt, self.s.template_decoding, seed=self.s.seed)

        def commit(k: int, answer: Answer | None) -> bool:
            nonlocal committed
            committed = k + 1
            task = missing[k]
            if answer is None:
                failed.append(task.name)
                return False
            record = self.judge_templates(engine, task, answer)
            engine.write("templates", record)
            written[task.name] = record
            return bool(record["templates"])

        if missing:
            engine.progress.target = len(missing)
            await engine.in_order(
                "template", request, commit,
                wanted=lambda: committed < len(missing),
                lag=lambda k: k if k < len(missing) else -len(missing) - 1,
                needed=lambda: len(missing) - committed,
            )  # fmt: skip
        if engine.stopping:
            return False
        if failed:
            engine.stop(
                StopKind.FAILED,
                f"the model's templates for task {failed[0]!r} could not be had (see "
                "failures.jsonl); run the same command again to retry",
            )
            return False
        for task in self.tasks:
            for kept in written[task.name]["templates"]:
                task.add(self._model_template(task, kept["name"], kept["text"]))
        return True

    def _samples(self, task: Task) -> list[dict[str, Any]]:
        step = max(1, len(task.data) // 4)
        return [task.variables(i) for i in range(0, len(task.data), step)][:4]

    def _model_template(self, task: Task, name: str, text: str) -> Any:
        return validate(
            text, name=name, task=task.name, task_type=task.type, labels=task.data.labels,
            samples=self._samples(task), known=[],
        )  # fmt: skip

    def judge_templates(self, engine: Engine, task: Task, answer: Answer) -> dict[str, Any]:
        from selfinstruct.methods.templatize.templates import TemplateProblem

        completion = answer.completion
        bodies = parse_templates(completion.text, self.chat)[: self.s.write_templates]
        if completion.finish_reason == "length" and bodies:
            bodies.pop()  # the last one may be cut
        kept: list[dict[str, str]] = []
        known = [t for kind in task.templates.values() for t in kind]
        rejected = 0
        for j, body in enumerate(bodies, 1):
            name = f"{task.name}_{j}"
            try:
                template = validate(
                    body, name=name, task=task.name, task_type=task.type,
                    labels=task.data.labels, samples=self._samples(task), known=known,
                )  # fmt: skip
            except TemplateProblem as problem:
                rejected += 1
                engine.reject(
                    f"{task.name}.t{j}", "template", Rejection(problem.reason,
                    {"detail": problem.detail}), body, answer.key, task=task.name,
                )  # fmt: skip
                continue
            known.append(template)
            kept.append({"name": name, "text": template.text})
        return {
            "id": task.name,
            "asked": self.s.write_templates,
            "parsed": len(bodies),
            "rejected": rejected,
            "cut": completion.finish_reason == "length",
            "templates": kept,
        }

    # -- stage 3: the examples

    async def render(self, engine: Engine) -> int:
        total = min(self.s.n, self.inputs.total(self.s.cap))
        engine.progress.target = total
        for task in self.tasks:
            data = task.data
            engine.write("inputs", {
                "id": task.name, "type": task.type, "data": str(data.spec.data),
                "rows": len(data) + sum(data.skipped.values()), "skipped": data.skipped,
                "labels": list(data.labels),
            })  # fmt: skip
        known = engine.known("tasks")
        count = 0
        pending: list[dict[str, Any]] = []  # written a batch at a time: one write, one flush
        try:
            for t, i in self.inputs.order(self.s.seed, self.s.cap):
                if count >= total or engine.stopping:
                    break
                task = self.tasks[t]
                ident = f"{task.name}_{task.data.rows[i]:07d}"
                if ident not in known:
                    pending.append(self.example(task, i, ident))
                count += 1
                if count % WRITE_EVERY == 0:
                    batch, pending = pending, []
                    engine.write_many("tasks", batch)
                if count % REPORT_EVERY == 0:
                    engine.report(accepted=count, finished=REPORT_EVERY, tasks=REPORT_EVERY)
                    await asyncio.sleep(0)  # a stop request (Ctrl-C) gets its turn
        finally:
            if pending:  # also when a row fails to render: the rows before it are kept
                engine.write_many("tasks", pending)
        engine.report(accepted=count, finished=count % REPORT_EVERY, tasks=count % REPORT_EVERY)
        return count

    def example(self, task: Task, i: int, ident: str) -> dict[str, Any]:
        """Row ``i`` of ``task`` as a task record, through a template chosen by a seeded draw."""
        s = self.s
        row = task.data.rows[i]
        rng = self._rng
        rng.seed(f"{s.seed}:template:{task.name}:{row}")
        u = rng.random()
        form = "zero_shot"
        if u < s.inverted_share:
            form = "inverted"
        elif u < s.inverted_share + s.few_shot_share:
            form = "few_shot"
        elif u < s.inverted_share + s.few_shot_share + s.cot_share and task.has_rationale:
            form = "cot"
        kind = "plain" if form == "zero_shot" or form == "few_shot" else form
        pool = task.templates.get(kind) or task.templates["plain"]
        if kind not in task.templates:
            form = "zero_shot"
        template = pool[rng.randrange(len(pool))]
        labels = task.data.labels
        classifying = task.type == "classification" and form != "inverted"
        suffix = ""
        if classifying and s.options_suffix:
            suffix = self._suffixes.get(labels) or self._suffixes.setdefault(
                labels, options_suffix(labels)
            )
        try:
            prompt, target = template.render(task.variables(i))
        except Exception as exc:
            raise render_error(task, template, i, exc) from None
        prompt += suffix
        record: dict[str, Any] = {"id": ident}
        exemplars: list[int] = []
        if form == "few_shot":
            k = min(s.shots, len(task.data) - 1)
            if k == 0:
                form = "zero_shot"
            shots = []
            for j in rng.sample(range(len(task.data) - 1), k):
                j += j >= i  # never the row itself
                try:
                    shot_prompt, shot_target = template.render(task.variables(j))
                except Exception as exc:
                    raise render_error(task, template, j, exc) from None
                shots.append(f"{shot_prompt}{suffix}\n{shot_target}")
                exemplars.append(task.data.rows[j])
            if shots:
                prompt = "\n\n".join(shots) + "\n\n" + prompt
        record.update(
            instruction=prompt,
            is_classification=classifying and form != "cot",
            instances=[{"input": "", "output": target}],
            source="templatize",
            source_task=task.name,
            task_type=task.type,
            template=template.id,
            family=template.family,
            form=form,
            row=row,
        )
        if classifying:
            record["options"] = list(labels)
        if exemplars:
            record["exemplars"] = exemplars
        return record
