"""The in-process model's grammar (selfinstruct/backends/grammar.py): llama.cpp's grammar
sampler judges the most likely tokens, and the whole vocabulary only when none of them fits."""

from __future__ import annotations

import numpy as np
from grammar_check import vocabulary

from selfinstruct.backends.grammar import TOP_K, TopGrammar, label_grammar


def token(text: str) -> int:
    (only,) = vocabulary().tokenize(text.encode(), add_bos=False, special=False)
    return only


def test_the_top_tokens_keep_their_logits_when_allowed_and_lose_them_when_not() -> None:
    vocab = vocabulary()
    scores = np.zeros(vocab.n_vocab(), dtype=np.float32)
    yes, no, maybe = token("Yes"), token("No"), token("Maybe")
    scores[[maybe, yes, no]] = [9.0, 5.0, 4.0]  # the model prefers a word outside the labels
    held = TopGrammar(vocab.model, label_grammar(("Yes", "No")))
    try:
        out = held(np.array([1, 2, 3]), scores.copy())
    finally:
        held.close()
    assert (out[yes], out[no]) == (5.0, 4.0)
    assert out[maybe] == -np.inf
    assert int(out.argmax()) == yes


def test_when_no_top_token_fits_the_whole_vocabulary_is_asked() -> None:
    vocab = vocabulary()
    scores = np.zeros(vocab.n_vocab(), dtype=np.float32)
    favourites = np.arange(1000, 1000 + TOP_K)
    scores[favourites] = 10.0  # none of them opens "Yes" or "No"
    held = TopGrammar(vocab.model, label_grammar(("Yes", "No")))
    try:
        out = held(np.array([1]), scores.copy())
    finally:
        held.close()
    allowed = {int(i) for i in np.flatnonzero(np.isfinite(out))}
    assert token("Yes") in allowed and token("No") in allowed
    assert not allowed & {int(i) for i in favourites}
    assert all(vocab.detokenize([i]).decode(errors="replace")[:1] in "YN" for i in allowed)


def test_tokens_written_move_the_grammar_on() -> None:
    vocab = vocabulary()
    held = TopGrammar(vocab.model, label_grammar(("Yes", "No")))
    prompt = [1, 2, 3]
    try:
        held(np.array(prompt), np.zeros(vocab.n_vocab(), dtype=np.float32))
        scores = np.zeros(vocab.n_vocab(), dtype=np.float32)
        scores[token("No")] = 9.0  # a second label after the first is not allowed
        after = held(np.array([*prompt, token("Yes")]), scores)
    finally:
        held.close()
    allowed = {int(i) for i in np.flatnonzero(np.isfinite(after))}
    assert token("No") not in allowed
    assert vocab.token_eos() in allowed and token("\n") in allowed
