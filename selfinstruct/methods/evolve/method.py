"""Evol-Instruct (Xu et al. 2023, "WizardLM"): make an instruction set harder and broader.

Each input instruction starts a lineage. In every round (4 in the paper), the lineage's current
instruction is rewritten by one operation drawn at random: five in-depth rewrites (add a
constraint, deepen, concretize, ask for more reasoning steps, complicate the input; each adds
10 to 20 words and must stay answerable by a person) or the in-breadth one (a new, rarer
instruction of the same domain). Then the model answers the rewrite, and the elimination step
(``selfinstruct.elimination``) decides whether it failed:

- (4) the rewrite copies the evolving prompt's words: checked first, before any answer is paid for;
- (2) the response is an apology, (3) it is only punctuation and stop words;
- (1) the model, asked whether parent and rewrite are equal, says "Equal".

A failed rewrite is rejected with its rule and its parent is evolved again in the next round; a
passed one becomes the lineage's current instruction and a task of the output (instruction,
the response as its one instance, and its lineage: root, parent, operation, round).

Evolution (round r, item i) is unit ``(r - 1) * items + i`` of the engine's ordered scheduler: it
starts once the item's round r - 1 is committed (so a round's items all run at once, and an item
need not wait for the rest of the previous round), and outcomes are committed in (round, input)
order (the optional novelty gate, the only decision that depends on other items, sees them in
that order), so the data never depends on timing. A
request that failed for good is recorded in ``evolutions.jsonl`` and replayed as a failure on a
resume, as the rounds after it were built without it.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Backend, Decoding, Request
from selfinstruct.client import NotSent
from selfinstruct.config import RunSettings, file_sha256
from selfinstruct.engine import Engine
from selfinstruct.errors import UserError
from selfinstruct.gate import InstructionGate, Rejection
from selfinstruct.jsonio import display_name, read_jsonl, read_records
from selfinstruct.methods.base import Method
from selfinstruct.methods.evolve.elimination import (
    APOLOGY,
    EMPTY_EVOLUTION,
    EVOLUTION_TRUNCATED,
    JUDGEMENT_LABELS,
    JUDGEMENT_UNPARSEABLE,
    LEAK_PHRASES,
    NO_INFORMATION_GAIN,
    PROMPT_LEAK,
    STOP_WORDS_ONLY,
    is_apology,
    leaked_phrase,
    only_stop_words,
    parse_judgement,
    prompt_labels,
    word_count,
)
from selfinstruct.methods.evolve.report import (
    EVOLUTIONS_FILE,
    evolutions_file,
    evolve_stats,
    render_evolve,
)
from selfinstruct.methods.evolve.settings import (
    COMPLETION_EVOLVE_STOP,
    COMPLETION_RESPONSE_STOP,
    EvolveSettings,
)
from selfinstruct.prompting import load_prompt
from selfinstruct.records import Task, task_from_record
from selfinstruct.store import is_run_folder, tasks_file

IN_BREADTH = "breadth"


@dataclass(frozen=True)
class Root:
    """One input instruction: the start of a lineage."""

    id: str
    text: str  # the instruction, with its input when it has one
    task: dict[str, Any] | None  # the input task, when it has an answer to keep as round 0


@dataclass
class Lineage:
    root: Root
    head_id: str
    head: str
    texts: list[str] = field(default_factory=list)  # every instruction of the lineage so far


@dataclass(frozen=True)
class Attempt:
    """How one evolution went, before it is committed."""

    round: int
    lineage: int
    parent_id: str
    parent: str
    operation: str
    stage: str  # the last stage reached: evolve, respond or judge
    text: str | None = None
    response: str | None = None
    response_cut: bool = False  # the response stopped at max_tokens (kept, flagged)
    reason: str | None = None  # None: passed (so far)
    detail: dict[str, Any] = field(default_factory=dict)
    failed: bool = False  # a request failed for good
    key: str = ""

    @property
    def id(self) -> str:
        return evolution_id(self.parent_id, self.round)


def evolution_id(parent_id: str, round_: int) -> str:
    return f"{parent_id.split('.', 1)[0]}.r{round_}"


# ---------------------------------------------------------------------------------- inputs


def input_file(path: Path) -> Path:
    """The file an input path stands for: a run folder's tasks, or the path itself."""
    if is_run_folder(path):
        tasks = tasks_file(path)
        if not tasks.is_file():
            raise UserError(f"{path}: this run folder has no tasks.jsonl yet")
        return tasks
    if path.is_dir():
        raise UserError(f"{path} is a folder but not a run folder: pass a JSONL or JSON file")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    return path


