"""The response cache: every answered model call, stored in the run folder (SQLite).

The key is a hash of everything that decides the answer (backend identity, API kind, the exact
text sent, decoding parameters, seed), so a rerun or a resume never pays for the same request
twice. Each answer is committed as it arrives: a killed run loses nothing it was sent.

SQLite failures (a full disk, a damaged file) become one-line :class:`UserError` messages that
say how to recover, never a traceback: the answers already stored are what a resume reuses.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Completion
from selfinstruct.errors import UserError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    request TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
)
"""


_DAMAGED = ("database disk image is malformed", "file is not a database")


def cache_error(path: Path, exc: sqlite3.DatabaseError) -> UserError:
    """The user's view of an SQLite failure on the cache file: what happened and what to do."""
    name = getattr(exc, "sqlite_errorname", "")
    text = str(exc)
    if name == "SQLITE_FULL" or "disk is full" in text:
        return UserError(
            f"cannot write {path}: the disk is full; free space and run the same command again "
            "to resume"
        )
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or text in _DAMAGED:
        return UserError(
            f"{path} is damaged ({text}); move it aside and rerun: answers will be requested again"
        )
    return UserError(f"cannot use the response cache {path}: {exc}")


def request_key(description: dict[str, Any]) -> str:
    blob = json.dumps(description, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        with self._errors():
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            with self._errors():
                # SQLite reads the file lazily: these statements are where a damaged file shows.
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(_SCHEMA)
        except UserError:
            self._db.close()
            raise

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Every SQLite call runs in here, so a full disk or a damaged file reaches the user as
        one line that says what to do."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise cache_error(self.path, exc) from None

    def get(self, key: str) -> Completion | None:
        with self._errors():
            row = self._db.execute(
                "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM responses "
                "WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return Completion(
            text=row[0],
            finish_reason=row[1],
            prompt_tokens=row[2],
            completion_tokens=row[3],
            cached=True,
        )

    def put(self, key: str, stage: str, request: dict[str, Any], completion: Completion) -> None:
        with self._errors():
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    stage,
                    json.dumps(request, ensure_ascii=False),
                    completion.text,
                    completion.finish_reason,
                    completion.prompt_tokens,
                    completion.completion_tokens,
                    time.time(),
                ),
            )

    def totals(self) -> dict[str, dict[str, int]]:
        """Responses and tokens per stage over the whole cache: everything this run folder has
        been answered (and paid for), across all sessions."""
        with self._errors():
            rows = self._db.execute(
                "SELECT stage, COUNT(*), COALESCE(SUM(prompt_tokens), 0), "
                "COALESCE(SUM(completion_tokens), 0) FROM responses GROUP BY stage ORDER BY stage"
            ).fetchall()
        return {
            str(stage): {
                "responses": int(count),
                "prompt_tokens": int(prompt),
                "completion_tokens": int(completion),
            }
            for stage, count, prompt, completion in rows
        }

    def __len__(self) -> int:
        with self._errors():
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._errors():
            self._db.close()
