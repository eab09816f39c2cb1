"""Checks on the project's own seed tasks (seeds/seed_tasks.jsonl).

The seed file follows the Self-Instruct paper's schema and must model the same
style the pipeline enforces on generated instructions: length limits, a word
blacklist, no near-duplicates (ROUGE-L), and no close overlap with the paper's
own seed tasks.
"""

import json
import re
from itertools import combinations
from pathlib import Path

import pytest
from conftest import anchor
from constants import BLACKLIST_WITH_ALPACA
from rouge_score import rouge_scorer
from rouge_score.rouge_scorer import _score_lcs

SEED_PATH = Path(__file__).resolve().parent.parent / "seeds" / "seed_tasks.jsonl"

MIN_TASKS = 175
CLASSIFICATION_SHARE = (0.13, 0.17)
MIN_EMPTY_INPUT_SHARE = 0.20
MIN_WORDS, MAX_WORDS = 4, 150
ROUGE_THRESHOLD = 0.7
BLACKLIST = BLACKLIST_WITH_ALPACA
TOP_KEYS = {"id", "name", "instruction", "instances", "is_classification"}
INSTANCE_KEYS = {"input", "output"}
NAME_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")


def _load_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:  # pragma: no cover - message only
                pytest.fail(f"{path}:{lineno} is not valid JSON: {exc}")
    return rows


@pytest.fixture(scope="module")
def tasks():
    assert SEED_PATH.is_file(), f"missing seed file {SEED_PATH}"
    return _load_jsonl(SEED_PATH)


@pytest.fixture(scope="module")
def scorer():
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


@pytest.fixture(scope="module")
def our_tokens(tasks, scorer):
    return [scorer._tokenizer.tokenize(t["instruction"]) for t in tasks]


def test_task_count(tasks):
    assert len(tasks) >= MIN_TASKS, f"only {len(tasks)} seed tasks, need >= {MIN_TASKS}"


def test_schema(tasks):
    for i, task in enumerate(tasks):
        assert set(task) == TOP_KEYS, f"task {i} has keys {sorted(task)}"
        assert task["id"] == f"seed_task_{i}", f"task {i} has id {task['id']!r}"
        assert isinstance(task["name"], str) and NAME_RE.match(task["name"]), task["name"]
        assert isinstance(task["instruction"], str) and task["instruction"].strip()
        assert task["instruction"] == task["instruction"].strip(), task["id"]
        assert isinstance(task["is_classification"], bool), task["id"]
        instances = task["instances"]
        assert isinstance(instances, list) and len(instances) == 1, task["id"]
        inst = instances[0]
        assert isinstance(inst, dict) and set(inst) == INSTANCE_KEYS, task["id"]
        assert isinstance(inst["input"], str), task["id"]
        assert isinstance(inst["output"], str) and inst["output"].strip(), task["id"]


def test_unique_names_and_instructions(tasks):
    names = [t["name"] for t in tasks]
    dup_names = sorted({n for n in names if names.count(n) > 1})
    assert not dup_names, f"duplicate names: {dup_names}"
    instructions = [t["instruction"].lower() for t in tasks]
    assert len(set(instructions)) == len(instructions), "duplicate instructions"


def test_classification_share(tasks):
    n_cls = sum(t["is_classification"] for t in tasks)
    share = n_cls / len(tasks)
    low, high = CLASSIFICATION_SHARE
    assert low <= share <= high, f"classification share {share:.3f} ({n_cls}/{len(tasks)})"


def test_classification_outputs_are_short_labels(tasks):
    for t in tasks:
        if t["is_classification"]:
            out = t["instances"][0]["output"]
            assert len(out.split()) <= 4 and "\n" not in out, f"{t['id']}: {out!r}"


def test_empty_input_share(tasks):
    n_empty = sum(t["instances"][0]["input"] == "" for t in tasks)
    share = n_empty / len(tasks)
    assert share >= MIN_EMPTY_INPUT_SHARE, f"empty-input share {share:.3f}"
    # Not every task may be input-free either.
    assert share <= 0.5, f"empty-input share {share:.3f} is too high"


def test_instruction_filters(tasks):
    blacklist_re = re.compile(r"\b(?:{})\b".format("|".join(BLACKLIST)), re.IGNORECASE)
    problems = []
    for t in tasks:
        ins = t["instruction"]
        n_words = len(ins.split())
        if not MIN_WORDS <= n_words <= MAX_WORDS:
            problems.append(f"{t['id']}: {n_words} words")
        hit = blacklist_re.search(ins)
        if hit:
            problems.append(f"{t['id']}: blacklisted word {hit.group(0)!r}")
        if re.search(r"\bgo to\b", ins, re.IGNORECASE):
            problems.append(f"{t['id']}: contains 'go to'")
        if ins.lower().startswith("write a program"):
            problems.append(f"{t['id']}: starts with 'Write a program'")
        first = ins[0]
        if not (first.isascii() and first.isalnum()):
            problems.append(f"{t['id']}: starts with {first!r}")
    assert not problems, "\n".join(problems)


def test_no_near_duplicates_among_seeds(tasks, our_tokens):
    offenders = []
    for a, b in combinations(range(len(tasks)), 2):
        f = _score_lcs(our_tokens[a], our_tokens[b]).fmeasure
        if f > ROUGE_THRESHOLD:
            offenders.append(f"{tasks[a]['id']} vs {tasks[b]['id']}: {f:.3f}")
    assert not offenders, "\n".join(offenders)


def test_distinct_from_paper_seed_tasks(tasks, scorer, our_tokens):
    paper = _load_jsonl(anchor("self_instruct_seed_tasks.jsonl"))
    assert paper, "paper seed file is empty"
    paper_tokens = [scorer._tokenizer.tokenize(p["instruction"]) for p in paper]
    offenders = []
    for i, ours in enumerate(our_tokens):
        for j, theirs in enumerate(paper_tokens):
            f = _score_lcs(ours, theirs).fmeasure
            if f > ROUGE_THRESHOLD:
                offenders.append(f"{tasks[i]['id']} vs paper {paper[j]['id']}: {f:.3f}")
    assert not offenders, "\n".join(offenders)


def test_rouge_helper_matches_scorer(scorer):
    # Guard against rouge_score internals changing: the private helper used
    # above must agree with the public API.
    a = "Explain the offside rule to a new fan."
    b = "Explain the rule to someone new."
    fast = _score_lcs(scorer._tokenizer.tokenize(a), scorer._tokenizer.tokenize(b)).fmeasure
    assert fast == pytest.approx(scorer.score(a, b)["rougeL"].fmeasure)
