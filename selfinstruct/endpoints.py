"""Which servers a run talks to: the --base-url values, read into endpoints.

Each value is a URL, optionally with ``#N`` for that endpoint's requests in flight (a URL's
fragment is never sent to a server, so it is free for us), or ``@FILE``: a file with one such
URL per line. In a file, blank lines are skipped and a comment starts with ``#`` at the start of
a line or after a space, so ``http://h:8000/v1#32  # GPU 0`` is a URL, a limit and a comment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from selfinstruct.config import MAX_CONCURRENCY
from selfinstruct.errors import UserError

_LIMIT_HELP = (
    f"after # comes the endpoint's number of requests in flight, 1 to {MAX_CONCURRENCY} "
    "(e.g. http://127.0.0.1:8000/v1#32)"
)


@dataclass(frozen=True)
class Endpoint:
    url: str
    limit: int | None  # requests in flight at once; None: the run's --concurrency


def parse_endpoints(values: Sequence[str]) -> list[Endpoint]:
    """The endpoints named by --base-url values, in order; a bad one is one line naming it
    (``FILE:LINE:`` for a line of a file)."""
    endpoints: list[Endpoint] = []
    seen: set[str] = set()
    for value in values:
        if value.startswith("@"):
            found = _read_file(Path(value[1:]), value)
        else:
            found = [(_endpoint(value, f"--base-url {value!r}"), "--base-url")]
        for endpoint, where in found:
            same = endpoint.url.rstrip("/")
            if same in seen:
                raise UserError(f"{where} {endpoint.url} is listed twice")
            seen.add(same)
            endpoints.append(endpoint)
    return endpoints


def _read_file(path: Path, value: str) -> list[tuple[Endpoint, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"--base-url {value}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UserError(f"--base-url {value}: cannot read it ({reason})") from None
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        content = _strip_comment(line)
        if not content:
            continue
        where = f"{path}:{number}:"
        if len(content.split()) > 1:
            raise UserError(f"{where} one URL per line (a comment starts with ' #')")
        found.append((_endpoint(content, f"{where} {content!r}"), where))
    if not found:
        raise UserError(f"{path}: no URLs in the file (one per line, # for comments)")
    return found


def _strip_comment(line: str) -> str:
    """The line without its comment: ``#`` at the start or after whitespace starts one."""
    for index, char in enumerate(line):
        if char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].strip()
    return line.strip()


def _endpoint(text: str, named: str) -> Endpoint:
    url, sep, limit_text = text.partition("#")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"{named} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
    if not sep:
        return Endpoint(url, None)
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_CONCURRENCY:
        raise UserError(f"{named}: {_LIMIT_HELP}")
    return Endpoint(url, int(limit_text))
