"""``selfinstruct merge OUT RUN...``: the N shards of one run (``--shard K/N``) as one run folder.

The shards are read in shard order, each in record order, so the result never depends on the
order the folders are named in nor on when a shard ran. Every record passes, in that order:
an id already kept is dropped (``duplicate_id``); with ``--decontaminate``, one overlapping a
benchmark item too much (``contaminated``); and, for a method whose records grow one pool
(``Method.merge_gate``: Self-Instruct, Alpaca, Magpie, UltraChat), the instruction gate
(the rules, then exact ROUGE-L novelty against every record kept before it). Ids that count
items (``task_000001``) are renumbered in that order. Every drop goes to OUT/rejected.jsonl
with its reason; OUT/summary.json adds up the shards' summaries. Writing the same inputs twice
gives the same bytes.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from selfinstruct import registry
from selfinstruct.collector import few_collections
from selfinstruct.decontamination import Decontaminator, load_benchmark
from selfinstruct.errors import UserError
from selfinstruct.gate import InstructionGate, Rejection
from selfinstruct.jsonio import atomic_outputs, read_jsonl
from selfinstruct.methods.base import Method
from selfinstruct.novelty_bulk import BulkNovelty
from selfinstruct.novelty_process import NoveltyProcess
from selfinstruct.output_guard import check_output_folder
from selfinstruct.shards import Shard
from selfinstruct.store import (
    LOG_FILES,
    SETTINGS_FILE,
    SUMMARY_FILE,
    rejected_file,
    settings_file,
    summary_file,
)

_T = TypeVar("_T")
#: What a merge records of a record dropped as too similar (see :func:`merge_runs`).
SimilarScore = Literal["max", "first"]

MERGE_KEY = "merge"  # summary.json's section saying the folder is a merge (it may be redone)


@dataclass(frozen=True)
class Part:
    folder: Path
    shard: Shard
    settings: dict[str, Any]


@dataclass
class MergeReport:
    out: Path
    method: str
    kept: int = 0
    instances: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


def _settings(folder: Path) -> dict[str, Any]:
    if not settings_file(folder).is_file():
        raise UserError(f"{folder}: not a run folder (no {SETTINGS_FILE})")
    try:
        data = json.loads(settings_file(folder).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{settings_file(folder)}: unreadable run settings ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{settings_file(folder)}: unreadable run settings (not a JSON object)")
    return data


def _parts(runs: Sequence[Path]) -> tuple[type[Method], list[Part]]:
    """The runs in shard order, checked to be the N shards of one run."""
    if not runs:
        raise UserError("merge needs at least one RUN folder")
    parts = []
    for folder in runs:
        data = _settings(folder)
        shard = Shard.parse(data["shard"]) if data.get("shard") else Shard()
        parts.append(Part(folder, shard, data))
    first = parts[0]
    method = str(first.settings.get("method") or "self-instruct")
    kind = registry.get(method)
    ignored = kind.Settings.OPERATIONAL | {"shard"}
    for part in parts[1:]:
        other = str(part.settings.get("method") or "self-instruct")
        if other != method:
            raise UserError(
                f"{part.folder} is a run of method {other!r}, not {method!r}: merge the shards "
                "of one run"
            )
        names = sorted(set(first.settings) | set(part.settings))
        for name in names:
            if name not in ignored and first.settings.get(name) != part.settings.get(name):
                raise UserError(
                    f"{part.folder} was generated with {name}={part.settings.get(name)!r}, not "
                    f"{first.settings.get(name)!r} as {first.folder}: merge the shards of one run"
                )
    seen: dict[int, Part] = {}
    for part in parts:
        if part.shard.count != first.shard.count:
            raise UserError(
                f"{part.folder} is shard {part.shard}, of another split than {first.folder} "
                f"(shard {first.shard}): merge the shards of one run"
            )
        if part.shard.index in seen:
            raise UserError(
                f"{seen[part.shard.index].folder} and {part.folder} are both shard {part.shard}: "
                "name each shard once"
            )
        seen[part.shard.index] = part
    missing = [str(Shard(i, first.shard.count)) for i in range(first.shard.count) if i not in seen]
    if missing:
        raise UserError(f"shard {missing[0]} is missing: name all {first.shard.count} run folders")
    return kind, [seen[i] for i in sorted(seen)]


def _check_out(out: Path, runs: Sequence[Path]) -> None:
    check_output_folder(out, "OUT", runs)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file: choose another OUT")
    if out.is_dir() and any(out.iterdir()):
        summary = summary_file(out)
        merged = False
        if summary.is_file():
            try:
                merged = MERGE_KEY in json.loads(summary.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                merged = False
        if not merged:
            raise UserError(f"{out} is not empty and holds no earlier merge: choose another OUT")


def merge_runs(
    out: str | Path,
    runs: Sequence[str | Path],
    *,
    decontaminate: str | Path | None = None,
    ngram: int = 5,
    threshold: float = 0.5,
    threads: int | None = None,
    similar_score: SimilarScore = "max",
    process: bool | None = None,
) -> MergeReport:
    """Merge the shard run folders ``runs`` into the folder ``out`` (see the module's text).
    ``threads``: how many threads judge novelty at once (default: the usable cores, at most
    4); the output is the same for any number. ``similar_score``: what a record dropped as
    ``rouge_similar`` records: ``"max"``, its highest ROUGE-L F against the records kept
    before it (``max_score``, as a generating run records); ``"first"``, the first F above the
    threshold the look-up met (``score``): the same records kept and dropped, with less work
    for the millions of near copies a merge may drop. ``process``: novelty in a process of its
    own, beside the one reading and writing JSON (default: when the shards' records take
    :data:`PROCESS_FROM` bytes or more); the output is the same either way."""
    out = Path(out)
    folders = [Path(r) for r in runs]
    kind, parts = _parts(folders)
    _check_out(out, folders)
    decontaminator = None
    if decontaminate is not None:
        decontaminator = Decontaminator(load_benchmark(decontaminate), ngram, threshold)
    base = parts[0].settings
    gate = kind.merge_gate(kind.Settings.model_validate({**base, "shard": None}))
    log_name = {**LOG_FILES, **kind.logs}[kind.merge_log]
    report = MergeReport(out, kind.name)
    # Renumbered ids are new, so only kept ids are looked up (and held) when they are kept.
    kept_ids: set[str] | None = None if kind.merge_renumber else set()
    novelty = None
    if kept_ids is None:
        if process is None:
            process = sum(_size(part.folder / log_name) for part in parts) >= PROCESS_FROM
        novelty = _Novelty.of(
            gate, threads or default_threads(), similar_score == "max", process=process
        )
    check = _Checker(kind, gate, decontaminator, kept_ids, novelty is None)
    out.mkdir(parents=True, exist_ok=True)
    chunks = _chunks(_records(parts, log_name), novelty.block if novelty else 1)
    try:
        with few_collections(), atomic_outputs(out / log_name, rejected_file(out)) as (
            data, rejected,
        ):  # fmt: skip
            judged = map(check, chunks) if novelty is None else novelty.judged(map(check, chunks))
            for checked in judged:
                for shard, ident, record, text, verdict in checked:
                    if verdict is not None:
                        report.dropped[verdict.reason] += 1
                        rejected.write({
                            "id": f"{shard}:{ident}", "stage": "merge", "reason": verdict.reason,
                            "text": text, "request_key": "", "shard": shard, "shard_id": ident,
                            **verdict.detail,
                        })  # fmt: skip
                        continue
                    check.admit(ident, text)
                    report.kept += 1
                    report.instances += len(record.get("instances") or [])
                    if kept_ids is None:
                        record = {**record, "id": f"task_{report.kept:06d}",
                                  "shard": shard, "shard_id": ident}  # fmt: skip
                    data.write(record)
            _write_json(out / SETTINGS_FILE, {**base, "shard": None})
            _write_json(out / SUMMARY_FILE, _summary(report, parts))
    finally:
        if novelty is not None:
            novelty.bulk.close()
    return report


#: A record as the merge judges it: shard, id, the record, its gate text, and why it is dropped
#: (None: kept so far).
Checked = tuple[str, str, dict[str, Any], str, Rejection | None]


@dataclass
class _Checker:
    """The per-record checks, in order: a repeated id, contamination, the gate's rules, and
    (when ``similar``) the gate's own novelty, text by text. Bulk novelty comes after."""

    kind: type[Method]
    gate: InstructionGate | None
    decontaminator: Decontaminator | None
    kept_ids: set[str] | None
    similar: bool

    def __call__(self, chunk: list[tuple[str, str, dict[str, Any]]]) -> list[Checked]:
        checked: list[Checked] = []
        gate, decontaminator, kept_ids = self.gate, self.decontaminator, self.kept_ids
        for shard, ident, record in chunk:
            text = self.kind.merge_text(record)
            verdict: Rejection | None = None
            if kept_ids is not None and ident in kept_ids:
                verdict = Rejection("duplicate_id")
            elif decontaminator is not None and (hit := decontaminator.contaminated(text)):
                verdict = Rejection("contaminated", {
                    "overlap": hit[0], "benchmark_text": decontaminator.items[hit[1]],
                })  # fmt: skip
            elif gate is not None:
                verdict = gate.rule(text)
                if verdict is None and self.similar:
                    verdict = gate.similar(text)
            checked.append((shard, ident, record, text, verdict))
        return checked

    def admit(self, ident: str, text: str) -> None:
        """A record is kept: its text joins the gate's pool (text-by-text novelty), its id the
        kept ones (methods whose ids are not renumbered)."""
        if self.gate is not None and self.similar:
            self.gate.admit(text)
        if self.kept_ids is not None:
            self.kept_ids.add(ident)


#: The shards' record bytes from which a merge judges novelty in a process of its own (about
#: 200,000 Self-Instruct records): below it, starting the process costs more than it saves.
PROCESS_FROM = 64 << 20


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def default_threads() -> int:
    """The cores this process may use, at most 4 (more gain little: one thread encodes)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(4, usable))


def _records(parts: list[Part], log_name: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every shard's records, in shard order, each with its shard's name and its own id."""
    for part in parts:
        shard = str(part.shard)
        for _, record in read_jsonl(part.folder / log_name):
            yield shard, str(record.get("id")), record


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class _Novelty:
    """The gate's ROUGE-L novelty over a block of texts at a time (``novelty_bulk``): the same
    decisions and the same maximum for a rejected text as the gate's own index, text by text,
    for a merge's millions of records."""

    bulk: BulkNovelty | NoveltyProcess
    block: int

    @classmethod
    def of(
        cls, gate: InstructionGate | None, threads: int = 1, exact_max: bool = True,
        *, process: bool = False,
    ) -> _Novelty | None:  # fmt: skip
        if gate is None or not gate.novelty or not 0.0 < gate.index.threshold < 1.0:
            return None  # nothing to judge, or a threshold that prunes nothing: text by text
        index = gate.index
        if process:
            bulk: BulkNovelty | NoveltyProcess = NoveltyProcess(
                index.threshold, index.tokenizer, threads=threads, exact_max=exact_max,
                seeds=list(index.texts),
            )  # fmt: skip
        else:
            bulk = BulkNovelty(index.threshold, index.tokenizer, threads=threads,
                               exact_max=exact_max)  # fmt: skip
            bulk.add(index.texts)
        return cls(bulk, bulk.block)

    def decide(self, texts: list[str]) -> list[Rejection | None]:
        key = "max_score" if self.bulk.exact_max else "score"
        return [
            None if v.novel else Rejection("rouge_similar", {key: v.max_score})
            for v in self.bulk.decide(texts)
        ]

    def judged(self, chunks: Iterable[list[Checked]]) -> Iterator[list[Checked]]:
        """Each chunk with the novelty of its texts that passed the other checks. A chunk's
        novelty is judged in a thread of its own while the next chunk is read and checked and
        the one before is written (the look-ups and verification run mostly outside the GIL,
        and with a :class:`NoveltyProcess` all of it does: the thread waits on the child);
        chunks are judged one after another, in order."""
        with ThreadPoolExecutor(1, thread_name_prefix="merge-novelty") as pool:
            pending: tuple[list[Checked], Future[list[Rejection | None]]] | None = None
            try:
                for checked in chunks:
                    texts = [c[3] for c in checked if c[4] is None]
                    future = pool.submit(self.decide, texts)
                    if pending is not None:
                        yield self._with(*pending)
                    pending = (checked, future)
                if pending is not None:
                    yield self._with(*pending)
            finally:
                if pending is not None:
                    pending[1].cancel()

    @staticmethod
    def _with(checked: list[Checked], future: Future[list[Rejection | None]]) -> list[Checked]:
        similar = iter(future.result())
        return [c if c[4] is not None else (*c[:4], next(similar)) for c in checked]


def _write_json(path: Path, value: Any) -> None:
    try:
        path.write_text(json.dumps(value, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def add_up(values: list[Any]) -> Any:
    """The shards' summaries as one: numbers added, dicts key by key, and any other value kept
    when every shard has the same (else the first that is not null)."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, dict) for v in present):
        keys = list(dict.fromkeys(k for v in present for k in v))
        return {k: add_up([v.get(k) for v in present]) for k in keys}
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        if len(present) < len(values):
            return None  # a cost unknown for one shard is unknown for the whole
        return sum(present)
    return present[0]


def _summary(report: MergeReport, parts: list[Part]) -> dict[str, Any]:
    shards = []
    for part in parts:
        path = summary_file(part.folder)
        try:
            shards.append(json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {})
        except (ValueError, UnicodeDecodeError):
            raise UserError(f"{path}: unreadable summary") from None
    summary = add_up(shards) or {}
    stops = [s.get("stop") for s in shards]
    summary["status"] = "complete" if all(s == "complete" for s in stops) else "stopped"
    summary["stop"] = next((s for s in stops if s != "complete"), "complete")
    summary["target"] = parts[0].settings.get("n")
    if "tasks" in summary:
        summary["tasks"] = report.kept
        summary["instances"] = report.instances
    if "accepted_instructions" in summary:
        summary["accepted_instructions"] = report.kept
    rejected = Counter(summary.get("rejected") or {})
    rejected.update(report.dropped)
    summary["rejected"] = dict(sorted(rejected.items()))
    summary[MERGE_KEY] = {
        "runs": [str(part.folder) for part in parts],
        "shards": len(parts),
        "kept": report.kept,
        "dropped": dict(sorted(report.dropped.items())),
    }
    return summary
