"""The synthetic model's answers to GLAN's prompts (told apart by their wording, whatever the
stage), for the stub server and the in-process fake backend: plausible, varied, a function of
the prompt alone, and now and then wrong in the ways real models are (a duplicate, a line
without subtopics, a session without concepts, a question that is too short), so the parsers'
rejections are exercised."""

from __future__ import annotations

import hashlib
import random
import re

PRIORITY = 10  # its prompts are told by their wording alone: asked first

FIELDS = (
    "Natural Sciences", "Humanities", "Social Sciences", "Engineering and Technology",
    "Medicine and Health", "Mathematics", "Arts", "Business and Economics", "Law",
    "Agriculture", "Education", "Computer Science",
)  # fmt: skip
ADJ = (
    "Applied", "Theoretical", "Comparative", "Computational", "Experimental", "Historical",
    "Modern", "Quantitative", "Environmental", "Clinical", "Structural", "Cultural", "Digital",
    "Marine", "Urban", "Industrial", "Molecular", "Cognitive", "Financial", "Regional",
)  # fmt: skip
NOUN = (
    "Analysis", "Systems", "Design", "Ecology", "Ethics", "Methods", "Mechanics", "Policy",
    "Linguistics", "Optics", "Genetics", "Statistics", "Acoustics", "Logistics", "Semantics",
    "Hydrology", "Robotics", "Cartography", "Pharmacology", "Rhetoric", "Topology", "Accounting",
)  # fmt: skip
CONCEPT = (
    "equilibrium", "feedback loops", "sampling error", "boundary conditions", "opportunity cost",
    "entropy", "recursion", "causal inference", "load paths", "dose response", "tonality",
    "jurisdiction", "soil salinity", "reinforcement", "marginal utility", "phase shifts",
    "peer review", "heat transfer", "signal noise", "risk pooling", "invariants", "metadata",
    "symmetry", "scaffolding", "consent", "liquidity", "erosion", "latency", "provenance",
)  # fmt: skip
SETTINGS = (
    "a small coastal town", "a hospital ward", "a start-up", "a river delta", "a school library",
    "a wind farm", "a city council", "a research vessel", "a vineyard", "a rail network",
    "a museum archive", "a mountain village", "a data centre", "a newsroom", "a bakery",
)  # fmt: skip
OPENERS = (
    "Explain how", "Show why", "Estimate whether", "Argue whether", "Describe when",
    "Predict how", "Decide if", "Work out how much", "Judge whether", "Sketch how",
)  # fmt: skip
LINKS = (
    "{a} changes {b}", "{a} limits {b}", "{a} and {b} interact", "{a} outweighs {b}",
    "{b} depends on {a}", "{a} can replace {b}", "{a} masks {b}", "{b} amplifies {a}",
)  # fmt: skip
CLOSERS = (
    "Give one worked example.", "Justify each step.", "State your assumptions first.",
    "Use numbers you choose.", "Name one exception.", "Draw on class notes only.",
    "Answer in under 200 words.", "Compare two cases.",
)  # fmt: skip


PHRASES = {
    "fields": "broad fields of human knowledge",
    "sub_fields": "sub-fields of the field",
    "disciplines": "disciplines within the sub-field",
    "subjects": "subjects a university would teach",
    "syllabus": "Write the syllabus for the course",
    "question": "Write one homework question",
    "answer": "Answer the question below as a knowledgeable teacher",
}
OPENINGS = {"syllabus": "Session 1:", "question": "Question:", "answer": "Answer:"}


def glan_stage(prompt: str) -> str | None:
    for stage, phrase in PHRASES.items():
        if phrase in prompt:
            return stage
    return None


def _rng(stage: str, prompt: str) -> random.Random:
    digest = hashlib.sha256(f"glan\x1f{stage}\x1f{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _names(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = f"{rng.choice(ADJ)} {rng.choice(NOUN)}"
        if name not in names:
            names.append(name)
    return names


def _full(stage: str, prompt: str) -> str:
    rng = _rng(stage, prompt)
    if stage == "fields":
        names = list(FIELDS)
        rng.shuffle(names)
        lines = [*names[:6], names[0]]  # the last one repeats the first: a duplicate
        return "\n".join(f"{i}. {n}" for i, n in enumerate(lines, start=1))
    if stage in ("sub_fields", "disciplines"):
        lines = _names(rng, 5)
        lines[2] += " - the study of how this area grew"  # a description after the name
        return "\n".join(f"{i}. {n}" for i, n in enumerate(lines, start=1))
    if stage == "subjects":
        levels = ("introductory", "intermediate", "advanced")
        rows = []
        for i, name in enumerate(_names(rng, 5), start=1):
            topics = "; ".join(rng.sample(CONCEPT, 3))
            if i == 4:
                rows.append(f"{i}. {name} | level: advanced")  # no subtopics: malformed
            else:
                rows.append(f"{i}. {name} | level: {levels[i % 3]} | subtopics: {topics}")
        return "\n".join(rows)
    if stage == "syllabus":
        rows = []
        for number in range(1, 5):
            rows.append(f"Session {number}: {rng.choice(ADJ)} {rng.choice(NOUN).lower()}")
            if number != 3:  # session 3 has no concepts line: rejected
                rows.append("Concepts: " + "; ".join(rng.sample(CONCEPT, 3)))
        return "\n".join(rows)
    if stage == "question":
        found = re.search(r"key concepts(?: together)?: (.*?)\.(?: It should|\n)", prompt)
        concepts = (found.group(1) if found else "practice").split("; ")
        a = concepts[0]
        b = concepts[1] if len(concepts) > 1 else rng.choice(CONCEPT)
        if rng.random() < 0.06:
            return "Question: Explain it."  # too short
        link = rng.choice(LINKS).format(a=a, b=b)
        where = rng.choice(SETTINGS)
        text = f"{rng.choice(OPENERS)} {link} in {where}. {rng.choice(CLOSERS)}"
        return f"Question: {text}"
    question = prompt.rsplit("Question:", 1)[-1].split("\n\nAnswer:", 1)[0].strip()
    return (
        f"Answer: Start from the definitions used in class. {question.split(',')[0]} depends on "
        f"the quantities involved; with typical values the effect is about {rng.randint(2, 40)} "
        "percent, so the main idea holds and the worked example confirms it."
    )


def glan_answer(prompt: str, chat: bool) -> str | None:
    """The stub's answer to a GLAN prompt, or None for any other prompt."""
    stage = glan_stage(prompt)
    if stage is None:
        return None
    text = _full(stage, prompt)
    if chat:
        return text
    opening = OPENINGS.get(stage, "1.")
    return " " + text.removeprefix(opening).lstrip() if text.startswith(opening) else text


def answer(prompt: str, *, chat: bool, stage: str | None, seed: object, salt: str) -> str | None:
    return glan_answer(prompt, chat)
