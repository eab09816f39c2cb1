"""The provider's files and batches APIs, through the official ``openai`` client.

Upload and create first look for what an earlier, killed session may already have done (a file
of the same name; a batch of that input file), so a rerun never submits anything twice. Every
text the provider sends back (an error, a batch's errors, a downloaded file) has the API key
redacted: some gateways echo the Authorization header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import openai

from selfinstruct.backends.base import BackendError
from selfinstruct.backends.openai_api import redact, status_error
from selfinstruct.errors import UserError


@dataclass
class BatchInfo:
    id: str
    status: str
    output_file_id: str | None
    error_file_id: str | None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # "code: message", for a failed batch


def provider_error(exc: Exception, where: str) -> BackendError:
    """A provider call's failure as a backend error: the caller decides what is fatal."""
    if isinstance(exc, openai.APIStatusError):
        return status_error(exc)
    if isinstance(exc, openai.APITimeoutError):
        return BackendError("timeout", f"{where} timed out")
    if isinstance(exc, openai.APIConnectionError):
        return BackendError("connection", f"cannot connect to {where}: {exc}")
    return BackendError("malformed", f"unreadable answer from {where}: {exc}")


# What a provider endpoint is, by method and the last part of its path.
_ENDPOINTS = {
    ("GET", "files"): "the provider's file list",
    ("POST", "files"): "the provider's file upload",
    ("GET", "batches"): "the provider's batch list",
    ("POST", "batches"): "the provider's batch creation",
}


def missing_endpoint(exc: Exception, where: str) -> UserError | None:
    """A 404 from an endpoint batch mode needs: the server has no Batch API (a 404 is not an
    unknown model here: a batch line's model is only checked when the batch runs)."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code != 404:
        return None
    method, path = exc.request.method, exc.request.url.path
    name = _ENDPOINTS.get((method, path.rstrip("/").rsplit("/", 1)[-1]))
    return UserError(
        f"{where} answered HTTP 404 to {method} {path}" + (f" ({name})" if name else "")
        + ", which batch mode needs: the server has no Batch API; run without --batch, or "
        "check --base-url"
    )  # fmt: skip


class Provider:
    def __init__(self, base_url: str | None, api_key: str, timeout: float) -> None:
        self.where = base_url or "the OpenAI API"
        self._secret = api_key
        self.client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0
        )

    async def upload(self, remote_name: str, path: Path) -> str:
        """The id of the uploaded input file (uploading it unless it is there already)."""
        size = path.stat().st_size
        async for found in self.client.files.list(purpose="batch"):
            if found.filename == remote_name and found.bytes == size:
                return found.id
        uploaded = await self.client.files.create(
            file=(remote_name, path.read_bytes()), purpose="batch"
        )
        return uploaded.id

    async def find(self, file_id: str) -> str | None:
        """The id of a batch running ``file_id``, if one was created (and not cancelled)."""
        async for found in self.client.batches.list(limit=100):
            if found.input_file_id == file_id and found.status != "cancelled":
                return found.id
        return None

    async def create(self, file_id: str, endpoint: str, metadata: dict[str, str]) -> str:
        """The id of the batch running ``file_id`` (creating it unless it exists already)."""
        existing = await self.find(file_id)
        if existing is not None:
            return existing
        batch = await self.client.batches.create(
            input_file_id=file_id, endpoint=endpoint, completion_window="24h",  # type: ignore[arg-type]
            metadata=metadata,
        )  # fmt: skip
        return batch.id

    def redact(self, text: str) -> str:
        return redact(text, self._secret)

    def error(self, exc: Exception) -> BackendError:
        """A provider call's failure as a backend error, without the key."""
        error = provider_error(exc, self.where)
        error.message = self.redact(error.message)
        return error

    async def retrieve(self, batch_id: str) -> BatchInfo:
        batch = await self.client.batches.retrieve(batch_id)
        counts = batch.request_counts
        errors = [
            self.redact(f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else ""))
            for e in ((batch.errors.data or []) if batch.errors else [])
        ]
        return BatchInfo(
            batch.id, batch.status, batch.output_file_id, batch.error_file_id,
            {"total": counts.total, "completed": counts.completed, "failed": counts.failed}
            if counts else {},
            errors,
        )  # fmt: skip

    async def content(self, file_id: str) -> bytes:
        """A file's bytes; a key echoed in them (an error line's message) is redacted."""
        response = await self.client.files.content(file_id)
        data = response.content
        if len(self._secret) >= 4:
            data = data.replace(self._secret.encode(), b"[redacted]")
        return data

    async def cancel(self, batch_id: str) -> None:
        await self.client.batches.cancel(batch_id)

    async def close(self) -> None:
        await self.client.close()
