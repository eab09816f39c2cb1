"""A fake OpenAI Batch API on 127.0.0.1, for tests: files and batches, answered by the stub.

It serves ``POST/GET /v1/files``, ``GET /v1/files/{id}/content``, ``POST/GET /v1/batches``,
``GET /v1/batches/{id}`` and ``POST /v1/batches/{id}/cancel`` over the stub server's own HTTP
loop (:class:`stub_server.StubServer`), and answers every line with the stub's answer for its
prompt (:func:`stub_server.answer_for`), so every method's prompts get sensible answers.

A batch ends after ``polls`` retrieves. Faults, each chosen by a deterministic rule:
``expire_every`` (every k-th line of the first ``expire_batches`` batches expires: batch status
``expired``, the line in the error file), ``invalid_line`` (that line of the first batch, and
every later batch holding it, fails validation), ``token_limit`` (a batch of more lines than this fails with
``token_limit_exceeded``), ``later_polls`` (every batch after the first takes this many
retrieves), ``output_fault`` (every download of an output file answers this HTTP status, or, for
200, a body that is not JSON Lines; set it to None to let downloads through), ``files_status``
(``GET /files`` answers this status: a provider without a file list), ``echo_auth`` (error
bodies, a failed batch's and an expired line's error messages echo the Authorization header, as
some gateways do), ``malformed_usage`` (every answer's usage has ``"prompt_tokens": "lots"``).
``creates`` records every batch created, with its custom_ids, so a test counts submissions.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from stub_server import StubServer, _apply_stop, answer_for


@dataclass
class Batch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, str]
    custom_ids: list[str]
    created_at: int
    status: str = "validating"
    final: str = "completed"
    polls: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint,
            "input_file_id": self.input_file_id, "completion_window": "24h",
            "status": self.status, "created_at": self.created_at,
            "output_file_id": self.output_file_id if self.status in TERMINAL else None,
            "error_file_id": self.error_file_id if self.status in TERMINAL else None,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "request_counts": self.counts, "metadata": self.metadata,
        }  # fmt: skip


TERMINAL = ("completed", "failed", "expired", "cancelled")


def line_payload(body: dict[str, Any], chat: bool, number: int) -> dict[str, Any]:
    """The stub's answer to one request body, as the live endpoint would send it."""
    if chat:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    else:
        prompt = str(body.get("prompt", ""))
    text = _apply_stop(answer_for(prompt, chat, "", body.get("seed")), body.get("stop"))
    usage = {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": max(1, len(text) // 4)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if chat:
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}  # fmt: skip
    else:
        choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
    return {"id": f"fake-{number}", "object": "chat.completion" if chat else "text_completion",
            "created": 0, "model": body.get("model"), "choices": [choice], "usage": usage}  # fmt: skip


def prompt_of(body: dict[str, Any]) -> str:
    if "messages" in body:
        return "\n".join(str(m.get("content", "")) for m in body["messages"])
    return str(body.get("prompt", ""))


