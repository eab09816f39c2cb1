"""Which language a text is in: lingua's detector, offline (its models ship in the wheel).

``filter --language`` keeps records whose instruction is in one of the given ISO 639-1 codes.
lingua is an optional dependency (the ``filters`` extra). The judge's ``output_language``
flag keeps its model-free function-word heuristic (:mod:`selfinstruct.methods.judge.heuristics`):
on benchmarks/data/languages.tsv it abstains on 57% but is never wrong, where lingua names 95.5%
right and 4.5% wrong, and a wrong answer there is a false flag (docs/performance.md).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from selfinstruct.errors import UserError

MISSING = "--language needs lingua-language-detector: pip install 'selfinstruct[filters]'"


def _lingua() -> Any:
    try:
        import lingua
    except ImportError:
        raise UserError(MISSING) from None
    return lingua


def available() -> bool:
    """Whether lingua is installed (the fallbacks ask before using it)."""
    try:
        _lingua()
    except UserError:
        return False
    return True


@cache
def _detector() -> Any:
    """All of lingua's languages, in high-accuracy mode (loaded once: ~8 s, ~1 GB)."""
    lingua = _lingua()
    return lingua.LanguageDetectorBuilder.from_all_languages().build()


def known_codes() -> frozenset[str]:
    """The ISO 639-1 codes lingua can detect."""
    lingua = _lingua()
    return frozenset(lang.iso_code_639_1.name.lower() for lang in lingua.Language.all())


def parse_codes(spec: str) -> tuple[str, ...]:
    """``en`` or ``en,de`` as codes, each checked against the ones lingua knows."""
    known = known_codes()
    codes = tuple(dict.fromkeys(code.strip().lower() for code in spec.split(",")))
    for code in codes:
        if code not in known:
            raise UserError(
                f"--language: unknown language code {code!r} (ISO 639-1, e.g. en or en,de)"
            )
    return codes


def detect(text: str) -> str | None:
    """The ISO 639-1 code of ``text``'s language, or None when lingua finds no letters."""
    found = _detector().detect_language_of(text)
    return None if found is None else str(found.iso_code_639_1.name.lower())
