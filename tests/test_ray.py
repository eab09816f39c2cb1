"""Issue 25: `selfinstruct ray` runs the shards of a job as Ray tasks, survives a killed shard,
and ends with the data of one unsharded run."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import lines
from stub_server import StubServer

from selfinstruct.cli import main

ROOT = Path(__file__).resolve().parents[1]
RECORDS = 32
SHARDS = 4


def write_data(path: Path) -> Path:
    records = [{"instruction": f"Say what the number {i} is called in words, once.", "input": "",
                "output": f"It is number {i}."} for i in range(RECORDS)]  # fmt: skip
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def model(base_url: str) -> list[str]:
    return ["--model", "stub", "--base-url", base_url, "--api-key", "x", "--api", "completion",
            "--concurrency", "2"]  # fmt: skip


def kill_mid_run(folder: Path, killed: list[int]) -> None:
    """SIGKILL the shard's process once it has written its first record (its pid is in the
    run folder's lock file)."""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        tasks = folder / "tasks.jsonl"
        written = tasks.read_bytes().count(b"\n") if tasks.is_file() else 0
        if written >= 1:
            pid = int((folder / ".lock").read_text().strip())
            os.kill(pid, signal.SIGKILL)
            killed.append(written)
            return
        time.sleep(0.01)


def test_a_ray_job_survives_a_killed_shard_and_equals_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray")
    data = write_data(tmp_path / "data.json")
    with StubServer(delay=0.05) as alone:
        whole = CliRunner().invoke(main, ["respond", str(data), "--out", str(tmp_path / "whole"),
                                          "--quiet", *model(alone.base_url)])  # fmt: skip
        assert whole.exit_code == 0, whole.output
    # The shards' processes import this checkout, as the workers Ray starts do.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    killed: list[int] = []
    try:
        with StubServer(delay=0.2) as stub:
            job = tmp_path / "job"
            killer = threading.Thread(target=kill_mid_run, args=(job / "shard-1-of-4", killed))
            killer.start()
            done = CliRunner().invoke(main, [
                "ray", "--shards", str(SHARDS), "--out", str(job), "--cpus-per-shard", "0.5",
                "--quiet", "--", "respond", str(data), *model(stub.base_url),
            ])  # fmt: skip
            killer.join()
            stats = stub.state.stats()
    finally:
        ray.shutdown()
    assert done.exit_code == 0, done.output
    assert killed and killed[0] < RECORDS // SHARDS, "the shard was not killed mid-run"
    assert f"{RECORDS} records from {SHARDS} shards in {job / 'merged'}" in done.output
    merged = {r["id"]: r for r in lines(job / "merged" / "tasks.jsonl")}
    assert merged == {r["id"]: r for r in lines(tmp_path / "whole" / "tasks.jsonl")}
    # Every request was answered once, but those in flight in the killed process when it died
    # (at most its --concurrency, 2): their answers never reached its cache, so its retry asks
    # them again.
    assert stats["distinct_prompts"] == RECORDS
    assert stats["repeated_prompts"] <= 2
