"""An exclusive OS lock on a file, held for as long as the process lives (placeholder)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selfinstruct.errors import UserError


@contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    handle = open(path, "a+")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        handle.close()
        raise UserError(
            f"{path.parent} is in use by another selfinstruct process (pid {pid}): wait for it "
            f"to finish or choose another {what}"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.close()
