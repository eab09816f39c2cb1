"""Chat templates as raw text: how an instruct model's conversation looks with its special tokens.

Magpie needs the text that opens a user turn (the *pre-query template*) and nothing after it;
the chat method needs whole conversations rendered for a completion endpoint. Both come from one
Jinja template, the format Hugging Face tokenizers and GGUF files (``tokenizer.chat_template``)
store it in, so a model's own template is used whenever the file carries one.

The pre-query template and the end-of-turn marker are derived, not written per template: the
template renders a conversation of one user message holding a sentinel; the text before the
sentinel is the pre-query template, the first non-blank text after it is the end-of-turn marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from selfinstruct.errors import UserError
from selfinstruct.jsonio import read_text

_SENTINEL = "\x00QUERY\x00"

# Our own renderings of well-known formats (the format is a fact of the model; the Jinja is ours).
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# SmolLM2-Instruct (the bundled model): ChatML with a default system message.
SMOLLM2 = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "{% endif %}" + CHATML
)
LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
    "\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
BUILTIN: dict[str, tuple[str, str]] = {  # name -> (Jinja source, BOS text)
    "chatml": (CHATML, ""),
    "smollm2": (SMOLLM2, ""),
    "llama3": (LLAMA3, "<|begin_of_text|>"),
}


class ChatTemplate(BaseModel):
    """A template and the token texts it refers to; saved in the run settings, since it
    decides every prompt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # a built-in name, "gguf:<file>" or the path of a Jinja file
    source: str
    bos_token: str = ""
    eos_token: str = ""

    @cached_property
    def _compiled(self) -> Any:
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        try:
            return env.from_string(self.source)
        except TemplateError as exc:
            raise UserError(f"chat template {self.name}: not a Jinja template ({exc})") from None

    def render(self, messages: Sequence[tuple[str, str]], add_generation_prompt: bool) -> str:
        """The raw text of ``messages`` ((role, content) pairs), special tokens as text."""
        from jinja2 import TemplateError

        try:
            return str(
                self._compiled.render(
                    messages=[{"role": r, "content": c} for r, c in messages],
                    add_generation_prompt=add_generation_prompt,
                    bos_token=self.bos_token,
                    eos_token=self.eos_token,
                )
            )
        except TemplateError as exc:
            raise UserError(f"chat template {self.name}: cannot render ({exc})") from None

    @cached_property
    def _split(self) -> tuple[str, str]:
        text = self.render([("user", _SENTINEL)], add_generation_prompt=False)
        if text.count(_SENTINEL) != 1:
            raise UserError(f"chat template {self.name}: a user message is not rendered once")
        before, after = text.split(_SENTINEL)
        return before, after

    @property
    def pre_query(self) -> str:
        """Everything up to where a user's message begins (Magpie's pre-query template)."""
        return self._split[0]

    @property
    def end_of_turn(self) -> str:
        """The marker that closes a turn (``<|im_end|>``, ``<|eot_id|>``): the stop string."""
        marker = self._split[1].strip().split("\n")[0].strip()
        if not marker:
            raise UserError(f"chat template {self.name}: no end-of-turn marker after a message")
        return marker


def builtin(name: str) -> ChatTemplate:
    source, bos = BUILTIN[name]
    return ChatTemplate(name=name, source=source, bos_token=bos)


def from_gguf(path: Path) -> ChatTemplate | None:
    """The template stored in a GGUF file, with its BOS/EOS texts; None when it has none.

    Only the vocabulary is loaded (no weights), so this takes a fraction of a second."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise UserError(
            "llama-cpp-python is not installed: run `pip install llama-cpp-python`"
        ) from None
    llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        source = llm.metadata.get("tokenizer.chat_template")
        if not source:
            return None

        def text(token: int) -> str:
            if token < 0:
                return ""
            return llm.detokenize([token], special=True).decode("utf-8", "replace")

        return ChatTemplate(
            name=f"gguf:{path.name}",
            source=source,
            bos_token=text(llm.token_bos()),
            eos_token=text(llm.token_eos()),
        )
    finally:
        close = getattr(llm, "close", None)
        if close:
            close()


def resolve(choice: str | None, model_path: Path | None) -> ChatTemplate | None:
    """``--template``: a built-in name or a Jinja file; by default the GGUF file's own.

    None when nothing applies (a server reached by its chat API templates for itself)."""
    if choice is not None:
        if choice in BUILTIN:
            return builtin(choice)
        path = Path(choice)
        if not path.is_file():
            raise UserError(
                f"--template {choice}: not a built-in template ({', '.join(BUILTIN)}) "
                "nor a Jinja file"
            )
        return ChatTemplate(name=str(path), source=read_text(path))
    if model_path is None:
        return None
    return from_gguf(model_path)
