"""`selfinstruct generate` for real: on the bundled model in-process, and through the OpenAI
client against a real OpenAI-compatible server on 127.0.0.1. Slow (minutes on 2 cores)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from selfinstruct.cli import main

pytestmark = pytest.mark.slow


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_run_folder(out: Path, n: int, chat: bool = False) -> None:
    for name in (
        "settings.json",
        "machine_instructions.jsonl",
        "classification.jsonl",
        "tasks.jsonl",
        "rejected.jsonl",
        "summary.json",
        "cache.sqlite",
    ):
        assert (out / name).exists(), name
    machine = lines(out / "machine_instructions.jsonl")
    assert len(machine) == n
    for record in machine:
        assert record["instruction"] and record["id"].startswith("task_")
        assert record["max_similarity"] <= 0.7
        assert isinstance(record["most_similar"], list) and record["most_similar"]
    for record in lines(out / "classification.jsonl"):
        # A chat answer with no clear yes or no is recorded as unknown (and the task dropped).
        assert record["is_classification"] in ((True, False, None) if chat else (True, False))
    for task in lines(out / "tasks.jsonl"):
        assert set(task) == {"id", "instruction", "is_classification", "instances"}
        assert 1 <= len(task["instances"]) <= 5
        for instance in task["instances"]:
            assert instance["output"].strip() and instance["input"] != instance["output"]
    for rejected in lines(out / "rejected.jsonl"):
        assert rejected["reason"] and rejected["stage"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["accepted_instructions"] == n


def test_generate_on_bundled_model(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["generate", "--n", "3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    check_run_folder(out, 3)
    settings = json.loads((out / "settings.json").read_text())
    assert settings["model"] == "smollm2-135m-instruct" and settings["api"] == "completion"


@pytest.mark.parametrize("api", ["chat", "completion"])
def test_generate_through_openai_client_against_local_server(tmp_path, llama_server, api):
    out = tmp_path / api
    command = [sys.executable, "-m", "selfinstruct", "generate", "--n", "2", "--out", str(out),
               "--base-url", llama_server, "--model", "smollm2", "--api", api, "--quiet",
               "--concurrency", "2"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    check_run_folder(out, 2, chat=api == "chat")
    settings = json.loads((out / "settings.json").read_text())
    assert settings["base_url"] == llama_server and settings["api"] == api


def test_alpaca_through_openai_client_against_local_server(tmp_path, llama_server):
    """Alpaca's one pass against a real OpenAI-compatible server: no grammar reaches a server,
    so the small model writes freely and most items are dropped; a token budget ends the run.
    Every item of every answer is either a task or a rejection with its reason."""
    out = tmp_path / "alpaca"
    command = [sys.executable, "-m", "selfinstruct", "generate", "--method", "alpaca",
               "--n", "2", "--out", str(out), "--base-url", llama_server, "--model", "smollm2",
               "--api", "completion", "--decoding", "instructions.max_tokens=300",
               "--max-tokens", "2500", "--concurrency", "2", "--quiet"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "alpaca" and summary["stop"] in ("complete", "budget")
    assert summary["usage"]["instructions"]["requests"] > 0 and summary["failures"] == {}
    tasks, rejected = lines(out / "tasks.jsonl"), lines(out / "rejected.jsonl")
    assert tasks or rejected
    assert {r["stage"] for r in rejected} <= {"task", "instruction"}
    assert all(len(t["instances"]) == 1 for t in tasks)


def test_unreachable_server_is_one_clear_line(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "selfinstruct", "generate", "--n", "2", "--out", str(out),
               "--base-url", "http://127.0.0.1:9/v1", "--model", "x", "--quiet",
               "--max-retries", "1"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "cannot reach http://127.0.0.1:9/v1" in done.stderr


def test_an_abandoned_bundled_model_request_stops_at_the_next_token():
    """Ctrl-C cancels a request after its grace period; the model's worker thread must then
    stop generating, not run on to max_tokens while the run waits to close it."""
    import asyncio

    from selfinstruct.backends.base import Decoding, Request
    from selfinstruct.backends.local import LocalBackend

    counting = ", ".join(str(i) for i in range(1, 40)) + ","  # the model just keeps counting
    request = Request("instructions", counting, Decoding(max_tokens=2500, temperature=0.0,
                                                         top_p=1.0), seed=1)  # fmt: skip

    async def scenario() -> int:
        backend = LocalBackend()
        await backend.complete(Request("instructions", counting, Decoding(1, 0.0, 1.0)), counting)
        task = asyncio.ensure_future(backend.complete(request, counting))
        await asyncio.sleep(3.0)
        task.cancel()
        await asyncio.to_thread(backend._lock.acquire)  # the worker thread has let go
        llm = next(iter(backend._contexts.values()))
        generated = llm.n_tokens - len(llm.tokenize(counting.encode()))
        backend._lock.release()
        await backend.aclose()
        return generated

    assert asyncio.run(scenario()) < 1500  # without the stop it runs on to 2500


def _two_tasks(path: Path) -> Path:
    rows = [
        {"instruction": "Give three tips for staying healthy.", "input": "",
         "output": "Eat well, sleep enough and move every day."},
        {"instruction": "Translate the sentence into French.", "input": "Good morning.",
         "output": "Bonjour."},
    ]  # fmt: skip
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


# Every method that works through an API, at the smallest size, through the real openai client
# against llama.cpp's OpenAI-compatible server (magpie needs raw template access, which a chat
# server does not give; glan's levels take too long for the suite).
METHOD_RUNS = {
    "judge": ["judge", "{data}", "--n", "2"],
    "respond": ["respond", "{data}", "--compare", "--decoding", "max_tokens=64"],
    "evolve": ["evolve", "{data}", "--rounds", "1", "--decoding", "evolve.max_tokens=96",
               "--decoding", "respond.max_tokens=64"],
    "chat": ["chat", "--n", "1", "--turns", "2-2", "--decoding", "assistant.max_tokens=64",
             "--decoding", "user.max_tokens=48"],
}  # fmt: skip


@pytest.mark.parametrize("method", sorted(METHOD_RUNS))
def test_method_through_openai_client_against_local_server(tmp_path, llama_server, method):
    data = _two_tasks(tmp_path / "data.json")
    out = tmp_path / method
    args = [a.format(data=data) for a in METHOD_RUNS[method]]
    command = [sys.executable, "-m", "selfinstruct", *args, "--out", str(out),
               "--base-url", llama_server, "--model", "smollm2", "--api", "chat", "--quiet",
               "--concurrency", "2"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == method and summary["stop"] == "complete"
    assert summary["failures"] == {}
    asked = sum(stage["requests"] for stage in summary["usage"].values())
    assert asked > 0 and summary["prompt_tokens"] > 0  # answered by the server, not a cache
