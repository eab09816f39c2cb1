"""`selfinstruct stats`: hand-computed statistics on small fixtures, a real run folder made by
`selfinstruct generate` against the stub server, the CLI and the plots."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import anchor
from rouge_score import rouge_scorer

from selfinstruct import novelty, verbnoun
from selfinstruct.cli import main
from selfinstruct.resources import default_seed_path
from selfinstruct.stats import compute_stats, describe, max_rouge_l_to, render_table

FIX = Path(__file__).parent / "fixtures"
TASKS = FIX / "stats_tasks.jsonl"
SEEDS = FIX / "stats_seeds.jsonl"

needs_parser = pytest.mark.skipif(verbnoun.find_model() is None, reason="no spaCy English model")


@pytest.fixture(scope="module")
def result():
    return compute_stats(TASKS, seeds=SEEDS, verbs=False)


def test_counts(result):
    c = result.summary["counts"]
    assert c["tasks"] == 4
    assert c["instances"] == 5
    # [2, 1, 1, 1]: p90 interpolates 0.7 of the way from 1 to 2
    assert c["instances_per_task"] == pytest.approx(
        {"n": 4, "min": 1, "median": 1, "mean": 1.25, "p90": 1.7, "max": 2}
    )
    assert c["classification_known"] == 3  # t4 has no is_classification
    assert c["classification_share"] == pytest.approx(1 / 3)
    assert c["empty_input_instances"] == 2
    assert c["empty_input_share"] == pytest.approx(0.4)


def test_word_distributions(result):
    w = result.summary["words"]
    # instructions: 6, 6, 6, 5 words
    assert w["instruction"] == {"n": 4, "min": 5, "median": 6, "mean": 5.75, "p90": 6, "max": 6}
    # non-empty inputs: "Topic: calm sea" 3, "I love it" 3, "Good morning" 2
    assert w["input_nonempty"]["n"] == 3
    assert w["input_nonempty"]["mean"] == pytest.approx(8 / 3)
    assert w["input_nonempty"]["min"] == 2
    # outputs: 3, 4, 1, 4, 1 -> sorted 1 1 3 4 4; p90 interpolates between the two 4s
    assert w["output"] == {"n": 5, "min": 1, "median": 3, "mean": 2.6, "p90": 4, "max": 4}


def test_describe_percentiles():
    d = describe([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert d["median"] == 5.5 and d["p90"] == pytest.approx(9.1) and d["mean"] == 5.5
    assert describe([]) is None


def test_rouge_to_seed_known_values(result):
    # t1 vs "Write a poem about the sea.": LCS 5 of 6+6 tokens -> 10/12
    # t2 best is s2 via "sentence": 2/11; t3 shares no token; t4 vs s2: LCS 2 -> 4/10
    scores = result.raw["rouge_l_to_seed"]
    assert scores == pytest.approx([10 / 12, 2 / 11, 0.0, 0.4])
    r = result.summary["rouge_l_to_seed"]
    assert r["n_seeds"] == 2
    assert r["share_above_0.7"] == 0.25
    assert r["closest_pair"]["seed"] == "Write a poem about the sea."


def test_rouge_matches_rouge_score_exactly():
    texts = [
        "Generate a list of five fruits, and sort them by color!",
        "What's the capital of France?",
        "",
        "Rewrite the sentence in passive voice.",
    ]
    refs = ["List five fruits.", "Rewrite this sentence in the passive voice.", "capital France"]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    best, index = max_rouge_l_to(texts, refs)
    for text, score, i in zip(texts, best, index, strict=True):
        expected = [scorer.score(ref, text)["rougeL"].fmeasure for ref in refs]
        assert score == pytest.approx(max(expected), abs=1e-12)
        assert expected[i] == pytest.approx(max(expected), abs=1e-12)


def test_rouge_is_fast_enough():
    import time

    texts = [f"Write item number {i} of the list about topic {i % 97}" for i in range(20000)]
    refs = [f"Describe seed task {j} with several words here" for j in range(175)]
    start = time.perf_counter()
    max_rouge_l_to(texts, refs)
    assert time.perf_counter() - start < 10


def test_alpaca_file():
    s = compute_stats(FIX / "stats_alpaca.json", seeds=SEEDS, verbs=False).summary
    assert s["counts"]["tasks"] == 2 and s["counts"]["instances"] == 2
    assert s["counts"]["empty_input_share"] == 0.5
    assert s["counts"]["classification_share"] is None


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def run_dir(real_run: Path) -> Path:
    return real_run


def test_run_folder(run_dir: Path):
    """Every figure checked against the run's own files, computed here independently."""
    s = compute_stats(run_dir, verbs=False).summary
    assert s["source"]["kind"] == "run folder"
    tasks = _lines(run_dir / "tasks.jsonl")
    instances = [i for t in tasks for i in t["instances"]]
    assert s["counts"]["tasks"] == len(tasks) > 0
    assert s["counts"]["instances"] == len(instances) > 0
    assert s["counts"]["empty_input_instances"] == sum(
        1 for i in instances if not i["input"].strip()
    )
    words = sorted(len(i["output"].split()) for i in instances)
    assert s["words"]["output"]["min"] == words[0] and s["words"]["output"]["max"] == words[-1]
    assert s["words"]["output"]["mean"] == pytest.approx(sum(words) / len(words))

    run = s["run"]
    assert run["accepted_instructions"] == len(_lines(run_dir / "machine_instructions.jsonl")) == 10
    rejected: dict[str, Counter[str]] = {}
    for r in _lines(run_dir / "rejected.jsonl"):
        rejected.setdefault(r["stage"], Counter())[r["reason"]] += 1
    assert run.get("rejected", {}) == {k: dict(v) for k, v in rejected.items()}
    summary = json.loads((run_dir / "summary.json").read_text())
    by_stage = summary["run_usage"]["by_stage"]
    assert set(run["usage"]["stages"]) == set(by_stage)
    for key, source in (("requests", "responses"), ("prompt_tokens", "prompt_tokens")):
        assert run["usage"]["total"][key] == sum(row[source] for row in by_stage.values()) > 0
    assert run["cost_usd"] == summary["run_usage"]["cost_usd"] > 0
    table = render_table(s)
    assert f"${run['cost_usd']:,.4f}" in table
    assert "accepted instructions     10\n" in table


