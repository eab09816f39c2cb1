"""Record real GLAN answers from a run folder's cache as parser fixtures.

Takes the first ``--per-level`` answers of each level from ``cache.sqlite`` and writes
tests/fixtures/glan/<prefix>_<level>_<i>.json: the raw answer, whether it was cut at max_tokens,
and the per-line verdicts of today's parser ("ok" or a rejection reason). Read each file before
committing it: the verdicts become what tests/test_glan_parse.py expects.

    python benchmarks/glan_record.py data/glan1 [--prefix smollm2] [--per-level 2]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from selfinstruct.gate import Rejection  # noqa: E402
from selfinstruct.methods.glan.parse import (  # noqa: E402
    parse_answer,
    parse_names,
    parse_question,
    parse_subjects,
    parse_syllabus,
)

PARSERS = {
    "taxonomy": parse_names, "subjects": parse_subjects, "syllabus": parse_syllabus,
    "questions": parse_question, "answers": parse_answer,
}  # fmt: skip


def verdicts(level: str, text: str, truncated: bool) -> list[str]:
    parsed = PARSERS[level](text, truncated)
    items = parsed if isinstance(parsed, list) else [parsed]
    return [i.reason if isinstance(i, Rejection) else "ok" for i in items]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--prefix", default="smollm2")
    parser.add_argument("--per-level", type=int, default=2)
    args = parser.parse_args()
    target = REPO / "tests" / "fixtures" / "glan"
    with sqlite3.connect(args.folder / "cache.sqlite") as db:
        for level in PARSERS:
            rows = db.execute(
                "SELECT text, finish_reason FROM responses WHERE stage = ? ORDER BY created "
                "LIMIT ?",
                (level, args.per_level),
            ).fetchall()
            for i, (text, finish) in enumerate(rows, start=1):
                truncated = finish == "length"
                record = {
                    "level": level, "text": text, "truncated": truncated,
                    "expected": verdicts(level, text, truncated),
                }  # fmt: skip
                path = target / f"{args.prefix}_{level}_{i}.json"
                path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
                print(f"wrote {path.relative_to(REPO)}: {record['expected']}")


if __name__ == "__main__":
    main()
