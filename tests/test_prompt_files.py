"""Structural checks for the prompt and demonstration files under prompts/."""

import re
import string
from pathlib import Path

import pytest
from constants import BLACKLIST_WITH_ALPACA

from selfinstruct.filters import InstructionFilter
from selfinstruct.methods.self_instruct.prompts import classification_prompt

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"

BLACKLIST = BLACKLIST_WITH_ALPACA

ALL_FILES = [
    "instructions_header.txt",
    "instructions_header_classification.txt",
    "chat_instructions.txt",
    "chat_is_classification.txt",
    "chat_instances.txt",
    "is_classification.txt",
    "instances_output_first.txt",
    "instances_input_first.txt",
    "finetune_with_input.txt",
    "finetune_no_input.txt",
]

DEMO_FILES = [
    "is_classification.txt",
    "instances_output_first.txt",
    "instances_input_first.txt",
]

FIELD_LINE = re.compile(r"^[A-Z][A-Za-z]*(?: [A-Za-z0-9]+){0,2}: \S")


def read(name: str) -> str:
    return (PROMPTS / name).read_bytes().decode("utf-8")


def split_header(text: str) -> tuple[str, str]:
    header, sep, body = text.partition("\n\n")
    assert sep, "expected a header line followed by a blank line"
    assert "\n" not in header, "header must be a single line"
    return header, body


def demo_instructions(name: str) -> list[str]:
    return [line[len("Task: ") :] for line in read(name).split("\n") if line.startswith("Task: ")]


def load_templates(name: str) -> list[str]:
    text = read(name)
    assert text.endswith("\n") and not text.endswith("\n\n")
    return text[:-1].split("\n---\n")


# ---------------------------------------------------------------- all files


@pytest.mark.parametrize("name", ALL_FILES)
def test_encoding_and_newlines(name):
    raw = (PROMPTS / name).read_bytes()
    text = raw.decode("utf-8")
    assert "\r" not in text
    assert "\t" not in text
    assert text.endswith("\n")
    for line in text.split("\n"):
        assert line == line.rstrip(), f"trailing whitespace in {name}: {line!r}"


@pytest.mark.parametrize("name", [n for n in ALL_FILES if n not in DEMO_FILES])
def test_non_demo_files_end_with_single_newline(name):
    text = read(name)
    assert not text.endswith("\n\n")


@pytest.mark.parametrize("name", DEMO_FILES)
def test_demo_files_end_with_one_blank_line(name):
    text = read(name)
    assert text.endswith("\n\n") and not text.endswith("\n\n\n")


# ---------------------------------------------------------------- headers


@pytest.mark.parametrize(
    "name", ["instructions_header.txt", "instructions_header_classification.txt"]
)
def test_headers_are_one_line(name):
    text = read(name)
    assert text.count("\n") == 1
    header = text[:-1]
    assert header.strip() == header and len(header.split()) >= 4
    assert "{" not in header and "}" not in header


def test_classification_header_mentions_labels():
    assert "label" in read("instructions_header_classification.txt").lower()


def test_instruction_header_only_asks_for_tasks():
    # The reference's header asks for a series of tasks and nothing more: the sampled
    # demonstrations, not the header, set what kind of tasks come next.
    header = read("instructions_header.txt").lower()
    assert "tasks" in header
    assert not re.search(r"\b(varied|diverse|different|new|person|assistant|ask)\b", header)


def test_classification_header_asks_for_labels_where_it_can():
    # The reference asks for the possible labels when possible, not for every label always.
    header = read("instructions_header_classification.txt").lower()
    assert not re.search(r"\b(varied|diverse|every|each|always)\b", header)
    assert re.search(r"\bwhere (you can|possible)\b", header)


# ---------------------------------------------------------------- chat wrappers


