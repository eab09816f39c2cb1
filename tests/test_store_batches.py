"""Batched appends to a run log and the task counts a run keeps for its summary (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfinstruct.client import Usage
from selfinstruct.errors import UserError
from selfinstruct.jsonio import JsonlAppender
from selfinstruct.store import RunFolder, RunLog
from selfinstruct.summary import StopKind, summarize

RECORDS = [
    {"id": "a", "instruction": "Café?", "instances": [{"input": "", "output": "x"}]},
    {"id": "b", "is_classification": True, "instances": [{"o": 1}, {"o": 2}]},
    {"id": "c", "nested": {"list": [1.5, None, "\n"]}},
]


def test_a_batch_is_the_same_bytes_as_one_record_at_a_time(tmp_path: Path):
    one, batch = tmp_path / "one.jsonl", tmp_path / "batch.jsonl"
    with JsonlAppender(one) as out:
        for record in RECORDS:
            out.write(record)
    with JsonlAppender(batch) as out:
        out.write_all(RECORDS[:1])
        out.write_all(RECORDS[1:])
    assert batch.read_bytes() == one.read_bytes()
    assert batch.read_text(encoding="utf-8").splitlines()[0] == json.dumps(
        RECORDS[0], ensure_ascii=False
    )


def test_a_batch_skips_the_ids_already_in_the_log(tmp_path: Path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n", encoding="utf-8")
    log = RunLog(path)
    assert log.write_many([RECORDS[0], RECORDS[1], RECORDS[1], RECORDS[2]]) == 2
    log.close()
    ids = [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert ids == ["a", "b", "c"]


def test_the_tasks_log_counts_its_lines_instances_and_classification_tasks(tmp_path: Path):
    folder = RunFolder(tmp_path / "run")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "tasks.jsonl").write_text(
        json.dumps(RECORDS[1]) + "\n" + json.dumps(RECORDS[1]) + "\n", encoding="utf-8"
    )
    log = folder.log("tasks")
    log.write(RECORDS[0])
    log.write_many(RECORDS[1:])  # b is known: not written, not counted
    assert folder.task_counts() == (4, 5, 2)
    folder.close()


def test_a_folder_whose_tasks_log_is_not_open_has_no_counts(tmp_path: Path):
    assert RunFolder(tmp_path / "run").task_counts() is None


def _summary(folder: Path, counts: tuple[int, int, int] | None) -> dict:
    return summarize(
        folder, method="templatize", stop=StopKind.COMPLETE, stop_reason=None, target=3,
        accepted=3, usage=Usage(), totals={}, price=None, wall_seconds=1.0, counts=counts,
    ).model_dump(mode="json")  # fmt: skip


def test_summarize_takes_the_counts_the_run_kept_instead_of_reading_tasks_jsonl(tmp_path: Path):
    (tmp_path / "tasks.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8"
    )
    read = _summary(tmp_path, None)
    assert (read["tasks"], read["instances"], read["classification_tasks"]) == (3, 3, 1)
    assert _summary(tmp_path, (3, 3, 1)) == read
    (tmp_path / "tasks.jsonl").write_text("not json\n", encoding="utf-8")
    with pytest.raises(UserError):
        _summary(tmp_path, None)
    assert _summary(tmp_path, (3, 3, 1)) == read


REJECTIONS = [
    {"id": "r1", "stage": "instruction", "reason": "too_short"},
    {"id": "r2", "stage": "instruction", "reason": "rouge_similar"},
    {"id": "r3", "stage": "pair", "reason": "too_short"},
    {"id": "r4", "stage": "instruction", "reason": "too_short"},
]


def test_the_rejected_log_counts_its_reasons_as_summarize_reads_them(tmp_path: Path):
    """Counted on opening (a resumed run's earlier drops) and as it writes, in the file's order:
    the summary's ``rejected`` without reading ``rejected.jsonl`` again."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "rejected.jsonl").write_text(json.dumps(REJECTIONS[0]) + "\n", encoding="utf-8")
    folder = RunFolder(run)
    assert folder.rejection_counts() is None  # not open: summarize reads the file
    log = folder.log("rejected")
    log.write(REJECTIONS[1])
    log.write_many([REJECTIONS[0], *REJECTIONS[2:]])  # r1 is known: not written, not counted
    kept = folder.rejection_counts()
    folder.close()
    read = summarize(
        run, method="self-instruct", stop=StopKind.COMPLETE, stop_reason=None, target=3,
        accepted=3, usage=Usage(), totals={}, price=None, wall_seconds=1.0,
    ).model_dump(mode="json")  # fmt: skip
    assert read["rejected"] == {"instruction:too_short": 2, "instruction:rouge_similar": 1,
                                "pair:too_short": 1}  # fmt: skip
    taken = summarize(
        run, method="self-instruct", stop=StopKind.COMPLETE, stop_reason=None, target=3,
        accepted=3, usage=Usage(), totals={}, price=None, wall_seconds=1.0, rejections=kept,
    ).model_dump(mode="json")  # fmt: skip
    assert json.dumps(taken) == json.dumps(read)  # the same keys in the same order
