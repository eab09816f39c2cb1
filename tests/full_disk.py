"""``python tests/full_disk.py FILE N ARGS...``: the selfinstruct CLI on a disk that fills up
after N lines written to any file named FILE of the run folder (each further write fails with
ENOSPC, as on a full disk), for the tests of what a full disk prints."""

from __future__ import annotations

import errno
import sys
from typing import Any

from selfinstruct import jsonio
from selfinstruct.cli import main


class FullAfter:
    def __init__(self, handle: Any, lines: int) -> None:
        self._handle = handle
        self._lines = lines

    def write(self, text: str) -> int:
        if self._lines <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._lines -= text.count("\n")
        return int(self._handle.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def fill_after(name: str, lines: int) -> None:
    opened = jsonio.JsonlAppender.__init__

    def init(self: jsonio.JsonlAppender, path: Any) -> None:
        opened(self, path)
        if path.name == name:
            self._writer._fp = FullAfter(self._writer._fp, lines)

    jsonio.JsonlAppender.__init__ = init  # type: ignore[method-assign]


if __name__ == "__main__":
    fill_after(sys.argv[1], int(sys.argv[2]))
    main(sys.argv[3:], prog_name="selfinstruct")
