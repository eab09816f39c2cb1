"""A second selfinstruct process that holds the output lock, for the one-writer tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from selfinstruct.locking import exclusive

    lock_file = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    with exclusive(Path(sys.argv[1]), "-o", lock_file=lock_file):
        print("locked", flush=True)
        sys.stdin.readline()  # hold until told (or killed)
    print("released", flush=True)
    """
)


@contextmanager
def holder(target: Path, lock_file: Path | None = None) -> Iterator[subprocess.Popen[str]]:
    """Another selfinstruct process holding the lock on ``target`` until the block ends."""
    args = [sys.executable, "-c", HOLDER, str(target)] + ([str(lock_file)] if lock_file else [])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "locked\n"
        yield process
    finally:
        if process.poll() is None:  # release cleanly, as a finished command would
            try:
                assert process.stdin is not None
                process.stdin.write("done\n")
                process.stdin.close()
                process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
        process.wait(timeout=30)
