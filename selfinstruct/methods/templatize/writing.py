"""Templates a model writes (``--write-templates K``): the prompt, its parse, the validation.

The model is shown the task's description, its fields, two of its rows and one bundled
template, and asked for K new templates. Each is used only once it renders on sample rows: one
``|||``, valid Jinja, only known fields, a non-empty input that changes with the row, and a
target that is the row's answer (a label of the set, for classification).
"""

from __future__ import annotations

import re
from string import Template as Text
from typing import Any

from selfinstruct.methods.templatize.tasks import TARGET_FIELD
from selfinstruct.methods.templatize.templates import Template, TemplateProblem, compile_template
from selfinstruct.prompting import load_prompt

MODEL_FAMILY = "model"
_ITEM = re.compile(r"^\s*\**\s*Template\s+(\d+)\s*:?\s*\**\s*$", re.M | re.I)
_FENCE = re.compile(r"^\s*```\w*\s*$", re.M)


def writing_prompt(
    task: str, task_type: str, description: str, fields: list[str], labels: tuple[str, ...],
    examples: list[dict[str, str]], example: Template, k: int,
) -> str:  # fmt: skip
    target = TARGET_FIELD[task_type]
    choices = (
        f"The answer is one of: {', '.join(labels)} (the field answer_choices lists them).\n"
        if labels
        else ""
    )
    shown = "\n\n".join(
        "\n".join(f"{name}: {row[name]}" for name in fields if row.get(name)) for row in examples
    )
    return Text(load_prompt("templatize/write_templates.txt")).substitute(
        description=description or f"the {task} dataset ({task_type.replace('_', ' ')})",
        type=task_type.replace("_", " "),
        fields=", ".join(f"{{{{ {name} }}}}" for name in fields),
        target=f"{{{{ {target} }}}}",
        choices=choices,
        examples=shown,
        example=example.text,
        k=k,
    )


def parse_templates(text: str, chat: bool) -> list[str]:
    """The templates of an answer, in order (a completion answer continues "Template 1:")."""
    if not chat or not _ITEM.search(text):
        text = "Template 1:\n" + text
    text = _FENCE.sub("", text)
    pieces = _ITEM.split(text)
    # pieces: [before, "1", body1, "2", body2, ...]
    return [pieces[k + 1].strip() for k in range(1, len(pieces) - 1, 2)]


def validate(
    body: str, *, name: str, task: str, task_type: str, labels: tuple[str, ...],
    samples: list[dict[str, Any]], known: list[Template],
) -> Template:  # fmt: skip
    """A model-written template once it renders well on ``samples`` (the variables of sample
    rows); else :class:`TemplateProblem` with the reason."""
    template = compile_template(
        body, name=name, family=MODEL_FAMILY, task_type=task_type, source="model"
    )
    for other in known:
        if re.sub(r"\s+", " ", other.text) == re.sub(r"\s+", " ", template.text):
            raise TemplateProblem("duplicate", f"the same as template {other.id}")
    inputs = []
    target_field = TARGET_FIELD[task_type]
    for variables in samples:
        try:
            prompt, target = template.render(variables)
        except Exception as exc:  # any Jinja error: undefined name, bad filter, sandbox
            raise TemplateProblem("render_error", f"{type(exc).__name__}: {exc}") from None
        if not prompt:
            raise TemplateProblem("empty_input", "the instruction renders empty")
        if not target:
            raise TemplateProblem("empty_target", "the target renders empty")
        if labels and target not in labels:
            raise TemplateProblem(
                "target_not_a_label", f"the target {target[:60]!r} is not one of the labels"
            )
        if not labels and variables[target_field] not in target:
            raise TemplateProblem(
                "target_lacks_answer", f"the target does not hold the row's {target_field}"
            )
        inputs.append(prompt)
    if len(samples) > 1 and len(set(inputs)) == 1:
        raise TemplateProblem("ignores_row", "the instruction is the same for every row")
    return template
