"""GLAN (Li et al. 2024): instructions from a taxonomy of human knowledge, no seed tasks.

1. Taxonomy: fields -> sub-fields -> disciplines, asked of the model (``disciplines`` in all,
   spread evenly over the first fields, each field's share spread over its first sub-fields),
   or read from a file the user edited (``taxonomy_path``).
2. Subjects: per discipline, ``subject_requests`` lists (temperature 1.0, top_p 0.95), each
   subject with a level and subtopics, merged by name in request order; the first
   ``subjects`` are kept.
3. A syllabus per subject: class sessions, each with its key concepts.
4. Homework questions, ``questions`` per subject: with probability ``two_session_share`` two
   sessions (a harder question combining their concepts, at least one concept from each), else
   one session; up to ``max_concepts`` key concepts. Questions pass the ROUGE-L novelty gate
   against every kept question, then decontamination against a benchmark file.
5. Answers, by ``answer_model`` when given (temperature 0.7, top_p 0.95).

Each level's records go to their own log (taxonomy, subjects, syllabi, questions; the final
records to tasks), keyed by a path id such as ``f01.s02.d01.c02.q03``, and every record keeps
its whole path. Every answer is cached, so a rerun replays the levels already done and goes
on; ``until`` stops after a level. Questions are committed in the order (round k, subject), so
a larger ``questions`` extends a folder exactly as a straight run would have made it; a question
and its answer are one unit of the engine's ordered scheduler, so every file is written in that
order whatever the timing.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from selfinstruct.backends.base import Backend, Decoding, Request
from selfinstruct.client import Answer, NotSent
from selfinstruct.config import RunSettings, file_sha256
from selfinstruct.engine import Engine, StopKind
from selfinstruct.errors import UserError
from selfinstruct.gate import Rejection
from selfinstruct.methods.base import Method
from selfinstruct.methods.glan.inputs import (
    Decontaminator,
    Discipline,
    load_benchmark,
    load_taxonomy,
)
from selfinstruct.methods.glan.parse import (
    Session,
    Subject,
    merge_subjects,
    parse_answer,
    parse_names,
    parse_question,
    parse_subjects,
    parse_syllabus,
)
from selfinstruct.methods.glan.report import glan_coverage, render_coverage
from selfinstruct.methods.glan.settings import GLAN_LEVELS, GLAN_LOGS, GlanSettings
from selfinstruct.novelty import NoveltyIndex
from selfinstruct.prompting import load_prompt

T = TypeVar("T")


@dataclass(frozen=True)
class SubjectNode:
    id: str
    discipline: Discipline
    subject: Subject


@dataclass(frozen=True)
class SyllabusNode:
    node: SubjectNode
    sessions: tuple[Session, ...]


@dataclass(frozen=True)
class Pick:
    """What question k of a subject is about: one or two sessions, and key concepts."""

    sessions: tuple[Session, ...]
    concepts: tuple[str, ...]

    @property
    def kind(self) -> str:
        return "two_sessions" if len(self.sessions) == 2 else "one_session"


def pick_focus(sessions: Sequence[Session], rng: random.Random, two_share: float,
               max_concepts: int) -> Pick:  # fmt: skip
    """Sample the sessions and concepts of one question (GLAN's basic and harder questions)."""
    two = len(sessions) >= 2 and rng.random() < two_share
    if not two:
        session = rng.choice(list(sessions))
        count = rng.randint(1, min(max_concepts, len(session.concepts)))
        return Pick((session,), tuple(rng.sample(list(session.concepts), count)))
    first, second = sorted(rng.sample(list(sessions), 2), key=lambda s: s.number)
    chosen = [rng.choice(list(first.concepts)), rng.choice(list(second.concepts))]
    rest = [c for c in (*first.concepts, *second.concepts) if c not in chosen]
    extra = rng.randint(0, max(0, min(max_concepts - 2, len(rest))))
    chosen += rng.sample(rest, extra)
    return Pick((first, second), tuple(dict.fromkeys(chosen)))


def path_of(node: SubjectNode) -> dict[str, Any]:
    d = node.discipline
    return {
        "field": d.field, "sub_field": d.sub_field, "discipline": d.discipline,
        "discipline_id": d.id, "subject": node.subject.name, "level": node.subject.level,
    }  # fmt: skip


class Glan(Method):
    """Taxonomy -> subjects -> syllabi -> homework questions -> answers."""

    name = "glan"
    Settings = GlanSettings
    stages = {
        "taxonomy": "taxonomy_decoding", "subjects": "subject_decoding",
        "syllabus": "syllabus_decoding", "questions": "question_decoding",
        "answers": "answer_decoding",
    }  # fmt: skip
    logs = GLAN_LOGS
    unit = "question"
    shardable = True  # discipline i of the --taxonomy file goes to shard i mod N

    def __init__(
        self,
        settings: GlanSettings,
        taxonomy: list[Discipline] | None,
        decontaminator: Decontaminator | None,
        api: str,
    ) -> None:
        self.s = settings
        self.taxonomy = taxonomy[: settings.disciplines] if taxonomy is not None else None
        if self.taxonomy is not None:
            self.taxonomy = self.shard_of(settings).take(self.taxonomy)
        self.decontaminator = decontaminator
        self.novelty = NoveltyIndex(threshold=settings.threshold, tokenizer=settings.tokenizer)
        self.kept = 0
        self.levels = GLAN_LEVELS[: GLAN_LEVELS.index(settings.until) + 1]
        self.lost = {"failed": 0, "rejected": 0}  # the level's answers lost, and how

    # ------------------------------------------------------------------ requests

    def _request(self, stage: str, template: str, decoding: Decoding, seed: int | None = None,
                 **values: Any) -> Request:  # fmt: skip
        # The prompts are instructions that end with the opening of the answer's layout: a
        # completion model continues it, a chat model gets the same text as its user message
        # (the parsers accept the opening restated, after a preamble or not). The file's last
        # line break is dropped: after "1." and a new line a small completion model only counts
        # on ("2.", "3.", ...), while on the opening's own line it writes the first item.
        prompt = load_prompt(f"glan/{template}").format(**values).rstrip("\n")
        return Request(stage, prompt, decoding, seed=seed)

    async def _ask_all(
        self, engine: Engine, asks: list[tuple[Request, str]]
    ) -> list[Answer | None]:
        """Requests of one level, concurrently; answers in request order."""
        answers: dict[int, Answer | None] = {}

        async def one(k: int) -> bool:
            request, ident = asks[k]
            answers[k] = await engine.ask(request, ident)
            return True

        stage = asks[0][0].stage if asks else ""
        await engine.ordered(stage, one, count=len(asks), limit=lambda: max(1, len(asks)))
        if len(answers) < len(asks):
            raise NotSent  # the run is stopping: what is written stays
        return [answers[k] for k in range(len(asks))]

    def _parsed(
        self, engine: Engine, stage: str, ident: str, answer: Answer | None,
        parse: Callable[[str, bool], list[T | Rejection]],
    ) -> list[T]:  # fmt: skip
        """Parse a list answer; every rejected line goes to rejected.jsonl."""
        if answer is None:
            self.lost["failed"] += 1
            return []
        completion = answer.completion
        kept: list[T] = []
        for j, item in enumerate(parse(completion.text, completion.finish_reason == "length")):
            if isinstance(item, Rejection):
                self.lost["rejected"] += 1
                engine.reject(f"{ident}#{j}", stage, item, completion.text, answer.key)
            else:
                kept.append(item)
        return kept

    # ------------------------------------------------------------------ the run

    async def __call__(self, engine: Engine) -> int:
        answering = getattr(engine.backend, "answer_model", engine.backend.model)
        if answering != (self.s.answer_model or self.s.model):
            raise UserError(
                f"answer_model is {self.s.answer_model!r} but the backend answers with "
                f"{answering!r}: build it with backends.routing.with_answer_model"
            )
        engine.progress.target = self.s.n
        with contextlib.suppress(NotSent):  # the run is stopping: what is written stays
            await self._run(engine)
        return self.kept

    async def _run(self, engine: Engine) -> None:
        disciplines = self.taxonomy or await self._model_taxonomy(engine)
        for d in disciplines:
            engine.write("taxonomy", {
                "id": d.id, "field": d.field, "sub_field": d.sub_field,
                "discipline": d.discipline, "source": "file" if self.taxonomy else "model",
            })  # fmt: skip
        if not disciplines:
            engine.stop(StopKind.FAILED, self._nothing("taxonomy"))
            return
        if "subjects" not in self.levels or engine.stopping:
            return
        self.lost = {"failed": 0, "rejected": 0}
        subjects = await self._subjects(engine, disciplines)
        if not subjects and not engine.stopping:
            engine.stop(StopKind.FAILED, self._nothing("subjects"))
            return
        if "syllabus" not in self.levels or engine.stopping:
            return
        syllabi = await self._syllabi(engine, subjects)
        if "questions" not in self.levels or engine.stopping:
            return
        await self._questions(engine, syllabi)

    def _nothing(self, what: str) -> str:
        """Why a level came out empty, naming the file that says so."""
        if not self.lost["rejected"]:
            return f"no {what}: the requests failed (see failures.jsonl)"
        also = " and failures.jsonl" if self.lost["failed"] else ""
        return f"the model gave no usable {what} (see rejected.jsonl{also})"

    # ------------------------------------------------------------------ level 1

    async def _model_taxonomy(self, engine: Engine) -> list[Discipline]:
        s = self.s
        answer = await engine.ask(
            self._request("taxonomy", "fields.txt", s.taxonomy_decoding, count=s.fields_asked),
            "fields",
        )
        fields = self._parsed(engine, "taxonomy", "fields", answer, parse_names)
        width = min(s.disciplines, len(fields))
        shares = [s.disciplines // width + (i < s.disciplines % width) for i in range(width)]
        sub_answers = await self._ask_all(engine, [
            (self._request("taxonomy", "sub_fields.txt", s.taxonomy_decoding, field=f,
                           count=s.sub_fields_asked), f"f{i + 1:02d}")
            for i, f in enumerate(fields[:width])
        ])  # fmt: skip
        subs = [
            self._parsed(engine, "taxonomy", f"f{i + 1:02d}", a, parse_names)[: shares[i]]
            for i, a in enumerate(sub_answers)
        ]
        jobs = [(i, j) for i in range(width) for j in range(len(subs[i]))]
        disc_answers = await self._ask_all(engine, [
            (self._request("taxonomy", "disciplines.txt", s.taxonomy_decoding, field=fields[i],
                           sub_field=subs[i][j], count=s.disciplines_asked),
             f"f{i + 1:02d}.s{j + 1:02d}")
            for i, j in jobs
        ])  # fmt: skip
        names: dict[tuple[int, int], list[str]] = {
            (i, j): self._parsed(engine, "taxonomy", f"f{i + 1:02d}.s{j + 1:02d}", a, parse_names)
            for (i, j), a in zip(jobs, disc_answers, strict=True)
        }
        out: list[Discipline] = []
        for i in range(width):
            # Round robin over the field's sub-fields until its share is reached.
            picked = 0
            depth = 0
            while picked < shares[i] and any(
                len(names[(i, j)]) > depth for j in range(len(subs[i]))
            ):
                for j in range(len(subs[i])):
                    if picked < shares[i] and len(names[(i, j)]) > depth:
                        ident = f"f{i + 1:02d}.s{j + 1:02d}.d{depth + 1:02d}"
                        out.append(Discipline(ident, fields[i], subs[i][j], names[(i, j)][depth]))
                        picked += 1
                depth += 1
        return out

    # ------------------------------------------------------------------ level 2

    async def _subjects(self, engine: Engine, disciplines: list[Discipline]) -> list[SubjectNode]:
        s = self.s
        asks = [
            (self._request("subjects", "subjects.txt", s.subject_decoding,
                           seed=random.Random(f"{s.seed}:glan-subjects:{d.id}:{r}").randrange(2**31),
                           discipline=d.discipline, field=d.field, sub_field=d.sub_field,
                           count=max(s.subjects, 5)), f"{d.id}/{r}")
            for d in disciplines for r in range(s.subject_requests)
        ]  # fmt: skip
        answers = await self._ask_all(engine, asks)
        nodes: list[SubjectNode] = []
        for n, d in enumerate(disciplines):
            lists: list[list[Subject | Rejection]] = []
            for r in range(s.subject_requests):
                parsed = self._parsed(engine, "subjects", f"{d.id}/{r}",
                                      answers[n * s.subject_requests + r], parse_subjects)  # fmt: skip
                lists.append(list(parsed))
            for j, subject in enumerate(merge_subjects(lists, s.subjects)):
                node = SubjectNode(f"{d.id}.c{j + 1:02d}", d, subject)
                nodes.append(node)
                engine.write("subjects", {
                    "id": node.id, **path_of(node), "subtopics": list(subject.subtopics),
                })  # fmt: skip
        return nodes

    # ------------------------------------------------------------------ level 3

    async def _syllabi(self, engine: Engine, subjects: list[SubjectNode]) -> list[SyllabusNode]:
        s = self.s
        asks = [
            (self._request("syllabus", "syllabus.txt", s.syllabus_decoding,
                           seed=random.Random(f"{s.seed}:glan-syllabus:{n.id}").randrange(2**31),
                           subject=n.subject.name, level=n.subject.level,
                           discipline=n.discipline.discipline,
                           subtopics="; ".join(n.subject.subtopics), count=s.sessions), n.id)
            for n in subjects
        ]  # fmt: skip
        answers = await self._ask_all(engine, asks)
        out: list[SyllabusNode] = []
        for node, answer in zip(subjects, answers, strict=True):
            sessions = self._parsed(engine, "syllabus", node.id, answer, parse_syllabus)
            if not sessions:
                if answer is not None:
                    engine.reject(node.id, "syllabus", Rejection("syllabus_empty"),
                                  answer.completion.text, answer.key)  # fmt: skip
                continue
            out.append(SyllabusNode(node, tuple(sessions)))
            engine.write("syllabi", {
                "id": node.id, **path_of(node),
                "sessions": [{"number": x.number, "title": x.title, "concepts": list(x.concepts)}
                             for x in sessions],
            })  # fmt: skip
        return out

    # ------------------------------------------------------------------ level 4

    def _question_slot(self, syllabi: list[SyllabusNode], k: int) -> tuple[SyllabusNode, str, Pick]:
        round_, index = divmod(k, len(syllabi))
        syllabus = syllabi[index]
        qid = f"{syllabus.node.id}.q{round_ + 1:02d}"
        rng = random.Random(f"{self.s.seed}:glan-question:{qid}")
        pick = pick_focus(syllabus.sessions, rng, self.s.two_session_share, self.s.max_concepts)
        return syllabus, qid, pick

    def question_request(self, syllabus: SyllabusNode, qid: str, pick: Pick) -> Request:
        node = syllabus.node
        outline = "\n".join(
            f"Session {x.number}: {x.title} (key concepts: {'; '.join(x.concepts)})"
            for x in syllabus.sessions
        )
        concepts = "; ".join(pick.concepts)
        if pick.kind == "one_session":
            x = pick.sessions[0]
            focus = (f'Base it on session {x.number} ("{x.title}") and make it test these key '
                     f"concepts: {concepts}.")  # fmt: skip
        else:
            a, b = pick.sessions
            focus = (f'Combine session {a.number} ("{a.title}") with session {b.number} '
                     f'("{b.title}"): answering it must need these key concepts together: '
                     f"{concepts}. It should be harder than a question on a single session.")  # fmt: skip
        return self._request(
            "questions", "question.txt", self.s.question_decoding,
            seed=random.Random(f"{self.s.seed}:glan-question-seed:{qid}").randrange(2**31),
            subject=node.subject.name, level=node.subject.level,
            discipline=node.discipline.discipline, syllabus=outline, focus=focus,
        )  # fmt: skip

    async def _questions(self, engine: Engine, syllabi: list[SyllabusNode]) -> None:
        if not syllabi:
            engine.stop(StopKind.FAILED, "no subject got a usable syllabus (see rejected.jsonl)")
            return
        total = len(syllabi) * self.s.questions
        engine.progress.target = total
        done = engine.known("tasks") | {
            i for i in engine.known("rejected") if i.endswith("/answer")
        }
        engine.progress.finished = len(done & engine.known("questions"))

        async def question(k: int) -> bool:
            syllabus, qid, pick = self._question_slot(syllabi, k)
            kept: list[dict[str, Any]] = []

            def decide(answer: Answer | None) -> bool:
                record = None
                if answer is not None:
                    record = self._commit_question(engine, answer, syllabus, qid, pick)
                if record is not None:
                    kept.append(record)
                return record is not None

            request = self.question_request(syllabus, qid, pick)
            if not await engine.ask_in_turn(request, decide):
                return False
            if "answers" in self.levels and qid not in done:
                await self._answer(engine, kept[0])
            return True

        # Every question prompt depends on the syllabi only.
        await engine.ordered("questions", question, count=total, lag=lambda k: k)

    def _commit_question(self, engine: Engine, answer: Answer, syllabus: SyllabusNode,
                         qid: str, pick: Pick) -> dict[str, Any] | None:  # fmt: skip
        """Question ``qid``, in order: its record when it is kept."""
        completion = answer.completion
        question = parse_question(completion.text, completion.finish_reason == "length")
        if isinstance(question, Rejection):
            engine.reject(qid, "question", question, completion.text, answer.key)
            return None
        if self.s.question_novelty:
            verdict = self.novelty.query(question, top_k=0)
            if not verdict.novel:
                engine.reject(qid, "question", Rejection("rouge_similar",
                              {"max_score": verdict.max_score}), question, answer.key)  # fmt: skip
                return None
        if self.decontaminator is not None:
            hit = self.decontaminator.contaminated(question)
            if hit is not None:
                score, item = hit
                engine.reject(qid, "question", Rejection("contaminated", {
                    "overlap": round(score, 4), "benchmark_item": item,
                    "benchmark_text": self.decontaminator.items[item],
                }), question, answer.key)  # fmt: skip
                return None
        self.novelty.add(question)
        self.kept += 1
        record = {
            "id": qid, "question": question, **path_of(syllabus.node),
            "question_kind": pick.kind,
            "sessions": [{"number": x.number, "title": x.title} for x in pick.sessions],
            "concepts": list(pick.concepts), "request_key": answer.key,
        }  # fmt: skip
        engine.write("questions", record)
        engine.report(accepted=self.kept)
        return record

    # ------------------------------------------------------------------ level 5

    async def _answer(self, engine: Engine, question: dict[str, Any]) -> None:
        if engine.stopping:
            raise NotSent  # the question's unit is redone on resume, in order
        qid = question["id"]
        request = self._request("answers", "answer.txt", self.s.answer_decoding,
                                question=question["question"])  # fmt: skip
        answer = await engine.ask(request, qid)
        if answer is None:
            return
        completion = answer.completion
        cut = completion.finish_reason == "length"  # kept and flagged, as the paper keeps it
        text = parse_answer(completion.text)
        if isinstance(text, Rejection):
            engine.reject(f"{qid}/answer", "answer", text, completion.text, answer.key)
            engine.report(finished=1)
            return
        path = {k: v for k, v in question.items() if k not in ("id", "question", "request_key")}
        written = engine.write("tasks", {
            "id": qid, "instruction": question["question"], "is_classification": None,
            "instances": [{"input": "", "output": text, "truncated": cut}], **path,
            "answer_model": self.s.answer_model or self.s.model,
        })  # fmt: skip
        engine.report(finished=1, tasks=int(written))

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Glan:
        assert isinstance(settings, GlanSettings)
        return build(settings, api)

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """``taxonomy_path`` and ``decontaminate_path`` are read and hashed here; with a
        taxonomy, ``disciplines`` defaults to all of it; ``n`` is the questions asked for."""
        taxonomy_path = values.pop("taxonomy_path", None)
        disciplines = values.pop("disciplines", None)
        if taxonomy_path is not None:
            taxonomy = load_taxonomy(taxonomy_path)
            disciplines = min(disciplines or len(taxonomy), len(taxonomy))
        disciplines = disciplines or GlanSettings.model_fields["disciplines"].default
        decontaminate_path = values.pop("decontaminate_path", None)
        if decontaminate_path is not None:
            load_benchmark(decontaminate_path)
        sizes = {
            name: values.get(name, GlanSettings.model_fields[name].default)
            for name in ("subjects", "questions")
        }
        if values.get("answer_model") == backend.model:
            values["answer_model"] = None
        files = {
            "taxonomy_path": str(taxonomy_path) if taxonomy_path else None,
            "taxonomy_sha256": file_sha256(Path(taxonomy_path)) if taxonomy_path else None,
            "decontaminate_path": str(decontaminate_path) if decontaminate_path else None,
            "decontaminate_sha256": (
                file_sha256(Path(decontaminate_path)) if decontaminate_path else None
            ),
        }
        values.setdefault("n", disciplines * sizes["subjects"] * sizes["questions"])
        return super().configure(
            backend, decoding=decoding, disciplines=disciplines, **files, **values
        )

    @classmethod
    def report(cls, folder: Path) -> dict[str, Any] | None:
        return glan_coverage(folder)

    @classmethod
    def render_report(cls, section: dict[str, Any]) -> list[str]:
        return render_coverage(section)


def build(settings: GlanSettings, api: str) -> Glan:
    """Read the taxonomy and benchmark files (any problem is one line naming the file) before
    the run folder is touched."""
    if settings.shard is not None and settings.taxonomy_path is None:
        raise UserError(
            "glan --shard splits the disciplines of a taxonomy file: run `glan --until "
            "taxonomy` once, then each shard with --taxonomy OUT/taxonomy.jsonl"
        )
    taxonomy = load_taxonomy(settings.taxonomy_path) if settings.taxonomy_path else None
    decontaminator = None
    if settings.decontaminate_path is not None:
        items = load_benchmark(settings.decontaminate_path)
        decontaminator = Decontaminator(
            items, settings.decontaminate_ngram, settings.decontaminate_threshold
        )
    return Glan(settings, taxonomy, decontaminator, api)