def test_run_folder_uses_the_runs_own_seeds(run_dir: Path):
    """Without --seeds, ROUGE-L is measured against the seed file the run was made from."""
    seeds = run_dir.parent / "my_seeds.jsonl"
    r = compute_stats(run_dir, verbs=False)
    rouge = r.summary["rouge_l_to_seed"]
    assert rouge["seeds"] == str(seeds) and rouge["n_seeds"] == 30
    assert r.warnings == []
    # The scores themselves: rouge_score against those 30 seeds, brute force.
    seed_texts = [json.loads(line)["instruction"] for line in seeds.read_text().splitlines()]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    want = [
        max(scorer.score(seed, t["instruction"])["rougeL"].fmeasure for seed in seed_texts)
        for t in _lines(run_dir / "tasks.jsonl")
    ]
    assert r.raw["rouge_l_to_seed"] == want


def test_run_folder_with_missing_seed_file_warns_and_uses_bundled(run_dir: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    settings = json.loads((run / "settings.json").read_text())
    gone = tmp_path / "gone" / "seeds.jsonl"
    settings["seeds_path"] = str(gone)
    (run / "settings.json").write_text(json.dumps(settings))
    out = CliRunner().invoke(main, ["stats", str(run), "--no-verbs", "--json"])
    assert out.exit_code == 0, out.output
    warning = (
        f"warning: the run's seed file {gone} no longer exists; "
        f"ROUGE-L to seeds uses the bundled seeds {default_seed_path()}\n"
    )
    assert out.stderr == warning
    data = json.loads(out.stdout)
    assert data["rouge_l_to_seed"]["seeds"] == str(default_seed_path())
    bundled = default_seed_path().read_text(encoding="utf-8").splitlines()
    assert data["rouge_l_to_seed"]["n_seeds"] == len([line for line in bundled if line.strip()])
    # --seeds still wins, without a warning.
    out = CliRunner().invoke(main, ["stats", str(run), "--no-verbs", "--seeds", str(SEEDS)])
    assert out.exit_code == 0 and out.stderr == ""


def test_run_folder_with_unreadable_settings_warns_and_uses_bundled(run_dir: Path, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "settings.json").write_text("{not json")
    out = CliRunner().invoke(main, ["stats", str(run), "--no-verbs", "--json"])
    assert out.exit_code == 0, out.output
    assert out.stderr == (
        f"warning: {run / 'settings.json'}: unreadable run settings (JSONDecodeError); "
        f"ROUGE-L to seeds uses the bundled seeds {default_seed_path()}\n"
    )
    assert json.loads(out.stdout)["rouge_l_to_seed"]["seeds"] == str(default_seed_path())


def test_run_folder_without_summary(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "tasks.jsonl").write_text(TASKS.read_text())
    s = compute_stats(folder, seeds=SEEDS, verbs=False).summary
    assert s["run"]["usage"] is None
    assert "rejected" not in s["run"]
    assert "summary.json is missing" in render_table(s)


def test_verb_summary_counts():
    pairs = [("write", "poem"), ("write", "story"), ("write", "poem"), ("give", None), (None, None)]
    s = verbnoun.summarize(pairs, top_verbs=20, top_objects=4)
    assert s["with_verb"] == 4 and s["with_pair"] == 3
    assert s["distinct_verbs"] == 2 and s["distinct_pairs"] == 2
    assert s["top_verbs"][0] == {
        "verb": "write",
        "count": 3,
        "objects": [{"object": "poem", "count": 2}, {"object": "story", "count": 1}],
    }
    assert s["top_verbs"][1] == {"verb": "give", "count": 1, "objects": []}


@needs_parser
def test_parser_root_verbs_and_objects():
    nlp, desc = verbnoun.load_parser()
    assert "ner" not in nlp.pipe_names and "parser" in nlp.pipe_names
    pairs = verbnoun.extract_pairs(
        [
            "Write a poem about the ocean.",
            "Give three tips for staying healthy.",
            "Classify the sentiment of the sentence.",
            "Translate the sentence into French.",
            "Come up with a name for the bakery.",
            "What is the capital of France?",
        ],
        nlp,
    )
    assert pairs == [
        ("write", "poem"),
        ("give", "tip"),
        ("classify", "sentiment"),
        ("translate", "sentence"),
        ("come up", None),
        (None, None),
    ]


@needs_parser
def test_stats_with_parser():
    s = compute_stats(TASKS, seeds=SEEDS).summary["verbs"]
    assert s["available"] and s["distinct_verbs"] == 4 and s["distinct_pairs"] == 4


def test_no_parser_is_reported_not_guessed(monkeypatch):
    monkeypatch.setattr(verbnoun, "find_model", lambda packages=(): None)
    s = compute_stats(TASKS, seeds=SEEDS).summary
    assert s["verbs"]["available"] is False
    assert "no English spaCy pipeline" in s["verbs"]["reason"]
    assert "not computed" in render_table(s)


# --- CLI -----------------------------------------------------------------------------


def test_cli_table_and_json(run_dir: Path):
    runner = CliRunner()
    out = runner.invoke(main, ["stats", str(TASKS), "--seeds", str(SEEDS), "--no-verbs"])
    assert out.exit_code == 0, out.output
    assert "instances, empty input" in out.output and "2 (40.0%)" in out.output
    out = runner.invoke(
        main, ["stats", str(run_dir), "--seeds", str(SEEDS), "--no-verbs", "--json"]
    )
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert data == compute_stats(run_dir, seeds=SEEDS, verbs=False).summary
    assert data["counts"]["tasks"] == len(_lines(run_dir / "tasks.jsonl"))
    assert data["rouge_l_to_seed"]["n_seeds"] == 2


def test_cli_missing_file():
    out = CliRunner().invoke(main, ["stats", "no/such/file.jsonl", "--no-verbs"])
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and "no/such/file.jsonl" in lines[0]


def test_cli_broken_json_names_file_and_line():
    out = CliRunner().invoke(main, ["stats", str(FIX / "stats_broken.jsonl"), "--no-verbs"])
    assert out.exit_code == 2
    assert "stats_broken.jsonl:2" in out.output
    assert len(out.output.strip().splitlines()) == 1


def test_cli_missing_seed_file():
    out = CliRunner().invoke(main, ["stats", str(TASKS), "--seeds", "nope.jsonl", "--no-verbs"])
    assert out.exit_code == 2 and "nope.jsonl" in out.output


def test_plots_written(tmp_path):
    pytest.importorskip("matplotlib")
    top = [
        {"verb": "write", "count": 5, "objects": [{"object": "poem", "count": 3}]},
        {"verb": "give", "count": 2, "objects": []},
    ]
    out = CliRunner().invoke(
        main,
        ["stats", str(TASKS), "--seeds", str(SEEDS), "--no-verbs", "--plots", str(tmp_path)],
    )
    assert out.exit_code == 0, out.output
    for name in ("stats_tasks_lengths.png", "stats_tasks_rouge_to_seed.png"):
        png = tmp_path / name
        assert png.is_file() and png.stat().st_size > 5000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from selfinstruct.plots import plot_verbs

    path = tmp_path / "verbs.png"
    plot_verbs(top, path, "fixture", {"instructions": 8, "with_verb": 7})
    assert path.stat().st_size > 5000


# --- memory: ROUGE-L to the seeds is computed in bounded blocks (issue 8) -------------


def test_best_matches_blocks_bound_the_matrix(monkeypatch):
    """No LCS matrix larger than BEST_MATCH_CELLS pairs, and the figures do not change."""
    texts = [
        f"Write item {i} of the list about topic {i % 13} and more {i % 7}" for i in range(500)
    ]
    texts[3] = ""
    refs = [f"Describe topic {j} of the list" for j in range(7)] + ["", "write item 12"]
    whole = max_rouge_l_to(texts, refs)  # 4,500 pairs: one block at the default size
    calls: list[tuple[int, int]] = []
    real = novelty.process.cdist

    def spy(queries, choices, **kwargs):
        calls.append((len(queries), len(choices)))
        return real(queries, choices, **kwargs)

    monkeypatch.setattr(novelty, "process", SimpleNamespace(cdist=spy))
    monkeypatch.setattr(novelty, "BEST_MATCH_CELLS", 60)
    blocked = max_rouge_l_to(texts, refs)
    assert calls and all(rows * cols <= 60 for rows, cols in calls)
    assert sum(rows for rows, _ in calls) == len(texts) and len(calls) == math.ceil(500 / 6)
    assert np.array_equal(blocked[0], whole[0]) and np.array_equal(blocked[1], whole[1])
    # More references than the budget: one text per block.
    calls.clear()
    monkeypatch.setattr(novelty, "BEST_MATCH_CELLS", 4)
    assert np.array_equal(max_rouge_l_to(texts[:5], refs)[0], whole[0][:5])
    assert calls == [(1, len(refs))] * 5


def test_stats_do_not_depend_on_the_block_size(monkeypatch):
    """Same figures with tiny blocks as with one block, on Alpaca's data."""
    alpaca = anchor("alpaca_data_5000.json")
    seeds = anchor("self_instruct_seed_tasks.jsonl")
    monkeypatch.setattr(novelty, "BEST_MATCH_CELLS", 1 << 40)
    whole = compute_stats(alpaca, seeds=seeds, verbs=False)
    monkeypatch.setattr(novelty, "BEST_MATCH_CELLS", 1000)
    blocked = compute_stats(alpaca, seeds=seeds, verbs=False)
    assert blocked.summary == whole.summary and blocked.raw == whole.raw
    assert whole.summary["counts"]["tasks"] == 5000
