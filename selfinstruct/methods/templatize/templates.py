"""Instruction templates in Jinja, PromptSource's way: the input and the target separated by
``|||``, rendered over a row's fields in a sandbox where an unknown name is an error.

A template file holds one family of templates for one task type::

    {# type: classification #}
    {# template topic_1 #}
    {{ text }}

    What is this text about?
    |||
    {{ label }}
    {# template write_one inverted #}
    Write a text about {{ label }}.
    |||
    {{ text }}

A template's kind is ``plain`` (the default; also used for few-shot rows), ``inverted`` (it
turns the task around: from the answer, ask for the input or the question) or ``cot`` (its
target carries the row's rationale). The bundled families are ``prompts/templatize/<type>.jinja``;
a user's file overrides a bundled template of the same name and type, and adds the others.
Besides the row's fields a template sees ``answer_choices`` (the label set), ``task`` and
``description``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.methods.templatize.tasks import TASK_TYPES
from selfinstruct.resources import resource_dir

KINDS = ("plain", "inverted", "cot")
SEPARATOR = "|||"
_HEADER = re.compile(r"^\{#\s*template\s+(\S+)(?:\s+(\w+))?\s*#\}\s*$")
_TYPE = re.compile(r"^\{#\s*type:\s*(\w+)\s*#\}\s*$")
_COMMENT = re.compile(r"^\{#.*#\}\s*$")


class TemplateProblem(Exception):
    """Why a template cannot be used: a stable reason and a readable detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@cache
def environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


# Joins the input and the target into one Jinja template (one render per row, not two).
_JOINT = "\ue000|||\ue001"  # private-use characters: not whitespace, so {{- x }} keeps it


@dataclass(frozen=True)
class Template:
    name: str
    family: str
    task_type: str
    kind: str
    source: str  # the file it came from ("model" for one a model wrote)
    text: str
    input: Any
    target: Any
    joint: Any

    @property
    def id(self) -> str:
        return f"{self.family}/{self.name}"

    def render(self, variables: dict[str, Any]) -> tuple[str, str]:
        """The input and the target for ``variables`` (which must hold the environment's
        globals: :func:`with_globals`; a context built on them directly is several times
        cheaper than Jinja's own ``render``)."""
        parts = _run(self.joint, variables).split(_JOINT)
        if len(parts) != 2:  # the data holds the joint itself: render the halves apart
            parts = [_run(self.input, variables), _run(self.target, variables)]
        return parts[0].strip(), parts[1].strip()


def _run(template: Any, variables: dict[str, Any]) -> str:
    # The context Template.new_context(variables, shared=True) makes, less the set of the
    # template's globals it builds each time (only imported template modules read it): the
    # globals are in ``variables`` already.
    env = template.environment
    context = env.context_class(env, variables, template.name, template.blocks)
    return "".join(template.root_render_func(context))


def with_globals(variables: dict[str, Any]) -> dict[str, Any]:
    """``variables`` with the environment's globals (range, dict, namespace, ...) beneath."""
    return {**environment().globals, **variables}


def compile_template(
    text: str, *, name: str, family: str, task_type: str, kind: str = "plain", source: str
) -> Template:
    """A template from its text; a problem raises :class:`TemplateProblem`."""
    from jinja2 import TemplateSyntaxError

    if kind not in KINDS:
        raise TemplateProblem("unknown_kind", f"kind {kind!r} is not one of {', '.join(KINDS)}")
    parts = text.split(SEPARATOR)
    if len(parts) != 2:
        found = "no" if len(parts) == 1 else str(len(parts) - 1)
        raise TemplateProblem(
            "no_separator",
            f"needs exactly one {SEPARATOR} between the input and the target ({found} found)",
        )
    env = environment()
    halves = [part.strip() for part in parts]
    try:
        compiled = [env.from_string(half) for half in halves]
        joint = env.from_string(halves[0] + _JOINT + halves[1])
    except TemplateSyntaxError as exc:
        raise TemplateProblem("syntax_error", f"line {exc.lineno}: {exc.message}") from None
    return Template(name, family, task_type, kind, source, text.strip(), *compiled, joint)


def parse_template_file(path: Path, family: str | None = None) -> list[Template]:
    """The templates of one file; a problem names the file (and the template)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read template file {path}: {exc}") from None
    family = family or path.stem
    task_type = path.stem if path.stem in TASK_TYPES else None
    heads: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines):
        typed = _TYPE.match(line)
        if typed and not heads:
            task_type = typed.group(1)
            continue
        head = _HEADER.match(line)
        if head:
            heads.append((number, head.group(1), head.group(2) or "plain"))
        elif not heads and line.strip() and not _COMMENT.match(line):
            raise UserError(
                f"{path}:{number + 1}: text before the first {{# template NAME #}} line"
            )
    if task_type not in TASK_TYPES:
        raise UserError(
            f"{path}: say which task type its templates are for with a first line "
            f"{{# type: TYPE #}} ({', '.join(TASK_TYPES)})"
        )
    if not heads:
        raise UserError(
            f"{path}: holds no template (each begins with a line {{# template NAME #}})"
        )
    templates: list[Template] = []
    for k, (number, name, kind) in enumerate(heads):
        end = heads[k + 1][0] if k + 1 < len(heads) else len(lines)
        body = "\n".join(lines[number + 1 : end])
        try:
            templates.append(compile_template(
                body, name=name, family=family, task_type=task_type, kind=kind, source=str(path)
            ))  # fmt: skip
        except TemplateProblem as problem:
            raise UserError(f"{path}:{number + 1}: template {name!r}: {problem.detail}") from None
    names = [t.name for t in templates]
    for name in names:
        if names.count(name) > 1:
            raise UserError(f"{path}: two templates are named {name!r}")
    return templates


@cache
def bundled_templates() -> dict[str, tuple[Template, ...]]:
    """Task type -> its bundled family (``prompts/templatize/<type>.jinja``)."""
    folder = resource_dir("prompts") / "templatize"
    return {
        kind: tuple(parse_template_file(folder / f"{kind}.jinja", family=kind))
        for kind in TASK_TYPES
    }


def templates_for(task_type: str, own: list[Template], only_own: bool) -> list[Template]:
    """A task type's templates: the bundled family, overridden and extended by ``own``."""
    mine = [t for t in own if t.task_type == task_type]
    if only_own:
        return mine
    replaced = {t.name for t in mine}
    kept = [t for t in bundled_templates()[task_type] if t.name not in replaced]
    return kept + mine
