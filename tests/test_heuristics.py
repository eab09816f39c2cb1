"""The model-free checks: each case is flagged with exactly its named reason."""

from __future__ import annotations

import pytest

from selfinstruct.methods.judge.heuristics import check, language_of

CLEAN_OUTPUT = "The river carries water from the mountains to the sea over many years."


@pytest.mark.parametrize(
    ("instruction", "input_text", "output", "reasons"),
    [
        ("Describe a river.", "", CLEAN_OUTPUT, []),
        ("Describe a river.", "", "  \n", ["empty_output"]),
        ("Describe a river.", "", "<nooutput>", ["placeholder_output"]),
        ("Describe a river.", "", "N/A", ["placeholder_output"]),
        ("Write a letter.", "", "Dear [insert name], thanks.", ["placeholder_output"]),
        ("Summarize https://example.com/a", "", CLEAN_OUTPUT, ["refers_to_attachment"]),
        ("Describe the attached image.", "", CLEAN_OUTPUT, ["refers_to_attachment"]),
        ("Describe this photo in detail.", "", CLEAN_OUTPUT, ["refers_to_attachment"]),
        ("Describe the art.", "![pic](https://x.org/a.png)", CLEAN_OUTPUT, ["refers_to_attachment"]),
        ("Summarize the page.", "https://example.com/page", CLEAN_OUTPUT, ["input_only_url"]),
        ("Find links in the text.", "See www.example.com for more.", CLEAN_OUTPUT, []),
        ("Describe a river.", "", CLEAN_OUTPUT + "\n\n8. Instruction: Name a fish.", ["merged_items"]),
        ("Describe a river.", "", "Hi ### Instruction: Name a fish.", ["merged_items"]),
        ("Describe a river in a few words.", "",
         "El río lleva el agua de las montañas hasta el mar y es muy largo para los peces.",
         ["output_language"]),
        ("Describe a river.", "", "河流把山上的水带到大海，经过很多年。", ["output_language"]),
        ("Translate to Spanish: the river is long.", "",
         "El río es muy largo y lleva el agua de las montañas para el mar.", []),
        ("Correct the grammar.", "Les enfants sont dans le jardin et ils jouent avec le chien.",
         "Les enfants sont dans le jardin et ils jouent avec le chien de la maison.", []),
        ("Write code that adds two numbers.", "", "def add(a, b):\n    return a + b", []),
    ],
)  # fmt: skip
def test_reasons(instruction: str, input_text: str, output: str, reasons: list[str]) -> None:
    assert [f.reason for f in check(instruction, input_text, output)] == reasons


def test_language_abstains_on_short_or_unclear_text() -> None:
    assert language_of("Bonjour") is None
    assert language_of("x = 1; y = 2; print(x + y)") is None
    assert language_of("The cat is on the mat and it is happy with the sun.") == "en"
    assert language_of("Привет, как дела?") == "cyrillic"
