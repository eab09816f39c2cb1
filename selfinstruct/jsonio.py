"""JSONL reading with precise error locations, and crash-safe appending.

Every reader error names the file and line. Writers emit each record as one ``write`` of a
complete line followed by a flush, and :func:`repair_tail` drops a half-written last line left
by a killed process, so files are always a sequence of whole JSON lines.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from selfinstruct.errors import UserError


def _open_binary(path: str | Path) -> IO[bytes]:
    if str(path) == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a JSONL file") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied") from None


def _decode(path: str | Path, lineno: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}:{lineno}: not valid UTF-8 ({exc.reason})") from None


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; blank lines are skipped."""
    handle = _open_binary(path)
    try:
        for lineno, raw in enumerate(handle, start=1):
            line = _decode(path, lineno, raw)
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise UserError(
                    f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}"
                )
            yield lineno, obj
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def read_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Read JSONL, or a JSON array of objects (Alpaca's ``alpaca_data.json`` shape)."""
    if str(path) != "-" and Path(path).is_file():
        with _open_binary(path) as handle:
            head = handle.read(64).lstrip()
        if head.startswith(b"["):
            raw = Path(path).read_bytes()
            for lineno, line in enumerate(raw.split(b"\n"), start=1):
                _decode(path, lineno, line)
            try:
                data = json.loads(raw.decode("utf-8"))
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
            for index, obj in enumerate(data):
                if not isinstance(obj, dict):
                    raise UserError(f"{path}: item {index} is not a JSON object")
                yield index + 1, obj
            return
    yield from read_jsonl(path)


def repair_tail(path: Path) -> int:
    """Cut a trailing partial line (no final newline) left by a killed writer.

    Returns the number of bytes removed.
    """
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return 0
        data_end = size
        block = 65536
        pos = size
        while pos > 0:
            start = max(0, pos - block)
            handle.seek(start)
            chunk = handle.read(pos - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                handle.truncate(cut)
                return data_end - cut
            pos = start
        handle.truncate(0)
        return data_end


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)


class JsonlAppender:
    """Append whole JSON lines to a file, flushing each so a crash loses at most one line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        repair_tail(path)
        try:
            self._handle: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}") from None

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(dumps(record) + "\n")
        self._handle.flush()

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.write(record)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records to a path (or stdout for ``-``) atomically; returns the count written."""
    count = 0
    if str(path) == "-":
        for record in records:
            sys.stdout.write(dumps(record) + "\n")
            count += 1
        sys.stdout.flush()
        return count
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(dumps(record) + "\n")
                count += 1
        os.replace(tmp, target)
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror}") from None
    return count
