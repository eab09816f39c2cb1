"""Batch mode's own cost: an Alpaca run through the fake Batch API (tests/fake_batch_server.py).

Runs ``python -m selfinstruct generate --method alpaca --batch`` as a subprocess against the
fake server (in this process, answering each batch after one poll) and reports the requests,
batch files, uploads, wall time and the CPU seconds of the selfinstruct process alone (the
fake's work is not counted). The fake answers at once, so the wall time is batch mode's own
overhead (quiet periods, polls, files), not a provider's hours.

    python benchmarks/batch_mode.py [--n 2000] [--poll 0.2] [--quiet 0.5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fake_batch_server import FakeBatchServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--poll", type=float, default=0.2)
    parser.add_argument("--quiet", type=float, default=0.5)
    args = parser.parse_args()
    with FakeBatchServer() as fake, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        command = [sys.executable, "-m", "selfinstruct", "generate", "--method", "alpaca",
                   "--batch", "--base-url", fake.base_url, "--model", "stub", "--api", "chat",
                   "--api-key", "x", "--n", str(args.n), "--out", str(out), "--quiet",
                   "--poll-interval", str(args.poll), "--batch-quiet", str(args.quiet)]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        summary = json.loads((out / "summary.json").read_text())
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        requests = len(fake.submitted())
        print(json.dumps({
            "tasks": summary["tasks"], "requests": requests, "batch_files": len(fake.creates),
            "uploads": len(fake.uploads), "lines_per_file": [len(b.custom_ids) for b in fake.creates],
            "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "cpu_ms_per_request": round(1000 * cpu / max(1, requests), 1),
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
