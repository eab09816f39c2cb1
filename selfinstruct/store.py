"""The run folder: the one place that knows its file names, its lock and how it is resumed.

A run folder is what every method writes: the settings that decided the data (checked when the
same folder is run again), JSONL logs of records keyed by ``id`` (a resumed run does not write a
known id twice, and a line torn by ``kill -9`` is cut before appending), the failures, the summary
(replaced atomically) and the response cache. ``stats`` and ``export`` read run folders through
:func:`tasks_file` and :func:`summary_file`, so no other module spells a file name.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from selfinstruct.errors import UserError
from selfinstruct.jsonio import JsonlAppender, read_jsonl, repair_tail

SETTINGS_FILE = "settings.json"
SUMMARY_FILE = "summary.json"
CACHE_FILE = "cache.sqlite"
LOCK_FILE = ".lock"

# Record kinds and the files that hold them: the core's; a method adds its own (``Method.logs``).
Kind = str
LOG_FILES: dict[str, str] = {
    "instructions": "machine_instructions.jsonl",
    "classification": "classification.jsonl",
    "tasks": "tasks.jsonl",
    "rejected": "rejected.jsonl",
    "failures": "failures.jsonl",
}


def write_report(folder: Path, name: str, report: dict[str, Any]) -> Path:
    """A method's report beside its summary (``judge_report.json``), replaced atomically."""
    path = folder / f"{name}_report.json"
    _atomic_write_json(path, _finite(report))
    return path


S = TypeVar("S", bound=BaseModel)


def tasks_file(folder: Path) -> Path:
    """The final data of a run folder."""
    return folder / LOG_FILES["tasks"]


def instructions_file(folder: Path) -> Path:
    return folder / LOG_FILES["instructions"]


def summary_file(folder: Path) -> Path:
    return folder / SUMMARY_FILE


def settings_file(folder: Path) -> Path:
    return folder / SETTINGS_FILE


def rejected_file(folder: Path) -> Path:
    return folder / LOG_FILES["rejected"]


def failures_file(folder: Path) -> Path:
    return folder / LOG_FILES["failures"]


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and (settings_file(path).is_file() or tasks_file(path).is_file())


def describe_run(folder: Path) -> str | None:
    """What a run folder holds, for a refusal naming it ("a run of method 'judge' (model
    'x')"); None when ``folder`` holds no run settings."""
    if not settings_file(folder).is_file():
        return None
    method = saved_setting(folder, "method") or "self-instruct"
    model = saved_setting(folder, "model")
    return f"a run of method {method!r}" + (f" (model {model!r})" if model else "")


def saved_setting(folder: Path, name: str) -> Any:
    """One saved setting of a run folder (None when there are no settings or no such one), for
    readers that need it whatever method wrote the folder."""
    path = settings_file(folder)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: unreadable run settings ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: unreadable run settings (not a JSON object)")
    return data.get(name)


def load_settings_file(folder: Path, model: type[S]) -> S | None:
    path = settings_file(folder)
    if not path.exists():
        return None
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as exc:
        raise UserError(f"{path}: unreadable run settings ({exc.__class__.__name__})") from None


def _atomic_write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def rejection_key(record: dict[str, Any]) -> str:
    """How a summary counts a dropped record: ``stage:reason``."""
    return f"{record.get('stage')}:{record.get('reason')}"


class RunLog:
    """A log whose records carry an ``id``; on resume, known ids are not written again.

    With ``counted``, it also counts its lines, their instances and their classification tasks
    (read back on opening, added as it writes): what the summary reports for ``tasks.jsonl``.
    With ``by_reason``, it counts its records by ``stage:reason`` instead (``rejected.jsonl``)."""

    def __init__(self, path: Path, counted: bool = False, by_reason: bool = False) -> None:
        repair_tail(path)
        self.ids: set[str] = set()
        self.counts: list[int] | None = [0, 0, 0] if counted else None
        self.reasons: Counter[str] | None = Counter() if by_reason else None
        if path.exists():
            for _, obj in read_jsonl(path):
                self.ids.add(str(obj.get("id")))
                self._count(obj)
        self._out = JsonlAppender(path)

    def _count(self, record: dict[str, Any]) -> None:
        if self.reasons is not None:
            self.reasons[rejection_key(record)] += 1
        if self.counts is not None:
            self.counts[0] += 1
            self.counts[1] += len(record.get("instances", []))
            self.counts[2] += bool(record.get("is_classification"))

    def write(self, record: dict[str, Any]) -> bool:
        """Append ``record`` unless its id is already there; True when written."""
        if record["id"] in self.ids:
            return False
        self.ids.add(record["id"])
        self._out.write(record)
        self._count(record)
        return True

    def write_many(self, records: list[dict[str, Any]]) -> int:
        """Append the records whose ids are not there yet, in one write; how many were."""
        new: list[dict[str, Any]] = []
        for record in records:
            if record["id"] not in self.ids:
                self.ids.add(record["id"])
                new.append(record)
        self._out.write_all(new)
        for record in new:
            self._count(record)
        return len(new)

    def close(self) -> None:
        self._out.close()


