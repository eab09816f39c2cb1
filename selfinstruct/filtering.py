"""`selfinstruct filter`: the paper's filters over an existing JSONL file, in input order.

Works on our task shape (instruction + instances) and on Alpaca's (instruction/input/output, one
instance per record). Each record is kept or dropped with one reason; kept records are written
in the shape they came in, with a task's failing instances removed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from selfinstruct import language, neardup
from selfinstruct.errors import UserError
from selfinstruct.filters import MAX_INSTANCES, filter_instances
from selfinstruct.gate import InstructionGate
from selfinstruct.jsonio import atomic_outputs, display_name, read_records, write_jsonl
from selfinstruct.judgments import judgments_file
from selfinstruct.locking import exclusive_all
from selfinstruct.neardup import MinHashSettings, NearDupIndex
from selfinstruct.novelty import Tokenizer
from selfinstruct.output_guard import check_output, same_file
from selfinstruct.records import ParsedInstance, Task, task_from_record


@dataclass(frozen=True)
class FilterOptions:
    threshold: float = 0.7
    tokenizer: Tokenizer = "rouge"
    blacklist: str = "paper"
    ascii_first_char: bool = True
    max_instances: int = MAX_INSTANCES
    novelty: bool = True
    instance_rules: bool = True
    # `--judged`: task key -> verdict (judge's judgments.jsonl); `keep` says which verdicts stay.
    judged: dict[str, bool | None] | None = None
    keep: str = "valid"
    # `--keep-top-ifd`: the share kept by IFD (Superfiltering); filled in by run_filter, the
    # drop reason per input line of the records that are not kept.
    keep_top_ifd: float | None = None
    ifd_drops: dict[int, str] | None = None
    # `--keep-longest`: how many of the records the other filters keep stay, the longest first
    # responses (Magpie's released sets); filled in by run_filter, the input lines dropped.
    keep_longest: int | None = None
    not_longest: frozenset[int] | None = None
    # `--near-dup minhash`: drop a record sharing an LSH band with a kept one before it.
    near_dup: MinHashSettings | None = None
    # `--language`: keep records whose instruction is in one of these ISO 639-1 codes.
    languages: tuple[str, ...] | None = None


@dataclass
class FilterReport:
    read: int = 0
    kept: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Decision:
    line: int
    record: dict[str, Any]
    reason: str | None
    detail: dict[str, Any] = field(default_factory=dict)


def _is_alpaca(obj: dict[str, Any]) -> bool:
    return "instances" not in obj and "output" in obj


def decide(
    records: Iterable[tuple[int, dict[str, Any]]],
    options: FilterOptions,
    against: Iterable[str] = (),
    source: str = "input",
) -> Iterator[Decision]:
    """Yield a decision per record, in order, through the same instruction gate the methods
    use; novelty compares each record with the kept ones before it (and with ``against``)."""
    gate = InstructionGate.from_settings(
        options.blacklist, options.ascii_first_char, options.tokenizer, options.threshold,
        novelty=options.novelty,
    )  # fmt: skip
    gate.remember(against)
    near = NearDupIndex(options.near_dup) if options.near_dup is not None else None
    for line, obj in records:
        task = task_from_record(obj, f"{source}:{line}")
        if options.ifd_drops is not None and line in options.ifd_drops:
            yield Decision(line, obj, options.ifd_drops[line])
            continue
        if options.judged is not None:
            verdict_reason = judged_reason(options.judged, task, options.keep)
            if verdict_reason is not None:
                yield Decision(line, obj, verdict_reason)
                continue
        instruction = task.instruction.strip()
        rejection = gate.rule(instruction)
        if rejection is not None:
            yield Decision(line, obj, rejection.reason, rejection.detail)
            continue
        if options.languages is not None:
            detected = language.detect(instruction)
            if detected not in options.languages:
                yield Decision(line, obj, "language", {"detected": detected or "unknown"})
                continue
        kept_obj = obj
        parsed = [ParsedInstance(i.input, i.output) for i in task.instances]
        if options.instance_rules:
            result = filter_instances(parsed, max_instances=options.max_instances)
            if not result.kept:
                first = result.dropped[0][1] if result.dropped else "no_instances"
                yield Decision(line, obj, first)
                continue
            if not _is_alpaca(obj) and len(result.kept) != len(parsed):
                kept_obj = {
                    **obj,
                    "instances": [{"input": i.input, "output": i.output} for i in result.kept],
                }
            parsed = result.kept
        near_keys = None
        if near is not None:
            near_keys = near.keys(record_text(instruction, parsed))
            earlier = near.find(near_keys)
            if earlier is not None:
                yield Decision(line, obj, "near_duplicate", {"duplicate_of_line": earlier})
                continue
        rejection = gate.similar(instruction)
        if rejection is not None:
            yield Decision(line, obj, rejection.reason, rejection.detail)
            continue
        gate.admit(instruction)
        if near is not None and near_keys is not None:
            near.add(near_keys, line)
        if options.not_longest is not None and line in options.not_longest:
            yield Decision(line, obj, "not_longest")
            continue
        yield Decision(line, kept_obj, None)


def near_dup_settings(
    method: str | None, threshold: float | None, shingle: int | None, num_perm: int | None
) -> MinHashSettings | None:
    """``--near-dup`` and its options; the MinHash options alone are refused."""
    if method is None:
        if (threshold, shingle, num_perm) != (None, None, None):
            raise UserError("--minhash-threshold, --shingle and --num-perm need --near-dup minhash")
        return None
    default = MinHashSettings()
    return MinHashSettings(
        threshold=default.threshold if threshold is None else threshold,
        shingle=default.shingle if shingle is None else shingle,
        num_perm=default.num_perm if num_perm is None else num_perm,
    )


def record_text(instruction: str, instances: Iterable[ParsedInstance]) -> str:
    """What near-duplicates are judged on: the instruction and the kept inputs and outputs."""
    parts = [instruction]
    for instance in instances:
        parts += [instance.input, instance.output]
    return "\n".join(part for part in parts if part)


def judged_reason(judged: dict[str, bool | None], task: Task, keep: str) -> str | None:
    """Why a judged run drops ``task`` (None: it stays). ``valid`` keeps only tasks judged
    valid; ``not-invalid`` drops only tasks judged invalid (unjudged and unknown stay)."""
    from selfinstruct.judgments import task_key

    key = task_key(task)
    if key not in judged:
        return None if keep == "not-invalid" else "not_judged"
    verdict = judged[key]
    if verdict is False:
        return "judged_invalid"
    if verdict is None and keep == "valid":
        return "judged_unknown"
    return None


def ifd_drops(in_path: str, share: float, source: str, scorer: Any = None) -> dict[int, str]:
    """Superfiltering's selection: among records with IFD below 1, the top ``share`` by IFD
    stay; the others get a reason (ties at the cut are broken by input order)."""
    import math

    from selfinstruct import ifd

    scorer = scorer or ifd.LlamaScorer()
    scores: dict[int, float] = {}
    drops: dict[int, str] = {}
    for line, obj in read_records(in_path):
        task = task_from_record(obj, f"{source}:{line}")
        instance = task.instances[0] if task.instances else None
        if instance is None or not instance.output.strip():
            drops[line] = "ifd_unscorable"
            continue
        value = ifd.score(scorer, task.instruction, instance.input, instance.output).ifd
        if not math.isfinite(value) or value >= 1:
            drops[line] = "ifd_at_least_one"
        else:
            scores[line] = value
    ranked = sorted(scores, key=lambda line: (-scores[line], line))
    keep = math.ceil(share * len(ranked))
    for line in ranked[keep:]:
        drops[line] = "ifd_not_top"
    return drops


def not_longest(
    in_path: str, options: FilterOptions, against: Iterable[str], source: str
) -> frozenset[int]:
    """Magpie's released sets' selection, after the other filters: of the records they keep,
    the ``keep_longest`` with the longest first response (characters) stay; ties at the cut are
    broken by input order. The lines of the others."""
    assert options.keep_longest is not None
    lengths: dict[int, int] = {}
    for decision in decide(read_records(in_path), options, against, source=source):
        if decision.reason is None:
            task = task_from_record(decision.record, f"{source}:{decision.line}")
            lengths[decision.line] = len(task.instances[0].output) if task.instances else 0
    ranked = sorted(lengths, key=lambda line: (-lengths[line], line))
    return frozenset(ranked[options.keep_longest :])


def run_filter(
    in_path: str,
    out_path: str,
    rejects_path: Path | None,
    options: FilterOptions,
    against_path: str | None = None,
    judged_path: str | None = None,
) -> FilterReport:
    """Filter ``in_path`` into ``out_path`` (``-`` for stdout) and the rejects file.

    Both files are written beside their targets and renamed over them together only when the
    whole input was read: after an error the previous output and rejects are untouched and no
    temporary file remains. Each file being written is locked (:mod:`selfinstruct.locking`),
    so a second process writing the same output is refused at once. An output that is one of
    the files read, or inside a run folder, is refused before anything is written
    (:func:`selfinstruct.output_guard.check_output`).
    """
    against: list[str] = []
    if against_path is not None:
        name = display_name(against_path)
        against = [task_from_record(obj, f"{name}:{n}").instruction
                   for n, obj in read_records(against_path)]  # fmt: skip
    to_stdout = str(out_path) == "-"
    inputs: list[str | Path | None] = [in_path, against_path]
    if judged_path is not None:  # read for options.judged: a judge folder's file is its verdicts
        inputs.append(
            judgments_file(Path(judged_path)) if Path(judged_path).is_dir() else judged_path
        )
    check_output(out_path, "-o", inputs)
    if rejects_path is not None:
        check_output(rejects_path, "--rejects", inputs, what="the rejects")
        if not to_stdout and same_file(Path(out_path), rejects_path):
            raise UserError("--rejects and -o name the same file: choose another --rejects")
    locks = [] if to_stdout else [(Path(out_path), "-o")]
    if rejects_path is not None:
        locks.append((rejects_path, "--rejects"))
    # The rejects first, the output last: a new output always comes with its rejects.
    targets = ([rejects_path] if rejects_path is not None else []) + (
        [] if to_stdout else [Path(out_path)]
    )
    if options.near_dup is not None:
        neardup.require()
    report = FilterReport()
    source = display_name(in_path)
    if options.keep_top_ifd is not None:
        if str(in_path) == "-":
            raise UserError("--keep-top-ifd ranks the whole input: give a file, not stdin")
        options = replace(options, ifd_drops=ifd_drops(in_path, options.keep_top_ifd, source))
    if options.keep_longest is not None:
        if str(in_path) == "-":
            raise UserError("--keep-longest ranks the whole input: give a file, not stdin")
        options = replace(options, not_longest=not_longest(in_path, options, against, source))
    with exclusive_all(locks), atomic_outputs(*targets) as outputs:
        rejects = outputs[0] if rejects_path is not None else None
        out = None if to_stdout else outputs[-1]

        def kept() -> Iterator[dict[str, Any]]:
            for decision in decide(read_records(in_path), options, against, source=source):
                report.read += 1
                if decision.reason is None:
                    report.kept += 1
                    yield decision.record
                    continue
                report.reasons[decision.reason] += 1
                if rejects is not None:
                    rejects.write({"line": decision.line, "reason": decision.reason,
                                   **decision.detail, "record": decision.record})  # fmt: skip

        if out is None:
            write_jsonl("-", kept())
        else:
            for record in kept():
                out.write(record)
    return report
