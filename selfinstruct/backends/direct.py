"""A live POST sent straight through the openai client's own aiohttp session.

For a plain API key and the aiohttp transport, the openai client's ``request`` only builds the
same headers, URL and timeouts every time, wraps the body in an httpx request and hands it to
its aiohttp adapter: about two thirds of the CPU time of a request, spent in Python (options
copied, URL parsed, headers merged, the adapter's wrapping). :class:`DirectPost` builds that
request once and sends each body through the adapter's own session with the adapter's
arguments. What the server receives (URL, headers, JSON bytes, timeouts) is the same, and what
comes back is the same too: the same text, and on failure the same openai exceptions, made the
way the client makes them (a status error from the response; a transport error mapped by the
adapter, then wrapped as the client wraps it), so the backend judges both paths alike.
"""

from __future__ import annotations

import codecs
import json
import ssl
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import openai

try:  # the openai client's own parts this path reuses (private: guarded, never required)
    import httpx2
    from openai._vendor.httpx_aiohttp.transport import AiohttpTransport, map_aiohttp_exceptions
except ImportError:  # an openai client without them: every request takes the client's path
    AiohttpTransport = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from openai._models import FinalRequestOptions

# The openai client's JSON encoding of a body (httpx's defaults).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
# What the openai client turns into a connection error (beside timeouts).
_REQUEST_ERRORS: tuple[type[BaseException], ...] = (ssl.SSLError, anyio.EndOfStream)
if AiohttpTransport is not None:
    _REQUEST_ERRORS += (httpx2.RequestError,)
# Headers of a body as aiohttp handed it on (already decompressed), not as it was sent.
_BODY_HEADERS = (b"content-encoding", b"content-length", b"transfer-encoding")
# What httpx follows (with a Location header), as the openai client has it do.
_REDIRECTS = (301, 302, 303, 307, 308)


class DirectPost:
    """POSTs JSON bodies to one URL as ``client.request(str, options)`` would."""

    def __init__(self, client: openai.AsyncOpenAI, transport: Any, request: httpx2.Request):
        self._client = client
        self._transport = transport
        self._request = request
        self._url = str(request.url)
        self._headers = {k: v for k, v in request.headers.items() if k != "content-length"}
        timeout = request.extensions.get("timeout", {})
        self._timeout = aiohttp.ClientTimeout(
            sock_connect=timeout.get("connect"),
            sock_read=timeout.get("read"),
            connect=timeout.get("pool"),
        )

    @classmethod
    def of(cls, client: openai.AsyncOpenAI, options: FinalRequestOptions) -> DirectPost | None:
        """The direct path for ``options`` (no body yet), or None when the client would do more
        than send it: another transport (httpx, a proxy's), or authentication that changes per
        request (a key provider, workload identity, a custom auth, a provider's hooks)."""
        if AiohttpTransport is None:
            return None
        try:
            return cls._of(client, options)
        except (AttributeError, TypeError, ImportError):
            # Another openai release whose private parts moved: the client's own path.
            return None

    @classmethod
    def _of(cls, client: openai.AsyncOpenAI, options: FinalRequestOptions) -> DirectPost | None:
        per_request = (
            "_provider_runtime", "_workload_identity_auth", "_api_key_provider",
            "_idempotency_header",
        )  # fmt: skip
        if any(getattr(client, name, None) is not None for name in per_request):
            return None
        if client.custom_auth is not None:
            return None
        request = client._build_request(options.model_copy(update={"json_data": {}}))
        http = client._client
        if not isinstance(http, httpx2.AsyncClient) or http.auth is not None:
            return None
        transport = http._transport_for_url(request.url)
        if not isinstance(transport, AiohttpTransport) or transport.proxy is not None:
            return None
        return cls(client, transport, request)

    async def post(self, body: dict[str, Any]) -> str | None:
        """The response's text; raises what ``client.request(str, options)`` raises. None for a
        redirect: the client follows it (send the request through the client instead)."""
        data = _ENCODER.encode(body).encode()
        try:
            with map_aiohttp_exceptions():
                if not isinstance(self._transport.client, aiohttp.ClientSession):
                    self._transport.client = self._transport.get_client()
                session: aiohttp.ClientSession = self._transport.client
                async with session.post(
                    self._url, data=data, headers=self._headers, allow_redirects=False,
                    compress=False, timeout=self._timeout,
                ) as response:  # fmt: skip
                    content = await response.read()
                    status, raw_headers = response.status, response.raw_headers
                    charset = response.charset
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=self._request) from exc
        except _REQUEST_ERRORS as exc:
            raise openai.APIConnectionError(request=self._request) from exc
        if status in _REDIRECTS and any(k.lower() == b"location" for k, _ in raw_headers):
            return None
        if not 200 <= status < 300:
            headers = [(k, v) for k, v in raw_headers if k.lower() not in _BODY_HEADERS]
            error = httpx2.Response(status, headers=headers, content=content, request=self._request)
            raise self._client._make_status_error_from_response(error)
        return content.decode(_codec(charset), errors="replace")


def _codec(charset: str | None) -> str:
    """The body's codec as httpx picks it: the declared charset if Python knows it, else UTF-8."""
    if charset:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass
    return "utf-8"
