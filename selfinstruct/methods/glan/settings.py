"""GLAN's settings (Li et al. 2024)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from selfinstruct.backends.base import Decoding
from selfinstruct.config import RunSettings

# GLAN (Li et al. 2024). The paper gives top_p 0.95 and temperature 1.0 for subjects and 0.7 for
# answers; the taxonomy (reviewed by hand in the paper) is asked for greedily, and syllabi and
# questions share the subjects' sampling, since the paper gives no other figures for them.
GLAN_TAXONOMY_DECODING = Decoding(max_tokens=300, temperature=0.0, top_p=1.0)
GLAN_SUBJECT_DECODING = Decoding(max_tokens=700, temperature=1.0, top_p=0.95)
GLAN_SYLLABUS_DECODING = Decoding(max_tokens=900, temperature=1.0, top_p=0.95)
GLAN_QUESTION_DECODING = Decoding(max_tokens=300, temperature=1.0, top_p=0.95)
GLAN_ANSWER_DECODING = Decoding(max_tokens=1024, temperature=0.7, top_p=0.95)
# GLAN's levels, each a log keyed by its path id.
GLAN_LOGS = {
    "taxonomy": "taxonomy.jsonl", "subjects": "subjects.jsonl",
    "syllabi": "syllabi.jsonl", "questions": "questions.jsonl",
}  # fmt: skip
GLAN_LEVELS = ("taxonomy", "subjects", "syllabus", "questions", "answers")


class GlanSettings(RunSettings):
    """GLAN: taxonomy -> subjects -> syllabi -> homework questions -> answers.

    ``n`` is the number of questions asked for in all (disciplines x subjects x questions);
    the sizes and ``until`` are operational: a later run with larger sizes, or without
    ``until``, extends the folder (see docs/methods/glan.md for what extends exactly)."""

    OPERATIONAL: ClassVar[frozenset[str]] = RunSettings.OPERATIONAL | frozenset(
        {"disciplines", "subjects", "questions", "until"}
    )

    method: Literal["glan"] = "glan"
    taxonomy_path: str | None = None
    taxonomy_sha256: str | None = None
    disciplines: int = Field(default=3, ge=1)
    fields_asked: int = Field(default=10, ge=1, le=50, description="fields per taxonomy request")
    sub_fields_asked: int = Field(default=8, ge=1, le=50)
    disciplines_asked: int = Field(default=8, ge=1, le=50)
    subjects: int = Field(default=2, ge=1)
    subject_requests: int = Field(
        default=3, ge=1, le=20, description="subject lists asked per discipline, then merged"
    )
    sessions: int = Field(default=8, ge=1, le=40, description="class sessions asked per syllabus")
    questions: int = Field(default=4, ge=1, description="homework questions per subject")
    two_session_share: float = Field(default=0.5, ge=0, le=1)
    max_concepts: int = Field(default=3, ge=1, le=10, description="key concepts per question")
    answer_model: str | None = None
    question_novelty: bool = Field(
        default=False,
        description="ours, not the paper's: drop a question whose ROUGE-L F to a kept one is "
        "above threshold",
    )
    threshold: float = Field(default=0.7, ge=0, le=1)
    tokenizer: Literal["rouge", "unicode"] = "rouge"
    decontaminate_path: str | None = None
    decontaminate_sha256: str | None = None
    decontaminate_ngram: int = Field(default=5, ge=1, le=50)
    decontaminate_threshold: float = Field(default=0.5, gt=0, le=1)
    until: Literal["taxonomy", "subjects", "syllabus", "questions", "answers"] = "answers"
    taxonomy_decoding: Decoding = GLAN_TAXONOMY_DECODING
    subject_decoding: Decoding = GLAN_SUBJECT_DECODING
    syllabus_decoding: Decoding = GLAN_SYLLABUS_DECODING
    question_decoding: Decoding = GLAN_QUESTION_DECODING
    answer_decoding: Decoding = GLAN_ANSWER_DECODING
