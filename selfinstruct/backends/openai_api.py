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


def _status_error(exc: openai.APIStatusError) -> BackendError:
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
        self._client = openai.AsyncOpenAI(
            api_key=resolve_api_key(api_key, base_url),
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )

    def _options(self, request: Request) -> dict[str, Any]:
        decoding = request.decoding
        options: dict[str, Any] = {
            "model": self.model,
            "max_tokens": decoding.max_tokens,
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
            "frequency_penalty": decoding.frequency_penalty,
            "presence_penalty": decoding.presence_penalty,
        }
        if decoding.stop:
            options["stop"] = list(decoding.stop)[:4]  # OpenAI accepts at most four
        if request.seed is not None:
            options["seed"] = request.seed
        return options

    async def complete(self, request: Request, text: str) -> Completion:
        try:
            if self.api == "chat":
                response = await self._client.chat.completions.create(
                    messages=[{"role": "user", "content": text}], **self._options(request)
                )
                choice = response.choices[0]
                answer = choice.message.content or ""
            else:
                response = await self._client.completions.create(
                    prompt=text, **self._options(request)
                )
                choice = response.choices[0]
                answer = choice.text or ""
        except openai.APITimeoutError:
            raise BackendError("timeout", "the request timed out") from None
        except openai.APIConnectionError as exc:
            raise BackendError("connection", f"cannot reach {self.where}: {exc}") from None
        except openai.APIStatusError as exc:
            raise _status_error(exc) from None
        except (openai.APIResponseValidationError, json.JSONDecodeError) as exc:
            raise BackendError("malformed", f"unreadable response: {exc}") from None
        except (IndexError, AttributeError, TypeError, KeyError) as exc:
            raise BackendError("malformed", f"response without a usable choice: {exc!r}") from None
        if not isinstance(answer, str):
            raise BackendError("malformed", "response text is not a string")
        usage = response.usage
        return Completion(
            text=answer,
            finish_reason=choice.finish_reason or "stop",
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    @property
    def where(self) -> str:
        return self.base_url or "the OpenAI API"

    async def aclose(self) -> None:
        await self._client.close()
