"""What ``selfinstruct batches RUN`` shows and does: each batch file's status, the cost so far
(at the Batch API's discount), what is left; and the import of a result file made elsewhere."""

from __future__ import annotations

from pathlib import Path

from selfinstruct.batch.files import input_ids, read_results, write_atomic
from selfinstruct.batch.state import BatchState, FileState
from selfinstruct.errors import UserError
from selfinstruct.pricing import batch_price, cost, price_for
from selfinstruct.store import batch_dir, batch_input_file, batch_output_file, saved_setting


def _phase(state: FileState) -> str:
    if state.refused:
        return "refused (sent again in smaller files)"
    if state.results:
        return state.status or "done"
    if state.batch_id is None:
        return "uploaded" if state.file_id else "written, not submitted"
    return state.status or "created"


def status_lines(folder: Path, price: tuple[float, float] | None = None) -> list[str]:
    state = BatchState(folder, repair=False)
    if not state.files:
        raise UserError(f"{folder} has no batch files: was it run with --batch?")
    rows = []
    prompt = completion = 0
    left_files = left_lines = 0
    for file in state.files.values():
        done, failed = file.usage.get("completed"), file.usage.get("failed")
        if done is None:
            done, failed = file.counts.get("completed", 0), file.counts.get("failed", 0)
        tokens = ""
        if file.usage:
            prompt += file.usage.get("prompt_tokens", 0)
            completion += file.usage.get("completion_tokens", 0)
            tokens = f", tokens {file.usage.get('prompt_tokens', 0)}+"
            tokens += f"{file.usage.get('completion_tokens', 0)}"
        rows.append(
            f"{file.name}  {file.batch_id or '-'}  {_phase(file)}: {file.lines} lines, "
            f"{done} done, {failed} failed{tokens}"
        )
        if not file.finished:
            left_files += 1
            left_lines += file.lines
    model = saved_setting(folder, "model")
    spent = cost(prompt, completion, batch_price(price_for(str(model), price)))
    money = f", {spent:.4f} USD at the batch discount" if spent is not None else ""
    rows.append(f"answered so far: {prompt}+{completion} tokens{money}")
    rows.append(
        f"left: {left_files} files ({left_lines} requests) not finished"
        if left_files
        else "left: nothing waiting in a batch"
    )
    return rows


def import_results(folder: Path, source: Path) -> list[str]:
    """Save ``source`` (a ``vllm run-batch`` or Batch API result file) into the run folder for
    the unfinished files it answers; returns their names. Every line must name a request of
    such a file."""
    state = BatchState(folder)
    waiting: dict[str, str] = {}
    for file in state.files.values():
        if not file.finished:
            for custom_id in input_ids(batch_input_file(folder, file.name)):
                waiting[custom_id] = file.name
    answered: dict[str, dict[str, int]] = {}
    for number, _, result in read_results(source):
        name = waiting.get(result.custom_id)
        if name is None:
            raise UserError(
                f"{source}, line {number}: custom_id {result.custom_id!r} is not a request "
                f"waiting in a batch file of {folder}"
            )
        usage = answered.setdefault(name, {"prompt_tokens": 0, "completion_tokens": 0,
                                           "completed": 0, "failed": 0})  # fmt: skip
        if result.ok:
            body_usage = (result.body or {}).get("usage") or {}
            usage["prompt_tokens"] += int(body_usage.get("prompt_tokens") or 0)
            usage["completion_tokens"] += int(body_usage.get("completion_tokens") or 0)
            usage["completed"] += 1
        else:
            usage["failed"] += 1
    if not answered:
        raise UserError(f"{source}: no result lines")
    imports = len(list(batch_dir(folder).glob("*.imported.jsonl")))
    target = batch_output_file(folder, f"import{imports + 1:04d}", "imported")
    write_atomic(target, source.read_bytes())
    relative = str(target.relative_to(folder))
    for name, usage in answered.items():
        usage["failed"] += state.files[name].lines - usage["completed"] - usage["failed"]
        state.record({"event": "imported", "file": name, "results": [relative], "usage": usage})
    state.close()
    return list(answered)
