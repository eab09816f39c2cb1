"""The on-disk state of batch mode: an append-only log of every batch file's steps.

Each step is recorded only once it happened (the input file is written before ``written`` is
logged; a result file is saved before ``downloaded``), so after ``kill -9`` the log says exactly
which step comes next for each file. Steps, per file: ``written`` (name, model, endpoint,
lines), ``uploaded`` (file id), ``created`` (batch id), ``status`` (as polled), then one of
``downloaded`` (result files saved locally), ``imported`` (a result file made elsewhere) or
``refused`` (the provider failed the whole batch; its lines went into smaller files).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.jsonio import JsonlAppender, read_jsonl, repair_tail
from selfinstruct.store import batch_state_file

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass
class FileState:
    name: str
    model: str
    endpoint: str
    lines: int
    parent: str | None = None
    file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    results: list[str] = field(default_factory=list)  # result files, relative to the folder
    refused: bool = False
    abandoned: bool = False  # never submitted: the run ended needing none of its answers

    @property
    def finished(self) -> bool:
        """Nothing more will come of this file: its results are saved, it was split, or it
        was never submitted and no longer needed."""
        return bool(self.results) or self.refused or self.abandoned


class BatchState:
    """Folds the log into one :class:`FileState` per batch file, and appends new steps."""

    def __init__(self, folder: Path, repair: bool = True) -> None:
        """``repair``: cut a line torn by a kill (not for readers that only report)."""
        self.folder = folder
        self.path = batch_state_file(folder)
        self.token = ""
        self.files: dict[str, FileState] = {}
        self._out: JsonlAppender | None = None
        if self.path.exists():
            if repair:
                repair_tail(self.path)
            for _, event in read_jsonl(self.path):
                self._apply(event)

    def record(self, event: dict[str, Any]) -> None:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = JsonlAppender(self.path)
        self._out.write(event)
        self._apply(event)

    def ensure_token(self) -> str:
        """A name for this run folder at the provider, so that uploads and batches of another
        run folder are never mistaken for ours."""
        if not self.token:
            self.record({"event": "run", "token": uuid.uuid4().hex[:16]})
        return self.token

    def next_name(self) -> str:
        roots = [f for f in self.files.values() if f.parent is None]
        return f"b{len(roots) + 1:05d}"

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "run":
            self.token = str(event["token"])
            return
        name = str(event.get("file"))
        if kind == "written":
            self.files[name] = FileState(
                name, str(event["model"]), str(event["endpoint"]), int(event["lines"]),
                parent=event.get("parent"),
            )  # fmt: skip
            return
        state = self.files.get(name)
        if state is None:
            return
        if kind == "uploaded":
            state.file_id = str(event["file_id"])
        elif kind == "created":
            state.batch_id = str(event["batch_id"])
        elif kind == "status":
            state.status = str(event["status"])
            state.counts = dict(event.get("counts") or {})
            state.errors = list(event.get("errors") or [])
        elif kind in ("downloaded", "imported"):
            state.results = list(event.get("results") or [])
            state.usage = dict(event.get("usage") or {})
            if kind == "imported":
                state.status = "imported"
        elif kind == "refused":
            state.refused = True
        elif kind == "abandoned":
            state.abandoned = True
        elif kind == "cancelled":  # a rerun polls it to its end and saves what it answered
            state.batch_id = str(event["batch_id"])

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
