"""Several endpoints through the real HTTP path: stub servers, one down, one dying mid-run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner
from conftest import free_port
from helpers import run_generate
from stub_server import StubServer, generate_command

from selfinstruct.backends.factory import build_backend
from selfinstruct.backends.openai_api import OpenAIBackend
from selfinstruct.cli import main

N = 30
SEED = 3


def data(out: Path) -> tuple[bytes, list[str]]:
    """The pool in commit order (byte for byte) and the tasks. Tasks are written as their
    instances arrive, so their line order follows timing even on one server (it differs between
    --concurrency 4 and 9): they are compared as records, as the kill-and-resume tests do."""
    tasks = (out / "tasks.jsonl").read_text(encoding="utf-8").splitlines()
    return (out / "machine_instructions.jsonl").read_bytes(), sorted(tasks)


def single_run(out: Path, url: str) -> tuple[bytes, list[str]]:
    backend = OpenAIBackend(model="stub", base_url=url, timeout=10, max_concurrency=4)
    result, _ = run_generate(out, N, backend=backend, seed=SEED, concurrency=4, timeout=10)
    assert result.summary.status == "complete"
    return data(out)


def test_one_down_one_dying_same_data_and_per_endpoint_summary(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with StubServer(delay=0.01, die_after=12) as dying, StubServer(delay=0.01) as healthy:
        # The same first URL: records carry their request key, which names it.
        expected = single_run(tmp_path / "single", healthy.base_url)
        healthy.state.max_inflight = 0
        out = tmp_path / "pool"
        command = generate_command(
            healthy.base_url + "#3", out, N, "--seed", str(SEED), "--concurrency", "4",
            "--base-url", dead, "--base-url", dying.base_url + "#2",
        )  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        healthy_peak = healthy.state.max_inflight
        dying_peak = dying.state.max_inflight
    assert done.returncode == 0, done.stderr
    assert data(out) == expected and len(expected[1]) == N
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["failures"] == {}
    endpoints = summary["endpoints"]
    assert list(endpoints) == [healthy.base_url, dead, dying.base_url]
    first, down, died = endpoints.values()
    assert set(down["errors"]) == {"connection"} and down["answered"] == 0
    assert down["requests"] == down["errors"]["connection"] >= 1 and down["benched"] >= 1
    assert 0 < died["answered"] <= 12 and died["benched"] >= 1
    assert set(died["errors"]) <= {"connection", "dropped"} and died["errors"]
    assert first["errors"] == {} and first["mean_latency_seconds"] > 0
    fresh = sum(stage["requests"] for stage in summary["usage"].values())
    assert first["answered"] + died["answered"] == fresh
    assert first["limit"] == 3 and down["limit"] == 4 and died["limit"] == 2
    assert healthy_peak <= 3 and dying_peak <= 2
    report = [line for line in done.stderr.splitlines() if line.startswith("endpoint ")]
    assert len(report) == 3 and report[1].startswith(f"endpoint {dead}: ")


def test_a_one_url_folder_resumed_with_more_endpoints_hits_its_cache(tmp_path):
    with StubServer(delay=0.0) as first, StubServer(delay=0.0) as second:
        out = tmp_path / "run"
        expected = single_run(out, first.base_url)
        sent = first.hits
        # Endpoints added, then removed again: operational, so neither resume is refused.
        for urls in ((first.base_url, second.base_url), (first.base_url,)):
            backend = build_backend(model="stub", base_url=urls, api_key=None, api="auto",
                                    model_path=None, timeout=10, concurrency=4)  # fmt: skip
            result, _ = run_generate(out, N, backend=backend, seed=SEED, concurrency=4,
                                     timeout=10)  # fmt: skip
            assert result.summary.status == "complete"
            assert result.summary.usage["instructions"].requests == 0
        assert (first.hits, second.hits) == (sent, 0)
    assert data(out) == expected
    settings = json.loads((out / "settings.json").read_text())
    assert settings["base_url"] == first.base_url


def test_every_endpoint_down_is_one_line(tmp_path):
    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    result = CliRunner().invoke(main, [
        "generate", "--n", "2", "--out", str(tmp_path / "o"), "--quiet", "--model", "x",
        "--base-url", urls[0], "--base-url", urls[1],
    ])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"Error: cannot reach any of {urls[0]}, {urls[1]}: is the server running? "
        "(check --base-url)"
    )


def test_openai_base_url_may_name_several_servers(tmp_path):
    with StubServer(delay=0.0) as one, StubServer(delay=0.0) as two:
        for env, servers in ((one.base_url, 1), (f"{one.base_url} {two.base_url}", 2)):
            out = tmp_path / str(servers)
            result = CliRunner().invoke(
                main, ["generate", "--n", "3", "--out", str(out), "--quiet", "--model", "stub"],
                env={"OPENAI_BASE_URL": env},
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            summary = json.loads((out / "summary.json").read_text())
            assert len(summary["endpoints"]) == (2 if servers == 2 else 0)
            assert json.loads((out / "settings.json").read_text())["base_url"] == one.base_url


def test_a_bad_file_of_urls_is_one_line_through_the_cli(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:8000/v1\nhttp://127.0.0.1:8001/v1#lots\n", encoding="utf-8")
    result = CliRunner().invoke(main, [
        "generate", "--n", "2", "--out", str(tmp_path / "o"), "--model", "x",
        "--base-url", f"@{urls}",
    ])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {urls}:2: 'http://127.0.0.1:8001/v1#lots': after # comes the endpoint's "
        "number of requests in flight, 1 to 1024 (e.g. http://127.0.0.1:8000/v1#32)"
    ]
    assert not (tmp_path / "o").exists()


def test_one_url_with_a_limit_runs_that_many_at_once(tmp_path):
    out = tmp_path / "o"
    with StubServer(delay=0.01) as stub:
        result = CliRunner().invoke(main, [
            "generate", "--n", "6", "--out", str(out), "--quiet", "--model", "stub",
            "--base-url", stub.base_url + "#2", "--concurrency", "8",
        ])  # fmt: skip
        peak = stub.state.max_inflight
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "settings.json").read_text())
    assert settings["concurrency"] == 2 and settings["base_url"] == stub.base_url
    assert 1 <= peak <= 2