@pytest.mark.parametrize(
    "name", ["chat_instructions.txt", "chat_is_classification.txt", "chat_instances.txt"]
)
def test_chat_wrappers(name):
    text = read(name)
    assert text.count("{prompt}") == 1
    assert text.count("{") == 1 and text.count("}") == 1
    rendered = text.format(prompt="x")
    assert "x" in rendered and "{prompt}" not in rendered
    before = text.split("{prompt}")[0]
    lines = [line for line in before.split("\n") if line.strip()]
    assert 2 <= len(lines) <= 6


def test_chat_is_classification_asks_yes_no():
    text = read("chat_is_classification.txt")
    assert "Yes" in text and "No" in text


# ---------------------------------------------------------------- is_classification


def test_is_classification_demos():
    _, body = split_header(read("is_classification.txt"))
    blocks = body[:-2].split("\n\n")
    assert len(blocks) == 31
    answers = []
    for block in blocks:
        lines = block.split("\n")
        assert len(lines) == 2, block
        assert lines[0].startswith("Task: ") and len(lines[0]) > len("Task: ")
        m = re.fullmatch(r"Is it classification\? (Yes|No)", lines[1])
        assert m, lines[1]
        answers.append(m.group(1))
    assert answers.count("Yes") == 12
    assert answers.count("No") == 19
    # interleaved, not grouped
    assert answers != sorted(answers) and answers != sorted(answers, reverse=True)
    assert answers[:12] != ["Yes"] * 12


def test_is_classification_prompt_renders():
    # The prompt the code sends: the 31 demonstrations, then the new task, left open for the
    # model's answer, in the same two-line shape as every demonstration.
    prompt = classification_prompt(" Name a fruit. ")
    assert prompt.count("Is it classification?") == 32
    *demos, last = prompt.split("\n\n")
    assert len(demos) == 32  # the header and 31 demonstrations
    assert last == "Task: Name a fruit.\nIs it classification?"
    assert all(re.fullmatch(r"Task: .+\nIs it classification\? (Yes|No)", d) for d in demos[1:])


# ---------------------------------------------------------------- output-first


def output_first_tasks() -> list[str]:
    _, body = split_header(read("instances_output_first.txt"))
    return body[:-2].split("\n\n")


def test_output_first_count():
    assert len(output_first_tasks()) == 16


def is_label_only(block: str) -> bool:
    lines = block.split("\n")
    return len(lines) == 2 and lines[1].startswith("Class label: ")


def test_output_first_shows_tasks_without_input():
    # As in the reference: two demonstrations are a task that needs no input, answered by its
    # class label alone, and the header says what to write for such a task.
    label_only = [block for block in output_first_tasks() if is_label_only(block)]
    assert len(label_only) == 2
    header, _ = split_header(read("instances_output_first.txt"))
    assert re.search(r"\bneeds no input\b", header)
    assert "class label" in header.split(".")[-2].lower()


@pytest.mark.parametrize("index", range(16))
def test_output_first_task_structure(index):
    block = output_first_tasks()[index]
    lines = block.split("\n")
    assert lines[0].startswith("Task: ")
    assert not any(line.startswith("Task:") for line in lines[1:])
    assert lines[1].startswith("Class label: ")
    labels = [line[len("Class label: ") :] for line in lines if line.startswith("Class label: ")]
    assert all(label.strip() for label in labels)
    if is_label_only(block):
        return
    assert 2 <= len(labels) <= 3
    assert len(set(labels)) == len(labels)
    for line in lines[1:]:
        if line.startswith("Class label: "):
            continue
        assert FIELD_LINE.match(line), f"not a named field line: {line!r}"
        assert not line.rstrip().endswith(":")
    # every label is followed by at least one input line, fields repeat per label
    chunks = block.split("Class label: ")[1:]
    field_sets = []
    for chunk in chunks:
        chunk_lines = chunk.strip("\n").split("\n")
        assert len(chunk_lines) >= 2
        field_sets.append([line.split(":", 1)[0] for line in chunk_lines[1:]])
    assert all(fs == field_sets[0] for fs in field_sets)


