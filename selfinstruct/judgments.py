"""Per-task verdicts as files hold them: how a task is named across files, and reading them.

A verdict names its task by a key computed from the task's content (instruction and instances),
so ``filter --judged`` finds it in any copy of the data, whatever its ids or file shape. The
``judge`` method writes these records; ``filter`` and ``respond`` read them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.jsonio import display_name, read_records
from selfinstruct.records import Task

# The judge's log: one verdict per task, keyed by its content key.
JUDGMENTS_FILE = "judgments.jsonl"


def judgments_file(folder: Path) -> Path:
    return folder / JUDGMENTS_FILE


QUESTIONS = ("instruction", "input", "output")
KEEP_CHOICES = ("valid", "not-invalid")


def task_key(task: Task) -> str:
    """A content key: the same task has the same key in every file and shape."""
    content = [task.instruction, [[i.input, i.output] for i in task.instances]]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()[:20]


def overall(answers: dict[str, dict[str, Any]]) -> bool | None:
    """All three Yes: valid; any No: not valid; otherwise (unparseable, failed) unknown."""
    labels = [answers.get(q, {}).get("label") for q in QUESTIONS]
    if "No" in labels:
        return False
    if all(label == "Yes" for label in labels):
        return True
    return None


def load_judged(path: str | Path) -> dict[str, bool | None]:
    """Task key -> verdict (True valid, False invalid, None unknown) from a judgments JSONL
    file or a judge run folder."""
    source = Path(path)
    if source.is_dir():
        source = judgments_file(source)
    if not source.is_file():
        raise UserError(f"--judged {path}: no such judgments file (judge writes judgments.jsonl)")
    judged: dict[str, bool | None] = {}
    name = display_name(source)
    for line, record in read_records(source):
        key = record.get("key")
        if not isinstance(key, str) or "valid" not in record:
            raise UserError(f"{name}:{line}: not a judgment (needs 'key' and 'valid')")
        judged[key] = record["valid"]
    return judged
