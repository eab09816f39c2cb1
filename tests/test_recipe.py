"""Recipes (issue 24): `selfinstruct run RECIPE.toml` chains steps under one folder, checks the
whole recipe before anything runs, and resumes as a whole; `selfinstruct recipe RUN` writes the
recipe that reproduces a run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import kill_at, lines
from stub_server import StubServer

from selfinstruct import registry
from selfinstruct.cli import main
from selfinstruct.export import FORMATS

THREE_STEPS = """\
folder = "work"

[model]
model = "stub"
base_url = "{url}"

[[steps]]
name = "generate"
kind = "self-instruct"
n = 24
seed = 7
concurrency = 4

[[steps]]
name = "answer"
kind = "respond"
input = "generate"
concurrency = 4

[[steps]]
name = "clean"
kind = "filter"
input = "answer"
threshold = 0.9
"""


def run_command(recipe: Path) -> list[str]:
    return [sys.executable, "-m", "selfinstruct", "run", str(recipe), "--quiet"]


def write_recipe(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.toml"
    path.write_text(text, encoding="utf-8")
    return path


def sorted_json(path: Path) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in lines(path))


def final_data(work: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    return (
        [m["instruction"] for m in lines(work / "generate" / "machine_instructions.jsonl")],
        sorted_json(work / "generate" / "tasks.jsonl"),
        sorted_json(work / "answer" / "tasks.jsonl"),
        [json.dumps(r, sort_keys=True) for r in lines(work / "clean.jsonl")],
    )


def test_three_step_recipe_killed_twice_then_rerun_equals_straight_run(tmp_path):
    with StubServer(delay=0.02) as stub:
        straight = write_recipe(tmp_path / "straight", THREE_STEPS.format(url=stub.base_url))
        done = subprocess.run(run_command(straight), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        expected = final_data(tmp_path / "straight" / "work")
        assert len(expected[0]) == 24 and len(expected[2]) == len(expected[1])
        assert expected[3]  # the filter kept some

        killed = write_recipe(tmp_path / "killed", THREE_STEPS.format(url=stub.base_url))
        work = tmp_path / "killed" / "work"
        # Once inside the first step, once inside the second (after the first completed).
        kills = kill_at(
            run_command(killed), work, (("generate/machine_instructions", 6), ("answer/tasks", 5))
        )
        # Two kills are tried; on a loaded machine a step may finish before its kill point.
        assert kills >= 1
        assert not (work / "clean.jsonl").exists()
        done = subprocess.run(run_command(killed), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert final_data(work) == expected
        summaries = [json.loads((work / s / "summary.json").read_text()) for s in ("generate",
                                                                                 "answer")]  # fmt: skip
        assert [s["status"] for s in summaries] == ["complete", "complete"]


def test_rerun_skips_finished_steps_and_reruns_a_filter_only_when_needed(tmp_path):
    with StubServer(delay=0.0) as stub:
        recipe = write_recipe(tmp_path, THREE_STEPS.format(url=stub.base_url))
        runner = CliRunner()
        first = runner.invoke(main, ["run", str(recipe), "--quiet"])
        assert first.exit_code == 0, first.output
        hits = stub.hits
        clean = tmp_path / "work" / "clean.jsonl"
        written = clean.stat().st_mtime_ns

        again = runner.invoke(main, ["run", str(recipe), "--quiet"])
        assert again.exit_code == 0, again.output
        assert stub.hits == hits  # nothing asked again
        assert "step generate: skipped (complete)" in again.stderr
        assert "step answer: skipped (complete)" in again.stderr
        assert "step clean: skipped (up to date)" in again.stderr
        assert clean.stat().st_mtime_ns == written

        clean.unlink()  # a missing output is made again
        third = runner.invoke(main, ["run", str(recipe), "--quiet"])
        assert third.exit_code == 0, third.output
        assert "step clean: ran (kept " in third.stderr and clean.exists()

        # A changed option reruns the filter, not the methods.
        recipe.write_text(recipe.read_text().replace("threshold = 0.9", "threshold = 0.3"))
        fourth = runner.invoke(main, ["run", str(recipe), "--quiet"])
        assert fourth.exit_code == 0, fourth.output
        assert "step clean: ran (kept " in fourth.stderr
        assert stub.hits == hits


BAD_RECIPES = [
    (
        '[[steps]]\nkind = "generate"\n',
        "step 'generate': unknown kind 'generate' (known: "
        + ", ".join([*registry.names(), "filter", "export"])
        + ")",
    ),
    (
        '[[steps]]\nname = "gen"\nkind = "self-instruct"\nn = 5\ntemprature = 0.5\n',
        "step 'gen' (self-instruct): unknown option 'temprature'",
    ),
    (
        '[[steps]]\nkind = "self-instruct"\nn = 5\nthreshold = 2\n',
        "step 'self-instruct' (self-instruct): invalid threshold=2: Input should be less than "
        "or equal to 1",
    ),
    (
        '[[steps]]\nkind = "self-instruct"\nn = 5\n\n[[steps]]\nkind = "filter"\n'
        'input = "self-instruct"\nthresold = 0.5\n',
        "step 'filter' (filter): unknown option 'thresold'",
    ),
    (
        '[[steps]]\nkind = "respond"\ninput = "answers"\n\n[[steps]]\nname = "answers"\n'
        'kind = "self-instruct"\nn = 5\n',
        "step 'respond' (respond): input 'answers': no such file, and no earlier step is so named",
    ),
    (
        '[[steps]]\nkind = "respond"\nn = 5\n',
        "step 'respond' (respond): needs input (an earlier step's name or a file)",
    ),
    (
        '[[steps]]\nkind = "self-instruct"\nn = 5\n\n[[steps]]\nkind = "export"\n'
        'input = "self-instruct"\n',
        "step 'export' (export): needs format (e.g. format = \"alpaca\")",
    ),
    (
        '[[steps]]\nkind = "self-instruct"\nn = 5\n\n[[steps]]\nkind = "export"\n'
        'input = "self-instruct"\nformat = "csv"\n',
        "step 'export' (export): unknown format 'csv'; choose one of " + ", ".join(FORMATS),
    ),
    (
        '[model]\nmodel = "stub"\napi_key = "sk-x"\n\n[[steps]]\nkind = "self-instruct"\nn = 5\n',
        "[model]: unknown key 'api_key' (known: model, base_url, api, model_path; the API key "
        "comes from OPENAI_API_KEY)",
    ),
    ("steps = 3\n", "no steps: add [[steps]] tables, each with a kind"),
]


@pytest.mark.parametrize(("text", "message"), BAD_RECIPES)
def test_a_bad_recipe_fails_before_anything_runs_with_one_line(tmp_path, text, message):
    recipe = write_recipe(tmp_path, 'folder = "work"\n' + text)
    result = CliRunner().invoke(main, ["run", str(recipe)])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {recipe}: {message}\n"
    assert not (tmp_path / "work").exists()


def test_invalid_toml_is_one_line_with_its_position(tmp_path):
    recipe = write_recipe(tmp_path, "[[steps]\nkind = 1\n")
    result = CliRunner().invoke(main, ["run", str(recipe)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {recipe}: not valid TOML: Expected ']]' at the end of an array declaration "
        "(at line 1, column 8)\n"
    )


def test_recipe_of_a_run_reproduces_it_and_holds_no_key(tmp_path):
    secret = "sk-recipe-secret-123"
    env = {**os.environ, "OPENAI_API_KEY": secret}
    with StubServer(delay=0.0) as stub:
        run = tmp_path / "run"
        command = [sys.executable, "-m", "selfinstruct", "generate", "--base-url", stub.base_url,
                   "--model", "stub", "--n", "10", "--out", str(run), "--quiet", "--seed", "3",
                   "--threshold", "0.6", "--blacklist", "none"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr

        written = tmp_path / "again.toml"
        result = CliRunner().invoke(main, ["recipe", str(run), "-o", str(written)])
        assert result.exit_code == 0, result.output
        text = written.read_text()
        assert secret not in text and "api_key" not in text
        for line in ('model = "stub"', f'base_url = "{stub.base_url}"', 'api = "chat"',
                     'kind = "self-instruct"', "n = 10", "seed = 3", "threshold = 0.6",
                     'blacklist = "none"'):  # fmt: skip
            assert line in text.splitlines(), line
        assert "concurrency" not in text and "seeds_path" not in text  # defaults left out

        again = subprocess.run(run_command(written), capture_output=True, text=True,
                               timeout=120, env=env)  # fmt: skip
        assert again.returncode == 0, again.stderr
    rerun = tmp_path / "again" / "self-instruct"
    assert sorted_json(rerun / "tasks.jsonl") == sorted_json(run / "tasks.jsonl")
    saved = json.loads((run / "settings.json").read_text())
    assert json.loads((rerun / "settings.json").read_text()) == saved


def test_recipe_of_a_folder_without_settings_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["recipe", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path}: not a run folder (no settings.json)\n"
