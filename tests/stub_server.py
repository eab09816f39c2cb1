"""A stub OpenAI-compatible server with fault injection, for tests and the throughput benchmark.

It answers ``POST /v1/chat/completions`` and ``POST /v1/completions`` after a fixed delay with
plausible text for every method's prompts, told apart by their wording: each method's answers
are in its own module under tests/answers/ (:func:`answer_for`); the same prompt always gets the
same answer (unless ``deterministic=False``).

Usage numbers are returned (about four characters per token). ``GET /v1/models`` lists the
model and ``GET /stats`` returns the hit counters as JSON.

Faults (:class:`Fault`) are chosen per request by a deterministic rule: the first N requests,
every k-th request, or requests whose prompt contains a string. Kinds: ``rate_limit`` (429 with
Retry-After), ``server`` (500), ``status`` (any code, optionally echoing the Authorization
header in the body), ``slow`` (answer after a long sleep), ``invalid_json``, ``length``
(truncated answer with finish_reason "length"), ``drop`` (close the connection unanswered),
``null_content`` (a well-formed answer whose ``message.content`` / ``text`` is null),
``truncated_body`` (Content-Length announces the whole answer, half is sent, then the connection
is closed) and ``reset_mid_body`` (half the answer, then the connection is reset).

For several endpoints: ``capacity`` makes it answer at most that many requests at once (the rest
queue, as on a GPU server), ``max_inflight`` in the stats is the most it saw at once, and
``die_after`` makes it crash (stop listening, cut every connection) when request
``die_after + 1`` arrives.

In a test::

    with StubServer(delay=0.01, faults=[Fault("server", first=2)]) as stub:
        ...  # use stub.base_url ("http://127.0.0.1:PORT/v1"); stub.hits counts requests

As a process (prints ``PORT <n>`` on its first stdout line)::

    python tests/stub_server.py --delay 0.2 --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import answers
from answers.alpaca import alpaca_answer  # noqa: F401  (benchmarks/alpaca_commit.py)


def answer_for(prompt: str, chat: bool, salt: str = "", seed: Any = None) -> str:
    """The stub's answer text: each method's (tests/answers/), told apart by the prompt's
    wording; a function of the prompt (and salt) alone, and of the seed for some methods."""
    return answers.answer(prompt, chat=chat, stage=None, seed=seed, salt=salt)


def _apply_stop(text: str, stop: Any) -> str:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text


@dataclass
class Fault:
    """One injected fault and the rule choosing the requests it hits.

    A request (numbered from 1 over completion requests) is hit when its number is at most
    ``first``, or a multiple of ``every``, or its prompt contains ``match``; ``times`` caps the
    number of hits. With no rule at all, every request is hit. Requests numbered ``after`` or
    lower are never hit: ``Fault("server", after=n)`` is an outage from request n + 1 on (until
    the test removes it, or ``times`` hits).
    """

    # rate_limit | server | status | slow | invalid_json | length | drop | null_content
    # | truncated_body | reset_mid_body
    kind: str
    first: int = 0
    every: int = 0
    match: str | None = None
    times: int | None = None
    after: int = 0
    retry_after: float | None = None
    status: int = 500
    seconds: float = 0.0
    echo_auth: bool = False
    hits: int = 0

    def applies(self, number: int, prompt: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if number <= self.after:
            return False
        no_rule = not (self.first or self.every or self.match)
        chosen = (
            no_rule
            or number <= self.first
            or (self.every and number % self.every == 0)
            or (self.match is not None and self.match in prompt)
        )
        return bool(chosen)


@dataclass
class StubState:
    delay: float = 0.2
    faults: list[Fault] = field(default_factory=list)
    deterministic: bool = True
    model: str = "stub"
    hits: Counter[str] = field(default_factory=Counter)  # by path
    prompts: Counter[str] = field(default_factory=Counter)  # by sha256 of the prompt
    fault_hits: Counter[str] = field(default_factory=Counter)
    authorization: list[str] = field(default_factory=list)
    number: int = 0
    inflight: int = 0  # completion requests being answered now
    max_inflight: int = 0  # the most at once (per-endpoint limits are checked against it)
    die_after: int | None = None  # crash when request die_after + 1 arrives (several endpoints)
    capacity: int | None = None  # answer at most this many at once; the rest queue (a GPU)
    bodies: list[dict[str, Any]] = field(default_factory=list)  # every completion request body

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.number,
            "max_inflight": self.max_inflight,
            "hits": dict(self.hits),
            "fault_hits": dict(self.fault_hits),
            "distinct_prompts": len(self.prompts),
            "repeated_prompts": sum(c - 1 for c in self.prompts.values()),
        }


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip


class _Drop(Exception):
    pass


class _Cut(Exception):
    """Send the head and half of ``payload``, then close (``reset``: with a TCP reset)."""

    def __init__(self, payload: bytes, reset: bool) -> None:
        super().__init__("cut")
        self.payload = payload
        self.reset = reset


class StubServer:
    """The server on 127.0.0.1 (free port by default), served by an asyncio loop in a thread."""

    def __init__(
        self,
        delay: float = 0.2,
        faults: list[Fault] | None = None,
        deterministic: bool = True,
        port: int = 0,
        model: str = "stub",
        die_after: int | None = None,
        capacity: int | None = None,
    ) -> None:
        self.state = StubState(delay=delay, faults=list(faults or []), deterministic=deterministic,
                               model=model, die_after=die_after, capacity=capacity)  # fmt: skip
        self._slots: asyncio.Semaphore | None = None
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # ----------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def hits(self) -> int:
        """Completion requests received (including faulty ones)."""
        return self.state.number

    async def serve(self) -> None:
        """Serve until cancelled (the subprocess entry point)."""
        await self._start()
        assert self._server is not None
        await self._server.serve_forever()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=512)
        if self.state.capacity is not None:
            self._slots = asyncio.Semaphore(self.state.capacity)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> StubServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._start())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="stub-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("stub server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            self._loop.stop()  # type: ignore[union-attr]

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                try:
                    status, extra, payload = await self._route(method, path, headers, body)
                except _Cut as cut:
                    await self._send_half(writer, cut)
                    break
                reason = _REASONS.get(status, "Status")
                lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(payload)}",
                         "Content-Type: application/json"]  # fmt: skip
                lines += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (_Drop, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except asyncio.CancelledError:
            raise
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _send_half(self, writer: asyncio.StreamWriter, cut: _Cut) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Length: {len(cut.payload)}\r\n"
            "Content-Type: application/json\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + cut.payload[: len(cut.payload) // 2])
        await writer.drain()
        if cut.reset:
            sock = writer.get_extra_info("socket")
            if sock is not None:  # linger 0: close() sends RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    async def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        state = self.state
        path = path.split("?", 1)[0]
        state.hits[f"{method} {path}"] += 1
        if method == "GET" and path == "/stats":
            return 200, {}, json.dumps(state.stats()).encode()
        if method == "GET" and path.endswith("/models"):
            models = {"object": "list", "data": [{"id": state.model, "object": "model"}]}
            return 200, {}, json.dumps(models).encode()
        chat = path.endswith("/chat/completions")
        if method != "POST" or not (chat or path.endswith("/completions")):
            return 404, {}, b'{"error": {"message": "no such route"}}'
        request = json.loads(body or b"{}")
        state.bodies.append(request)
        if chat:
            prompt = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
        else:
            prompt = str(request.get("prompt", ""))
        state.number += 1
        number = state.number
        if state.die_after is not None and number > state.die_after:
            self._die()
            raise _Drop
        state.inflight += 1
        state.max_inflight = max(state.max_inflight, state.inflight)
        try:
            if self._slots is None:
                return await self._answer(request, chat, prompt, number, headers)
            async with self._slots:
                return await self._answer(request, chat, prompt, number, headers)
        finally:
            state.inflight -= 1

    def _die(self) -> None:
        """Crash: stop listening and cut every open connection, answers on their way too."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()

    async def _answer(
        self, request: dict[str, Any], chat: bool, prompt: str, number: int,
        headers: dict[str, str],
    ) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        state = self.state
        state.prompts[hashlib.sha256(prompt.encode("utf-8")).hexdigest()] += 1
        state.authorization.append(headers.get("authorization", ""))
        fault = next((f for f in state.faults if f.applies(number, prompt)), None)
        if fault is not None:
            fault.hits += 1
            state.fault_hits[fault.kind] += 1
        await asyncio.sleep(state.delay)
        truncated = False
        if fault is not None:
            kind = fault.kind
            retry = (
                {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            )
            if kind == "rate_limit":
                return (
                    429,
                    retry,
                    b'{"error": {"message": "rate limit reached", "type": "requests"}}',
                )
            if kind == "server":
                return fault.status or 500, retry, b'{"error": {"message": "internal error"}}'
            if kind == "status":
                message = "request refused"
                if fault.echo_auth:
                    message += f" for {headers.get('authorization', '')}"
                return fault.status, retry, json.dumps({"error": {"message": message}}).encode()
            if kind == "slow":
                await asyncio.sleep(fault.seconds)
            elif kind == "invalid_json":
                return 200, {}, b'{"id": "cmpl-broken", "choices": [{"text": "half an ans'
            elif kind == "drop":
                raise _Drop
            elif kind == "length":
                truncated = True
        cut = fault.kind if fault is not None else ""
        salt = "" if state.deterministic else f"{number}:{time.time_ns()}"
        text = answer_for(prompt, chat, salt, request.get("seed"))
        text = _apply_stop(text, request.get("stop"))
        finish = "stop"
        if truncated:
            text, finish = text[: max(1, len(text) // 2)], "length"
        usage = {
            "prompt_tokens": max(1, len(prompt) // 4),
            "completion_tokens": max(1, len(text) // 4),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        answer: str | None = None if cut == "null_content" else text
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": answer},
                      "finish_reason": finish}  # fmt: skip
            kind_name = "chat.completion"
        else:
            choice = {"index": 0, "text": answer, "finish_reason": finish, "logprobs": None}
            kind_name = "text_completion"
        payload = {
            "id": f"stub-{number}",
            "object": kind_name,
            "created": int(time.time()),
            "model": request.get("model", state.model),
            "choices": [choice],
            "usage": usage,
        }
        encoded = json.dumps(payload).encode("utf-8")
        if cut in ("truncated_body", "reset_mid_body"):
            raise _Cut(encoded, reset=cut == "reset_mid_body")
        return 200, {}, encoded


def parse_fault(spec: str) -> Fault:
    """``KIND[:key=value,...]``, e.g. ``server:every=5,retry_after=0.1`` or ``drop:first=3``."""
    kind, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key in ("first", "every", "times", "status"):
            options[key] = int(value)
        elif key in ("retry_after", "seconds"):
            options[key] = float(value)
        elif key == "echo_auth":
            options[key] = value.lower() in ("1", "true", "yes")
        else:
            options[key] = value
    return Fault(kind, **options)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds before each answer")
    parser.add_argument("--fault", action="append", default=[], metavar="KIND[:k=v,...]")
    parser.add_argument("--random", action="store_true", help="not deterministic")
    parser.add_argument("--capacity", type=int, default=None, help="answers at once (queue)")
    args = parser.parse_args(argv)
    server = StubServer(delay=args.delay, faults=[parse_fault(f) for f in args.fault],
                        deterministic=not args.random, port=args.port,
                        capacity=args.capacity)  # fmt: skip

    async def run() -> None:
        await server._start()
        print(f"PORT {server.port}", flush=True)
        assert server._server is not None
        await server._server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def chat_command(base_url: str, out: object, n: int, *extra: str) -> list[str]:
    """``python -m selfinstruct chat`` against a stub (for subprocess tests)."""
    return [sys.executable, "-m", "selfinstruct", "chat", "--base-url", base_url,
            "--model", "stub", "--n", str(n), "--out", str(out), "--quiet", *extra]  # fmt: skip


def generate_command(base_url: str, out: object, n: int, *extra: str) -> list[str]:
    """``python -m selfinstruct generate`` against a stub (for subprocess tests)."""
    return [sys.executable, "-m", "selfinstruct", "generate", "--base-url", base_url,
            "--model", "stub", "--n", str(n), "--out", str(out), "--quiet", *extra]  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