# ---------------------------------------------------------------- input-first


def input_first_tasks() -> list[str]:
    _, body = split_header(read("instances_input_first.txt"))
    parts = re.split(r"(?m)^(?=Task: )", body)
    assert parts[0] == ""
    return parts[1:]


def test_input_first_count():
    assert len(input_first_tasks()) == 11


def test_input_first_no_input_count():
    no_example = [t for t in input_first_tasks() if not re.search(r"(?m)^Example ", t)]
    assert len(no_example) == 3
    for task in no_example:
        lines = task.rstrip("\n").split("\n")
        assert lines[1].startswith("Output: ")
        assert sum(line.startswith("Output:") for line in lines) == 1


@pytest.mark.parametrize("index", range(11))
def test_input_first_task_structure(index):
    task = input_first_tasks()[index]
    assert task.endswith("\n\n") and not task.endswith("\n\n\n")
    lines = task.rstrip("\n").split("\n")
    assert lines[0].startswith("Task: ")
    for line in lines[1:]:
        assert not line.startswith("Task:")
        assert not line.startswith("Input")
    example_lines = [line for line in lines if line.startswith("Example")]
    if not example_lines:
        return
    assert 1 <= len(example_lines) <= 3
    assert example_lines == [f"Example {i}" for i in range(1, len(example_lines) + 1)]
    assert lines[1] == "Example 1"
    examples = re.split(r"(?m)^Example \d+\n", task)[1:]
    assert len(examples) == len(example_lines)
    for example in examples:
        ex_lines = example.rstrip("\n").split("\n")
        assert FIELD_LINE.match(ex_lines[0]), ex_lines[0]
        outputs = [i for i, line in enumerate(ex_lines) if line.startswith("Output:")]
        assert len(outputs) == 1
        assert ex_lines[outputs[0]].startswith("Output: ")
        assert outputs[0] >= 1


# ---------------------------------------------------------------- instructions in demos


@pytest.mark.parametrize("name", DEMO_FILES)
def test_demo_instructions_pass_filters(name):
    # Demonstrations the filters would reject teach the model to write rejected instructions.
    rules = InstructionFilter(blacklist=BLACKLIST)
    instructions = demo_instructions(name)
    assert instructions
    for instr in instructions:
        assert rules.failures(instr) == [], instr
        lowered = instr.lower()
        for word in BLACKLIST:
            assert not re.search(r"\b" + re.escape(word) + r"\b", lowered), (word, instr)
        assert 3 < len(instr.split()) <= 150, instr
        assert instr[0].isascii() and instr[0] not in string.punctuation, instr
        assert instr[0].isupper(), instr


@pytest.mark.parametrize("name", DEMO_FILES)
def test_demo_instructions_unique(name):
    instructions = demo_instructions(name)
    assert len(instructions) == len(set(instructions))


# ---------------------------------------------------------------- fine-tuning templates


def test_finetune_with_input_templates():
    templates = load_templates("finetune_with_input.txt")
    assert len(templates) == 7
    assert len(set(templates)) == 7
    for tpl in templates:
        assert tpl.count("{instruction}") == 1 and tpl.count("{input}") == 1
        assert tpl.count("{") == 2 and tpl.count("}") == 2
        assert tpl == tpl.rstrip(" ") and "---" not in tpl
        rendered = tpl.format(instruction="INSTR", input="INP")
        assert "INSTR" in rendered and "INP" in rendered
        with pytest.raises(KeyError):
            tpl.format(instruction="INSTR")


def test_finetune_no_input_templates():
    templates = load_templates("finetune_no_input.txt")
    assert len(templates) == 6
    assert len(set(templates)) == 6
    for tpl in templates:
        assert tpl.count("{instruction}") == 1
        assert tpl.count("{") == 1 and tpl.count("}") == 1
        assert tpl == tpl.rstrip(" ") and "---" not in tpl
        rendered = tpl.format(instruction="INSTR")
        assert "INSTR" in rendered
