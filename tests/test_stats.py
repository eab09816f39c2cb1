"""`selfinstruct stats`: hand-computed statistics on small fixtures, the CLI and the plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rouge_score import rouge_scorer

from selfinstruct import verbnoun
from selfinstruct.cli import main
from selfinstruct.stats import compute_stats, describe, max_rouge_l_to, render_table

FIX = Path(__file__).parent / "fixtures"
TASKS = FIX / "stats_tasks.jsonl"
SEEDS = FIX / "stats_seeds.jsonl"
RUN = FIX / "stats_run"

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


def test_run_folder():
    s = compute_stats(RUN, seeds=SEEDS, verbs=False).summary
    assert s["source"]["kind"] == "run folder"
    assert s["counts"]["tasks"] == 4
    run = s["run"]
    assert run["rejected"] == {
        "instances": {"instance_empty_output": 1},
        "instruction": {"rouge_similar": 2, "too_short": 1},
    }
    assert run["failures"] == {"instances": 1}
    assert run["accepted_instructions"] == 4
    assert run["usage"]["total"] == {"requests": 7, "prompt_tokens": 2000, "completion_tokens": 700}
    assert run["cost_usd"] == 0.0125
    table = render_table(s)
    assert "rouge_similar" in table and "2,000" in table and "$0.0125" in table


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


def test_cli_table_and_json():
    runner = CliRunner()
    out = runner.invoke(main, ["stats", str(TASKS), "--seeds", str(SEEDS), "--no-verbs"])
    assert out.exit_code == 0, out.output
    assert "instances, empty input" in out.output and "2 (40.0%)" in out.output
    out = runner.invoke(main, ["stats", str(RUN), "--seeds", str(SEEDS), "--no-verbs", "--json"])
    assert out.exit_code == 0
    data = json.loads(out.output)
    assert data["counts"]["tasks"] == 4 and data["run"]["cost_usd"] == 0.0125


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
