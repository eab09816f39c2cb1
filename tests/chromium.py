"""Headless Chromium for tests that look at a page as a browser renders it.

:func:`chromium` skips the calling test when the browser is missing, or fails it under CI (the
``CI`` environment variable set), as ``anchor()`` does. :func:`dump_dom` renders a page and
returns its DOM after the load event; :func:`image_check` adds a script to a copy of a page
that writes how many images loaded (``naturalWidth > 0``) and what was fetched into the DOM.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--virtual-time-budget=10000")  # fmt: skip
CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const loaded = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  const fetched = performance.getEntriesByType("resource").map((e) => e.name)
    .filter((name) => !name.startsWith("data:"));
  const out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = JSON.stringify({images: images.length, loaded, fetched});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "chromium is not installed (apt-get install chromium)"
    ci = os.environ.get("CI", "")
    if ci.lower() not in ("", "0", "false"):
        pytest.fail(f"{message}; CI={ci} so this fails instead of skipping", pytrace=False)
    pytest.skip(message)


def _run(binary: str, page: Path, profile: Path, *extra: str) -> str:
    done = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(binary: str, page: Path, profile: Path) -> str:
    return _run(binary, page, profile, "--dump-dom")


def image_check(binary: str, page: Path, profile: Path) -> dict[str, Any]:
    checked = page.with_name(page.stem + ".check.html")
    checked.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"))
    dom = dump_dom(binary, checked, profile)
    found = re.search(r'<pre id="image-check">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def screenshot(binary: str, page: Path, png: Path, profile: Path, size: str = "1100,2200") -> None:
    _run(binary, page, profile, f"--screenshot={png.resolve()}", f"--window-size={size}",
         "--hide-scrollbars")  # fmt: skip
    assert png.is_file() and png.stat().st_size > 0
