"""Any OpenAI-compatible server through the official ``openai`` client.

OpenAI itself, vLLM, Ollama and llama.cpp's server all speak this protocol; ``base_url``
chooses the server. The client's own retries are off: the caller retries with backoff so that
every attempt and failure is counted.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import openai

from selfinstruct.backends.base import Api, Backend, BackendError, Completion, Request
from selfinstruct.errors import UserError

# Names of base (non-chat) models served through the completion API.
_COMPLETION_MODELS = ("davinci-002", "babbage-002", "gpt-3.5-turbo-instruct")
CONNECTIONS_PER_CLIENT = 8


def default_api(model: str) -> Api:
    return "completion" if model in _COMPLETION_MODELS else "chat"


def resolve_api_key(api_key: str | None, base_url: str | None) -> str:
    """The key to send. OpenAI itself needs one; a self-hosted server usually does not."""
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if base_url is None:
        raise UserError(
            "no API key for OpenAI: set OPENAI_API_KEY (or pass --api-key), "
            "or pass --base-url to use a self-hosted server"
        )
    return "not-needed"


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


# Transport failures after the server accepted the connection: it is running but did not finish
# the answer (crash mid-answer, proxy cut-off, body shorter than announced). Matched by class
# name: the openai client raises them from httpx or from its own copy of it (httpx2).
_DROPPED = frozenset(
    {"RemoteProtocolError", "ReadError", "WriteError", "ConnectionResetError", "BrokenPipeError"}
)


def _dropped(cause: BaseException | None) -> bool:
    return cause is not None and any(c.__name__ in _DROPPED for c in type(cause).__mro__)


def status_error(exc: openai.APIStatusError) -> BackendError:
    """The kind of an HTTP error status: what is retried, what ends the run."""
    status = exc.status_code
    message = f"HTTP {status}: {exc.message}"
    if status == 429:
        return BackendError("rate_limit", message, retry_after=_retry_after(exc))
    if status in (401, 403):
        return BackendError("auth", f"HTTP {status}: the server rejected the API key")
    if status == 404:
        return BackendError("not_found", message)
    if status >= 500:
        return BackendError("server", message, retry_after=_retry_after(exc))
    return BackendError("bad_request", message)


class OpenAIBackend(Backend):
    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        api: Api | None = None,
        timeout: float = 120.0,
        max_concurrency: int = 16,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.api = api or default_api(model)
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self._secret = resolve_api_key(api_key, base_url)
        # The HTTP connection pool scans all its connections whenever a request starts or ends,
        # so one pool of 64 connections costs more CPU than the rest of a request; a client per
        # CONNECTIONS_PER_CLIENT requests in flight keeps each scan short.
        shards = 1 if http_client is not None else -(-max_concurrency // CONNECTIONS_PER_CLIENT)
        self._clients = [
            openai.AsyncOpenAI(
                api_key=self._secret,
                base_url=base_url,
                timeout=timeout,
                max_retries=0,
                http_client=http_client,
            )
            for _ in range(max(1, shards))
        ]
        self._next = 0

    @property
    def path(self) -> str:
        """Where a request is POSTed under the base URL (also a batch line's ``url``)."""
        return "/chat/completions" if self.api == "chat" else "/completions"

    @property
    def api_key(self) -> str:
        return self._secret

    def body(self, request: Request, text: str) -> dict[str, Any]:
        """The JSON body sent for ``request``: live, or as a line of a batch file."""
        decoding = request.decoding
        body: dict[str, Any] = {"model": self.model, **decoding.sampling_options()}
        if decoding.stop:
            body["stop"] = list(decoding.stop)[:4]  # OpenAI accepts at most four
        if request.seed is not None:
            body["seed"] = request.seed
        if self.api == "chat":
            body["messages"] = request.chat_messages(text)
        else:
            body["prompt"] = text
        return body

    async def complete(self, request: Request, text: str) -> Completion:
        body = self.body(request, text)
        try:
            # The client's documented ``post`` for the plain JSON body: it skips the per-request
            # transformation and model construction of ``create`` (a third of the CPU time of a
            # request), and keeps the raw body for the record when it cannot be read.
            client = self._clients[self._next % len(self._clients)]
            self._next += 1
            raw = await client.post(self.path, body=body, cast_to=str)
        except openai.APITimeoutError:
            raise BackendError("timeout", "the request timed out") from None
        except openai.APIConnectionError as exc:
            raise self._connection_error(exc) from None
        except openai.APIStatusError as exc:
            error = status_error(exc)
            error.message = self._redact(error.message)
            raise error from None
        except openai.APIResponseValidationError as exc:
            raise BackendError("malformed", self._redact(f"unreadable response: {exc}")) from None
        return self.parse(raw)

    def _connection_error(self, exc: openai.APIConnectionError) -> BackendError:
        """Tell "nothing is listening" (kind "connection", which the pipeline reports as a
        server that is not running) from "the server hung up mid-answer" (kind "dropped")."""
        cause = exc.__cause__
        detail = str(cause) if cause is not None and str(cause) else str(exc)
        if _dropped(cause):
            message = (
                f"{self.where} closed the connection before the answer was complete "
                f"(incomplete response: {detail})"
            )
            return BackendError("dropped", self._redact(message))
        return BackendError("connection", self._redact(f"cannot connect to {self.where}: {detail}"))

    def parse(self, raw: str) -> Completion:
        """The answer, finish reason and usage from the JSON body of a completion response."""
        chat = self.api == "chat"
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            answer = choice["message"].get("content") if chat else choice.get("text")
            finish_reason = choice.get("finish_reason") or "stop"
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
        except json.JSONDecodeError as exc:
            raise BackendError(
                "malformed", f"response body is not JSON ({exc.msg})", raw=self._redact(raw)
            ) from None
        except (IndexError, KeyError, TypeError, AttributeError, ValueError) as exc:
            raise BackendError(
                "malformed",
                f"response without a usable choice ({exc.__class__.__name__}: {exc})",
                raw=self._redact(raw),
            ) from None
        if answer is None:
            # Not an empty answer: nothing was generated (a refusal, a tool call, a server bug).
            # Caching it as "" would keep it for ever; as a failure it is retried and logged.
            field = "message.content" if chat else "text"
            raise BackendError(
                "malformed",
                f"response without answer text ({field} is missing or null)",
                raw=self._redact(raw),
            )
        if not isinstance(answer, str):
            raise BackendError("malformed", "response text is not a string", raw=self._redact(raw))
        return Completion(
            text=answer,
            finish_reason=str(finish_reason),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

    def _redact(self, text: str) -> str:
        """Never let the key reach an error message or a record (servers may echo it)."""
        if self._secret and len(self._secret) >= 4:
            return text.replace(self._secret, "[redacted]")
        return text

    @property
    def where(self) -> str:
        return self.base_url or "the OpenAI API"

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
