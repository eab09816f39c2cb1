"""What a templatize run will write, decided before anything is written: the tasks and their
rows, each task's templates (checked on its first rows), and the FLAN mixture.

The mixture: each task's rows in a seeded order, cut at the cap; the tasks interleaved so that
every prefix holds them in proportion to their (capped) sizes, as FLAN's examples-proportional
mixing does; ``n`` takes the first ``n`` examples (a larger ``n`` on a resume extends the data).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.methods.templatize.data import TaskData, fingerprint, load_task_data
from selfinstruct.methods.templatize.tasks import TASK_TYPES, load_task_file
from selfinstruct.methods.templatize.templates import (
    Template,
    parse_template_file,
    templates_for,
    with_globals,
)

# A template is rendered on this many of a task's first rows before the run starts.
CHECKED_ROWS = 3


@dataclass
class Task:
    data: TaskData
    templates: dict[str, list[Template]] = field(default_factory=dict)  # kind -> templates
    base: dict[str, Any] = field(default_factory=dict)  # the variables every row shares

    @property
    def name(self) -> str:
        return self.data.spec.name

    @property
    def type(self) -> str:
        return self.data.spec.type

    @property
    def has_rationale(self) -> bool:
        return "rationale" in self.data.spec.columns

    def variables(self, i: int) -> dict[str, Any]:
        """Row ``i``'s variables (its fields, the task's, and empty optional fields)."""
        variables = dict(self.base)
        for name, column in self.data.values.items():
            variables[name] = column[i]
        return variables

    def add(self, template: Template) -> None:
        self.templates.setdefault(template.kind, []).append(template)


@dataclass
class Inputs:
    tasks: list[Task]
    sha256: str

    def order(self, seed: int, cap: int) -> Iterator[tuple[int, int]]:
        """(task index, row index) of the whole mixture, in its order."""

        def one(t: int) -> Iterator[tuple[float, int, int]]:
            task = self.tasks[t]
            rows = list(range(len(task.data)))
            random.Random(f"{seed}:rows:{task.name}").shuffle(rows)
            rows = rows[:cap]
            size = len(rows)
            for j, i in enumerate(rows):
                yield (j + 0.5) / size, t, i

        for _, t, i in heapq.merge(*(one(t) for t in range(len(self.tasks)))):
            yield t, i

    def total(self, cap: int) -> int:
        return sum(min(len(task.data), cap) for task in self.tasks)


def render_error(task: Task, template: Template, i: int, exc: Exception) -> UserError:
    row = task.data.rows[i] + 1
    return UserError(
        f"{template.source}: template {template.name!r} fails on {task.data.spec.data} row "
        f"{row} (task {task.name!r}): {type(exc).__name__}: {exc}"
    )


def check_template(task: Task, template: Template) -> None:
    """Render ``template`` on the task's first rows; a failure names file, template and row."""
    for i in range(min(CHECKED_ROWS, len(task.data))):
        try:
            template.render(task.variables(i))
        except Exception as exc:  # any Jinja error: undefined name, bad filter, sandbox
            raise render_error(task, template, i, exc) from None


_memo: dict[tuple[Any, ...], Inputs] = {}


def _stamp(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def load_inputs(
    task_file: str | Path, template_files: tuple[str, ...] = (), *, only_own: bool = False,
    skip_bad_rows: bool = False,
) -> Inputs:  # fmt: skip
    """Read and check everything a run needs (once per process for the same unchanged files:
    the command builds its settings, then its method, from the same inputs)."""
    specs = load_task_file(task_file)
    paths = [Path(task_file), *(s.data for s in specs), *(Path(p) for p in template_files)]
    for path in template_files:
        if not Path(path).is_file():
            raise UserError(f"template file {path} does not exist")
    key = (tuple(_stamp(p) for p in paths), only_own, skip_bad_rows)
    if key in _memo:
        return _memo[key]
    own = [t for path in template_files for t in parse_template_file(Path(path))]
    tasks: list[Task] = []
    for spec in specs:
        data = load_task_data(spec, skip_bad_rows)
        optional = TASK_TYPES[spec.type][1]
        base: dict[str, Any] = {f: "" for f in optional}
        base.update(task=spec.name, description=spec.description, answer_choices=list(data.labels))
        base = with_globals(base)
        task = Task(data, base=base)
        for template in templates_for(spec.type, own, only_own):
            if template.kind == "cot" and not task.has_rationale:
                continue
            check_template(task, template)
            task.add(template)
        if not task.templates.get("plain"):
            raise UserError(
                f"{spec.source}: no template for a {spec.type} task (with --only-own-templates, "
                "a template file must hold plain ones for it)"
            )
        tasks.append(task)
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        digest.update(fingerprint(path).encode())
    inputs = Inputs(tasks, digest.hexdigest())
    _memo.clear()
    _memo[key] = inputs
    return inputs
