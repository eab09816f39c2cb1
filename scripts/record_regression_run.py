"""Record a bundled-model run as the replay fixture of tests/test_regression_replay.py.

    python scripts/record_regression_run.py tests/fixtures/regression_run

Runs Self-Instruct on the bundled model (completion API, n=24, seed 3, pool lag 2, so that
prompts show machine instructions) and keeps its settings, every answer keyed by what decided
it, and the tasks.jsonl and machine_instructions.jsonl it produced. Re-record only when a change
of data is meant (and written into the CHANGELOG).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from selfinstruct import registry
from selfinstruct.backends.base import Completion, Request
from selfinstruct.backends.local import LocalBackend
from selfinstruct.runner import run


def answer_key(request: Request, text: str) -> str:
    blob = json.dumps(
        {"stage": request.stage, "text": text, "decoding": request.decoding.as_dict(),
         "seed": request.seed},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()


class Recording(LocalBackend):
    answers: dict[str, dict[str, Any]] = {}

    async def complete(self, request: Request, text: str) -> Completion:
        completion = await super().complete(request, text)
        self.answers[answer_key(request, text)] = {
            "stage": request.stage,
            "text": completion.text,
            "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        }
        return completion


def main(dest: Path) -> None:
    backend = Recording()
    settings = registry.get("self-instruct").configure(
        backend, n=24, seed=3, concurrency=1, pool_lag=2
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        result = run(settings, backend, out)
        print(result.summary.accepted_instructions, result.summary.tasks, result.summary.rejected)
        dest.mkdir(parents=True, exist_ok=True)
        saved = settings.model_dump(mode="json")
        saved["seeds_path"] = "<bundled>"
        (dest / "settings.json").write_text(json.dumps(saved, indent=2) + "\n")
        with open(dest / "answers.jsonl", "w", encoding="utf-8") as handle:
            for key, answer in sorted(Recording.answers.items()):
                handle.write(json.dumps({"key": key, **answer}, ensure_ascii=False) + "\n")
        for name in ("tasks.jsonl", "machine_instructions.jsonl"):
            shutil.copy(out / name, dest / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
