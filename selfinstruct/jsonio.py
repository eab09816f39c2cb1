"""JSONL reading with precise error locations, crash-safe appending and atomic outputs.

Encoding is the ``jsonlines`` library's; a JSONL line is decoded here as its reader decodes one
(``_jsonl_objects``: its per-line wrapping cost as much as the decoding). Also kept here: every
reader error names the file and line in our words; a JSON array (Alpaca's
``alpaca_data.json``) is accepted wherever JSONL is, stdin included; a half-written last line
left by a killed writer is cut (:func:`repair_tail`, before appending) or skipped with a
warning (readers of a run that was not resumed yet); and outputs are written beside their
target and renamed over it only once complete (:class:`AtomicOutput`), so an error never
leaves a half-written or mixed output behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import jsonlines

from selfinstruct.errors import UserError

try:  # a faster parser, when installed (selfinstruct[scale]); the objects are json's
    from orjson import JSONDecodeError as _FastError
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - the json path is the one below, tested everywhere
    _fast_loads = None
    _FastError = ValueError

STDIN = "-"
#: A run of 20 digits: a line holding one is read by json (see ``_jsonl_objects``).
_LONG_NUMBER = re.compile(rb"[0-9]{20}").search
_DIGITS = b"0123456789"
_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


def _long_number(raw: bytes) -> bool:
    """Whether a line holds a run of 20 digits. Counting its digits first (deleting them is one
    C loop, a tenth of the search's time) spares the search for nearly every line."""
    return len(raw) - len(raw.translate(None, _DIGITS)) >= 20 and _LONG_NUMBER(raw) is not None


def display_name(path: str | Path) -> str:
    """How error messages name a source: its path, or ``<stdin>`` for ``-``."""
    return "<stdin>" if str(path) == STDIN else str(path)


def _open_binary(path: str | Path) -> IO[bytes]:
    if str(path) == STDIN:
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a JSONL file") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied") from None


def _close(handle: IO[bytes]) -> None:
    if handle is not sys.stdin.buffer:
        handle.close()


def _start(handle: IO[bytes]) -> bytes:
    """Consume a UTF-8 byte order mark (Notepad writes one) and leading whitespace.

    Returns the bytes consumed after the mark: the whitespace and, unless the input ended,
    at least one more byte, whose first non-whitespace byte tells JSONL from a JSON array.
    """
    consumed = handle.read(len(_BOM))
    if consumed == _BOM:
        consumed = b""
    while not consumed.strip(_WHITESPACE):
        byte = handle.read(1)
        if not byte:
            break
        consumed += byte
    return consumed


