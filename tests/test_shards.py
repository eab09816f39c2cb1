"""Issue 25: `--shard K/N` splits a run's work over N run folders; `merge` joins them exactly."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeBackend
from helpers import lines, run_generate
from rouge_score import rouge_scorer
from test_judge import write_alpaca

import selfinstruct as si
from selfinstruct.cli import main
from selfinstruct.errors import UserError
from selfinstruct.merge import merge_runs
from selfinstruct.shards import Shard

THRESHOLD = 0.7


def run_method(method: str, out: Path, shard: str | None = None, **values: object) -> None:
    backend = FakeBackend()
    chosen = {"shard": shard} if shard is not None else {}
    settings = si.settings(method, backend, concurrency=4, **values, **chosen)
    si.run(settings, backend, out)


def by_id(path: Path) -> dict[str, dict]:
    return {record["id"]: record for record in lines(path)}


def test_the_shards_partition_every_index_once() -> None:
    shards = [Shard(k, 3) for k in range(3)]
    assert sorted(itertools.chain(*(s.take(range(10)) for s in shards))) == list(range(10))
    assert sum(s.share(10) for s in shards) == 10
    assert {s.global_index(k) for s in shards for k in range(4)} == set(range(12))
    with pytest.raises(UserError, match=r"^--shard '3/3': expected K/N with 0 <= K < N, e.g. 0/4$"):
        Shard.parse("3/3")


@pytest.mark.parametrize("method", ["respond", "judge"])
def test_three_shards_merged_are_the_unsharded_run(tmp_path: Path, method: str) -> None:
    data = write_alpaca(tmp_path / "data.json", count=10)
    values: dict[str, object] = {"input_path": data}
    if method == "judge":
        values["n"] = 10
    log = "tasks.jsonl" if method == "respond" else "judgments.jsonl"
    run_method(method, tmp_path / "whole", **values)
    shards = [tmp_path / f"s{k}" for k in range(3)]
    for k, folder in enumerate(shards):
        run_method(method, folder, shard=f"{k}/3", **values)
    sizes = [len(lines(folder / log)) for folder in shards]
    assert sizes == [4, 3, 3]  # record i went to shard i mod 3, none twice
    report = merge_runs(tmp_path / "merged", list(reversed(shards)))  # any order: shard order
    whole = by_id(tmp_path / "whole" / log)
    merged = by_id(tmp_path / "merged" / log)
    assert report.kept == len(whole) == 10 and not report.dropped
    assert merged == whole
    order = [r["id"] for r in lines(tmp_path / "merged" / log)]
    assert order == [r["id"] for s in shards for r in lines(s / log)]
    summary = json.loads((tmp_path / "merged" / "summary.json").read_text())
    assert summary["merge"]["shards"] == 3
    assert json.loads((tmp_path / "merged" / "settings.json").read_text())["shard"] is None


def test_four_self_instruct_shards_merged_are_novel_and_byte_identical(tmp_path: Path) -> None:
    shards = [tmp_path / f"s{k}" for k in range(4)]
    for k, folder in enumerate(shards):
        run_generate(folder, 40, shard=f"{k}/4")
    counts = [len(lines(folder / "machine_instructions.jsonl")) for folder in shards]
    assert counts == [10, 10, 10, 10]  # each shard its share of --n
    firsts = {lines(folder / "machine_instructions.jsonl")[0]["instruction"] for folder in shards}
    assert len(firsts) == 4  # each shard its own seed stream
    merge_runs(tmp_path / "a", shards)
    merge_runs(tmp_path / "b", shards)
    for name in ("tasks.jsonl", "rejected.jsonl", "summary.json", "settings.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    merge_runs(tmp_path / "a", shards)  # an earlier merge is redone in place, the same bytes
    assert (tmp_path / "a" / "tasks.jsonl").read_bytes() == (
        tmp_path / "b/tasks.jsonl"
    ).read_bytes()
    tasks = lines(tmp_path / "a" / "tasks.jsonl")
    assert [t["id"] for t in tasks] == [f"task_{i:06d}" for i in range(1, len(tasks) + 1)]
    assert {t["shard"] for t in tasks} <= {"0/4", "1/4", "2/4", "3/4"}
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    texts = [t["instruction"] for t in tasks]
    worst = max(scorer.score(a, b)["rougeL"].fmeasure for a, b in itertools.combinations(texts, 2))
    assert worst <= THRESHOLD
    # Every drop has its reason; kept and dropped account for every shard's task.
    dropped = lines(tmp_path / "a" / "rejected.jsonl")
    assert all(r["stage"] == "merge" and r["reason"] for r in dropped)
    assert len(tasks) + len(dropped) == sum(len(lines(s / "tasks.jsonl")) for s in shards)


def test_a_merge_drops_across_shards_what_is_too_similar(tmp_path: Path) -> None:
    shards = [tmp_path / f"s{k}" for k in range(2)]
    for k, folder in enumerate(shards):
        run_generate(folder, 6, shard=f"{k}/2")
    # Shard 1's first task copies shard 0's first instruction: the merge drops it, by name.
    first = lines(shards[0] / "tasks.jsonl")[0]["instruction"]
    records = lines(shards[1] / "tasks.jsonl")
    records[0]["instruction"] = first
    (shards[1] / "tasks.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )
    report = merge_runs(tmp_path / "m", shards)
    assert report.dropped["rouge_similar"] == 1
    (drop,) = [r for r in lines(tmp_path / "m" / "rejected.jsonl") if r["shard"] == "1/2"]
    assert drop["shard_id"] == records[0]["id"] and drop["max_score"] == 1.0


def test_decontamination_on_merge(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=6)
    for k in range(2):
        run_method("respond", tmp_path / f"s{k}", shard=f"{k}/2", input_path=data)
    bench = tmp_path / "bench.txt"
    first = json.loads(data.read_text())[0]["instruction"]
    bench.write_text(first + "\n", encoding="utf-8")
    done = CliRunner().invoke(main, ["merge", str(tmp_path / "m"), str(tmp_path / "s0"),
                                     str(tmp_path / "s1"), "--decontaminate", str(bench)])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "5 records from 2 shards" in done.output and "contaminated 1" in done.output
    (drop,) = lines(tmp_path / "m" / "rejected.jsonl")
    assert drop["reason"] == "contaminated" and drop["benchmark_text"] == first


def test_a_shard_resumed_with_another_partition_is_refused(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=4)
    run_method("respond", tmp_path / "s", shard="0/2", input_path=data)
    with pytest.raises(UserError) as caught:
        backend = FakeBackend()
        settings = si.settings("respond", backend, input_path=data, shard="1/2")
        si.run(settings, backend, tmp_path / "s", allow_changes=True)
    assert str(caught.value) == (
        f"{tmp_path / 's'} was generated as shard '0/2', not '1/2': a run folder keeps its "
        "part of the work; use another --out"
    )


def test_bad_shard_option_is_one_line(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=4)
    done = CliRunner().invoke(main, ["respond", str(data), "--shard", "2/2", "--quiet"])
    assert done.exit_code == 2
    assert "Invalid value for '--shard': expected K/N with 0 <= K < N, e.g. 0/4" in done.output


def merge_error(out: Path, *runs: Path) -> str:
    done = CliRunner().invoke(main, ["merge", str(out), *map(str, runs)])
    assert done.exit_code == 2, done.output
    return done.output.strip().removeprefix("Error: ")


def test_merge_refuses_what_is_not_the_shards_of_one_run(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=4)
    a, b, c = (tmp_path / name for name in "abc")
    run_method("respond", a, shard="0/2", input_path=data)
    run_method("respond", b, shard="1/2", input_path=data)
    run_method("respond", c, shard="1/2", input_path=data)
    assert merge_error(a, a, b) == f"OUT {a} is the input {a}: choose another OUT"
    assert (
        merge_error(a / "m", a, b) == f"OUT {a / 'm'} is inside the input {a}: choose another OUT"
    )
    assert merge_error(tmp_path / "m", a) == "shard 1/2 is missing: name all 2 run folders"
    assert (
        merge_error(tmp_path / "m", a, b, c)
        == f"{b} and {c} are both shard 1/2: name each shard once"
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    assert merge_error(tmp_path / "full", a, b) == (
        f"{tmp_path / 'full'} is not empty and holds no earlier merge: choose another OUT"
    )
    assert not (tmp_path / "m").exists()


def test_the_ray_launcher_sets_out_and_shard_itself(tmp_path: Path) -> None:
    done = CliRunner().invoke(main, ["ray", "--shards", "2", "--out", str(tmp_path / "j"), "--",
                                     "respond", "data.json", "--shard", "0/2"])  # fmt: skip
    assert done.exit_code == 2
    assert done.output.strip() == (
        "Error: --shard is set by the launcher for each shard: remove it from the command"
    )
    assert not (tmp_path / "j").exists()


def test_evolve_shards_merged_are_the_unsharded_run(tmp_path: Path) -> None:
    data = write_alpaca(tmp_path / "data.json", count=6)
    run_method("evolve", tmp_path / "whole", seeds_path=data, rounds=2)
    shards = [tmp_path / f"s{k}" for k in range(2)]
    for k, folder in enumerate(shards):
        run_method("evolve", folder, shard=f"{k}/2", seeds_path=data, rounds=2)
    merge_runs(tmp_path / "m", shards)
    assert by_id(tmp_path / "m" / "tasks.jsonl") == by_id(tmp_path / "whole" / "tasks.jsonl")


@pytest.mark.parametrize(
    ("method", "values"),
    [
        ("alpaca", {}),
        ("magpie", {"template": "chatml"}),
        ("chat", {"turns_min": 1, "turns_max": 2}),
    ],
)
def test_generating_methods_make_their_share_and_merge(
    tmp_path: Path, method: str, values: dict
) -> None:
    shards = [tmp_path / f"s{k}" for k in range(2)]
    for k, folder in enumerate(shards):
        backend = FakeBackend(api="chat" if method == "chat" else "completion")
        settings = si.settings(method, backend, n=6, shard=f"{k}/2", **values)
        si.run(settings, backend, folder)
        assert len(lines(folder / "tasks.jsonl")) <= 3
    report = merge_runs(tmp_path / "m", shards)
    tasks = lines(tmp_path / "m" / "tasks.jsonl")
    assert report.kept == len(tasks) > 0
    assert [t["id"] for t in tasks] == [f"task_{i:06d}" for i in range(1, len(tasks) + 1)]


def test_glan_shards_need_a_taxonomy_file(tmp_path: Path) -> None:
    backend = FakeBackend()
    settings = si.settings("glan", backend, shard="0/2")
    with pytest.raises(UserError) as caught:
        si.run(settings, backend, tmp_path / "g")
    assert str(caught.value) == (
        "glan --shard splits the disciplines of a taxonomy file: run `glan --until taxonomy` "
        "once, then each shard with --taxonomy OUT/taxonomy.jsonl"
    )
    assert not (tmp_path / "g").exists()


def test_merge_threads_option(tmp_path: Path) -> None:
    """``--threads`` changes how many threads judge novelty, never the bytes; 0 is refused."""
    shards = [tmp_path / f"s{k}" for k in range(2)]
    for k, folder in enumerate(shards):
        run_generate(folder, 6, shard=f"{k}/2")
    merge_runs(tmp_path / "one", shards, threads=1)
    done = CliRunner().invoke(main, ["merge", str(tmp_path / "two"), *map(str, shards),
                                     "--threads", "2"])  # fmt: skip
    assert done.exit_code == 0, done.output
    for name in ("tasks.jsonl", "rejected.jsonl", "summary.json"):
        one, two = (tmp_path / d / name for d in ("one", "two"))
        assert one.read_bytes() == two.read_bytes().replace(b"/two", b"/one")
    done = CliRunner().invoke(main, ["merge", str(tmp_path / "z"), *map(str, shards),
                                     "--threads", "0"])  # fmt: skip
    assert done.exit_code == 2
    assert "Invalid value for '--threads'" in done.output
