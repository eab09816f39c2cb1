"""Grammars for the in-process model: a request's ``labels`` or ``grammar`` held by llama.cpp's
own grammar sampler while the model writes.

llama-cpp-python applies a grammar to every token of the vocabulary (49,152 for SmolLM2) at every
step, which made the bundled model about 1.5 times slower per token. :class:`TopGrammar` asks
the same grammar sampler about the :data:`TOP_K` most likely tokens only (llama.cpp's default
``top_k``, which the sampling chain applies next anyway) and about the whole vocabulary only when
none of them fits. Every token written is one the grammar allows; among the allowed, the model's
own probabilities decide, as with the grammar first.
"""

from __future__ import annotations

import ctypes
import json
from typing import Any

import numpy as np

# The sampling chain's top_k (llama-cpp-python's default, passed explicitly by the backend).
TOP_K = 40

# llama.cpp's llama_token_data: a token id, its logit and its probability (12 bytes, packed as
# in C), so a numpy array of these can be handed to the sampler without copying.
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


def label_grammar(labels: tuple[str, ...]) -> str:
    """A GBNF grammar for an answer that opens with exactly one of ``labels``, optionally
    followed by one line of reason: what the judge prompts ask for, enforced while sampling."""
    choices = " | ".join(json.dumps(label) for label in labels)
    return f'root ::= ({choices}) ("\\n" [^\\n]*)?\n'


class TopGrammar:
    """A llama-cpp-python logits processor that masks every token the grammar rules out.

    It keeps llama.cpp's grammar sampler beside the generation: the tokens written since the
    last step are fed to it, then it judges the most likely candidates (all of them when none of
    the top ones fits). Call :meth:`close` when the generation ends."""

    def __init__(self, model: Any, grammar: str) -> None:
        import llama_cpp

        self._llama = llama_cpp
        vocab = llama_cpp.llama_model_get_vocab(model)
        self._sampler = llama_cpp.llama_sampler_init_grammar(
            vocab, grammar.encode("utf-8"), b"root"
        )
        if not self._sampler:
            raise ValueError(f"not a valid GBNF grammar: {grammar[:80]!r}")
        self._cells = np.zeros(llama_cpp.llama_vocab_n_tokens(vocab), dtype=_TOKEN_DATA)
        self._seen: int | None = None

    def allowed(self, ids: np.ndarray) -> np.ndarray:
        """The ids among ``ids`` that the grammar allows next."""
        cells = self._cells[: len(ids)]
        cells["id"] = ids
        cells["logit"] = 0.0
        candidates = self._llama.llama_token_data_array(
            cells.ctypes.data_as(self._llama.llama_token_data_p), len(ids), -1, False
        )
        self._llama.llama_sampler_apply(self._sampler, ctypes.byref(candidates))
        return ids[np.isfinite(cells["logit"])]

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self._seen is None:
            self._seen = len(input_ids)  # the prompt: the grammar starts after it
        for token in input_ids[self._seen :]:
            self._llama.llama_sampler_accept(self._sampler, int(token))
        self._seen = len(input_ids)
        top = np.argpartition(scores, -TOP_K)[-TOP_K:]
        allowed = self.allowed(top.astype(np.int32))
        if not len(allowed):
            allowed = self.allowed(np.arange(len(scores), dtype=np.int32))
        kept = scores[allowed].copy()
        scores[:] = -np.inf
        scores[allowed] = kept
        return scores

    def close(self) -> None:
        if self._sampler:
            self._llama.llama_sampler_free(self._sampler)
            self._sampler = None