class FakeBatchServer(StubServer):
    def __init__(
        self,
        polls: int = 1,
        expire_every: int = 0,
        expire_batches: int = 1,
        invalid_line: int = 0,
        token_limit: int | None = None,
        later_polls: int | None = None,
        output_fault: int | None = None,
        files_status: int | None = None,
        echo_auth: bool = False,
        malformed_usage: bool = False,
    ) -> None:
        super().__init__(delay=0.0)
        self.polls = polls
        self.later_polls = polls if later_polls is None else later_polls  # batches after the first
        self.expire_every = expire_every
        self.expire_batches = expire_batches
        self.invalid_line = invalid_line
        self.poisoned: set[str] = set()  # custom_ids that fail validation
        self.token_limit = token_limit
        self.output_fault = output_fault
        self.files_status = files_status
        self.echo_auth = echo_auth
        self.malformed_usage = malformed_usage
        self.output_downloads = 0  # downloads of an output file, failed or not
        self._authorization = ""
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.outputs: set[str] = set()  # ids of the output files
        self.batches: dict[str, Batch] = {}
        self.creates: list[Batch] = []
        self.uploads: list[str] = []  # file names, in upload order
        self.expired: list[str] = []  # custom_ids that expired
        self._lines = 0

    # ------------------------------------------------------------------ HTTP

    async def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        route = path.split("?", 1)[0].removeprefix("/v1")
        self.state.hits[f"{method} {route}"] += 1
        parts = route.strip("/").split("/")
        self._authorization = headers.get("authorization", "")
        if parts[0] == "files":
            if method == "POST" and len(parts) == 1:
                return self._json(self._upload(headers, body))
            if method == "GET" and len(parts) == 1:
                if self.files_status is not None:
                    return self._error(self.files_status, "Not Found")
                return self._json(self._list(list(self.files.values())))
            if method == "GET" and len(parts) == 3 and parts[2] == "content":
                if parts[1] not in self.contents:
                    return 404, {}, b'{"error": {"message": "no such file"}}'
                if parts[1] in self.outputs:
                    self.output_downloads += 1
                    if self.output_fault == 200:
                        return 200, {}, b"<html><body>Service temporarily unavailable</body>"
                    if self.output_fault is not None:
                        return self._error(self.output_fault, "the file is not available")
                return 200, {}, self.contents[parts[1]]
        if parts[0] == "batches":
            if method == "POST" and len(parts) == 1:
                return self._json(self._create(json.loads(body)).json())
            if method == "GET" and len(parts) == 1:
                ordered = sorted(self.batches.values(), key=lambda b: b.id, reverse=True)
                return self._json(self._list([b.json() for b in ordered]))
            if len(parts) >= 2 and parts[1] in self.batches:
                batch = self.batches[parts[1]]
                if method == "GET" and len(parts) == 2:
                    return self._json(self._poll(batch).json())
                if method == "POST" and parts[2:] == ["cancel"]:
                    batch.status = "cancelled"
                    return self._json(batch.json())
            return 404, {}, b'{"error": {"message": "no such batch"}}'
        return await super()._route(method, path, headers, body)

    def _error(self, status: int, message: str) -> tuple[int, dict[str, str], bytes]:
        return status, {}, json.dumps({"error": {"message": self._echo(message)}}).encode()

    def _echo(self, message: str) -> str:
        """An error message, with the request's Authorization header if ``echo_auth``."""
        if self.echo_auth:
            return f"{message} (request had Authorization: {self._authorization})"
        return message

    @staticmethod
    def _json(data: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, json.dumps(data).encode()

    @staticmethod
    def _list(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"object": "list", "data": items, "has_more": False}

    # ------------------------------------------------------------------ files

    def _store(self, name: str, data: bytes, purpose: str) -> dict[str, Any]:
        file_id = f"file-{len(self.contents) + 1}"
        self.contents[file_id] = data
        record = {"id": file_id, "object": "file", "bytes": len(data), "created_at": 0,
                  "filename": name, "purpose": purpose, "status": "processed"}  # fmt: skip
        if purpose == "batch":
            self.files[file_id] = record
        return record

    def _upload(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        boundary = headers["content-type"].split("boundary=", 1)[1].strip('"').encode()
        fields: dict[str, tuple[str, bytes]] = {}
        for part in body.split(b"--" + boundary):
            head, sep, content = part.partition(b"\r\n\r\n")
            if not sep:
                continue
            text = head.decode("latin-1")
            name = text.split('name="', 1)[1].split('"', 1)[0]
            filename = (
                text.split('filename="', 1)[1].split('"', 1)[0] if "filename=" in text else ""
            )
            fields[name] = (filename, content.removesuffix(b"\r\n"))
        filename, data = fields["file"]
        self.uploads.append(filename)
        return self._store(filename, data, fields["purpose"][1].decode())

    # ------------------------------------------------------------------ batches

    def _create(self, request: dict[str, Any]) -> Batch:
        data = self.contents[request["input_file_id"]]
        lines = [json.loads(raw) for raw in data.splitlines() if raw.strip()]
        batch = Batch(
            id=f"batch_{len(self.batches) + 1:04d}", input_file_id=request["input_file_id"],
            endpoint=request["endpoint"], metadata=request.get("metadata") or {},
            custom_ids=[line["custom_id"] for line in lines], created_at=int(time.time()),
        )  # fmt: skip
        self.batches[batch.id] = batch
        self.creates.append(batch)
        if self.token_limit is not None and len(lines) > self.token_limit:
            batch.final = "failed"
            batch.errors = [{"code": "token_limit_exceeded", "line": None,
                             "message": self._echo("Enqueued token limit reached.")}]  # fmt: skip
            return batch
        if len(self.creates) == 1 and 0 < self.invalid_line <= len(lines):
            self.poisoned.add(lines[self.invalid_line - 1]["custom_id"])
        bad = next((n for n, line in enumerate(lines, 1) if line["custom_id"] in self.poisoned),
                   None)  # fmt: skip
        if bad is not None:
            batch.final = "failed"
            batch.errors = [{"code": "invalid_request", "line": bad,
                             "message": self._echo("The request body could not be validated.")}]  # fmt: skip
            return batch
        expiring = self.expire_every and self.expire_batches > 0
        if expiring:
            self.expire_batches -= 1
        output, errors = [], []
        for number, line in enumerate(lines, start=1):
            self._lines += 1
            record: dict[str, Any] = {
                "id": f"batch_req_{self._lines}",
                "custom_id": line["custom_id"],
            }
            if expiring and number % self.expire_every == 0:
                self.expired.append(line["custom_id"])
                record.update(response=None, error={"code": "batch_expired",
                              "message": self._echo("This request could not be executed before "
                              "the completion window expired.")})  # fmt: skip
                errors.append(record)
                continue
            payload = line_payload(line["body"], line["url"].endswith("chat/completions"),
                                   self._lines)  # fmt: skip
            if self.malformed_usage:
                payload["usage"]["prompt_tokens"] = "lots"
            record.update(response={"status_code": 200, "request_id": f"req_{self._lines}",
                                    "body": payload}, error=None)  # fmt: skip
            output.append(record)
        encode = lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode()  # noqa: E731
        batch.output_file_id = self._store(f"{batch.id}_output.jsonl", encode(output),
                                           "batch_output")["id"]  # fmt: skip
        self.outputs.add(batch.output_file_id)
        if errors:
            batch.error_file_id = self._store(f"{batch.id}_error.jsonl", encode(errors),
                                              "batch_output")["id"]  # fmt: skip
            batch.final = "expired"
        batch.counts = {"total": len(lines), "completed": len(output), "failed": len(errors)}
        return batch

    def _poll(self, batch: Batch) -> Batch:
        if batch.status in TERMINAL:
            return batch
        batch.polls += 1
        needed = self.polls if batch is self.creates[0] else self.later_polls
        batch.status = batch.final if batch.polls > needed else "in_progress"
        return batch

    def submitted(self) -> list[str]:
        """Every custom_id of every batch created, with repeats."""
        return [cid for batch in self.creates for cid in batch.custom_ids]
