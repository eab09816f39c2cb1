"""Any OpenAI-compatible server through the official ``openai`` client.

OpenAI itself, vLLM, Ollama and llama.cpp's server all speak this protocol; ``base_url``
chooses the server. The client's own retries are off: the caller retries with backoff so that
every attempt and failure is counted.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal

import httpx
import openai
from openai._models import FinalRequestOptions  # the type of the client's `request` argument

from selfinstruct.backends.base import (
    Api,
    Backend,
    BackendError,
    Completion,
    ErrorKind,
    Request,
)
from selfinstruct.backends.direct import DirectPost
from selfinstruct.errors import UserError
from selfinstruct.jsonio import warn

# Names of base (non-chat) models served through the completion API.
_COMPLETION_MODELS = ("davinci-002", "babbage-002", "gpt-3.5-turbo-instruct")
Transport = Literal["aiohttp", "httpx"]


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


# The kind of a transport failure, by exception class name (over each class's MRO): the httpx
# classes (the openai client raises them from httpx or its own copy of it, httpx2), aiohttp's,
# and the operating system's. "dropped": the server accepted the connection but did not finish
# the answer (crash mid-answer, proxy cut-off, body shorter than announced); "connection":
# nothing is listening; "timeout": no answer in time.
_TRANSPORT_KINDS: dict[str, ErrorKind] = {
    "TimeoutException": "timeout",  # httpx
    "ServerTimeoutError": "timeout",  # aiohttp (its SocketTimeoutError is one)
    "TimeoutError": "timeout",
    "RemoteProtocolError": "dropped",  # httpx
    "ReadError": "dropped",  # httpx
    "WriteError": "dropped",  # httpx
    "ServerDisconnectedError": "dropped",  # aiohttp
    "ClientPayloadError": "dropped",  # aiohttp: body shorter than announced, or cut
    "ConnectionResetError": "dropped",
    "ConnectionAbortedError": "dropped",
    "BrokenPipeError": "dropped",
    "ConnectError": "connection",  # httpx
    "ClientConnectorError": "connection",  # aiohttp: refused, unknown host, TLS handshake
    "ConnectionRefusedError": "connection",
    # aiohttp's base class for the rest: the connection was made, then failed.
    "ClientConnectionError": "dropped",
}


def transport_kind(exc: openai.APIConnectionError) -> ErrorKind:
    """The kind of a failure the openai client reports as a connection error or a timeout.

    The cause nearest the socket decides: the aiohttp adapter re-raises a refused connection or
    a server hanging up as an httpx *connect timeout*, so the outer classes cannot be trusted.
    """
    chain: list[BaseException] = []
    cause: BaseException | None = exc.__cause__
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for error in reversed(chain):
        for cls in type(error).__mro__:
            kind = _TRANSPORT_KINDS.get(cls.__name__)
            if kind is not None:
                return kind
    return "timeout" if isinstance(exc, openai.APITimeoutError) else "connection"


def new_http_client(transport: Transport, timeout: float) -> tuple[Transport, Any]:
    """The HTTP client under the openai client, and the transport it really uses.

    aiohttp costs about a third less CPU per request than httpx's own transport; it needs the
    client's ``aiohttp`` extra, and without it (or with an openai client too old to offer it)
    the client's default httpx transport is used.
    """
    if transport == "aiohttp":
        try:
            return "aiohttp", openai.DefaultAioHttpClient(timeout=timeout)
        except (AttributeError, RuntimeError):  # the extra is not installed
            pass
    return "httpx", None


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


def request_options(client: openai.AsyncOpenAI, path: str) -> FinalRequestOptions:
    """The options of every POST to ``path``, built once (``post`` builds them per request).

    The URL is absolute (the client's base URL, which honours ``OPENAI_BASE_URL``, joined to
    ``path`` once), and the client's ``x-stainless-*`` headers are left out: its platform and
    version, retry count and read timeout are telemetry that no server needs for an answer, and
    building, merging and encoding them per request was about a sixth of the Python calls of a
    request. Building the options once saves another tenth.
    """
    telemetry = [name for name in client.default_headers if name.lower().startswith("x-stainless")]
    telemetry += ["X-Stainless-Retry-Count", "X-Stainless-Read-Timeout"]  # added per request
    return FinalRequestOptions.construct(
        method="post",
        url=f"{client.base_url}{path.lstrip('/')}",
        headers={name: openai.Omit() for name in telemetry},
    )


def redact(text: str, secret: str) -> str:
    """Never let the key reach an error message or a record (servers may echo it)."""
    if secret and len(secret) >= 4:
        return text.replace(secret, "[redacted]")
    return text


def _count(value: object) -> int | None:
    """A token count: a whole number >= 0 (or its decimal text); None when it is not one."""
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def usage_tokens(usage: object) -> tuple[int, int, bool]:
    """(prompt tokens, completion tokens, well formed) of a response's ``usage``. A missing
    usage or count is 0; so is a count that is not a whole number (or a usage that is not an
    object), and then the usage is not well formed."""
    if usage is None:
        return 0, 0, True
    if not isinstance(usage, dict):
        return 0, 0, False
    values = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
    counts = [0 if value is None else _count(value) for value in values]
    return counts[0] or 0, counts[1] or 0, None not in counts


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
        transport: Transport = "aiohttp",
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.api = api or default_api(model)
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self._secret = resolve_api_key(api_key, base_url)
        if http_client is None:
            self.transport, http_client = new_http_client(transport, timeout)
        else:
            self.transport = "httpx"
        self._client = openai.AsyncOpenAI(
            api_key=self._secret,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )
        self._options = request_options(self._client, self.path)
        self._direct: DirectPost | None | bool = False  # False: not looked at yet
        self._usage_warned = False

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
            raw = await self._post(body)
        except openai.APIConnectionError as exc:  # the timeout error is one
            raise self._connection_error(exc) from None
        except openai.APIStatusError as exc:
            error = status_error(exc)
            error.message = self._redact(error.message)
            raise error from None
        except openai.APIResponseValidationError as exc:
            raise BackendError("malformed", self._redact(f"unreadable response: {exc}")) from None
        return self.parse(raw)

    async def _post(self, body: dict[str, Any]) -> str:
        """The raw text of the answer to ``body``. With a plain key and the aiohttp transport it
        goes straight through the client's aiohttp session (:class:`DirectPost`: the same
        request and errors for a third of the CPU). Otherwise, and for a redirect (which the
        client follows), the client's ``request`` (what its ``post`` calls) with the JSON body
        and the raw text back: it skips the per-request transformation and model construction
        of ``create``, keeps the raw body for the record when it cannot be read, and reuses the
        options prepared once."""
        if self._direct is False:
            self._direct = DirectPost.of(self._client, self._options)
        if isinstance(self._direct, DirectPost):
            raw = await self._direct.post(body)
            if raw is not None:
                return raw
        options = self._options.model_copy(update={"json_data": body})
        return await self._client.request(str, options)

    def _connection_error(self, exc: openai.APIConnectionError) -> BackendError:
        """Tell "nothing is listening" (kind "connection", which the pipeline reports as a
        server that is not running) from "the server hung up mid-answer" (kind "dropped") and
        from a timeout."""
        kind = transport_kind(exc)
        if kind == "timeout":
            return BackendError("timeout", "the request timed out")
        cause = exc.__cause__
        detail = str(cause) if cause is not None and str(cause) else str(exc)
        if kind == "dropped":
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
            prompt_tokens, completion_tokens = self._usage(data.get("usage"))
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

    def _usage(self, usage: object) -> tuple[int, int]:
        """Prompt and completion tokens. A usage that is there but malformed does not cost the
        answer: its unknown counts are taken as 0, with one warning per run."""
        prompt_tokens, completion_tokens, well_formed = usage_tokens(usage)
        if not well_formed and not self._usage_warned:
            self._usage_warned = True
            warn(
                f"{self.where} sent an answer whose token usage is malformed: the answer is "
                "kept and its unknown token counts are taken as 0 (token and cost figures, "
                "and --max-tokens and --max-cost, count less than was used)"
            )
        return prompt_tokens, completion_tokens

    def _redact(self, text: str) -> str:
        return redact(text, self._secret)

    @property
    def where(self) -> str:
        return self.base_url or "the OpenAI API"

    async def aclose(self) -> None:
        await self._client.close()
