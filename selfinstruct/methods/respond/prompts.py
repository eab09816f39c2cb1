"""respond's prompts: Alpaca's framing of the teacher's question, the translation request and
the side-by-side rating (the files are under ``prompts/respond/``, with a README naming their
sources)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from selfinstruct.errors import UserError
from selfinstruct.export import user_content
from selfinstruct.prompting import load_prompt

# A completion model given Alpaca's framing runs on past its answer into a new block: stop it
# where a block would open (a chat model ends its turn by itself).
ALPACA_STOP = ("\n### Instruction:", "\n### Input:", "\n### Response:")

# Codes that ``--translate`` knows; any other language is given by its name.
LANGUAGES = {
    "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "fr": "French", "de": "German",
    "es": "Spanish", "it": "Italian", "pt": "Portuguese", "ru": "Russian", "ar": "Arabic",
    "hi": "Hindi", "nl": "Dutch", "pl": "Polish", "tr": "Turkish", "vi": "Vietnamese",
    "th": "Thai", "id": "Indonesian", "uk": "Ukrainian", "sv": "Swedish", "he": "Hebrew",
    "el": "Greek", "fa": "Persian", "bn": "Bengali", "sw": "Swahili", "en": "English",
}  # fmt: skip
_CODE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z]{2,4})?$")


def language_name(language: str) -> str:
    """The name the prompts use for ``--translate LANGUAGE``: a known code's name, or the name
    given (an unknown code is refused rather than sent as a name)."""
    text = language.strip()
    if not text:
        raise UserError("--translate must not be empty")
    base = text.split("-", 1)[0].lower()
    if base in LANGUAGES and _CODE.match(text):
        return LANGUAGES[base]
    if _CODE.match(text):
        raise UserError(
            f"--translate {text}: unknown language code; give the language's name, "
            "e.g. --translate Swahili"
        )
    return text


def with_constraints(instruction: str, constraints: str) -> str:
    """Unnatural Instructions' ``constraints`` (what the output must look like) belong to the
    task statement: they follow the instruction on its own line."""
    instruction, constraints = instruction.strip(), constraints.strip()
    return f"{instruction}\n{constraints}" if constraints else instruction


def framed(
    instruction: str, input_text: str, framing: str, chat: bool, language: str | None = None
) -> str:
    """The teacher's question. ``alpaca``: Alpaca's prompt with or without input, as GPT-4-LLM
    sent it (on either API); ``plain``: the instruction (and input) alone on a chat API, our
    short response template on a completion API. With ``language`` the answer is asked for in
    that language (one sentence more, at the end of the preamble)."""
    instruction, input_text = instruction.strip(), input_text.strip()
    note = f"Write the response in {language}." if language else ""
    if framing == "alpaca":
        name = "respond/alpaca_input.txt" if input_text else "respond/alpaca_no_input.txt"
        text = load_prompt(name).format(instruction=instruction, input=input_text)
        if note:
            preamble, rest = text.split("\n\n", 1)
            text = f"{preamble} {note}\n\n{rest}"
        return text
    if chat:
        text = user_content(instruction, input_text)
    else:
        text = load_prompt("respond/completion.txt").format(
            instruction=instruction, input=input_text or "(none)"
        )
    return f"{note}\n\n{text}" if note else text


def translate_prompt(text: str, language: str) -> str:
    return load_prompt("respond/translate.txt").format(text=text.strip(), language=language)


def side_by_side_prompt(instruction: str, input_text: str, outputs: Sequence[str]) -> str:
    """All candidates' answers to one instance in one request, numbered in the order given."""
    blocks = "\n\n".join(
        f"[Response {n}]\n{output.strip() or '(empty)'}\n[End of response {n}]"
        for n, output in enumerate(outputs, start=1)
    )
    example = " ".join(str((7, 4, 9, 6, 8, 3)[n % 6]) for n in range(len(outputs)))
    return load_prompt("respond/side_by_side.txt").format(
        instruction=instruction.strip(), input=input_text.strip() or "(none)",
        responses=blocks, count=len(outputs), example=example,
    )  # fmt: skip
