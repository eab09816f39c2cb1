"""The data shapes: seed tasks (the paper's schema), generated tasks, and their conversions.

A task is an instruction with a list of instances; an instance is an (input, output) pair whose
input may be empty. The paper's seed file and our ``tasks.jsonl`` share this shape, and the
Alpaca shape (one instance per record: instruction/input/output) converts to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from selfinstruct.errors import UserError
from selfinstruct.jsonio import display_name, read_records


@dataclass(frozen=True)
class ParsedInstance:
    """An instance as parsed from a model's answer, before it becomes a record."""

    input: str
    output: str


class Instance(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str = ""
    output: str


class SeedTask(BaseModel):
    """One line of a seed file, in the schema of the paper's ``seed_tasks.jsonl``."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str = ""
    instruction: str
    instances: list[Instance] = Field(min_length=1)
    is_classification: bool


class Task(BaseModel):
    """A generated (or loaded) task: the unit that filter, stats and export work on."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    instruction: str
    is_classification: bool | None = None
    instances: list[Instance] = Field(default_factory=list)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "record"
    if first["type"] == "missing":
        return f"missing field '{where}'"
    return f"field '{where}': {first['msg'].lower()}"


def load_seed_tasks(path: str | Path) -> list[SeedTask]:
    """Load and validate a seed file; any problem names the file and line."""
    tasks: list[SeedTask] = []
    name = display_name(path)
    for lineno, obj in read_records(path):
        try:
            tasks.append(SeedTask.model_validate(obj))
        except ValidationError as exc:
            raise UserError(f"{name}:{lineno}: not a seed task: {_describe(exc)}") from None
    if not tasks:
        raise UserError(f"{name}: the seed file holds no tasks")
    return tasks


# A conversation record: the list's key, each message's role and text keys, and the roles.
_CONVERSATION_SHAPES = {
    "messages": ("role", "content", {"system": "system", "user": "user", "assistant": "assistant"}),
    "conversations": ("from", "value", {"system": "system", "human": "user", "gpt": "assistant"}),
}


def _conversation(obj: dict[str, Any], key: str, where: str) -> Task:
    """A conversation-only record as a task: its first user message is the instruction, the
    reply to it the one instance, and every turn is kept (``turns``) for the chat formats."""
    role_key, text_key, roles = _CONVERSATION_SHAPES[key]
    messages = obj[key]

    def refuse(problem: str) -> UserError:
        return UserError(f"{where}: not a conversation: {problem}")

    if not isinstance(messages, list):
        raise refuse(f"{key!r} must be a list of messages")
    turns: list[dict[str, str]] = []
    for number, message in enumerate(messages, start=1):
        role = message.get(role_key) if isinstance(message, dict) else None
        if role not in roles:
            names = list(roles)
            raise refuse(
                f"message {number} has {role_key} {role!r} "
                f"(expected {', '.join(names[:-1])} or {names[-1]})"
            )
        text = message.get(text_key)
        if not isinstance(text, str):
            raise refuse(f"message {number} has no text {text_key!r}")
        turns.append({"role": roles[role], "content": text})
    first_user = next((i for i, t in enumerate(turns) if t["role"] == "user"), None)
    if first_user is None:
        raise refuse("no user message")
    reply = next((t for t in turns[first_user + 1 :] if t["role"] == "assistant"), None)
    extra = {k: v for k, v in obj.items() if k not in (key, "instruction", "instances", "turns")}
    return Task(
        instruction=turns[first_user]["content"],
        instances=[Instance(output=reply["content"])] if reply is not None else [],
        turns=turns,
        **extra,
    )


def task_from_record(obj: dict[str, Any], where: str) -> Task:
    """Accept our task shape, Alpaca's instruction/input/output shape, or a conversation only
    (``messages`` with role/content, ShareGPT's ``conversations`` with from/value)."""
    try:
        if "instruction" not in obj:
            for key in _CONVERSATION_SHAPES:
                if key in obj:
                    return _conversation(obj, key, where)
        if "instances" in obj:
            return Task.model_validate(obj)
        if "instruction" in obj and "output" in obj:
            extra = {k: v for k, v in obj.items() if k not in ("instruction", "input", "output")}
            instance = Instance(input=obj.get("input") or "", output=obj["output"])
            return Task(instruction=obj["instruction"], instances=[instance], **extra)
    except ValidationError as exc:
        raise UserError(f"{where}: not a task: {_describe(exc)}") from None
    raise UserError(
        f"{where}: not a task: expected 'instruction' with 'instances' "
        "(selfinstruct format) or with 'input'/'output' (Alpaca format), or "
        "'messages'/'conversations' (a conversation)"
    )


def iter_tasks(path: str | Path, *, skip_torn_tail: bool = False) -> Iterator[tuple[int, Task]]:
    """Tasks of a file or stdin (``-``), JSONL or a JSON array, in either accepted shape.

    ``skip_torn_tail``: see :func:`selfinstruct.jsonio.read_jsonl` (run folders not resumed).
    """
    name = display_name(path)
    for lineno, obj in read_records(path, skip_torn_tail=skip_torn_tail):
        yield lineno, task_from_record(obj, f"{name}:{lineno}")


def task_to_record(task: Task) -> dict[str, Any]:
    return task.model_dump(exclude_none=False)