def _decode(name: str, lineno: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{name}:{lineno}: not valid UTF-8 ({exc.reason})") from None


def read_text(path: str | Path) -> str:
    """A whole text file as UTF-8; bytes that are not are one line naming the file and line,
    worded as for JSONL files."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        lineno = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{display_name(path)}:{lineno}: not valid UTF-8 ({exc.reason})") from None


def warn(message: str) -> None:
    """A one-line warning on stderr (readers run deep inside commands that print results)."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


_TORN_WARNED: set[tuple[str, int, int]] = set()


def _warn_torn(name: str, lineno: int) -> None:
    """Warn once per file state: a command may read the same run file twice."""
    try:
        size = os.stat(name).st_size if name != display_name(STDIN) else -1
    except OSError:
        size = -1
    key = (os.path.abspath(name), lineno, size)
    if key not in _TORN_WARNED:
        _TORN_WARNED.add(key)
        warn(
            f"{name}:{lineno}: ignored a half-written last line "
            "(interrupted run; resuming the run removes it)"
        )


#: What jsonlines drops from the start of a line before decoding it (RS, BOM).
_SKIPPABLE_FIRST = ("\x1e", "\ufeff")


def _jsonl_objects(
    lines: Iterable[bytes], name: str, skip_torn_tail: bool
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The objects of JSONL lines, with their line numbers. What ``jsonlines.Reader.read
    (allow_none=True, skip_empty=True)`` with ``json.loads`` does, written out: its per-line
    checks and wrapping cost as much as the decoding (issue 25); the messages are ours."""
    loads = json.loads
    fast = _fast_loads
    for lineno, raw in enumerate(lines, start=1):
        if skip_torn_tail and not raw.endswith(b"\n") and raw.strip():
            _warn_torn(name, lineno)
            return
        if fast is not None and not _long_number(raw):
            # orjson reads the bytes of a plain line (UTF-8, a JSON object, no NaN) as json
            # reads them, but for integers of 20 digits and more (it makes some of them
            # floats): a line with such a run of digits, and whatever orjson refuses, json
            # reads (or names).
            try:
                obj = fast(raw)
            except _FastError:
                pass
            else:
                if type(obj) is dict:
                    yield lineno, obj
                    continue
        if not raw.rstrip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as cause:
            raise UserError(f"{name}:{lineno}: not valid UTF-8 ({cause.reason})") from None
        if line.startswith(_SKIPPABLE_FIRST):
            line = line[1:]
        try:
            obj = loads(line)
        except json.JSONDecodeError as cause:
            raise UserError(f"{name}:{lineno}: invalid JSON ({cause.msg})") from None
        except ValueError:
            raise UserError(f"{name}:{lineno}: invalid JSON line") from None
        if not isinstance(obj, dict):
            raise UserError(f"{name}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def _array_objects(raw: bytes, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        _decode(name, lineno, line)
    try:
        data = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{name}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    for index, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise UserError(f"{name}: item {index} is not a JSON object")
        yield index + 1, obj


def read_jsonl(
    path: str | Path, *, skip_torn_tail: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line of a JSONL file or stdin (``-``).

    With ``skip_torn_tail`` a last line without its newline is what a killed writer leaves:
    it is skipped with a warning naming the file, as resuming would cut it (the file is not
    changed). Without it, such a line is read like any other (hand-written files often lack
    the final newline).
    """
    handle = _open_binary(path)
    try:
        yield from _jsonl_objects(handle, display_name(path), skip_torn_tail)
    finally:
        _close(handle)


def read_records(
    path: str | Path, *, skip_torn_tail: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Read JSONL, or a JSON array of objects (Alpaca's ``alpaca_data.json`` shape), from a
    file or stdin (``-``). Array items are numbered from 1 in place of line numbers."""
    handle = _open_binary(path)
    name = display_name(path)
    try:
        consumed = _start(handle)
        if consumed.lstrip(_WHITESPACE).startswith(b"["):
            yield from _array_objects(consumed + handle.read(), name)
            return
        if consumed and not consumed.endswith(b"\n"):
            consumed += handle.readline()  # complete the line begun
        lines = _chain_lines(consumed, handle)
        yield from _jsonl_objects(lines, name, skip_torn_tail)
    finally:
        _close(handle)


def _chain_lines(head: bytes, handle: IO[bytes]) -> Iterator[bytes]:
    """The lines of ``head`` (bytes already consumed, ending at a line end) then the rest."""
    *complete, rest = head.split(b"\n")
    for line in complete:
        yield line + b"\n"
    if rest:
        yield rest
    yield from handle


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


# One encoder for every line: json.dumps with a non-default option builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def dumps(record: dict[str, Any]) -> str:
    """A record as one JSON line's text (what ``json.dumps(record, ensure_ascii=False)`` gives)."""
    return _ENCODER.encode(record)


def write_error(path: Path, exc: OSError) -> UserError:
    """One line for a failed write; a full disk says how to go on (a half-written last line is
    cut when the run resumes)."""
    if exc.errno == errno.ENOSPC:
        return UserError(
            f"cannot write {path}: the disk is full; free space and run the same command again "
            "to resume"
        )
    return UserError(f"cannot write {path}: {exc.strerror}")


class JsonlAppender:
    """Append whole JSON lines to a file, flushing each so a crash loses at most one line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        repair_tail(path)
        try:
            self._handle: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}") from None
        self._writer = jsonlines.Writer(self._handle, dumps=dumps, flush=True)

    def write(self, record: dict[str, Any]) -> None:
        try:
            self._writer.write(record)
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records in one write and one flush: a crash leaves a prefix of them, its last
        line perhaps torn (cut by :func:`repair_tail` before the next append)."""
        text = "".join([dumps(record) + "\n" for record in records])
        try:
            self._handle.write(text)
            self._handle.flush()
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def close(self) -> None:
        self._writer.close()
        self._handle.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def temp_path_for(target: Path) -> Path:
    """Where an output is written before it is renamed over ``target``: ``target.tmp``."""
    return target.with_name(target.name + ".tmp")


class AtomicOutput:
    """An output written to ``TARGET.tmp`` and renamed over ``TARGET`` only by :meth:`commit`.

    Until then the previous ``TARGET`` (if any) is untouched; :meth:`discard` removes the
    temporary file. Use :func:`atomic_outputs` to get both right on success and on error.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.temp = temp_path_for(target)
        self.count = 0
        try:
            self._handle: IO[str] = open(self.temp, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror}") from None

    def write(self, record: dict[str, Any]) -> None:
        """Write one record as a JSON line (what ``jsonlines.Writer(dumps=dumps)`` writes,
        without its per-line checks and wrapping)."""
        self._handle.write(_ENCODER.encode(record) + "\n")
        self.count += 1

    def write_text(self, text: str) -> None:
        """Write text as it is (a JSON array, for example)."""
        self._handle.write(text)

    def _close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def commit(self) -> None:
        try:
            self._close()
            os.replace(self.temp, self.target)
        except OSError as exc:
            raise UserError(f"cannot write {self.target}: {exc.strerror}") from None

    def discard(self) -> None:
        self._close()
        with suppress(FileNotFoundError):
            os.unlink(self.temp)


@contextmanager
def atomic_outputs(*targets: Path) -> Iterator[list[AtomicOutput]]:
    """Open an :class:`AtomicOutput` per target; commit all (in order) if the body succeeds,
    discard all if it raises. Nothing is created when opening fails."""
    outputs: list[AtomicOutput] = []
    try:
        for target in targets:
            outputs.append(AtomicOutput(target))
        yield outputs
    except BaseException:
        for output in outputs:
            output.discard()
        raise
    pending = list(outputs)
    try:
        while pending:
            pending[0].commit()
            pending.pop(0)
    finally:
        for output in pending:
            output.discard()


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records to a path (or stdout for ``-``) atomically; returns the count written."""
    if str(path) == "-":
        writer = jsonlines.Writer(sys.stdout, dumps=dumps)
        count = 0
        for record in records:
            writer.write(record)
            count += 1
        sys.stdout.flush()
        return count
    with atomic_outputs(Path(path)) as (output,):
        for record in records:
            output.write(record)
    return output.count
