"""`selfinstruct filter --near-dup minhash`: MinHash LSH near-duplicates dropped in input order."""

from __future__ import annotations

import json
import random
import sys

import pytest
from click.testing import CliRunner

from selfinstruct.cli import main

pytest.importorskip("rensa")

VOCAB = [f"w{i}" for i in range(2000)]


def words(seed: int, n: int = 40) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(VOCAB) for _ in range(n)]


def record(instruction: str, text: list[str] | str) -> dict[str, str]:
    body = text if isinstance(text, str) else " ".join(text)
    return {"instruction": instruction, "input": "", "output": body}


BASE = words(1)
EDITED = BASE[:-1] + ["changed"]  # one word of 40: Jaccard of 5-word shingles 35/37
RECORDS = [
    record("Summarize the passage below in one line.", BASE),  # line 1
    record("Describe the main idea of this passage.", words(2)),  # line 2: dissimilar
    record("Summarize the passage below in one line.", EDITED),  # line 3: near-dup of 1
    record("Summarize the passage below in one line.", BASE),  # line 4: exact dup of 1
    record("List the key points of the text that follows.", words(3)),  # line 5: dissimilar
    record("Describe the main idea of this passage.", words(2)[:39] + ["x"]),  # line 6: of 2
]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run(tmp_path, records, *options: str):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, records)
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(out), *options])
    rejected = tmp_path / "out.rejected.jsonl"
    return result, out, rejected


def test_near_and_exact_duplicates_dropped_in_input_order(tmp_path):
    result, out, rejected = run(tmp_path, RECORDS, "--near-dup", "minhash", "--no-novelty")
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == [RECORDS[0], RECORDS[1], RECORDS[4]]
    assert read_jsonl(rejected) == [
        {"line": 3, "reason": "near_duplicate", "duplicate_of_line": 1, "record": RECORDS[2]},
        {"line": 4, "reason": "near_duplicate", "duplicate_of_line": 1, "record": RECORDS[3]},
        {"line": 6, "reason": "near_duplicate", "duplicate_of_line": 2, "record": RECORDS[5]},
    ]
    assert result.stderr == (f"kept 3 of 6\n  near_duplicate: 3\nrejected records: {rejected}\n")


def test_a_record_dropped_by_another_rule_is_not_a_kept_original(tmp_path):
    # Line 1 fails the blacklist; line 2, its copy with another instruction, is the first kept.
    first = record("Draw the passage below as a picture.", BASE)
    copy = record("Summarize the passage below in one line.", BASE)
    result, out, rejected = run(tmp_path, [first, copy, copy], "--near-dup", "minhash")
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == [copy]
    assert [(r["line"], r["reason"], r.get("duplicate_of_line")) for r in read_jsonl(rejected)] == [
        (1, "blacklist", None),
        (3, "near_duplicate", 2),
    ]


def test_without_the_option_nothing_is_a_near_duplicate(tmp_path):
    result, out, _ = run(tmp_path, RECORDS, "--no-novelty")
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == RECORDS
    assert "near_duplicate" not in result.stderr


def test_threshold_option_is_honoured(tmp_path):
    # Half the words replaced: Jaccard of the shingle sets far below 0.8, above 0.2.
    half = BASE[:20] + words(9, 20)
    records = [record("Summarize the passage below in one line.", BASE),
               record("Summarize the passage below in one line.", half)]  # fmt: skip
    result, out, _ = run(tmp_path, records, "--near-dup", "minhash", "--no-novelty")
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(out)) == 2
    result, out, rejected = run(
        tmp_path, records, "--near-dup", "minhash", "--no-novelty", "--minhash-threshold", "0.2"
    )
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == records[:1]
    assert [r["reason"] for r in read_jsonl(rejected)] == ["near_duplicate"]


def test_shingle_option_is_honoured(tmp_path):
    # The same words in another order: one set of single words, different 5-word shingles.
    shuffled = list(BASE)
    random.Random(5).shuffle(shuffled)
    records = [record("Summarize the passage below in one line.", BASE),
               record("Summarize the passage below in one line.", shuffled)]  # fmt: skip
    result, out, _ = run(tmp_path, records, "--near-dup", "minhash", "--no-novelty")
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(out)) == 2
    result, out, _ = run(
        tmp_path, records, "--near-dup", "minhash", "--no-novelty", "--shingle", "1"
    )
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == records[:1]


