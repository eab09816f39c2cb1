"""Hostile input that raised a traceback is one line and exit status 2, and writes nothing
(issue 21, items 14 and 15)."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from selfinstruct.backends.base import Decoding
from selfinstruct.cli import main
from selfinstruct.errors import UserError
from selfinstruct.methods.judge.settings import JUDGE_DECODING, JudgeSettings
from selfinstruct.store import load_settings_file

FIX = Path(__file__).parent / "fixtures"
SERVER = ["--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--api-key", "x"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ------------------------------------------------------------------ stats


def test_stats_with_an_empty_seed_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    result = invoke("stats", str(FIX / "stats_tasks.jsonl"), "--seeds", str(empty))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {empty}: holds no seed instructions (--seeds)\n"


# ------------------------------------------------------------------ batches --import


def batch_run_with_results(tmp_path: Path) -> tuple[Path, Path]:
    """A file-only batch run waiting for its results, and those results."""
    from test_batch import vllm_run_batch

    out = tmp_path / "run"
    first = invoke("generate", "--method", "alpaca", "--batch-file-only", "--model", "stub",
                   "--api", "chat", "--n", "5", "--out", str(out), "--quiet",
                   "--batch-quiet", "0.05")  # fmt: skip
    assert first.exit_code == 0, first.output
    newest = sorted((out / "batches").glob("*.input.jsonl"))[-1]
    results = tmp_path / "results.jsonl"
    vllm_run_batch(newest, results)
    return out, results


def test_batches_import_without_settings_moves_nothing(tmp_path):
    out, results = batch_run_with_results(tmp_path)
    (out / "settings.json").unlink()
    before, saved = tree(out), results.read_bytes()
    result = invoke("batches", str(out), "--import", str(results))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {out} has no settings.json: the run cannot be continued; import into the "
        "run folder that batch mode wrote\n"
    )
    assert tree(out) == before and results.read_bytes() == saved


def test_batches_import_into_a_run_of_an_unknown_method(tmp_path):
    out, results = batch_run_with_results(tmp_path)
    settings = json.loads((out / "settings.json").read_text(encoding="utf-8"))
    settings["method"] = "nope"
    (out / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    before = tree(out)
    result = invoke("batches", str(out), "--import", str(results))
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: {out / 'settings.json'}: unknown method 'nope' (known: "
    )
    assert len(result.stderr.splitlines()) == 1
    assert tree(out) == before


# ------------------------------------------------------------------ files that are not UTF-8


NOT_UTF8 = b"Mathematics\n  Algebra\n    Linear \xff algebra\n"


@pytest.mark.parametrize("name", ["taxonomy.txt", "taxonomy.yaml"])
def test_glan_taxonomy_not_utf8(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(NOT_UTF8)
    result = invoke("glan", "--taxonomy", str(path), "--out", str(tmp_path / "g"), *SERVER)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}:3: not valid UTF-8 (invalid start byte)\n"
    assert not (tmp_path / "g").exists()


def test_glan_decontaminate_not_utf8(tmp_path):
    path = tmp_path / "bench.txt"
    path.write_bytes(b"What is 2+2?\n\xc3(\n")
    result = invoke("glan", "--decontaminate", str(path), "--out", str(tmp_path / "g"), *SERVER)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}:2: not valid UTF-8 (invalid continuation byte)\n"
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("command", ["chat", "magpie"])
def test_template_not_utf8(tmp_path, command):
    path = tmp_path / "t.jinja"
    path.write_bytes(b"{{ messages }}\n\xff\n")
    result = invoke(command, "--template", str(path), "--out", str(tmp_path / "r"), *SERVER,
                    "--api", "completion")  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}:2: not valid UTF-8 (invalid start byte)\n"
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ decoding values (item 15)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_tokens": -1}, "max_tokens must be 1 or more"),
        ({"max_tokens": 0}, "max_tokens must be 1 or more"),
        ({"max_tokens": 2.5}, "max_tokens must be a whole number"),
        ({"top_p": 5}, "top_p must be between 0 and 1"),
        ({"top_p": -0.1}, "top_p must be between 0 and 1"),
        ({"temperature": -1}, "temperature must be 0 or more"),
        ({"temperature": math.nan}, "temperature must be a finite number"),
        ({"temperature": math.inf}, "temperature must be a finite number"),
        ({"frequency_penalty": math.inf}, "frequency_penalty must be a finite number"),
        ({"presence_penalty": math.nan}, "presence_penalty must be a finite number"),
    ],
)
def test_decoding_refuses_values_no_server_takes(change, message):
    with pytest.raises(ValueError) as info:
        dataclasses.replace(JUDGE_DECODING, **change)
    assert str(info.value) == f"decoding: {message}"


def test_decoding_takes_sensible_values():
    decoding = Decoding(max_tokens=1, temperature=0, top_p=1, frequency_penalty=-2)
    assert decoding.top_p == 1 and decoding.max_tokens == 1


def test_a_settings_file_with_a_bad_decoding_is_refused(tmp_path):
    settings = JudgeSettings(n=2, model="m", base_url=None, api="chat", seed=0,
                             input_path="x", input_sha256="0")  # fmt: skip
    data = settings.model_dump(mode="json")
    data["decoding"]["top_p"] = 5
    (tmp_path / "settings.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(UserError) as info:
        load_settings_file(tmp_path, JudgeSettings)
    assert str(info.value) == (
        f"{tmp_path / 'settings.json'}: unreadable run settings (ValidationError)"
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("temperature=nan", "'nan' is not a finite number"),
        ("temperature=inf", "'inf' is not a finite number"),
        ("max_tokens=-1", "max_tokens must be 1 or more"),
        ("top_p=5", "top_p must be between 0 and 1"),
        ("temperature=-0.5", "temperature must be 0 or more"),
    ],
)
def test_respond_decoding_is_checked_before_any_folder(tmp_path, item, message):
    data = tmp_path / "data.json"
    shutil.copy(FIX / "export_tasks.jsonl", data)
    result = invoke("respond", str(data), "--decoding", item, "--out", str(tmp_path / "r"),
                    *SERVER)  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == f"Error: --decoding {item!r}: {message}\n"
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["generate", "judge"])
def test_an_empty_model_name_is_refused(tmp_path, command):
    extra = [str(FIX / "export_tasks.jsonl")] if command == "judge" else []
    result = invoke(command, *extra, "--model", "", "--base-url", "http://127.0.0.1:9/v1",
                    "--api-key", "x", "--out", str(tmp_path / "r"))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --model is empty: name the model the server serves, or leave --model out "
        "for the bundled model\n"
    )
    assert not (tmp_path / "r").exists()
