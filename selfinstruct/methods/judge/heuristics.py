"""Quality checks that need no model: each flag is a stable, named reason.

They catch the failure shapes that generated data is known to carry, in seconds on thousands of
tasks:

* ``empty_output``: the output is empty or only whitespace.
* ``placeholder_output``: the output is a stand-in, not an answer (``<nooutput>``, ``N/A``,
  ``...``, ``TODO``, "[insert ...]", lorem ipsum).
* ``refers_to_attachment``: the instruction (or input) points at something a text record cannot
  carry: a link in the instruction, an embedded image or link in the input (markdown, ``<img>``),
  "the attached file", "this image/photo/video/audio/diagram/screenshot".
* ``merged_items``: the output holds the start of another item (a numbered "Instruction:" or a
  ``###`` separator followed by "Instruction:"): two items glued together by a parser.
* ``input_only_url``: the input is nothing but a URL, whose content the model never saw.
* ``output_language``: the output is in another language than the instruction (and the input).

The language check is deliberately cheap and therefore limited: it compares writing systems
(Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Han, Kana, Hangul, Thai) by the share of
letters, and within Latin script counts common function words of English, Spanish, French,
German, Italian, Portuguese and Dutch. It abstains on short outputs (under 6 words), on code or
lists with few function words, and on any instruction that mentions translating or names a
language, so a correct translation is not flagged; it cannot tell apart languages it has no
word list for (a Polish output counts as "not English" only through a missing English majority,
which it does not flag).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

REASONS = (
    "empty_output",
    "placeholder_output",
    "refers_to_attachment",
    "merged_items",
    "input_only_url",
    "output_language",
)

_PLACEHOLDER_WHOLE = re.compile(
    r"^\s*(?:<\s*no\s*_?\s*(?:output|input|answer)\s*>|n/?a|none|null|nil|tbd|todo|"
    r"\(?no output\)?|\.{3,}|…|-+|\?+|output:?|answer:?|<\s*/?\s*s\s*>|\[\s*\w*\s*\])\s*[.!]?\s*$",
    re.IGNORECASE,
)
_PLACEHOLDER_PART = re.compile(
    r"\[\s*insert\b|<\s*insert\b|\blorem ipsum\b|\{\{\s*\w+\s*\}\}", re.IGNORECASE
)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_URL_ONLY = re.compile(r"^\s*<?(?:https?://|www\.)\S+?>?\s*$", re.IGNORECASE)
_ATTACHMENT = re.compile(
    r"\b(?:attached|attachment|enclosed (?:file|document)|uploaded)\b"
    r"|\b(?:this|these|the|following|given|above|below|provided|attached)\s+"
    r"(?:images?|pictures?|photos?|photographs?|videos?|audio|audio clips?|recordings?|"
    r"diagrams?|screenshots?|video clips?|podcasts?)\b",
    re.IGNORECASE,
)
# Markup that embeds a picture or a link in an input: the record carries only its address.
_EMBED = re.compile(r"!?\[[^\]]*\]\((?:https?://|www\.)[^)]*\)|<img\b[^>]*>", re.IGNORECASE)
_MERGED = re.compile(r"(?:\b\d{1,3}\s*[.)]|###)\s*Instruction\s*:", re.IGNORECASE)
_TRANSLATION = re.compile(
    r"translat|\blanguage\b|\b(?:english|spanish|french|german|italian|portuguese|dutch|"
    r"chinese|japanese|korean|russian|arabic|hindi|greek|hebrew|thai|latin|mandarin)\b",
    re.IGNORECASE,
)


# Common function words per language: a text's language is the one whose words it uses most.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the of and to in is that it for was on are with as be this by at or from have an "
        "not they you which but can his her we will has their would there what all were"
    ),
    "es": _words(
        "el la los las de que y en un una es por con para del se no al lo como más pero sus "
        "le ya o este esta son muy también"
    ),
    "fr": _words(
        "le la les de des et est un une du que qui dans pour pas sur au avec il elle ce ces "
        "sont ou mais nous vous leur cette"
    ),
    "de": _words(
        "der die das und ist nicht ein eine zu den mit von sich des auf für im dem sie es "
        "auch als an wird werden oder aber wie bei"
    ),
    "it": _words(
        "il lo la gli le di che e è un una per non con del della sono si da nel alla anche "
        "come più questo questa"
    ),
    "pt": _words(
        "o a os as de que e do da em um uma para com não no na por se dos das mais como ao "
        "ele ela são também"
    ),
    "nl": _words(
        "de het een en van is dat op te in zijn met voor niet aan er ook als bij door maar "
        "om worden wordt deze"
    ),
}
# Words of one letter and words that are also English ("no", "as", "do") say nothing.
_DISTINCT: dict[str, frozenset[str]] = {
    lang: frozenset(w for w in vocab if len(w) > 1 and (lang == "en" or w not in STOPWORDS["en"]))
    for lang, vocab in STOPWORDS.items()
}
_SCRIPTS = (
    ("cyrillic", "CYRILLIC"),
    ("greek", "GREEK"),
    ("arabic", "ARABIC"),
    ("hebrew", "HEBREW"),
    ("devanagari", "DEVANAGARI"),
    ("han", "CJK UNIFIED"),
    ("kana", "HIRAGANA"),
    ("kana", "KATAKANA"),
    ("hangul", "HANGUL"),
    ("thai", "THAI"),
    ("latin", "LATIN"),
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
MIN_WORDS = 6


@dataclass(frozen=True)
class Flag:
    reason: str
    detail: str


def script_of(text: str) -> str | None:
    """The writing system of most of ``text``'s letters (None without letters)."""
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        for script, marker in _SCRIPTS:
            if marker in name:
                counts[script] = counts.get(script, 0) + 1
                break
    if not counts:
        return None
    return max(sorted(counts), key=lambda s: counts[s])


