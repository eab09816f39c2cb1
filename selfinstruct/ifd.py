"""Instruction-following difficulty (IFD), the score Superfiltering (Li et al. 2024) ranks by.

IFD = loss(output | instruction) / loss(output), where a loss is the mean negative log-probability
of the output's tokens under a small language model, once after the prompt (instruction and
input in a response template) and once after nothing but the start token. A ratio near 1 means
the instruction hardly helps the model predict the output (a hard or unrelated pair); a low
ratio means the output follows easily from the instruction. Superfiltering keeps the top share
by IFD among the pairs with IFD below 1 (at or above 1 the instruction does not help at all,
which usually means the pair is broken).

Log-probabilities come in-process from llama-cpp-python's low-level API: one evaluation of the
whole sequence that asks llama.cpp for logits only at the rows that predict an output token (the
prompt rows need none), then one vectorised log-softmax over those rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from selfinstruct.prompting import load_prompt

MAX_OUTPUT_TOKENS = 512


class Scorer(Protocol):
    def logprobs(self, prefix: str, text: str) -> list[float]:
        """Log-probability of each token of ``text`` after ``prefix`` ('' = only the start)."""
        ...


def mean_loss(logprobs: Sequence[float]) -> float:
    if not logprobs:
        raise ValueError("no output tokens to score")
    return -sum(logprobs) / len(logprobs)


def ifd_from_logprobs(conditioned: Sequence[float], alone: Sequence[float]) -> float:
    """loss(output | instruction) / loss(output) from the two runs' token log-probabilities."""
    denominator = mean_loss(alone)
    return mean_loss(conditioned) / denominator if denominator > 0 else math.inf


def prompt_for(instruction: str, input_text: str) -> str:
    return load_prompt("respond/completion.txt").format(
        instruction=instruction.strip(), input=input_text.strip() or "(none)"
    )


@dataclass(frozen=True)
class IfdScore:
    ifd: float
    conditioned_loss: float
    output_loss: float


def score(scorer: Scorer, instruction: str, input_text: str, output: str) -> IfdScore:
    conditioned = scorer.logprobs(prompt_for(instruction, input_text), output)
    alone = scorer.logprobs("", output)
    return IfdScore(ifd_from_logprobs(conditioned, alone), mean_loss(conditioned),
                    mean_loss(alone))  # fmt: skip


def log_softmax_at(row: Any, token: int) -> float:
    """log p(token) from one row of logits, computed stably (the reference for
    :func:`token_logprobs`)."""
    import numpy as np

    values = np.asarray(row, dtype=np.float64)
    top = float(values.max())
    return float(values[token] - top - math.log(float(np.exp(values - top).sum())))


_SOFTMAX_CHUNK = 64  # rows per float64 block: 64 x 49,152 doubles is 25 MB


def token_logprobs(rows: Any, tokens: Sequence[int]) -> list[float]:
    """log p(tokens[i]) from logits row i, for all rows at once (the same stable log-softmax as
    :func:`log_softmax_at`, in float64 blocks so a long output does not double the memory)."""
    import numpy as np

    rows = np.asarray(rows)
    if len(rows) != len(tokens):
        raise ValueError(f"{len(rows)} rows of logits for {len(tokens)} tokens")
    picked = np.asarray(tokens, dtype=np.int64)
    result: list[float] = []
    for begin in range(0, len(picked), _SOFTMAX_CHUNK):
        block = rows[begin : begin + _SOFTMAX_CHUNK].astype(np.float64)
        ids = picked[begin : begin + _SOFTMAX_CHUNK]
        top = block.max(axis=1, keepdims=True)
        norm = np.log(np.exp(block - top).sum(axis=1))
        chosen = block[np.arange(len(ids)), ids]
        result.extend((chosen - top[:, 0] - norm).tolist())
    return result


class LlamaScorer:
    """Token log-probabilities from a GGUF model in-process (the bundled SmolLM2 by default).

    ``n_threads`` defaults to every core; on a machine shared with other work one thread is
    often faster in wall time, because llama.cpp's threads spin while they wait for each other.
    """

    def __init__(self, model_path: Any = None, n_ctx: int = 1024, n_threads: int | None = None,
                 n_batch: int = 512) -> None:  # fmt: skip
        import os

        from llama_cpp import Llama

        from selfinstruct.backends.local import bundled_model_path

        threads = n_threads or max(1, os.cpu_count() or 1)
        self.llm = Llama(model_path=str(model_path or bundled_model_path()), n_ctx=n_ctx,
                         n_batch=n_batch, n_ubatch=n_batch, n_threads=threads,
                         n_threads_batch=threads, verbose=False)  # fmt: skip
        self.n_ctx = n_ctx
        self.n_batch = n_batch

    def logprobs(self, prefix: str, text: str) -> list[float]:
        start = self.llm.tokenize(prefix.encode("utf-8"), add_bos=True, special=False)
        if not start:
            start = [self.llm.token_bos()]
        tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        tokens = tokens[:MAX_OUTPUT_TOKENS]
        budget = self.n_ctx - len(tokens)
        start = start[-budget:] if budget > 0 else start[-1:]
        # The row at position p holds the prediction of token p + 1.
        rows = self.next_token_logits(start + tokens, first=len(start) - 1)
        return token_logprobs(rows, tokens)

    def next_token_logits(self, sequence: Sequence[int], first: int) -> Any:
        """Logits rows ``first`` .. ``len(sequence) - 2`` of ``sequence`` evaluated from an
        empty cache, in ``n_batch`` slices, with llama.cpp computing the vocabulary projection
        only for those rows (the prompt rows before ``first`` need none)."""
        import llama_cpp
        import numpy as np

        ctx = self.llm.ctx
        vocab = self.llm.n_vocab()
        wanted = range(first, len(sequence) - 1)
        out = np.empty((len(wanted), vocab), dtype=np.float32)
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        self.llm.reset()
        batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        try:
            for begin in range(0, len(sequence) - 1, self.n_batch):
                piece = sequence[begin : min(len(sequence) - 1, begin + self.n_batch)]
                batch.n_tokens = len(piece)
                for i, token in enumerate(piece):
                    batch.token[i] = token
                    batch.pos[i] = begin + i
                    batch.n_seq_id[i] = 1
                    batch.seq_id[i][0] = 0
                    batch.logits[i] = begin + i >= first
                if llama_cpp.llama_decode(ctx, batch) != 0:
                    raise RuntimeError(f"llama.cpp could not evaluate {len(sequence)} tokens")
                for i in range(len(piece)):
                    if begin + i >= first:
                        row = llama_cpp.llama_get_logits_ith(ctx, i)
                        out[begin + i - first] = np.ctypeslib.as_array(row, shape=(vocab,))
        finally:
            llama_cpp.llama_batch_free(batch)
        return out