def load_roots(path: Path, limit: int | None = None) -> list[Root]:
    """The first ``limit`` instructions of our tasks JSONL, Alpaca JSON/JSONL, or a JSONL of
    ``{"instruction": ...}`` records; an instruction with an input is evolved with it."""
    name = display_name(path)
    roots: list[Root] = []
    for lineno, obj in read_records(path):
        if limit is not None and len(roots) >= limit:
            break
        where = f"{name}:{lineno}"
        instruction = obj.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise UserError(f"{where}: expected a non-empty 'instruction' string")
        task: Task | None = None
        if "instances" in obj or "output" in obj:
            task = task_from_record(obj, where)
        given = obj.get("input")
        if task is not None and len(task.instances) == 1:
            given = task.instances[0].input
        text = instruction.strip()
        if isinstance(given, str) and given.strip():
            text = f"{text}\n\n{given.strip()}"
        root_id = f"i{len(roots) + 1:06d}"
        kept = None
        if task is not None and task.instances:
            kept = {**task.model_dump(exclude_none=False), "id": root_id}
            if task.id is not None:
                kept["source_id"] = task.id
        roots.append(Root(root_id, text, kept))
    if not roots:
        raise UserError(f"{name}: holds no instructions to evolve")
    return roots


# ---------------------------------------------------------------------------------- prompts


DEMONSTRATION_LABELS = ["Example instruction:", "Example with a more complex input:"]


def evolve_prompt(operation: str, instruction: str) -> str:
    if operation == IN_BREADTH:
        return load_prompt("evolve/in_breadth.txt").format(instruction=instruction)
    method = load_prompt(f"evolve/{operation}.txt").strip()
    return load_prompt("evolve/in_depth.txt").format(method=method, instruction=instruction)


def judge_prompt(parent: str, child: str) -> str:
    return load_prompt("evolve/judge.txt").format(parent=parent, child=child)


def leak_phrases() -> tuple[str, ...]:
    """What an evolved instruction must not copy: the paper's phrases and our labels."""
    labels = prompt_labels(load_prompt("evolve/in_depth.txt"))
    labels += prompt_labels(load_prompt("evolve/in_breadth.txt"))
    # complicate-input's demonstrations name their parts: a rewrite must not copy those either.
    labels += DEMONSTRATION_LABELS
    return tuple(dict.fromkeys(LEAK_PHRASES + tuple(labels)))


# ---------------------------------------------------------------------------------- method