class RunFolder:
    """One run folder, held by one process at a time while a run writes it."""

    def __init__(self, path: Path, logs: Mapping[str, str] | None = None) -> None:
        """``logs``: the method's own record kinds and their file names."""
        if not str(path).strip():
            raise UserError("--out is empty: name a folder for the run, e.g. --out data/run1")
        self.path = path
        self.cache_path = path / CACHE_FILE
        self._files = {**LOG_FILES, **(logs or {})}
        self._logs: dict[str, RunLog] = {}
        self._lock: Any = None

    # ------------------------------------------------------------------ opening

    def check(self, settings: S, allow_changes: bool, operational: frozenset[str]) -> S | None:
        """Validate the folder for ``settings`` without writing anything; when resuming, the
        settings the folder was written with.

        Nothing is written here, so a start that fails later validation leaves no settings
        behind to refuse the corrected command."""
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path} is a file, not a run folder: choose another --out")
        method = getattr(settings, "method", None)
        saved_method = saved_setting(self.path, "method") if self.path.is_dir() else None
        if settings_file(self.path).is_file() and (saved_method or "self-instruct") != method:
            raise UserError(
                f"{self.path} was generated with method={saved_method or 'self-instruct'!r}, "
                f"not {method!r}: use another --out"
            )
        previous = load_settings_file(self.path, type(settings)) if self.path.is_dir() else None
        if previous is None:
            if self.path.is_dir() and any(self.path.glob("*.jsonl")):
                raise UserError(
                    f"{self.path} holds JSONL files but no settings.json: use another --out"
                )
            return None
        before: dict[str, Any] = previous.model_dump(mode="json")
        after: dict[str, Any] = settings.model_dump(mode="json")
        if before.get("shard") != after.get("shard"):  # never mixed, whatever is allowed
            raise UserError(
                f"{self.path} was generated as shard {before.get('shard')!r}, not "
                f"{after.get('shard')!r}: a run folder keeps its part of the work; use another --out"
            )
        differing = [k for k in after if k not in operational and before.get(k) != after[k]]
        if differing and not allow_changes:
            first = differing[0]
            raise UserError(
                f"{self.path} was generated with {first}={before.get(first)!r}, not "
                f"{after[first]!r}: resuming would mix two datasets; use another --out, or "
                "pass --allow-setting-changes"
            )
        return previous

    def open(self, settings: BaseModel) -> None:
        """Take the folder for this process, then record the settings the run starts with."""
        from selfinstruct.locking import exclusive

        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot write to {self.path}: {exc.strerror}") from None
        self._lock = exclusive(self.path, "--out", lock_file=self.path / LOCK_FILE)
        self._lock.__enter__()
        try:
            _atomic_write_json(settings_file(self.path), settings.model_dump(mode="json"))
        except BaseException:
            self.close()
            raise

    def log(self, kind: Kind) -> RunLog:
        if kind not in self._logs:
            if kind not in self._files:
                raise UserError(
                    f"no log of kind {kind!r}: a method declares its own in Method.logs"
                )
            self._logs[kind] = RunLog(
                self.path / self._files[kind], counted=kind == "tasks", by_reason=kind == "rejected"
            )
        return self._logs[kind]

    def task_counts(self) -> tuple[int, int, int] | None:
        """(tasks, instances, classification tasks) in ``tasks.jsonl``, when its log is open:
        the summary's counts without reading the file again."""
        log = self._logs.get("tasks")
        if log is None or log.counts is None:
            return None
        tasks, instances, classification = log.counts
        return tasks, instances, classification

    def rejection_counts(self) -> Counter[str] | None:
        """``rejected.jsonl``'s records by ``stage:reason``, when its log is open."""
        log = self._logs.get("rejected")
        return None if log is None or log.reasons is None else Counter(log.reasons)

    def write_summary(self, summary: dict[str, Any]) -> None:
        _atomic_write_json(summary_file(self.path), _finite(summary))

    def close(self) -> None:
        for log in self._logs.values():
            log.close()
        self._logs.clear()
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)


def _finite(value: Any) -> Any:
    """JSON has no NaN: a non-finite number in a summary becomes null rather than invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# ------------------------------------------------------------------ batch mode (issue 14)
BATCH_DIR = "batches"
BATCH_STATE_FILE = "state.jsonl"


def batch_dir(folder: Path) -> Path:
    """Where batch mode keeps its input, output and error files and its state log."""
    return folder / BATCH_DIR


def batch_state_file(folder: Path) -> Path:
    """The append-only log of every batch file's steps (written, uploaded, created, ...)."""
    return batch_dir(folder) / BATCH_STATE_FILE


def batch_input_file(folder: Path, name: str) -> Path:
    return batch_dir(folder) / f"{name}.input.jsonl"


def batch_output_file(folder: Path, name: str, kind: str = "output") -> Path:
    """A result file saved from the provider (``kind`` output or error) or imported."""
    return batch_dir(folder) / f"{name}.{kind}.jsonl"
