"""`selfinstruct filter --language CODES`: lingua's offline detector on the instruction."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from selfinstruct.cli import main

pytest.importorskip("lingua")


def alpaca(instruction: str, output: str = "Done.") -> dict[str, str]:
    return {"instruction": instruction, "input": "", "output": output}


RECORDS = [
    alpaca("Write a short poem about the sea at night."),  # 1 en
    alpaca("Schreibe ein kurzes Gedicht über das Meer in der Nacht."),  # 2 de
    alpaca("Explique pourquoi le ciel est bleu pendant la journée."),  # 3 fr
    alpaca("Translate the sentence below into French.", "Bonjour tout le monde."),  # 4 en
    alpaca("Nenne fünf Tiere, die in der Wüste leben."),  # 5 de
    alpaca("Napisz krótki wiersz o morzu nocą i gwiazdach."),  # 6 pl
    alpaca("Give three tips for staying healthy in winter."),  # 7 en
]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run(tmp_path, *options: str):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(src, RECORDS)
    args = ["filter", str(src), "-o", str(out), "--no-novelty", "--allow-non-ascii-start"]
    result = CliRunner().invoke(main, [*args, *options])
    return result, out, tmp_path / "out.rejected.jsonl"


def test_keeps_english_drops_the_others_with_the_detected_code(tmp_path):
    result, out, rejected = run(tmp_path, "--language", "en")
    assert result.exit_code == 0, result.output
    # A translation task is kept: the instruction's language counts, not the output's.
    assert read_jsonl(out) == [RECORDS[0], RECORDS[3], RECORDS[6]]
    assert [(r["line"], r["reason"], r["detected"]) for r in read_jsonl(rejected)] == [
        (2, "language", "de"),
        (3, "language", "fr"),
        (5, "language", "de"),
        (6, "language", "pl"),
    ]
    assert result.stderr == f"kept 3 of 7\n  language: 4\nrejected records: {rejected}\n"


def test_several_codes(tmp_path):
    result, out, _ = run(tmp_path, "--language", "en, DE")
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == [RECORDS[i] for i in (0, 1, 3, 4, 6)]


def test_unknown_code_is_one_line_exit_2(tmp_path):
    result, out, _ = run(tmp_path, "--language", "en,xx")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --language: unknown language code 'xx' (ISO 639-1, e.g. en or en,de)\n"
    )
    assert not out.exists()


def test_missing_library_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "lingua", None)
    result, out, _ = run(tmp_path, "--language", "en")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --language needs lingua-language-detector: pip install 'selfinstruct[filters]'\n"
    )
    assert not out.exists()