class Evolve(Method):
    """Rounds of in-depth and in-breadth rewrites, a response each, and the elimination step."""

    name = "evolve"
    Settings = EvolveSettings
    stages = {
        "evolve": "evolve_decoding", "respond": "response_decoding", "judge": "judge_decoding",
    }  # fmt: skip
    logs = {"evolutions": EVOLUTIONS_FILE}
    unit = "evolution"
    shardable = True  # input record i goes to shard i mod N

    def __init__(self, settings: EvolveSettings, roots: list[Root], api: str) -> None:
        self.s = settings
        self.chat = api == "chat"
        self.roots = self.shard_of(settings).take(roots)
        self.leaks = leak_phrases()
        self.gate: InstructionGate | None = None
        if settings.novelty:
            self.gate = InstructionGate.from_settings(
                "none", False, settings.tokenizer, settings.threshold
            )
        self.passed = 0
        self.constrain = False  # the equality labels, when the backend can hold an answer to them

    @classmethod
    def create(cls, settings: RunSettings, api: str) -> Evolve:
        assert isinstance(settings, EvolveSettings)
        return cls(settings, load_roots(Path(settings.seeds_path), settings.n), api)

    @classmethod
    def configure(
        cls, backend: Backend, *, decoding: Sequence[str] = (), **values: Any
    ) -> RunSettings:
        """``seeds_path`` is the input set (any format ``load_roots`` reads); ``n`` defaults
        to all of its instructions (``limit``: the first so many)."""
        source = input_file(Path(values.pop("seeds_path")))
        limit = values.pop("limit", None)
        values.setdefault("n", len(load_roots(source, limit)))
        return super().configure(
            backend, decoding=decoding, seeds_path=str(source),
            seeds_sha256=file_sha256(source), **values,
        )  # fmt: skip

    @classmethod
    def base_decodings(cls, backend: Backend, values: Mapping[str, Any]) -> dict[str, Decoding]:
        """A completion model runs on past its answer into a new labelled block: stop it there."""
        base = super().base_decodings(backend, values)
        if backend.api == "completion":
            for field, stop in (
                ("evolve_decoding", COMPLETION_EVOLVE_STOP),
                ("response_decoding", COMPLETION_RESPONSE_STOP),
            ):
                base[field] = dataclasses.replace(base[field], stop=stop)
        return base

    @classmethod
    def report(cls, folder: Path) -> dict[str, Any] | None:
        return evolve_stats(folder)

    @classmethod
    def render_report(cls, section: dict[str, Any]) -> list[str]:
        return [render_evolve(section)]

    @classmethod
    def reference_texts(cls, settings: RunSettings) -> list[str] | None:
        """An evolve run's "seeds" are its inputs, which may be bare instructions."""
        assert isinstance(settings, EvolveSettings)
        return [root.text for root in load_roots(Path(settings.seeds_path))]

    # ------------------------------------------------------------------ requests

    def draw(self, round_: int, lineage: Lineage) -> tuple[str, int]:
        """The round's operation for a lineage and the request seed, from the run's seed."""
        rng = random.Random(f"{self.s.seed}:evolve:{round_}:{lineage.root.id}")
        return rng.choice(self.s.operations), rng.randrange(2**31)

    def _request(self, stage: str, text: str, decoding: Decoding, **extra: Any) -> Request:
        """A call as the reference code makes it: on a chat API with the system message."""
        messages: tuple[tuple[str, str], ...] = ()
        if self.chat and self.s.system is not None:
            messages = (("system", self.s.system), ("user", text))
        return Request(stage, text, decoding, messages=messages, **extra)

    def _evolve_request(self, operation: str, instruction: str, seed: int) -> Request:
        text = evolve_prompt(operation, instruction)
        return self._request("evolve", text, self.s.evolve_decoding, seed=seed)

    def _response_request(self, instruction: str, seed: int) -> Request:
        # A chat model is simply asked the instruction, as the paper does; a completion model
        # needs a frame to continue.
        text = (
            instruction
            if self.chat
            else load_prompt("evolve/respond.txt").format(instruction=instruction)
        )
        return self._request("respond", text, self.s.response_decoding, seed=seed)

    def _judge_request(self, parent: str, child: str) -> Request:
        labels = JUDGEMENT_LABELS if self.constrain else ()
        text = judge_prompt(parent, child)
        return self._request("judge", text, self.s.judge_decoding, labels=labels)

    # ------------------------------------------------------------------ the run

    async def __call__(self, engine: Engine) -> int:
        lineages = [Lineage(r, r.id, r.text, [r.text]) for r in self.roots]
        # The in-process model is held to the two labels by a grammar (unaided, it seldom
        # answers with either); a server's answer is only parsed, strictly.
        self.constrain = engine.backend.constrains_answers
        engine.progress.target = len(lineages) * self.s.rounds
        known = engine.known("evolutions")  # opens the log (and repairs a torn tail) first
        failed_before = self._failed_before(engine, known)
        if self.gate is not None:
            self.gate.remember(r.text for r in self.roots)
        if self.s.keep_inputs:
            for root in self.roots:
                if root.task is not None:
                    record = {**root.task, "root_id": root.id, "parent_id": None,
                              "operation": None, "round": 0}  # fmt: skip
                    engine.report(tasks=int(engine.write("tasks", record)))
        width = len(lineages)

        async def evolution(k: int) -> bool | None:
            round_, index = divmod(k, width)
            attempt = await self._attempt(engine, round_ + 1, index, lineages[index], failed_before)
            if attempt is None:
                return None  # not finished (the run is stopping): a resume picks it up
            # Every outcome is recorded: evolve has no stall rule.
            return await engine.turn(lambda: self._commit(engine, attempt, lineages) or True)

        await engine.ordered(
            "evolve",
            evolution,
            count=width * self.s.rounds,
            lag=lambda k: width - 1,  # an evolution rewrites its item's last round's outcome
            limit=lambda: width,
        )
        return self.passed

    @staticmethod
    def _failed_before(engine: Engine, known: set[str]) -> set[str]:
        path = evolutions_file(engine.folder.path)
        if not known or not path.exists():
            return set()
        return {str(r["id"]) for _, r in read_jsonl(path) if r.get("outcome") == "failed"}

    async def _attempt(
        self, engine: Engine, round_: int, index: int, lineage: Lineage, failed_before: set[str]
    ) -> Attempt | None:
        """Evolve one lineage once: rewrite, rule 4, answer, rules 2-3, equality check.

        None when the run stopped before the outcome was known."""
        operation, seed = self.draw(round_, lineage)
        base = Attempt(round_, index, lineage.head_id, lineage.head, operation, "evolve")
        if base.id in failed_before:
            return _with(base, failed=True)
        try:
            answer = await engine.ask(self._evolve_request(operation, lineage.head, seed), base.id)
            if answer is None:
                return None if engine.stopping else _with(base, failed=True)
            text = answer.completion.text.strip()
            attempt = _with(base, text=text, key=answer.key)
            if not text:
                return _with(attempt, reason=EMPTY_EVOLUTION)
            if answer.completion.finish_reason == "length":
                # An unfinished rewrite is no instruction (small models ramble to the limit):
                # eliminated before its response is paid for.
                return _with(attempt, reason=EVOLUTION_TRUNCATED)
            leaked = leaked_phrase(text, self.leaks)
            if leaked is not None:
                return _with(attempt, reason=PROMPT_LEAK, detail={"phrase": leaked})

            attempt = _with(attempt, stage="respond")
            answer = await engine.ask(self._response_request(text, seed), f"{base.id}.respond")
            if answer is None:
                return None if engine.stopping else _with(attempt, failed=True)
            response = answer.completion.text.strip()
            cut = answer.completion.finish_reason == "length"
            attempt = _with(attempt, response=response, response_cut=cut, key=answer.key)
            if is_apology(response):
                return _with(attempt, reason=APOLOGY)
            if only_stop_words(response):
                return _with(attempt, reason=STOP_WORDS_ONLY)

            attempt = _with(attempt, stage="judge")
            request = self._judge_request(lineage.head, text)
            answer = await engine.ask(request, f"{base.id}.judge")
            if answer is None:
                return None if engine.stopping else _with(attempt, failed=True)
            judgement = parse_judgement(answer.completion.text)
            attempt = _with(attempt, key=answer.key)
            if judgement == "equal":
                return _with(attempt, reason=NO_INFORMATION_GAIN)
            if judgement is None:
                return _with(
                    attempt,
                    reason=JUDGEMENT_UNPARSEABLE,
                    detail={"judgement": answer.completion.text},
                )
            return attempt
        except NotSent:
            return None

    # ------------------------------------------------------------------ commits

    def _novelty(self, attempt: Attempt, lineage: Lineage) -> Rejection | None:
        """ROUGE-L against every instruction kept so far, except the lineage's own (a rewrite
        is meant to resemble its parent)."""
        assert self.gate is not None and attempt.text is not None
        verdict = self.gate.index.query(attempt.text, top_k=0)
        if verdict.novel:
            return None
        full = self.gate.index.query(attempt.text, top_k=len(lineage.texts) + 1)
        own = Counter(lineage.texts)
        for similar in full.most_similar:
            if own[similar.text] > 0:
                own[similar.text] -= 1
                continue
            if similar.score > self.gate.index.threshold:
                return Rejection("rouge_similar", {"max_score": similar.score})
            return None
        return None

    def _commit(self, engine: Engine, attempt: Attempt, lineages: list[Lineage]) -> None:
        lineage = lineages[attempt.lineage]
        if attempt.reason is None and not attempt.failed and self.gate is not None:
            rejection = self._novelty(attempt, lineage)
            if rejection is not None:
                attempt = _with(attempt, reason=rejection.reason, detail=rejection.detail)
        outcome = "failed" if attempt.failed else "eliminated" if attempt.reason else "passed"
        lineage_fields = {
            "root_id": lineage.root.id,
            "parent_id": attempt.parent_id,
            "operation": attempt.operation,
            "round": attempt.round,
        }
        engine.write(
            "evolutions",
            {
                "id": attempt.id,
                **lineage_fields,
                "outcome": outcome,
                "stage": attempt.stage,
                "reason": attempt.reason,
                "parent_words": word_count(attempt.parent),
                "words": None if attempt.text is None else word_count(attempt.text),
                "response_words": None
                if attempt.response is None
                else word_count(attempt.response),
            },
        )
        written = False
        if outcome == "eliminated":
            assert attempt.reason is not None
            engine.reject(
                attempt.id, "evolve", Rejection(attempt.reason, attempt.detail),
                attempt.text or "", attempt.key, response=attempt.response, **lineage_fields,
            )  # fmt: skip
        elif outcome == "passed":
            assert attempt.text is not None and attempt.response is not None
            self.passed += 1
            written = engine.write(
                "tasks",
                {
                    "id": attempt.id,
                    "instruction": attempt.text,
                    "is_classification": None,
                    "instances": [
                        {
                            "input": "",
                            "output": attempt.response,
                            "truncated": attempt.response_cut,
                        }  # fmt: skip
                    ],
                    **lineage_fields,
                },
            )
            lineage.head_id, lineage.head = attempt.id, attempt.text
            lineage.texts.append(attempt.text)
            if self.gate is not None:
                self.gate.remember([attempt.text])
        engine.report(accepted=self.passed, finished=1, tasks=int(written))


def _with(attempt: Attempt, **changes: Any) -> Attempt:
    from dataclasses import replace

    return replace(attempt, **changes)
