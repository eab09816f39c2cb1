"""Strict parsers for GLAN's model answers: lists of names, subjects, syllabi, questions, answers.

Every prompt asks for a simple line layout and ends with the opening of the first line (``1.``,
``Session 1:``, ``Question:``) for a completion model to continue; a chat model usually restates
it. The parsers put the opening back in front when it is missing, then read line by line. Every
line is either kept or rejected with a stable snake_case reason (what ``rejected.jsonl`` records),
so a run can always say why the model's text was not used. Light clean-up only: markdown bold,
a trailing full stop, a description after the name ("Physics - the study of ...").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selfinstruct.gate import Rejection

NUMBERED = re.compile(r"^\s*(?:[-*]\s*)?(\d+)\s*[.)]\s*(.*?)\s*$")
SESSION = re.compile(r"^\s*(?:#+\s*)?session\s+(\d+)\s*[:.\-–]\s*(.*?)\s*$", re.IGNORECASE)
CONCEPTS = re.compile(r"^\s*(?:[-*]\s*)?(?:key\s+)?concepts?\s*:\s*(.*?)\s*$", re.IGNORECASE)
DESCRIPTION = re.compile(r"\s+(?:-|–|—)\s+|:\s+|\s+\(")
# Longer than this, a "name" is a sentence the model wrote instead of a name.
MAX_NAME_WORDS = 10
MIN_QUESTION_WORDS = 4


@dataclass(frozen=True)
class Subject:
    name: str
    level: str
    subtopics: tuple[str, ...]


@dataclass(frozen=True)
class Session:
    number: int
    title: str
    concepts: tuple[str, ...]


def _unmark(text: str) -> str:
    return re.sub(r"\*\*|__|`", "", text).strip()


def _with_opening(text: str, opening: str) -> str:
    """The answer with the prompt's opening in front. A chat model restates it, perhaps after
    a preamble ("Sure! Here is the list:"): then the text starts at the restated opening. An
    opening after a numbered line is a second list the model went on to write, not a
    restatement: a completion model's answer continues the prompt's opening."""
    stripped = text.strip()
    number = r"\s*[.)]" if opening == "1." else r"\s*:"
    label = r"" if opening == "1." else re.escape(opening.split(" ")[0]) + r"\s+"
    pattern = r"(?im)^\s*(?:[-*#]\s*)?(?:\*\*)?" + label + r"1" + number
    restated = re.search(pattern, stripped)
    if restated is not None:
        before = stripped[: restated.start()]
        earlier = r"(?im)^\s*(?:[-*#]\s*)?(?:\*\*)?" + label + r"\d+" + number
        if re.search(earlier, before) is None:
            return stripped[restated.start() :]
    return f"{opening} {stripped}"


def clean_name(text: str) -> str | Rejection:
    """A field, sub-field, discipline or subject name; a description after it is dropped."""
    name = _unmark(text)
    name = DESCRIPTION.split(name, maxsplit=1)[0].strip().rstrip(".;,").strip()
    if not name:
        return Rejection("empty_name", {"raw": text})
    if not re.search(r"[^\W\d_]", name):
        return Rejection("not_a_name", {"raw": text})  # "2." when the model only counts
    if len(name.split()) > MAX_NAME_WORDS:
        return Rejection("name_too_long", {"raw": text})
    return name


def _numbered_lines(text: str) -> tuple[list[tuple[int, str] | Rejection], bool]:
    """Consecutively numbered lines from 1; the list ends at the first line that breaks it.
    Also whether the list runs to the end of the text: only then can a cut-off answer (the
    token limit) have cut its last line."""
    out: list[tuple[int, str] | Rejection] = []
    expected = 1
    for line in text.splitlines():
        if not line.strip():
            continue
        match = NUMBERED.match(_unmark(line))
        if match is None:
            if expected == 1:
                continue  # a preamble before the list
            return out, False  # the list is over: what follows is commentary
        number = int(match.group(1))
        if number != expected:
            out.append(Rejection("number_out_of_order", {"raw": line.strip()}))
            return out, False
        out.append((number, match.group(2)))
        expected += 1
    return out, True


def parse_names(text: str, truncated: bool = False) -> list[str | Rejection]:
    """A numbered list of names (fields, sub-fields, disciplines): unique, in order."""
    results: list[str | Rejection] = []
    seen: set[str] = set()
    lines, to_the_end = _numbered_lines(_with_opening(text, "1."))
    for index, line in enumerate(lines):
        if isinstance(line, Rejection):
            results.append(line)
            continue
        if truncated and to_the_end and index == len(lines) - 1:
            results.append(Rejection("item_truncated", {"raw": line[1]}))
            continue
        name = clean_name(line[1])
        if isinstance(name, str):
            if name.lower() in seen:
                name = Rejection("duplicate", {"raw": line[1]})
            else:
                seen.add(name.lower())
        results.append(name)
    return results


def _split_items(text: str) -> tuple[str, ...]:
    return tuple(
        item for item in (_unmark(p).strip().rstrip(".") for p in re.split(r"[;]", text)) if item
    )


def parse_subjects(text: str, truncated: bool = False) -> list[Subject | Rejection]:
    """Lines ``N. NAME | level: LEVEL | subtopics: A; B; C``."""
    results: list[Subject | Rejection] = []
    lines, to_the_end = _numbered_lines(_with_opening(text, "1."))
    for index, line in enumerate(lines):
        if isinstance(line, Rejection):
            results.append(line)
            continue
        raw = line[1]
        if truncated and to_the_end and index == len(lines) - 1:
            results.append(Rejection("item_truncated", {"raw": raw}))
            continue
        parts = [p.strip() for p in raw.split("|")]
        level = re.match(r"(?i)level\s*:\s*(.*)$", parts[1]) if len(parts) == 3 else None
        topics = re.match(r"(?i)(?:sub-?)?topics?\s*:\s*(.*)$", parts[2]) if level else None
        if level is None or topics is None:
            results.append(Rejection("subject_malformed", {"raw": raw}))
            continue
        name = clean_name(parts[0])
        if isinstance(name, Rejection):
            results.append(name)
            continue
        level_text = _unmark(level.group(1)).rstrip(".").strip()
        subtopics = _split_items(topics.group(1))
        if not level_text:
            results.append(Rejection("subject_no_level", {"raw": raw}))
        elif not subtopics:
            results.append(Rejection("subject_no_subtopics", {"raw": raw}))
        else:
            results.append(Subject(name, level_text, subtopics))
    return results


def merge_subjects(answers: list[list[Subject | Rejection]], limit: int) -> list[Subject]:
    """Subjects of several answers for one discipline: first come first kept, one per name
    (case-insensitive), at most ``limit``. Answers are taken in request order, so the merge
    never depends on which answer arrived first."""
    merged: dict[str, Subject] = {}
    for answer in answers:
        for item in answer:
            if isinstance(item, Subject) and item.name.lower() not in merged:
                merged[item.name.lower()] = item
    return list(merged.values())[:limit]


def parse_syllabus(text: str, truncated: bool = False) -> list[Session | Rejection]:
    """Pairs of lines ``Session N: TITLE`` / ``Concepts: A; B; C``, numbered from 1."""
    results: list[Session | Rejection] = []
    expected = 1
    current: tuple[int, str] | None = None
    body = _with_opening(text, "Session 1:")

    def close(concepts: tuple[str, ...]) -> None:
        assert current is not None
        number, title = current
        title = _unmark(title).rstrip(".").strip()
        if not title:
            results.append(Rejection("session_no_title", {"session": number}))
        elif not concepts:
            results.append(Rejection("session_no_concepts", {"session": number, "raw": title}))
        else:
            results.append(Session(number, title, concepts))

    for line in body.splitlines():
        if not line.strip():
            continue
        session = SESSION.match(_unmark(line))
        if session is not None:
            if current is not None:
                close(())
            number = int(session.group(1))
            if number != expected:
                results.append(Rejection("number_out_of_order", {"raw": line.strip()}))
                current = None
                break
            current = (number, session.group(2))
            expected += 1
            continue
        concepts = CONCEPTS.match(line)
        if concepts is not None and current is not None:
            close(_split_items(concepts.group(1)))
            current = None
            continue
        if current is None and expected > 1:
            break  # commentary after the syllabus
    if current is not None:
        close(())
    if truncated and results and isinstance(results[-1], Session):
        last = results.pop()
        results.append(Rejection("item_truncated", {"session": last.number, "raw": last.title}))
    return results


def parse_question(text: str, truncated: bool = False) -> str | Rejection:
    """The question after ``Question:``; an answer the model added after it is cut off."""
    if truncated:
        return Rejection("question_truncated", {"raw": text})
    body = text.strip()
    body = re.sub(r"(?is)^\**question\**\s*:\s*", "", body)
    body = re.split(r"(?im)^\s*\**(?:answer|solution|hint)s?\**\s*:", body, maxsplit=1)[0]
    body = _unmark(body).strip()
    if not body:
        return Rejection("question_empty")
    if len(body.split()) < MIN_QUESTION_WORDS:
        return Rejection("question_too_short", {"raw": body})
    return body


def parse_answer(text: str) -> str | Rejection:
    """The answer text as the model wrote it (a restated ``Answer:`` removed); a cut answer is
    kept (the method flags it)."""
    body = re.sub(r"(?is)^\s*\**answer\**\s*:\s*", "", text).strip()
    if not body:
        return Rejection("answer_empty")
    return body
