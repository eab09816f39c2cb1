"""Instruction-following difficulty (IFD), the score Superfiltering (Li et al. 2024) ranks by.

IFD = loss(output | instruction) / loss(output), where a loss is the mean negative log-probability
of the output's tokens under a small language model, once after the prompt (instruction and
input in a response template) and once after nothing but the start token. A ratio near 1 means
the instruction hardly helps the model predict the output (a hard or unrelated pair); a low
ratio means the output follows easily from the instruction. Superfiltering keeps the top share
by IFD among the pairs with IFD below 1 (at or above 1 the instruction does not help at all,
which usually means the pair is broken).

Log-probabilities come in-process from llama-cpp-python: one evaluation of the whole sequence
with ``logits_all=True``, then a log-softmax of the row before each output token.
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
    """log p(token) from one row of logits, computed stably."""
    import numpy as np

    values = np.asarray(row, dtype=np.float64)
    top = float(values.max())
    return float(values[token] - top - math.log(float(np.exp(values - top).sum())))


class LlamaScorer:
    """Token log-probabilities from a GGUF model in-process (the bundled SmolLM2 by default)."""

    def __init__(self, model_path: Any = None, n_ctx: int = 1024) -> None:
        import os

        from llama_cpp import Llama

        from selfinstruct.backends.local import bundled_model_path

        self.llm = Llama(model_path=str(model_path or bundled_model_path()), n_ctx=n_ctx,
                         logits_all=True, verbose=False,
                         n_threads=max(1, os.cpu_count() or 1))  # fmt: skip
        self.n_ctx = n_ctx

    def logprobs(self, prefix: str, text: str) -> list[float]:
        start = self.llm.tokenize(prefix.encode("utf-8"), add_bos=True, special=False)
        if not start:
            start = [self.llm.token_bos()]
        tokens = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        tokens = tokens[:MAX_OUTPUT_TOKENS]
        budget = self.n_ctx - len(tokens)
        start = start[-budget:] if budget > 0 else start[-1:]
        sequence = start + tokens
        self.llm.reset()
        self.llm.eval(sequence)
        scores = self.llm.scores
        # The row at position p holds the prediction of token p + 1.
        return [log_softmax_at(scores[len(start) + i - 1], token)
                for i, token in enumerate(tokens)]  # fmt: skip
