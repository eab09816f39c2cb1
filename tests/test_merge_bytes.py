"""Issue 25: `merge`'s output bytes stay what they were while its per-record cost is cut.

Four shards of a real Self-Instruct run (the fake backend) get 2,400 records made from the
seed instructions: word-level edits (near duplicates, dropped by ROUGE-L novelty), and records
that fail each instruction rule, some in non-ASCII text. The sha256 of the merged files are
those the merge wrote before its per-record changes (commit 1adf72c).
"""

from __future__ import annotations

import gc
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeBackend

import selfinstruct as si
from selfinstruct import merge, novelty_process
from selfinstruct.merge import merge_runs
from selfinstruct.records import load_seed_tasks
from selfinstruct.resources import default_seed_path

SHARDS = 4
RULE_BREAKERS = [
    "- {}",  # starts with punctuation
    "\u00c9{}",  # starts with a non-ASCII letter
    "{} and draw it",  # blacklist
    "{} with the FILE\u017f",  # blacklist through a letter that folds onto s
    "Write a program: {}",
    "Do it now",  # too short
    "{} \u2014 en fran\u00e7ais, s'il vous pla\u00eet \U0001f600",  # non-ASCII, kept or not
]


def corpus(n: int) -> list[str]:
    seeds = [task.instruction for task in load_seed_tasks(default_seed_path())]
    rng = random.Random(25)
    texts = []
    for i in range(n):
        words = seeds[i % len(seeds)].split()
        for _ in range(rng.randint(0, max(1, len(words) // 2))):
            j = rng.randrange(len(words))
            if rng.random() < 0.5 and len(words) > 4:
                del words[j]
            else:
                words.insert(j, rng.choice(["very", "short", "new", "each", "list"]))
        text = " ".join(words)
        if i % 9 == 0:
            text = RULE_BREAKERS[(i // 9) % len(RULE_BREAKERS)].format(text)
        texts.append(text)
    return texts


def make_shards(folder: Path, texts: list[str]) -> list[Path]:
    shards = []
    for k in range(SHARDS):
        backend = FakeBackend()
        settings = si.settings("self-instruct", backend, n=8, shard=f"{k}/{SHARDS}", concurrency=4)
        si.run(settings, backend, folder / f"s{k}")
        records = [
            {
                "id": f"task_{i // SHARDS + 1:06d}",
                "instruction": text,
                "is_classification": i % 5 == 0,
                "instances": [{"input": "", "output": f"answer {i}"}] * (1 + i % 3),
            }
            for i, text in enumerate(texts)
            if i % SHARDS == k
        ]
        (folder / f"s{k}" / "tasks.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
        )
        shards.append(folder / f"s{k}")
    return shards


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("threads", "process"), [(1, False), (3, False), (2, True)])
def test_the_merged_bytes_are_those_of_the_code_before(
    tmp_path: Path, threads: int, process: bool
) -> None:
    """With 3 threads, the one block of novelty is settled against the pool in 3 parts; with
    ``process``, novelty is judged in a child process."""
    shards = make_shards(tmp_path, corpus(2400))
    report = merge_runs(tmp_path / "m", shards, threads=threads, process=process)
    assert (report.kept, dict(report.dropped)) == (KEPT, DROPPED)
    assert sha(tmp_path / "m" / "tasks.jsonl") == TASKS_SHA256
    assert sha(tmp_path / "m" / "rejected.jsonl") == REJECTED_SHA256


KEPT = 446
DROPPED = {
    "blacklist": 76, "rouge_similar": 1725, "starts_with_non_ascii": 38,
    "starts_with_punctuation": 39, "too_short": 38, "write_a_program": 38,
}  # fmt: skip
TASKS_SHA256 = "d20c0dbf0600c9050892ee061971d037756808652b4b8495984e68a2007ce48b"
REJECTED_SHA256 = "f9b1b74ceded437b2b81a64368e0a354fd2dfc22086166be68bf7c199838ffe2"


def test_the_collector_is_as_before_after_a_merge(tmp_path: Path) -> None:
    """The merge runs Python's garbage collector less often while it streams, and freezes the
    objects alive before it: both undone when it ends, also when it fails."""
    shards = make_shards(tmp_path, corpus(300))
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    seen: list[tuple[int, int, int]] = []
    check = merge._Checker.__call__

    def watching(self: merge._Checker, chunk: list[Any]) -> list[merge.Checked]:
        seen.append(gc.get_threshold())
        return check(self, chunk)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(merge._Checker, "__call__", watching)
        merge_runs(tmp_path / "m", shards)
    assert seen and all(t[0] > threshold[0] for t in seen)  # fewer young collections
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
    (shards[1] / "tasks.jsonl").write_text("{broken\n", encoding="utf-8")
    with pytest.raises(si.UserError):
        merge_runs(tmp_path / "m2", shards)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)


def test_the_novelty_process_collects_less_often(tmp_path: Path) -> None:
    """The novelty process's loop (run here, in this process, on a stand-in pipe) runs with the
    merge's fewer collections too, and leaves the collector as it found it."""
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    seen: list[tuple[int, int, int]] = []

    class Pipe:
        blocks: list[list[str] | None] = [corpus(50), None]

        def recv(self) -> list[str] | None:
            return self.blocks.pop(0)

        def send_bytes(self, data: bytes) -> None:
            seen.append(gc.get_threshold())

        def close(self) -> None:
            pass

    novelty_process._serve(Pipe(), 0.7, "rouge", 1, True, [])  # type: ignore[arg-type]
    assert len(seen) == 2 and all(t[0] > threshold[0] for t in seen)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)


@pytest.mark.parametrize(("threads", "process"), [(1, False), (3, False), (1, True)])
def test_first_similar_score_keeps_and_drops_the_same(
    tmp_path: Path, threads: int, process: bool
) -> None:
    """``similar_score="first"``: the same kept records, byte for byte, and the same drops in
    the same order; a ``rouge_similar`` drop records a score above the threshold, at most its
    maximum, under ``score``. Twice: the same bytes."""
    shards = make_shards(tmp_path, corpus(2400))
    report = merge_runs(
        tmp_path / "f", shards, threads=threads, similar_score="first", process=process
    )
    assert (report.kept, dict(report.dropped)) == (KEPT, DROPPED)
    assert sha(tmp_path / "f" / "tasks.jsonl") == TASKS_SHA256
    merge_runs(tmp_path / "max", shards, threads=threads)
    first, most = (
        [json.loads(line) for line in (tmp_path / name / "rejected.jsonl").open(encoding="utf-8")]
        for name in ("f", "max")
    )
    assert [(r["id"], r["reason"]) for r in first] == [(r["id"], r["reason"]) for r in most]
    similar = [(a, b) for a, b in zip(first, most, strict=True) if a["reason"] == "rouge_similar"]
    assert len(similar) == DROPPED["rouge_similar"]
    assert all("max_score" not in a and 0.7 < a["score"] <= b["max_score"] for a, b in similar)
    merge_runs(tmp_path / "again", shards, threads=threads, similar_score="first")
    assert sha(tmp_path / "again" / "rejected.jsonl") == sha(tmp_path / "f" / "rejected.jsonl")


def test_a_novelty_process_that_dies_is_one_clear_error(tmp_path: Path) -> None:
    """The child judging novelty is killed mid-merge: the merge stops with an error naming it,
    and leaves no output file behind."""
    import os
    import signal

    from selfinstruct.novelty_process import NoveltyProcess

    shards = make_shards(tmp_path, corpus(2400))
    decide = NoveltyProcess.decide

    def killed(self: NoveltyProcess, texts: list[str]) -> Any:
        os.kill(self._proc.pid, signal.SIGKILL)  # type: ignore[arg-type]
        self._proc.join()
        return decide(self, texts)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(NoveltyProcess, "decide", killed)
        with pytest.raises(si.UserError, match="novelty process ended early"):
            merge_runs(tmp_path / "m", shards, process=True)
    assert not (tmp_path / "m" / "tasks.jsonl").exists()
