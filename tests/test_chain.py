"""The whole user journey on a real run folder: generate -> stats -> filter -> export."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner
from helpers import lines
from stub_server import StubServer, generate_command

from selfinstruct.cli import main

FORMATS = ("alpaca", "openai", "sharegpt", "messages", "prompt-completion")


@pytest.mark.parametrize("method", ["self-instruct", "alpaca"])
def test_generate_stats_filter_export(tmp_path, method):
    run = tmp_path / "run"
    with StubServer(delay=0.0) as stub:
        done = subprocess.run(
            generate_command(stub.base_url, run, 20, "--method", method),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    tasks = lines(run / "tasks.jsonl")
    instances = sum(len(t["instances"]) for t in tasks)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["method"] == method and summary["stop"] == "complete"

    runner = CliRunner()
    stats = runner.invoke(main, ["stats", str(run), "--json", "--no-verbs"])
    assert stats.exit_code == 0, stats.output
    counts = json.loads(stats.stdout)["counts"]
    assert (counts["tasks"], counts["instances"]) == (len(tasks), instances)

    clean = tmp_path / "clean.jsonl"
    filtered = runner.invoke(main, ["filter", str(run / "tasks.jsonl"), "-o", str(clean)])
    assert filtered.exit_code == 0, filtered.output
    kept = lines(clean)
    assert 0 < len(kept) <= len(tasks)
    assert {t["id"] for t in kept} <= {t["id"] for t in tasks}

    for fmt in FORMATS:
        out = tmp_path / f"{fmt}.jsonl"
        extra = ["--jsonl"] if fmt == "alpaca" else []
        exported = runner.invoke(main, ["export", str(clean), "--format", fmt, "-o", str(out),
                                        *extra])  # fmt: skip
        assert exported.exit_code == 0, exported.output
        records = lines(out)
        assert records, fmt
        assert len(records) <= sum(len(t["instances"]) for t in kept)
