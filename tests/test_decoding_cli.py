"""`--decoding STAGE.PARAM=VALUE` on every method command, through the command line with the
in-process fake model: an override reaches the requests of its stage (and only those), a bad
item is one line, and a resume with another override is refused like any data setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeBackend

from selfinstruct.cli import main


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    rows = [{"instruction": f"Describe the {w} in three sentences."} for w in ("river", "forest")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# command -> (arguments of a tiny run, the fake's API, an override, the stage it reaches)
CASES = {
    "evolve": (["--rounds", "1"], "completion", "respond.max_tokens=77", "respond"),
    "glan": (
        ["--disciplines", "1", "--subjects", "1", "--questions", "1"],
        "completion",
        "answers.max_tokens=77",
        "answers",
    ),
    "chat": (["--n", "1", "--turns", "2-2"], "chat", "user.max_tokens=77", "user"),
    "magpie": (["--n", "2", "--template", "chatml"], "completion", "query.max_tokens=77", "query"),
    "generate": (["--n", "2"], "completion", "classify.max_tokens=77", "classify"),
}


def invoke(monkeypatch, tmp_path: Path, command: str, out: Path, *extra: str):
    args, api, _, _ = CASES[command]
    backend = FakeBackend(api=api)
    monkeypatch.setattr("selfinstruct.cli.running.build_backend", lambda **kw: backend)
    source = [str(_input(tmp_path))] if command == "evolve" else []
    result = CliRunner().invoke(
        main, [command, *source, *args, "--out", str(out), "--quiet", *extra]
    )
    return result, backend


@pytest.mark.parametrize("command", sorted(CASES))
def test_an_override_reaches_its_stage_and_is_saved(monkeypatch, tmp_path, command):
    _, _, item, stage = CASES[command]
    out = tmp_path / "run"
    result, backend = invoke(monkeypatch, tmp_path, command, out, "--decoding", item)
    assert result.exit_code == 0, result.output
    asked = [r.decoding.max_tokens for r in backend.requests if r.stage == stage]
    others = [r.decoding.max_tokens for r in backend.requests if r.stage != stage]
    assert asked and set(asked) == {77}
    assert 77 not in others
    saved = json.loads((out / "settings.json").read_text(encoding="utf-8"))
    changed = [k for k, v in saved.items() if k.endswith("decoding") and v["max_tokens"] == 77]
    assert len(changed) == 1


@pytest.mark.parametrize("command", sorted(CASES))
def test_a_bad_stage_is_one_line_naming_the_stages(monkeypatch, tmp_path, command):
    stages = {
        "evolve": "evolve, respond, judge",
        "glan": "taxonomy, subjects, syllabus, questions, answers",
        "chat": "openings, user, assistant",
        "magpie": "query, response",
        "generate": "instructions, classify, classification_instances, generation_instances",
    }[command]
    out = tmp_path / "run"
    result, backend = invoke(monkeypatch, tmp_path, command, out, "--decoding", "nope.top_p=1")
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"Error: --decoding 'nope.top_p=1': stage must be one of {stages}"
    )
    assert backend.requests == [] and not out.exists()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("query.top_p=2", "top_p must be between 0 and 1"),
        (
            "query.warmth=2",
            "parameter must be one of frequency_penalty, max_tokens, "
            "presence_penalty, stop, temperature, top_p",
        ),  # fmt: skip
        ("query.max_tokens=lots", "'lots' is not a whole number"),
        ("query", "expected STAGE.PARAM=VALUE"),
    ],
)
def test_a_bad_parameter_or_value_is_one_line(monkeypatch, tmp_path, item, message):
    result, backend = invoke(monkeypatch, tmp_path, "magpie", tmp_path / "run", "--decoding", item)
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: --decoding {item!r}: {message}"
    assert backend.requests == []


@pytest.mark.parametrize("command", sorted(CASES))
def test_resuming_with_another_override_is_refused_unless_allowed(monkeypatch, tmp_path, command):
    _, _, item, _ = CASES[command]
    other = item.replace("=77", "=78")
    out = tmp_path / "run"
    assert invoke(monkeypatch, tmp_path, command, out, "--decoding", item)[0].exit_code == 0
    result, backend = invoke(monkeypatch, tmp_path, command, out, "--decoding", other)
    assert result.exit_code == 2
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"Error: {out} was generated with ") and "_decoding=" in last
    assert last.endswith(
        "resuming would mix two datasets; use another --out, or pass --allow-setting-changes"
    )
    assert backend.requests == []
    allowed, _ = invoke(
        monkeypatch, tmp_path, command, out, "--decoding", other, "--allow-setting-changes"
    )
    assert allowed.exit_code == 0, allowed.output
