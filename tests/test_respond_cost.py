"""respond's bookkeeping per answer does not grow with the job (issue 25)."""

from __future__ import annotations

from typing import Any

from selfinstruct.methods.respond import method as respond
from selfinstruct.records import Instance, Task


class _Engine:
    """What ``Respond._settle`` uses of the engine: the written records."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, stream: str, record: dict[str, Any]) -> bool:
        self.records.append(record)
        return True

    def report(self, **counts: int) -> None:
        pass

    def reject(self, *args: Any) -> None:
        raise AssertionError("nothing fails here")


def test_settling_reads_only_the_task_s_own_slots(monkeypatch) -> None:
    tasks = [
        Task(instruction=f"Task {i}", instances=[Instance(input=f"in {j}", output="out")
                                                 for j in range(1 + i % 3)])
        for i in range(600)
    ]  # fmt: skip
    settings = respond.RespondSettings(
        model="teacher", api="chat", input_path="x", input_sha256="0", n=len(tasks), seed=0
    )
    method = respond.Respond(settings, tasks, "chat")
    reads = [0]
    key = respond.Slot.key

    def counted(slot: respond.Slot) -> str:
        reads[0] += 1
        return key.fget(slot)  # type: ignore[attr-defined]

    monkeypatch.setattr(respond.Slot, "key", property(counted))
    engine = _Engine()
    for index, slot in enumerate(method.slots):
        method._opened(slot)
        slot.candidates.append({"model": "teacher", "output": f"answer {index}"})
        method._settle(engine, index)  # type: ignore[arg-type]
    assert [r["instruction"] for r in engine.records] == [t.instruction for t in tasks]
    assert [len(r["instances"]) for r in engine.records] == [len(t.instances) for t in tasks]
    assert engine.records[1]["instances"][1]["output"] == "answer 2"
    # A few reads per slot; reading every slot at every task's end was 600 x 1,200.
    assert reads[0] <= 6 * len(method.slots)