def language_of(text: str) -> str | None:
    """A guess at ``text``'s language: a script name, or a Latin-script language code when its
    function words say so clearly; None when the text is too short or the signal too weak."""
    script = script_of(text)
    if script is None:
        return None
    if script != "latin":
        return script
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < MIN_WORDS:
        return None
    hits = {lang: sum(w in vocab for w in words) for lang, vocab in _DISTINCT.items()}
    best = max(sorted(hits), key=lambda lang: hits[lang])
    runner_up = max((n for lang, n in hits.items() if lang != best), default=0)
    # Clear: enough function words, and twice the next language's (they share "de", "la", ...).
    if hits[best] >= 3 and hits[best] >= 2 * max(runner_up, 1) and hits[best] >= 0.15 * len(words):
        return best
    return None


def _instruction_language(instruction: str, said: str) -> str | None:
    """The instruction's language as far as it can be compared with the output's ``said``."""
    asked = language_of(instruction)
    if asked is not None:
        return asked
    script = script_of(instruction)
    if script != "latin" or said not in STOPWORDS:
        return script
    # Too short for a clear guess: English when it uses English function words and none of
    # the output's language.
    words = {w.lower() for w in _WORD.findall(instruction)}
    if words & STOPWORDS["en"] and not words & STOPWORDS[said]:
        return "en"
    return None


def _family(language: str) -> str:
    return "latin" if language in STOPWORDS else language


def _other_language(instruction: str, input_text: str, output: str) -> str | None:
    if _TRANSLATION.search(instruction):
        return None
    said = language_of(output)
    if said is None:
        return None
    asked = _instruction_language(instruction, said)
    if asked is None or said == asked or (asked == "latin" and _family(said) == "latin"):
        return None
    if language_of(input_text) == said or (said not in STOPWORDS and script_of(input_text) == said):
        return None  # the output follows the input's language (a rewrite, a correction)
    return f"instruction {asked}, output {said}"


def check(instruction: str, input_text: str, output: str) -> list[Flag]:
    """Every heuristic flag of one instance, in the order of :data:`REASONS`."""
    flags: list[Flag] = []
    if not output.strip():
        flags.append(Flag("empty_output", "the output is empty"))
    elif _PLACEHOLDER_WHOLE.match(output) or _PLACEHOLDER_PART.search(output):
        flags.append(Flag("placeholder_output", output.strip()[:80]))
    for where, text in (("instruction", instruction), ("input", input_text)):
        if where == "input" and _URL_ONLY.match(text):
            continue  # counted as input_only_url below
        link = _URL if where == "instruction" else _EMBED  # an input may mention a site
        match = link.search(text) or _ATTACHMENT.search(text)
        if match:
            flags.append(Flag("refers_to_attachment", f"{where}: {match.group(0)[:80]}"))
            break
    merged = _MERGED.search(output)
    if merged:
        flags.append(Flag("merged_items", merged.group(0)))
    if _URL_ONLY.match(input_text):
        flags.append(Flag("input_only_url", input_text.strip()[:80]))
    language = _other_language(instruction, input_text, output) if output.strip() else None
    if language is not None:
        flags.append(Flag("output_language", language))
    return flags
