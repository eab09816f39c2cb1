"""What every backend offers: one async call from a request to a completion.

A request carries the final text to send: a completion prompt, or a chat model's user message.
Backends raise :class:`BackendError` with a kind, so the caller decides what to retry and what
ends the run; they never invent an answer.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Api = Literal["completion", "chat"]
# "connection": no connection could be made (refused, unknown host): the server may not be
# running. "dropped": the server was reached but closed the connection before the answer was
# complete (a crash, a proxy cutting it off, a truncated body): it is running, so retry.
ErrorKind = Literal[
    "rate_limit",
    "server",
    "timeout",
    "connection",
    "dropped",
    "malformed",
    "auth",
    "not_found",
    "bad_request",
]
RETRYABLE: frozenset[str] = frozenset(
    {"rate_limit", "server", "timeout", "connection", "dropped", "malformed"}
)


def decoding_problem(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be the decoding parameter ``name`` (None when it can): max_tokens
    a whole number, 1 or more; the others finite numbers, temperature 0 or more, top_p
    between 0 and 1 (the penalties may be negative)."""
    if name == "max_tokens":
        if isinstance(value, bool) or not isinstance(value, int):
            return "max_tokens must be a whole number"
        return "max_tokens must be 1 or more" if value < 1 else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} must be a number"
    if not math.isfinite(value):
        return f"{name} must be a finite number"
    if name == "temperature" and value < 0:
        return "temperature must be 0 or more"
    if name == "top_p" and not 0 <= value <= 1:
        return "top_p must be between 0 and 1"
    return None


@dataclass(frozen=True)
class Decoding:
    max_tokens: int
    temperature: float
    top_p: float
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Every way in (the CLI, Python, a settings file through pydantic) builds this type,
        # so no path sends a value servers refuse on every request, or never answer (NaN).
        for name in ("max_tokens", "temperature", "top_p", "frequency_penalty",
                     "presence_penalty"):  # fmt: skip
            problem = decoding_problem(name, getattr(self, name))
            if problem is not None:
                raise ValueError(f"decoding: {problem}")

    def sampling_options(self) -> dict[str, Any]:
        """The parameters every OpenAI-style API names the same way (stop is API-specific)."""
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
        }

    def as_dict(self) -> dict[str, Any]:
        """Every field, in order, ``stop`` as a list (part of every request's cache key: built
        by hand: ``dataclasses.asdict``'s deep copy took 12 us, this takes 1)."""
        return {**self.sampling_options(), "stop": list(self.stop)}


@dataclass(frozen=True)
class Request:
    stage: str  # names the request in usage, the cache and failures
    prompt: str  # the final text sent: the completion prompt or the chat user message
    decoding: Decoding
    seed: int | None = None
    # A chat API conversation ((role, content) pairs) sent instead of ``prompt`` as the one user
    # message; ``prompt`` then only names the request (estimates). Empty: the usual one message.
    messages: tuple[tuple[str, str], ...] = ()
    # A judge's fixed label set: the answer must open with one of these labels (then, on the
    # next line, a free reason). Only a backend whose ``constrains_answers`` is true honours it
    # (the in-process model, with a llama.cpp grammar); callers set it only for those. Part of
    # the cache key when set, since it changes the answer.
    labels: tuple[str, ...] = ()
    # The answer's layout as a GBNF grammar (llama.cpp's notation), for a method whose parser
    # expects a fixed shape. The same rules as ``labels``: honoured only where
    # ``constrains_answers``, set only for such a backend, part of the cache key when set.
    grammar: str = ""

    def chat_messages(self, text: str) -> list[dict[str, str]]:
        """The chat API's message list: the conversation, or ``text`` as one user message."""
        if self.messages:
            return [{"role": role, "content": content} for role, content in self.messages]
        return [{"role": "user", "content": text}]


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


@dataclass
class BackendError(Exception):
    kind: ErrorKind
    message: str
    retry_after: float | None = None
    raw: str | None = field(default=None, repr=False)
    # Which server failed, when the backend spans several (the error messages name it).
    where: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class Backend(ABC):
    """A model reachable through one API kind."""

    model: str
    api: Api
    base_url: str | None
    max_concurrency: int
    constrains_answers: bool = False  # honours Request.labels and Request.grammar
    in_process: bool = False  # the model runs here (a long silence is its decoding, not a hang)

    @abstractmethod
    async def complete(self, request: Request, text: str) -> Completion:
        """Send ``text`` (the prompt, or the chat message built from it) and return the answer."""

    def identity(self) -> dict[str, Any]:
        """What, besides the request, decides the answer: part of the response-cache key."""
        return {"model": self.model, "api": self.api, "base_url": self.base_url}

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or models."""

    async def abandon_pending(self) -> None:  # noqa: B027 - optional hook
        """The run has ended needing none of the answers still pending (it is complete, or its
        budget is spent): stop paying for them. Only a batching backend has any."""

    def endpoint_stats(self) -> list[EndpointStats]:
        """Per-server counts, for a backend that spreads requests over several servers."""
        return []


@dataclass
class EndpointStats:
    """One server of several: its limit, whether it is out of rotation, and what it did."""

    url: str
    limit: int  # requests in flight at once
    requests: int = 0  # attempts sent to it
    answered: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # failed attempts by kind
    latency_seconds: float = 0.0  # summed over answered requests
    benched: int = 0  # times taken out of rotation
    out_until: float = 0.0  # monotonic clock: out of rotation until then
