"""The instruction rules as `selfinstruct filter` users see them: each rejected record's reason
in the rejects file and the reason counts in the summary."""

from __future__ import annotations

import json

from click.testing import CliRunner

from selfinstruct.cli import main


def task(ident: str, instruction: str) -> dict:
    return {"id": ident, "instruction": instruction, "is_classification": False,
            "instances": [{"input": "", "output": f"An answer for {ident}."}]}  # fmt: skip


TASKS = [
    task("echo", "Make every new instruction differ from the others in topic, wording and kind."),
    task("header", "Write a list of classification tasks about cats and their moods."),
    task("program_title", "Write a Program that prints the first ten prime numbers."),
    task("program_upper", "WRITE A PROGRAM TO REVERSE A LINKED LIST IN PLACE."),
    task("fine", "Explain why leaves change colour in autumn to a child."),
]


def test_filter_rejects_prompt_echoes_and_any_case_write_a_program(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(t) + "\n" for t in TASKS), encoding="utf-8")
    result = CliRunner().invoke(main, ["filter", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    kept = [json.loads(line)["id"] for line in out.read_text("utf-8").splitlines()]
    assert kept == ["fine"]
    rejects = (tmp_path / "out.rejected.jsonl").read_text("utf-8").splitlines()
    reasons = {json.loads(r)["record"]["id"]: json.loads(r)["reason"] for r in rejects}
    assert reasons == {
        "echo": "prompt_echo",
        "header": "prompt_echo",
        "program_title": "write_a_program",
        "program_upper": "write_a_program",
    }
    assert "prompt_echo: 2" in result.output and "write_a_program: 2" in result.output
