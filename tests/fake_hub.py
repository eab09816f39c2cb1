"""A fake Hugging Face Hub on 127.0.0.1: the endpoints ``HfApi.create_repo`` and
``HfApi.upload_folder`` call, found by running the client against it.

``POST /api/repos/create``, ``POST /api/validate-yaml`` (the card's front matter),
``POST /api/datasets/{repo}/preupload/{rev}`` (parquet files are LFS, as the Hub's
.gitattributes makes them; the rest regular), the LFS batch API
``POST /datasets/{repo}.git/info/lfs/objects/batch`` with a ``basic`` upload to
``PUT /lfs-upload/{oid}``, and ``POST /api/datasets/{repo}/commit/{rev}`` (NDJSON: regular files
base64 inline, LFS files by oid). Anything else is a 404 and recorded. The Xet upload protocol
is not faked: tests set ``HF_HUB_DISABLE_XET=1`` so the client takes the LFS path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeHub:
    requests: list[Request] = field(default_factory=list)
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo -> path -> bytes
    blobs: dict[str, bytes] = field(default_factory=dict)
    url: str = ""

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                hub.requests.append(Request(self.command, self.path, dict(self.headers), body))
                code, answer = hub.answer(self.command, self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method == "POST" and path == "/api/repos/create":
            spec = json.loads(body)
            repo = f"{spec['organization']}/{spec['name']}"
            self.repos[repo] = spec
            return 200, {"url": f"{self.url}/datasets/{repo}", "name": repo}
        if method == "POST" and path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}
        if method == "POST" and path.startswith("/api/datasets/") and "/preupload/" in path:
            files = json.loads(body)["files"]
            modes = [{"path": f["path"], "shouldIgnore": False,
                      "uploadMode": "lfs" if f["path"].endswith(".parquet") else "regular"}
                     for f in files]  # fmt: skip
            return 200, {"files": modes, "commitOid": "0" * 40}
        if method == "POST" and path.endswith(".git/info/lfs/objects/batch"):
            objects = json.loads(body)["objects"]
            return 200, {"transfer": "basic", "objects": [
                {"oid": o["oid"], "size": o["size"],
                 "actions": {"upload": {"href": f"{self.url}/lfs-upload/{o['oid']}"}}}
                for o in objects]}  # fmt: skip
        if method == "PUT" and path.startswith("/lfs-upload/"):
            self.blobs[hashlib.sha256(body).hexdigest()] = body
            return 200, {}
        if method == "POST" and path.startswith("/api/datasets/") and "/commit/" in path:
            repo = path[len("/api/datasets/") :].split("/commit/")[0]
            self._commit(repo, body)
            oid = "1" * 40
            return 200, {"commitUrl": f"{self.url}/datasets/{repo}/commit/{oid}",
                         "commitOid": oid, "success": True}  # fmt: skip
        return 404, {"error": f"not faked: {method} {path}"}

    def _commit(self, repo: str, body: bytes) -> None:
        for line in body.decode().splitlines():
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "file":
                data = base64.b64decode(value["content"])
                self.files.setdefault(repo, {})[value["path"]] = data
            elif item["key"] == "lfsFile":
                self.files.setdefault(repo, {})[value["path"]] = self.blobs[value["oid"]]
