"""How runs start and stop, as a user sees it: one run per folder, misbehaving servers, Ctrl-C,
validation before anything is written, and resuming with a smaller --n."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeBackend
from helpers import lines, run_generate
from stub_server import Fault, StubServer, generate_command

from selfinstruct.backends.base import Completion, Request
from selfinstruct.cli import main


def wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_second_run_on_the_same_folder_is_refused_at_once(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0, faults=[Fault("slow", seconds=30)]) as stub:
        first = subprocess.Popen(generate_command(stub.base_url, out, 5), stderr=subprocess.PIPE)
        try:
            wait_for(lambda: (out / "settings.json").exists() and stub.hits > 0)
            hits = stub.hits
            second = subprocess.run(
                generate_command(stub.base_url, out, 5), capture_output=True, text=True, timeout=60
            )
            # Refused before asking anything, while the first still runs (no waiting for it).
            assert stub.hits == hits and first.poll() is None
        finally:
            first.kill()
            first.wait()
    assert second.returncode == 2
    assert second.stderr == (
        f"Error: {out} is in use by another selfinstruct process (pid {first.pid}): wait for it "
        "to finish or choose another --out\n"
    )


def test_a_lock_left_by_kill_minus_nine_does_not_block(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.02) as stub:
        first = subprocess.Popen(generate_command(stub.base_url, out, 30), stderr=subprocess.PIPE)
        wait_for(lambda: (out / "machine_instructions.jsonl").exists())
        first.send_signal(signal.SIGKILL)
        first.wait()
        done = subprocess.run(
            generate_command(stub.base_url, out, 30), capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr


def test_a_server_that_cuts_every_answer_stops_the_run(tmp_path):
    """It used to loop for ever (348K requests in 10 minutes): a truncated answer counts toward
    the failure streak and the stall rule."""
    out = tmp_path / "run"
    with StubServer(delay=0.0, faults=[Fault("length")]) as stub:
        done = subprocess.run(
            generate_command(stub.base_url, out, 5), capture_output=True, text=True, timeout=60
        )
        hits = stub.hits
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "Stopped: 25 requests in a row failed or were cut off (last: an answer cut off at "
        "max_tokens); check the server. Run the same command again to resume."
    )
    assert hits < 40
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop"] == "failed"


def interrupt(command: list[str], out: Path, stub: StubServer, wait: float = 0.0):
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: stub.hits > 0)
    time.sleep(wait)
    process.send_signal(signal.SIGINT)
    at_interrupt = stub.hits
    started = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr, time.monotonic() - started, at_interrupt


def test_ctrl_c_against_a_hanging_server_exits_in_seconds(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0, faults=[Fault("slow", seconds=120)]) as stub:
        code, stderr, seconds, _ = interrupt(generate_command(stub.base_url, out, 5), out, stub)
    assert code == 130, stderr
    assert seconds < 30  # the server hangs for 120 s; the run stops within its 3 s grace
    assert stderr.splitlines()[-1] == (
        "Stopped: interrupted. Run the same command again to resume."
    )
    assert json.loads((out / "summary.json").read_text())["stop"] == "interrupted"


def test_ctrl_c_sends_no_new_request_and_no_retry(tmp_path):
    out = tmp_path / "run"
    failing = Fault("server", retry_after=0.2)
    with StubServer(delay=0.0, faults=[failing]) as stub:
        code, stderr, _, at_interrupt = interrupt(
            generate_command(stub.base_url, out, 5, "--concurrency", "2"), out, stub, wait=0.5
        )
        time.sleep(0.5)
        after = stub.hits
    assert code == 130, stderr
    assert after - at_interrupt <= 2  # at most the requests already on their way


def test_a_second_ctrl_c_exits_at_once_and_the_folder_resumes(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0, faults=[Fault("slow", seconds=120, times=1)]) as stub:
        command = generate_command(stub.base_url, out, 5)
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: stub.hits > 0)
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 130
        assert stderr.splitlines()[-1] == (
            "Interrupted again: stopped at once. Run the same command again to resume."
        )
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(lines(out / "machine_instructions.jsonl")) == 5


def test_sigterm_against_a_hanging_server_exits_143_in_seconds(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0, faults=[Fault("slow", seconds=120)]) as stub:
        process = subprocess.Popen(generate_command(stub.base_url, out, 5), stderr=subprocess.PIPE,
                                   text=True)  # fmt: skip
        wait_for(lambda: stub.hits > 0)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert time.monotonic() - started < 30  # within the 3 s grace, as for Ctrl-C
    assert stderr.splitlines()[-1] == (
        "Stopped: terminated (SIGTERM). Run the same command again to resume."
    )


@pytest.mark.parametrize(
    ("second", "code", "line"),
    [
        (signal.SIGTERM, 143, "Terminated again: stopped at once."),
        (signal.SIGINT, 130, "Interrupted again: stopped at once."),
    ],
)
def test_a_signal_after_sigterm_exits_at_once_and_the_folder_resumes(tmp_path, second, code,
                                                                     line):  # fmt: skip
    out = tmp_path / "run"
    with StubServer(delay=0.0, faults=[Fault("slow", seconds=120, times=1)]) as stub:
        command = generate_command(stub.base_url, out, 5)
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: stub.hits > 0)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        process.send_signal(second)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == code
        assert stderr.splitlines()[-1] == f"{line} Run the same command again to resume."
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(lines(out / "machine_instructions.jsonl")) == 5


def test_a_start_that_fails_validation_writes_nothing(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        "".join(
            json.dumps({"id": f"s{i}", "instruction": f"Name {i} rivers in Africa please.",
                        "instances": [{"input": "", "output": "Nile"}],
                        "is_classification": False}) + "\n"
            for i in range(3)
        )
    )  # fmt: skip
    out = tmp_path / "run"
    with StubServer(delay=0.0) as stub:
        refused = subprocess.run(
            generate_command(stub.base_url, out, 3, "--seeds", str(seeds)),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode == 2
        assert refused.stderr == (f"Error: {seeds}: 3 usable seed tasks, but each prompt shows 8\n")
        assert not (out / "settings.json").exists()
        done = subprocess.run(
            generate_command(stub.base_url, out, 3), capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr


def test_empty_out_and_huge_concurrency_are_refused_before_anything_runs():
    empty = CliRunner().invoke(main, ["generate", "--out", ""])
    assert empty.exit_code == 2
    assert "Invalid value for '--out': must name a folder, e.g. --out data/run1" in empty.output
    huge = CliRunner().invoke(main, ["generate", "--concurrency", "100000"])
    assert huge.exit_code == 2
    assert "Invalid value for '--concurrency': 100000 is not in the range 1<=x<=1024." in (
        huge.output
    )


def test_resume_with_a_smaller_n_keeps_the_data_and_says_so(tmp_path):
    out = tmp_path / "run"
    with StubServer(delay=0.0) as stub:
        first = subprocess.run(
            generate_command(stub.base_url, out, 12), capture_output=True, text=True, timeout=60
        )
        assert first.returncode == 0, first.stderr
        again = subprocess.run(
            generate_command(stub.base_url, out, 5), capture_output=True, text=True, timeout=60
        )
    assert again.returncode == 0, again.stderr
    assert again.stderr.startswith("12/12 instructions, 12 tasks") or "12/12 instructions" in (
        again.stderr
    )
    assert json.loads((out / "settings.json").read_text())["n"] == 12
    assert len(lines(out / "machine_instructions.jsonl")) == 12


def test_classification_only_measures_novelty_against_classification_seeds(tmp_path):
    from selfinstruct.methods.self_instruct.method import SelfInstruct
    from selfinstruct.records import load_seed_tasks
    from selfinstruct.resources import default_seed_path

    seeds = load_seed_tasks(default_seed_path())
    settings = SelfInstruct.configure(FakeBackend(), n=5, classification_only=True)
    method = SelfInstruct.create(settings, "completion")
    assert len(method.gate.index) == sum(t.is_classification for t in seeds) < len(seeds)


class CutClassifier(FakeBackend):
    """A chat model whose classification answers are cut before the label."""

    async def complete(self, request: Request, text: str) -> Completion:
        if request.stage == "classify":
            self.requests.append(request)
            return Completion(text="Decision:", finish_reason="length")
        return await super().complete(request, text)


def test_an_unreadable_chat_classification_is_its_own_reason_never_a_label(tmp_path):
    out = tmp_path / "run"
    _, model = run_generate(out, n=3, backend=CutClassifier(api="chat"))
    classified = lines(out / "classification.jsonl")
    assert classified and all(c["is_classification"] is None for c in classified)
    rejected = [r for r in lines(out / "rejected.jsonl") if r["stage"] == "classify"]
    assert {r["reason"] for r in rejected} == {"unparseable_answer"}
    assert not lines(out / "tasks.jsonl")
    assert not [r for r in model.requests if r.stage == "instances"]
    classify = next(r for r in model.requests if r.stage == "classify")
    assert classify.decoding.max_tokens >= 16  # room for "Yes." or "Answer: No"