def test_num_perm_option_is_honoured(tmp_path):
    result, out, _ = run(
        tmp_path, RECORDS, "--near-dup", "minhash", "--no-novelty", "--num-perm", "64"
    )
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == [RECORDS[0], RECORDS[1], RECORDS[4]]


def test_byte_identical_across_runs(tmp_path):
    rng = random.Random(7)
    records = []
    for i in range(300):  # every third record a light edit of an earlier one
        if i % 3 == 2:
            text = records[rng.randrange(len(records))]["output"].split() + ["edit"]
            records.append(record("Summarize the passage below in one line.", text))
        else:
            records.append(record("Summarize the passage below in one line.", words(100 + i)))
    outputs = []
    for attempt in range(2):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        result, out, rejected = run(folder, records, "--near-dup", "minhash", "--no-novelty")
        assert result.exit_code == 0, result.output
        outputs.append((out.read_bytes(), rejected.read_bytes()))
    assert outputs[0] == outputs[1]
    assert len(read_jsonl(tmp_path / "0" / "out.rejected.jsonl")) == 100


def test_missing_library_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rensa", None)  # import rensa now raises ImportError
    result, out, _ = run(tmp_path, RECORDS, "--near-dup", "minhash")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --near-dup minhash needs rensa: pip install 'selfinstruct[filters]'\n"
    )
    assert not out.exists()


def test_minhash_options_need_near_dup(tmp_path):
    result, out, _ = run(tmp_path, RECORDS, "--shingle", "3")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: --minhash-threshold, --shingle and --num-perm need --near-dup minhash"
    )
    assert not out.exists()


def test_threshold_and_perm_ranges_are_checked(tmp_path):
    result, _, _ = run(tmp_path, RECORDS, "--near-dup", "minhash", "--minhash-threshold", "1.5")
    assert result.exit_code == 2
    assert "Invalid value for '--minhash-threshold'" in result.stderr
    result, _, _ = run(tmp_path, RECORDS, "--near-dup", "minhash", "--num-perm", "1")
    assert result.exit_code == 2
    assert "Invalid value for '--num-perm'" in result.stderr


def test_index_flushed_to_sorted_runs_decides_as_the_in_memory_one():
    from selfinstruct.neardup import MinHashSettings, NearDupIndex

    rng = random.Random(11)
    texts = []
    for i in range(400):
        if i % 4 == 3:
            text = texts[rng.randrange(len(texts))].split() + ["edit"]
            texts.append(" ".join(text))
        else:
            texts.append(" ".join(words(500 + i)))

    def decisions(flush: int) -> list[int | None]:
        index = NearDupIndex(MinHashSettings(), flush=flush)
        found = []
        for line, text in enumerate(texts, 1):
            keys = index.keys(text)
            earlier = index.find(keys)
            if earlier is None:
                index.add(keys, line)
            found.append(earlier)
        assert index.size == sum(f is None for f in found) * index.bands
        return found

    small, large = decisions(flush=16), decisions(flush=1 << 20)
    assert small == large
    assert sum(f is not None for f in small) == 100


def test_bands_and_rows_fit_the_threshold():
    from selfinstruct.neardup import band_params

    assert band_params(0.8, 128) == (9, 13)
    bands, rows = band_params(0.5, 128)
    assert bands * rows <= 128 and bands > 9


@pytest.mark.parametrize(
    "text",
    ["Hello, World_2 x-ray 3.14 it's", "  TABS\tand\nlines__ ", "", "A\x00B\x7fc", "Ünïcode"],
)
def test_ascii_fast_path_tokenizes_as_the_unicode_tokenizer(text):
    from selfinstruct.neardup import shingles, words
    from selfinstruct.novelty import tokenize

    assert words(text) == tokenize(text, "unicode")
    assert shingles("a b c d e f g", 5) == ["a b c d e", "b c d e f", "c d e f g"]
    assert shingles("a b", 5) == ["a b"]
