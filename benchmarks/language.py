"""Language detection accuracy: lingua (high and low accuracy modes) against the judge's
function-word heuristic, on benchmarks/data/languages.tsv (200 instructions, 20 in each of
en, de, fr, es, it, pt, nl, pl, ru, zh).

    python benchmarks/language.py

The heuristic names a script for non-Latin text; han counts as zh and cyrillic as ru (in its
favour: it cannot tell Russian from Bulgarian). Its None is an abstention, not an error.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from selfinstruct import language  # noqa: E402
from selfinstruct.methods.judge.heuristics import language_of  # noqa: E402

DATA = Path(__file__).parent / "data" / "languages.tsv"
SCRIPTS = {"han": "zh", "cyrillic": "ru"}


def main() -> None:
    import lingua

    rows = [line.split("\t") for line in DATA.read_text(encoding="utf-8").splitlines()]
    started = time.perf_counter()
    language.detect("warm up")
    print(f"lingua high accuracy loaded in {time.perf_counter() - started:.1f} s")
    low = lingua.LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
    counts: Counter[str] = Counter()
    for code, text in rows:
        guess = language_of(text)
        guess = SCRIPTS.get(guess or "", guess)
        counts["heuristic right"] += guess == code
        counts["heuristic abstained"] += guess is None
        counts["heuristic wrong"] += guess is not None and guess != code
        counts["lingua right"] += language.detect(text) == code
        found = low.detect_language_of(text)
        counts["lingua low-accuracy right"] += (
            found is not None and found.iso_code_639_1.name.lower() == code
        )
    for name, count in counts.items():
        print(f"{name}: {count} of {len(rows)} ({count / len(rows):.1%})")


if __name__ == "__main__":
    main()
