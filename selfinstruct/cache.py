"""The response cache: every answered model call, stored in the run folder (SQLite).

The key is a hash of everything that decides the answer (backend identity, API kind, the exact
text sent, decoding parameters, seed), so a rerun or a resume never pays for the same request
twice. Each answer is committed as it arrives: a killed run loses nothing it was sent.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Completion

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


def request_key(description: dict[str, Any]) -> str:
    blob = json.dumps(description, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> Completion | None:
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
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._db.close()
