"""A recorded run replays to the same data: the regression test of the restructuring.

``fixtures/regression_run`` holds a run of the bundled model recorded with release 0.1 (before
the run engine existed): its settings, every answer the model gave (keyed by everything that
decided it), and the tasks.jsonl it produced. Replaying those answers through today's code must
give the same bytes, unless a change of data was meant and written into the CHANGELOG (then the
fixture's expected files are updated in the same commit).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from selfinstruct.backends.base import Backend, BackendError, Completion, Request
from selfinstruct.methods.self_instruct.settings import SelfInstructSettings
from selfinstruct.resources import default_seed_path
from selfinstruct.runner import run

FIXTURE = Path(__file__).parent / "fixtures" / "regression_run"


def answer_key(request: Request, text: str) -> str:
    blob = json.dumps(
        {"stage": request.stage, "text": text, "decoding": request.decoding.as_dict(),
         "seed": request.seed},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()


class ReplayModel(Backend):
    """Answers only what was recorded; any other request fails the test."""

    def __init__(self, answers: dict[str, dict]) -> None:
        self.model = "smollm2-135m-instruct"
        self.api = "completion"
        self.base_url = None
        self.max_concurrency = 1
        self.answers = answers
        self.unknown: list[str] = []

    def identity(self) -> dict:
        return {"model": self.model, "api": self.api, "base_url": None, "n_ctx": 4096}

    async def complete(self, request: Request, text: str) -> Completion:
        recorded = self.answers.get(answer_key(request, text))
        if recorded is None:
            self.unknown.append(text[-200:])
            raise BackendError("bad_request", "a request the recorded run never made")
        return Completion(
            text=recorded["text"],
            finish_reason=recorded["finish_reason"],
            prompt_tokens=recorded["prompt_tokens"],
            completion_tokens=recorded["completion_tokens"],
        )


@pytest.mark.parametrize("concurrency", [1, 4])
def test_recorded_run_replays_to_the_same_bytes(tmp_path, concurrency):
    saved = json.loads((FIXTURE / "settings.json").read_text())
    saved["seeds_path"] = str(default_seed_path())
    saved["concurrency"] = concurrency
    settings = SelfInstructSettings.model_validate(saved)
    answers = {}
    for line in (FIXTURE / "answers.jsonl").read_text().splitlines():
        record = json.loads(line)
        answers[record["key"]] = record
    model = ReplayModel(answers)
    model.max_concurrency = concurrency
    out = tmp_path / "run"
    result = run(settings, model, out)
    if concurrency == 1:
        assert model.unknown == []  # the recorded run asked exactly these, one at a time
    # With more in flight, requests past the end are launched too; none of them is used.
    assert result.summary.stop.value == "complete"
    for name in ("tasks.jsonl", "machine_instructions.jsonl"):
        assert (out / name).read_bytes() == (FIXTURE / name).read_bytes(), name
