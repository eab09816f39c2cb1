"""Shared fixtures: the public anchors, and a real OpenAI-compatible server.

The anchors (the paper's seed tasks, Alpaca's 5,000 tasks) live in ``shared/anchors/`` beside the
checkout (found upwards, so from a worktree too). A test that needs one asks :func:`anchor`: it
is skipped where they are missing, but fails under CI (``CI`` set), where they must be.

The server is llama-cpp-python's own (``python -m llama_cpp.server``) serving the bundled GGUF on
127.0.0.1, started once per session for the tests that exercise the OpenAI path end to end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]


def find_anchors(start: Path) -> Path | None:
    """The first ``shared/anchors`` folder above ``start``."""
    return next(
        (p / "shared" / "anchors" for p in start.parents if (p / "shared" / "anchors").is_dir()),
        None,
    )


ANCHORS = find_anchors(Path(__file__).resolve()) or REPO.parent / "shared" / "anchors"


def anchor(name: str) -> Path:
    """The anchor file ``name``; skips the calling test when it is missing, or fails it under CI."""
    path = ANCHORS / name
    if path.is_file():
        return path
    message = (
        f"public anchor missing: {path} "
        "(put the paper's seed tasks and alpaca_data_5000.json in ../shared/anchors/)"
    )
    ci = os.environ.get("CI", "")
    if ci.lower() not in ("", "0", "false"):
        pytest.fail(f"{message}; CI={ci} so this fails instead of skipping", pytrace=False)
    pytest.skip(message)


sys.path.insert(0, str(Path(__file__).resolve().parent))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """Base URL (…/v1) of a llama.cpp OpenAI-compatible server with the bundled model."""
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")
    from selfinstruct.backends.local import bundled_model_path

    port = free_port()
    log = open(REPO / "data" / f"llama_server_{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
         "--model_alias", "smollm2"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited early; see {log.name}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start within 120 s")
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def real_run(tmp_path_factory) -> Path:
    """A real run folder: `selfinstruct generate --seeds <30 bundled seeds>` on the stub server.

    Its own seed file (not the bundled ones) so that which seeds `stats` reads is visible. Tests
    that change it copy it first.
    """
    from stub_server import StubServer, generate_command

    from selfinstruct.resources import default_seed_path

    base = tmp_path_factory.mktemp("real_run")
    seeds = base / "my_seeds.jsonl"
    bundled = default_seed_path().read_text(encoding="utf-8").splitlines()
    seeds.write_text("\n".join(bundled[:30]) + "\n", encoding="utf-8")
    out = base / "run"
    with StubServer(delay=0.0) as stub:
        command = generate_command(
            stub.base_url, out, 10, "--api", "chat", "--seeds", str(seeds), "--price", "2,3"
        )
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out
