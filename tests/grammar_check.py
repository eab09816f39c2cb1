"""Whether a text is one a GBNF grammar lets llama.cpp write: the text is tokenized with the
bundled model's vocabulary and fed token by token to llama.cpp's own grammar sampler, which
rules out a token exactly as it does while generating. Only the vocabulary is loaded."""

from __future__ import annotations

import ctypes
import functools
import math
from typing import Any


@functools.lru_cache(maxsize=1)
def vocabulary() -> Any:
    """The bundled model's vocabulary (a Llama object without weights)."""
    from llama_cpp import Llama

    from selfinstruct.backends.local import bundled_model_path

    return Llama(model_path=str(bundled_model_path()), vocab_only=True, verbose=False)


def _allowed(sampler: Any, token: int) -> bool:
    import llama_cpp

    data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 0.0, 0.0))
    candidates = llama_cpp.llama_token_data_array(data, 1, -1, False)
    llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))
    return not math.isinf(data[0].logit)


def grammar_allows(grammar: str, text: str, complete: bool = True) -> bool:
    """True when llama.cpp's grammar sampler accepts every token of ``text`` and, if
    ``complete``, the end of text right after it."""
    import llama_cpp

    vocab = vocabulary()
    tokens = vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    sampler = llama_cpp.llama_sampler_init_grammar(
        llama_cpp.llama_model_get_vocab(vocab.model), grammar.encode("utf-8"), b"root"
    )
    try:
        for token in tokens:
            if not _allowed(sampler, token):
                return False
            llama_cpp.llama_sampler_accept(sampler, token)
        return not complete or _allowed(sampler, vocab.token_eos())
    finally:
        llama_cpp.llama_sampler_free(sampler)
