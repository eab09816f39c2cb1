"""One writer per output: an OS file lock that dies with its process.

Two ``selfinstruct`` processes writing the same output (``filter -o OUT`` twice, or two
``generate`` on one run folder) would interleave or overwrite each other's lines. The second
one is refused at once instead, with a message naming the file and the holder's pid.

The lock is ``fcntl.flock`` on a small lock file beside the output (``OUT.lock``), or any
lock file the caller names (a run folder passes ``FOLDER/.lock``). The kernel releases a flock
when its holder exits, however it exits, so a lock file left behind by ``kill -9`` never
blocks anyone: the next process simply takes the lock and writes its own pid. On a clean
exit the lock file is removed. Removing a lock file is racy in general (another process may
have opened the old file just before); the acquirer therefore checks, after locking, that
the path still names the file it locked, and tries again if not.

The lock is advisory: it keeps selfinstruct processes apart, not other programs. It needs
``fcntl`` (Linux, macOS, other POSIX systems); where ``fcntl`` does not exist (Windows) the
body runs unlocked, since refusing to work at all would be worse than the race it guards
against. A child made by ``fork`` without ``exec`` shares the lock; ``subprocess`` children
do not (Python opens files non-inheritable).
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from selfinstruct.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: How long to wait for a just-started holder to write its pid into the lock file.
PID_WAIT_SECONDS = 1.0


def lock_path_for(target: Path) -> Path:
    """The lock file guarding ``target``: ``target.lock`` beside it."""
    return target.with_name(target.name + ".lock")


def _read_pid(lock_file: Path) -> int | None:
    deadline = time.monotonic() + PID_WAIT_SECONDS
    while True:
        try:
            text = lock_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            text = ""
        if text.isdigit():
            return int(text)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def in_use_message(target: Path, pid: int | None, what: str) -> str:
    holder = f"pid {pid}" if pid is not None else "pid unknown"
    return (
        f"{target} is in use by another selfinstruct process ({holder}): "
        f"wait for it to finish or choose another {what}"
    )


def _open_locked(target: Path, lock_file: Path, what: str) -> int:
    """Open and flock ``lock_file``; returns the descriptor, which then holds the lock."""
    while True:
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"cannot write {target}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise UserError(in_use_message(target, _read_pid(lock_file), what)) from None
            raise UserError(f"cannot lock {lock_file}: {exc.strerror}") from None
        # The previous holder may have removed the file between our open and our flock: then
        # we hold a lock on a file nobody else can find, and must start over.
        try:
            same = os.stat(lock_file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def exclusive(target: Path, what: str, *, lock_file: Path | None = None) -> Iterator[None]:
    """Hold the one-writer lock on ``target`` for the body of the ``with``.

    ``what`` names the option or thing the user should change when refused ("-o",
    "--out folder"); the refusal is a :class:`UserError` of one line:
    ``OUT is in use by another selfinstruct process (pid 123): wait for it to finish or
    choose another -o``. ``lock_file`` defaults to :func:`lock_path_for` ``(target)``; its
    folder must exist. The lock is per open file, so the same process taking it twice is
    refused too.
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    lock = lock_file if lock_file is not None else lock_path_for(target)
    fd = _open_locked(target, lock, what)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield
    finally:
        # Unlink while still holding the lock, so a newcomer either finds no file or a file
        # it re-checks (see _open_locked).
        with suppress(OSError):
            os.unlink(lock)
        os.close(fd)


@contextmanager
def exclusive_all(targets: list[tuple[Path, str]]) -> Iterator[None]:
    """Lock several outputs, each ``(path, what)``, for the body: all of them or none.

    Paths are locked in a fixed order (so two processes cannot each hold one and wait for
    the other) and a path listed twice is locked once.
    """
    unique: dict[str, tuple[Path, str]] = {}
    for target, what in targets:
        unique.setdefault(str(Path(target).absolute()), (Path(target), what))
    with ExitStack() as stack:
        for key in sorted(unique):
            target, what = unique[key]
            stack.enter_context(exclusive(target, what))
        yield
