"""`selfinstruct generate` input errors: one line naming the problem, exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from selfinstruct.cli import main


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_help_lists_every_command_and_option():
    result = invoke("--help")
    assert result.exit_code == 0 and "generate" in result.output
    result = invoke("generate", "--help")
    for option in ("--n", "--out", "--model", "--base-url", "--seeds", "--seed", "--concurrency",
                   "--threshold", "--tokenizer", "--max-cost", "--decoding"):  # fmt: skip
        assert option in result.output


def test_python_dash_m_works():
    done = subprocess.run([sys.executable, "-m", "selfinstruct", "--version"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0 and "selfinstruct" in done.stdout


def test_broken_seed_file_names_file_and_line(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    good = {"id": "s0", "name": "n", "instruction": "Do a thing now please.",
            "instances": [{"input": "", "output": "ok"}], "is_classification": False}  # fmt: skip
    seeds.write_text(json.dumps(good) + "\n{not json\n")
    result = invoke("generate", "--seeds", str(seeds), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert f"{seeds}:2: invalid JSON" in result.output
    assert "Traceback" not in result.output


def test_wrong_schema_names_the_field(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"id": "s0", "instruction": "x", "instances": []}) + "\n")
    result = invoke("generate", "--seeds", str(seeds), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert f"{seeds}:1: not a seed task: " in result.output


def test_empty_seed_file(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("")
    result = invoke("generate", "--seeds", str(seeds), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "holds no tasks" in result.output


def test_non_utf8_seed_file(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_bytes(b'{"id": "\xff"}\n')
    result = invoke("generate", "--seeds", str(seeds), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and f"{seeds}:1: not valid UTF-8" in result.output


def test_missing_seed_file(tmp_path):
    result = invoke(
        "generate", "--seeds", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")
    )
    assert result.exit_code == 2 and "nope.jsonl: no such file" in result.output


def test_missing_openai_key_names_the_variable(tmp_path):
    result = invoke("generate", "--model", "gpt-4o-mini", "--out", str(tmp_path / "o"),
                    env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""})  # fmt: skip
    assert result.exit_code == 2
    assert "no API key for OpenAI: set OPENAI_API_KEY" in result.output


def test_base_url_without_model(tmp_path):
    result = invoke("generate", "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "--base-url needs --model" in result.output


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("generate", "--out", str(blocker / "run"))
    assert result.exit_code == 2 and "cannot write to" in result.output


def test_bad_decoding_override(tmp_path):
    result = invoke("generate", "--decoding", "instructions.temp=1", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "parameter must be one of" in result.output


def test_unreachable_server_fails_fast(tmp_path):
    import time

    started = time.monotonic()
    result = invoke("generate", "--n", "2", "--out", str(tmp_path / "o"), "--quiet",
                    "--base-url", "http://127.0.0.1:9/v1", "--model", "x")  # fmt: skip
    assert result.exit_code == 2
    assert "cannot reach http://127.0.0.1:9/v1: is the server running?" in result.output
    assert time.monotonic() - started < 30  # two attempts, not the full retry schedule
