"""Golden rendering tests for selfinstruct.prompting."""

from pathlib import Path

import pytest

from selfinstruct.methods.self_instruct.prompts import (
    chat_message,
    classification_prompt,
    instances_prompt,
    instruction_prompt,
)
from selfinstruct.prompting import clean_instruction, load_prompt

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


def read(name: str) -> str:
    return (PROMPTS / name).read_text(encoding="utf-8")


INSTRUCTIONS = [
    "Give three tips for staying healthy.",
    "Translate the sentence into French:",
    "Summarise   the following\n  paragraph.",
    "  What is the capital of Spain?  ",
    "Sort the numbers in ascending order:  ",
    "Classify the email\tas spam or not spam.",
    "Write a haiku about autumn leaves.",
    "Explain recursion to a child:\n",
]


def test_instruction_prompt_golden():
    header = read("instructions_header.txt").strip()
    expected = (
        f"{header}\n"
        "1. Give three tips for staying healthy.\n"
        "2. Translate the sentence into French\n"
        "3. Summarise the following paragraph.\n"
        "4. What is the capital of Spain?\n"
        "5. Sort the numbers in ascending order\n"
        "6. Classify the email as spam or not spam.\n"
        "7. Write a haiku about autumn leaves.\n"
        "8. Explain recursion to a child\n"
        "9."
    )
    assert instruction_prompt(INSTRUCTIONS) == expected


def test_instruction_prompt_header_is_one_line():
    header = read("instructions_header.txt").strip()
    assert header
    assert "\n" not in header
    assert instruction_prompt(INSTRUCTIONS).split("\n")[0] == header


def test_instruction_prompt_ends_with_next_number():
    assert instruction_prompt(INSTRUCTIONS).endswith("\n8. Explain recursion to a child\n9.")
    assert instruction_prompt(INSTRUCTIONS[:3]).endswith("\n4.")


def test_instruction_prompt_classification_header():
    header = read("instructions_header_classification.txt").strip()
    prompt = instruction_prompt(INSTRUCTIONS[:2], classification_only=True)
    assert prompt == (
        f"{header}\n"
        "1. Give three tips for staying healthy.\n"
        "2. Translate the sentence into French\n"
        "3."
    )


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Summarise this:", "Summarise this"),
        ("Summarise this::", "Summarise this"),
        ("  a \n\t b  ", "a b"),
        ("Ratio 3:4 explained", "Ratio 3:4 explained"),
    ],
)
def test_clean_instruction(raw, clean):
    assert clean_instruction(raw) == clean


def test_classification_prompt():
    prompt = classification_prompt("  Decide if the review is positive.  ")
    demonstrations = read("is_classification.txt")
    assert prompt.startswith(demonstrations)
    assert prompt.endswith("Task: Decide if the review is positive.\nIs it classification?")
    assert prompt == demonstrations + (
        "Task: Decide if the review is positive.\nIs it classification?"
    )


def test_instances_prompt_output_first_for_classification():
    prompt = instances_prompt("Label the sentiment.", is_classification=True)
    assert prompt == read("instances_output_first.txt") + "Task: Label the sentiment.\n"


def test_instances_prompt_input_first_for_generation():
    prompt = instances_prompt(" Write a limerick. ", is_classification=False)
    assert prompt == read("instances_input_first.txt") + "Task: Write a limerick.\n"


def test_instances_prompt_files_differ():
    assert instances_prompt("X", True) != instances_prompt("X", False)
    assert instances_prompt("X", True).endswith("Task: X\n")
    assert instances_prompt("X", False).endswith("Task: X\n")


@pytest.mark.parametrize(
    ("stage", "filename"),
    [
        ("instructions", "chat_instructions.txt"),
        ("classify", "chat_is_classification.txt"),
        ("instances", "chat_instances.txt"),
    ],
)
def test_chat_message_wraps_prompt(stage, filename):
    # What the chat model receives: the stage's own request lines, a blank line, then the
    # prompt exactly once and last, with no template field left over.
    prompt = "1. Do a thing.\n2."
    message = chat_message(stage, prompt)
    request = [line for line in read(filename).split("\n\n")[0].split("\n")]
    assert message.split("\n")[: len(request)] == request
    assert message.endswith("\n\n" + prompt + "\n")
    assert message.count(prompt) == 1
    assert "{" not in message.replace(prompt, "")


def test_chat_message_keeps_braces_in_prompt():
    # str.format substitutes the prompt once; braces inside the prompt stay literal.
    prompt = 'Task: Parse {"a": 1}\n'
    assert prompt in chat_message("instances", prompt)


def test_load_prompt_reads_file():
    """The file's text exactly (last newline kept, nothing stripped), from subfolders too."""
    assert load_prompt("instructions_header.txt") == "Write a list of tasks:\n"
    judge = load_prompt("evolve/judge.txt")
    assert judge.startswith("Here are two instructions that a user might give an AI assistant.")
    assert judge.endswith(
        "\nAnswer with one of the two labels, Equal or Not Equal, and nothing else.\nLabel:\n"
    )


def test_a_missing_prompt_file_is_one_line_naming_it():
    from selfinstruct.errors import UserError

    with pytest.raises(UserError) as error:
        load_prompt("no_such_prompt.txt")
    assert str(error.value) == (
        f"prompt file {PROMPTS / 'no_such_prompt.txt'} is missing; reinstall selfinstruct"
    )
