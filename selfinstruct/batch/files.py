"""Batch input files (one JSON line per request) and the result files read back.

A line is ``{"custom_id", "method": "POST", "url", "body"}``; the body is exactly what the live
backend would POST. Files are split at the provider's limits (lines, bytes, one model and one
endpoint per file). Result lines, from the OpenAI Batch API or ``vllm run-batch``, are
``{"id", "custom_id", "response": {"status_code", "body"}, "error"}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfinstruct.errors import UserError
from selfinstruct.jsonio import write_error

# The OpenAI Batch API's limits per input file.
MAX_LINES = 50_000
MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class Line:
    custom_id: str
    model: str
    endpoint: str  # "/v1/chat/completions" or "/v1/completions"
    body: dict[str, Any]

    def encode(self) -> bytes:
        record = {"custom_id": self.custom_id, "method": "POST", "url": self.endpoint,
                  "body": self.body}  # fmt: skip
        return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def split(
    lines: Iterable[Line], max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES
) -> list[list[bytes]]:
    """Group encoded lines into files: one (model, endpoint) per file, in arrival order, each
    file at most ``max_lines`` lines and ``max_bytes`` bytes."""
    groups: dict[tuple[str, str], list[list[bytes]]] = {}
    sizes: dict[tuple[str, str], int] = {}
    for line in lines:
        key = (line.model, line.endpoint)
        encoded = line.encode()
        if len(encoded) > max_bytes:
            raise UserError(
                f"request {line.custom_id} alone is larger than a batch file may be "
                f"({len(encoded)} bytes)"
            )
        files = groups.setdefault(key, [[]])
        if len(files[-1]) >= max_lines or sizes.get(key, 0) + len(encoded) > max_bytes:
            files.append([])
            sizes[key] = 0
        files[-1].append(encoded)
        sizes[key] = sizes.get(key, 0) + len(encoded)
    return [file for files in groups.values() for file in files if file]


def write_atomic(path: Path, data: bytes) -> None:
    """Write a whole file beside its target and rename it over: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise write_error(path, exc) from None


def input_ids(path: Path) -> list[str]:
    """The custom_ids of an input file, in file order."""
    return [str(json.loads(raw)["custom_id"]) for raw in path.read_bytes().splitlines() if raw]


def input_lines(path: Path) -> list[bytes]:
    return [raw + b"\n" for raw in path.read_bytes().splitlines() if raw.strip()]


@dataclass(frozen=True)
class Result:
    """One result line: an answer body (status 200), or an error with what decides a retry."""

    custom_id: str
    body: dict[str, Any] | None
    status: int | None  # the HTTP status of the request; None: it was never run (expired)
    code: str  # the error code ("batch_expired", ...), "" for an answer
    message: str

    @property
    def ok(self) -> bool:
        return self.body is not None and self.status == 200


def read_results(path: Path) -> Iterator[tuple[int, int, Result]]:
    """(line number, byte offset, result) for every line of a result file."""
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            yield number, start, parse_result(path, number, raw)


def _result_line(raw: bytes) -> dict[str, Any] | None:
    """A result line's JSON object, or None when it is not one (no custom_id)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) and "custom_id" in data else None


def results_problem(data: bytes) -> str | None:
    """Why ``data`` is not a result file (its first line that is no result line), or None."""
    for number, raw in enumerate(data.splitlines(), start=1):
        if raw.strip() and _result_line(raw) is None:
            return f"line {number} is not a batch result line"
    return None


def parse_result(path: Path, number: int, raw: bytes) -> Result:
    data = _result_line(raw)
    if data is None:
        raise UserError(f"{path}, line {number}: not a batch result line (no custom_id)")
    custom_id = str(data["custom_id"])
    response = data.get("response") or {}
    error = data.get("error") or {}
    status = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    if status == 200 and isinstance(body, dict) and not error:
        return Result(custom_id, body, 200, "", "")
    detail = error if isinstance(error, dict) and error else {}
    if not detail and isinstance(body, dict) and isinstance(body.get("error"), dict):
        detail = body["error"]
    code = str(detail.get("code") or (f"http_{status}" if status else "no_answer"))
    message = str(detail.get("message") or "the batch returned no answer for this request")
    return Result(custom_id, None, status if isinstance(status, int) else None, code, message)


def read_line_at(path: Path, offset: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.readline()
