"""Unit tests for selfinstruct.parse: one case per parsing rule."""

import pytest

from selfinstruct.methods.self_instruct.parse import (
    ParsedInstance,
    normalise_instruction,
    parse_classification_instances,
    parse_generation_instances,
    parse_instances,
    parse_instructions,
    parse_is_classification,
)

# ---------------------------------------------------------------- completion-style instructions


def test_completion_first_piece_continues_item_nine():
    assert parse_instructions(" Write a poem about the sea.") == ["Write a poem about the sea."]


def test_completion_restated_nine_is_dropped():
    assert parse_instructions("9. Write a poem about the sea.") == ["Write a poem about the sea."]


def test_completion_items_ten_onwards_split():
    text = " Write a poem.\n10. Summarise the article.\n11. Translate the sentence."
    assert parse_instructions(text) == [
        "Write a poem.",
        "Summarise the article.",
        "Translate the sentence.",
    ]


def test_completion_whitespace_collapsed():
    assert parse_instructions("  List   three\tfruits\n  that are red.  ") == [
        "List three fruits that are red."
    ]


def test_completion_first_letter_capitalised_rest_preserved():
    assert parse_instructions(" write an SQL query for iPhone sales.") == [
        "Write an SQL query for iPhone sales."
    ]
    assert normalise_instruction("eXplain HTTP") == "EXplain HTTP"


def test_completion_boundary_with_space_before_dot():
    text = " Write a poem.\n10 . Summarise the article."
    assert parse_instructions(text) == ["Write a poem.", "Summarise the article."]


def test_completion_boundary_needs_space_after_dot():
    # "\n10.5" is not an item boundary: no space after the dot.
    text = " Round the number\n10.5 to an integer."
    assert parse_instructions(text) == ["Round the number 10.5 to an integer."]


def test_completion_keeps_every_item():
    # The reference keeps every item its split yields: only the stop sequences end the list.
    text = " Item nine." + "".join(f"\n{n}. Item {n}." for n in range(10, 20))
    items = parse_instructions(text)
    assert len(items) == 11
    assert items[0] == "Item nine."
    assert items[-1] == "Item 19."


def test_completion_sub_list_does_not_crowd_out_later_items():
    # A numbered sub-list splits into items of its own (as in the reference); the instruction
    # after it is still kept.
    text = (
        " Plan a weekend trip with these steps:"
        + "".join(f"\n{n}. Step {n} of the plan." for n in range(1, 7))
        + "\n10. Name three rivers in Europe."
    )
    items = parse_instructions(text)
    assert len(items) == 8
    assert items[-1] == "Name three rivers in Europe."


def test_completion_max_items_parameter():
    text = " A one.\n10. B two.\n11. C three."
    assert parse_instructions(text, max_items=2) == ["A one.", "B two."]


def test_completion_empty_trailing_item_kept_as_empty_string():
    assert parse_instructions(" Write a poem.\n10. ") == ["Write a poem.", ""]


# ---------------------------------------------------------------------- chat-style instructions


def test_chat_preamble_dropped():
    text = "Sure! Here are more tasks:\n9. Write a haiku about rain.\n10. Name three rivers."
    assert parse_instructions(text, chat=True) == [
        "Write a haiku about rain.",
        "Name three rivers.",
    ]


def test_chat_bold_numbering():
    assert parse_instructions("**9.** Write a haiku about rain.", chat=True) == [
        "Write a haiku about rain."
    ]


def test_chat_parenthesis_numbering():
    assert parse_instructions("9) Write a haiku about rain.", chat=True) == [
        "Write a haiku about rain."
    ]


def test_chat_bullet_then_number():
    assert parse_instructions("- 1. Write a haiku about rain.", chat=True) == [
        "Write a haiku about rain."
    ]


def test_chat_multiline_item_joined():
    text = "9. Explain why the sky\n   is blue to a child.\n10. Name three rivers."
    assert parse_instructions(text, chat=True) == [
        "Explain why the sky is blue to a child.",
        "Name three rivers.",
    ]


def test_chat_trailing_commentary_after_blank_line_dropped():
    text = "9. Write a haiku about rain.\n10. Name three rivers.\n\nLet me know if you need more!"
    assert parse_instructions(text, chat=True) == [
        "Write a haiku about rain.",
        "Name three rivers.",
    ]


def test_chat_quotes_stripped():
    text = "9. \"Write a haiku about rain.\"\n10. 'Name three rivers.'"
    assert parse_instructions(text, chat=True) == [
        "Write a haiku about rain.",
        "Name three rivers.",
    ]


def test_chat_inline_emphasis_removed():
    assert parse_instructions("**9.** **Title**: write a haiku.", chat=True) == [
        "Title: write a haiku."
    ]


def test_chat_bold_first_word_after_plain_number():
    assert parse_instructions("9. **Summarise** the text.", chat=True) == ["Summarise the text."]


def test_chat_whole_item_bold():
    assert parse_instructions("**9. Write a haiku about rain.**", chat=True) == [
        "Write a haiku about rain."
    ]


def test_chat_numbering_restarting_at_one():
    text = "1. Write a haiku about rain.\n2. Name three rivers.\n3. Sort the list."
    assert parse_instructions(text, chat=True) == [
        "Write a haiku about rain.",
        "Name three rivers.",
        "Sort the list.",
    ]


def test_chat_blank_lines_between_items():
    text = "9. Write a haiku about rain.\n\n10. Name three rivers."
    assert parse_instructions(text, chat=True) == [
        "Write a haiku about rain.",
        "Name three rivers.",
    ]


def test_chat_keeps_every_item_unless_capped():
    text = "\n".join(f"{n}. Task number {n}." for n in range(1, 12))
    assert len(parse_instructions(text, chat=True)) == 11
    assert len(parse_instructions(text, chat=True, max_items=7)) == 7


def test_chat_capitalises_first_letter():
    assert parse_instructions("9. write a haiku.", chat=True) == ["Write a haiku."]


SHOWN = [
    "Give three tips for staying healthy.",
    "Translate the sentence into French:",
    "Summarise the following paragraph.",
    "What is the capital of Spain?",
    "Sort the numbers in ascending order",
    "Classify the email as spam or not spam.",
    "Write a haiku about autumn leaves.",
    "Explain recursion to a child",
]
NEW = [f"Invent a new board game number {n} for two players." for n in range(1, 6)]


def test_chat_echoes_of_shown_items_dropped_before_the_cap():
    # The model restates the prompt's items 1-8 (with small differences), then adds new ones.
    echoes = [
        "give three tips for staying healthy",
        "Translate the sentence into French.",
        "**Summarise   the following paragraph**",
        "What is the capital of Spain",
        "Sort the numbers in ascending order:",
        '"Classify the email as spam or not spam."',
        "Write a haiku about autumn leaves!",
        "Explain recursion to a child.",
    ]
    text = "\n".join(f"{n}. {item}" for n, item in enumerate(echoes + NEW, start=1))
    assert parse_instructions(text, chat=True, shown=SHOWN) == NEW
    # Without ``shown`` a cap of 7 is spent on the echoes: the new items are lost.
    assert parse_instructions(text, chat=True, max_items=7) == [
        normalise_instruction(e.strip('"*')) for e in echoes[:7]
    ]


def test_chat_echo_dropping_keeps_cap_on_new_items():
    new = [f"Invent a new card game number {n} for four players." for n in range(1, 10)]
    text = "\n".join(f"{n}. {item}" for n, item in enumerate(SHOWN[:3] + new, start=1))
    assert parse_instructions(text, chat=True, shown=SHOWN, max_items=7) == new[:7]
    assert parse_instructions(text, chat=True, shown=SHOWN) == new


def test_chat_near_echo_is_not_dropped():
    # Only a restatement of the same text is an echo; a variation is left to the novelty check.
    text = "9. Give three tips for staying healthy in winter."
    assert parse_instructions(text, chat=True, shown=SHOWN) == [
        "Give three tips for staying healthy in winter."
    ]


def test_completion_ignores_shown():
    # The reference keeps completion items as they come; novelty rejects an echo later.
    text = " Give three tips for staying healthy.\n10. Name three rivers in Europe."
    assert parse_instructions(text, shown=SHOWN) == [
        "Give three tips for staying healthy.",
        "Name three rivers in Europe.",
    ]


def test_chat_code_fence_around_list_stripped():
    text = "```\n9. Write a haiku about rain.\n10. Name three rivers.\n```"
    assert parse_instructions(text, chat=True) == [
        "Write a haiku about rain.",
        "Name three rivers.",
    ]


# ---------------------------------------------------------------------- is it classification?


@pytest.mark.parametrize("answer", ["Yes", "yes", "YES", " Yes\n", "\tyes "])
def test_completion_yes_variants_accepted(answer):
    assert parse_is_classification(answer) is True


@pytest.mark.parametrize(
    "answer",
    ["Yes.", "No", "no", "", "  ", "Yes, it is", "**Yes**", "Y", "Decision:", "yEs", "Answer: Yes"],
)
def test_completion_everything_else_rejected(answer):
    # The reference: the stripped answer in ("Yes", "yes", "YES"); anything else is False.
    assert parse_is_classification(answer) is False


@pytest.mark.parametrize(
    "answer",
    [
        "Yes", "Yes.", "**Yes**", "yes, it is", " YES!\n", "Yes, it is", "Answer: Yes",
        "**Answer:** yes", "Decision: Yes", "Is it classification? Yes", "Decision:\nYes.",
        "`Yes`", "__Yes__",
    ],
)  # fmt: skip
def test_chat_clear_yes(answer):
    assert parse_is_classification(answer, chat=True) is True


@pytest.mark.parametrize(
    "answer",
    ["No", "No.", "**No**", "no, it is not", "Answer: No", "Is it classification? No", "NO!"],
)
def test_chat_clear_no(answer):
    assert parse_is_classification(answer, chat=True) is False


@pytest.mark.parametrize(
    "answer",
    [
        "", "   ", "Decision:", "Answer:", "Nope, yes", "Yes or No", "yes/no", "Not sure.",
        "Is it classification?", "The task is", "Yesterday", "Nothing", "Yes and no",
    ],
)  # fmt: skip
def test_chat_unreadable_answer_is_none(answer):
    # A cut answer ("Decision:" at max_tokens 3) must not silently read as "not classification".
    assert parse_is_classification(answer, chat=True) is None


# -------------------------------------------------------------------- classification instances


def test_classification_split_on_class_label():
    text = (
        "Class label: Positive\nSentence: I love it.\nClass label: Negative\nSentence: I hate it."
    )
    assert parse_classification_instances(text) == [
        ParsedInstance(input="Sentence: I love it.", output="Positive"),
        ParsedInstance(input="Sentence: I hate it.", output="Negative"),
    ]


def test_classification_multiline_input_kept():
    text = "Class label: Spam\nSubject: Win now\nBody: Click here."
    assert parse_classification_instances(text) == [
        ParsedInstance(input="Subject: Win now\nBody: Click here.", output="Spam")
    ]


def test_classification_empty_input_allowed():
    assert parse_classification_instances("Class label: Yes\n") == [
        ParsedInstance(input="", output="Yes")
    ]


def test_classification_text_before_first_label_ignored():
    text = "Here are some examples.\nClass label: True\nStatement: Water is wet."
    assert parse_classification_instances(text) == [
        ParsedInstance(input="Statement: Water is wet.", output="True")
    ]


def test_classification_no_label_gives_nothing():
    assert parse_classification_instances("Sentence: nothing labelled") == []
    assert parse_classification_instances("") == []


def test_classification_empty_label_chunk_kept_as_empty_output():
    # The reference keeps a chunk cut right after "Class label:" as an instance with an empty
    # output: a length-cut response then loses that one, not the last complete instance.
    text = "Class label: Positive\nSentence: Good.\nClass label:"
    assert parse_classification_instances(text) == [
        ParsedInstance(input="Sentence: Good.", output="Positive"),
        ParsedInstance(input="", output=""),
    ]


def test_chat_classification_code_fence_stripped():
    text = "```\nClass label: Positive\nSentence: Good.\n```"
    assert parse_classification_instances(text, chat=True) == [
        ParsedInstance(input="Sentence: Good.", output="Positive")
    ]


def test_chat_classification_markdown_emphasis_stripped():
    text = "Class label: **Positive**\nSentence: Good."
    assert parse_classification_instances(text, chat=True) == [
        ParsedInstance(input="Sentence: Good.", output="Positive")
    ]


def test_chat_classification_bold_labels_stripped():
    text = "**Class label:** **Positive**\n**Review:** A moving film.\n**Class label**: Negative\n"
    text += "**Review:** Two dull hours."
    assert parse_classification_instances(text, chat=True) == [
        ParsedInstance(input="Review: A moving film.", output="Positive"),
        ParsedInstance(input="Review: Two dull hours.", output="Negative"),
    ]


def test_completion_classification_strips_nothing():
    # The reference strips nothing: a base model's markdown is content.
    text = "```\nClass label: **Positive**\nSentence: Good.\n```"
    assert parse_classification_instances(text) == [
        ParsedInstance(input="Sentence: Good.\n```", output="**Positive**")
    ]


# ------------------------------------------------------------------------ generation instances


def test_generation_split_on_example_n():
    text = "Example 1\nNumber: 4\nOutput: 16\n\nExample 2\nNumber: 5\nOutput: 25"
    assert parse_generation_instances(text) == [
        ParsedInstance(input="Number: 4", output="16"),
        ParsedInstance(input="Number: 5", output="25"),
    ]


def test_generation_example_marker_with_dot_and_colon():
    # The reference's marker takes an optional dot but no colon: the colon stays in the input.
    text = "Example 1.\nNumber: 4\nOutput: 16\nExample 2:\nNumber: 5\nOutput: 25"
    assert parse_generation_instances(text) == [
        ParsedInstance(input="Number: 4", output="16"),
        ParsedInstance(input=":\nNumber: 5", output="25"),
    ]
    # A chat model's "Example 2:" header line is wrapping: chat mode reads it as "Example 2".
    assert parse_generation_instances(text, chat=True) == [
        ParsedInstance(input="Number: 4", output="16"),
        ParsedInstance(input="Number: 5", output="25"),
    ]


def test_generation_part_without_output_is_all_output():
    text = "Example 1\nThe sun rose slowly over the hills."
    assert parse_generation_instances(text) == [
        ParsedInstance(input="", output="The sun rose slowly over the hills.")
    ]


def test_generation_leading_input_label_stripped():
    text = "Example 1\nInput 2: hello there\nOutput: HELLO THERE"
    assert parse_generation_instances(text) == [
        ParsedInstance(input="hello there", output="HELLO THERE")
    ]


def test_generation_output_cut_at_following_input():
    text = "Example 1\nInput: abc\nOutput: cba\nInput 3: xyz"
    assert parse_generation_instances(text) == [ParsedInstance(input="abc", output="cba")]


def test_generation_no_example_marker():
    assert parse_generation_instances("Sentence: hi\nOutput: Hello!") == [
        ParsedInstance(input="Sentence: hi", output="Hello!")
    ]
    assert parse_generation_instances("Output: A poem about spring.") == [
        ParsedInstance(input="", output="A poem about spring.")
    ]


@pytest.mark.parametrize("chat", [False, True])
def test_generation_text_without_markers_gives_nothing(chat):
    # The reference keeps nothing when there is neither an "Example" nor an "Output:" marker.
    assert parse_generation_instances("Roses are red.", chat=chat) == []
    assert parse_generation_instances("Lena Park, Tomás Ruiz\n\nLena is a vet.", chat=chat) == []


def test_generation_numbered_output_marker():
    text = "Example 1\nNumber: 4\nOutput 1: 16\n\nExample 2\nNumber: 5\nOutput 2 : 25"
    assert parse_generation_instances(text) == [
        ParsedInstance(input="Number: 4", output="16"),
        ParsedInstance(input="Number: 5", output="25"),
    ]
    assert parse_generation_instances("Number: 4\nOutput1: 16") == [
        ParsedInstance(input="Number: 4", output="16")
    ]


def test_generation_text_after_second_output_dropped():
    text = "Example 1\nNumber: 4\nOutput: 16\nOutput: sixteen"
    assert parse_generation_instances(text) == [ParsedInstance(input="Number: 4", output="16")]
    assert parse_generation_instances("Output: A poem.\nOutput 2: Another.") == [
        ParsedInstance(input="", output="A poem.")
    ]


def test_generation_output_cut_at_input_anywhere():
    # The reference cuts at "Input N:" wherever it appears in the output, not only on a new line.
    text = "Example 1\nInput: abc\nOutput: cba Input 2: xyz"
    assert parse_generation_instances(text) == [ParsedInstance(input="abc", output="cba")]


def test_generation_markers_are_case_sensitive():
    # "output:" and "example" in lower case are not markers, as in the reference.
    assert parse_generation_instances("Word: cat\noutput: cats") == []
    assert parse_generation_instances("For example\nOutput: cats") == [
        ParsedInstance(input="For example", output="cats")
    ]


def test_generation_example_without_number_splits():
    text = "Example\nWord: cat\nOutput: cats\nExample\nWord: dog\nOutput: dogs"
    assert parse_generation_instances(text) == [
        ParsedInstance(input="Word: cat", output="cats"),
        ParsedInstance(input="Word: dog", output="dogs"),
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_generation_empty_text_gives_nothing(text):
    assert parse_generation_instances(text) == []


def test_chat_generation_code_fence_stripped():
    text = "```text\nExample 1\nWord: cat\nOutput: cats\n```"
    assert parse_generation_instances(text, chat=True) == [
        ParsedInstance(input="Word: cat", output="cats")
    ]


def test_chat_generation_bare_fence_stripped():
    text = "```\nOutput: A short story.\n```"
    assert parse_generation_instances(text, chat=True) == [
        ParsedInstance(input="", output="A short story.")
    ]


def test_chat_generation_opening_fence_of_cut_answer_stripped():
    text = "```\nExample 1\nWord: cat\nOutput: cats\nExample 2\nWord: do"
    assert parse_generation_instances(text, chat=True)[0] == ParsedInstance("Word: cat", "cats")


def test_completion_generation_fence_kept():
    # The reference strips nothing: the fence lines stay where the split puts them.
    text = "```text\nExample 1\nWord: cat\nOutput: cats\n```"
    assert parse_generation_instances(text) == [
        ParsedInstance(input="", output="```text"),
        ParsedInstance(input="Word: cat", output="cats\n```"),
    ]


def test_chat_generation_decorated_headers_and_labels():
    text = (
        "Sure, here are examples:\n\n### **Example 1:**\n**Number:** 4\n**Output:** 16\n\n"
        "**Example 2**\n__Number__: 5\n**Output**: **25**"
    )
    assert parse_generation_instances(text, chat=True) == [
        ParsedInstance(input="Number: 4", output="16"),
        ParsedInstance(input="Number: 5", output="25"),
    ]


def test_chat_preamble_before_first_example_dropped():
    text = "Sure! Here you go.\nExample 1\nWord: cat\nOutput: cats"
    assert parse_generation_instances(text, chat=True) == [ParsedInstance("Word: cat", "cats")]
    # Completion mode: the reference keeps it as an all-output part.
    assert parse_generation_instances(text) == [
        ParsedInstance("", "Sure! Here you go."),
        ParsedInstance("Word: cat", "cats"),
    ]
    # Text before the first example that holds an "Output:" is an instance, not a preamble.
    text = "Output: A poem.\nExample 2\nWord: dog\nOutput: dogs"
    assert len(parse_generation_instances(text, chat=True)) == 2


# ---------------------------------------------- code, regexes, tables and maths are never touched

PYTHON_ANSWER = """Example 1
Class: Point
Output: class Point:
    def __init__(self, **kw):
        self.__dict__.update(kw)
        self.norm = (kw["x"]**2 + kw["y"]**2) ** 0.5"""

REGEX_ANSWER = """Example 1
Regex: ^(\\w+)__(\\d+)__$
Output: A word, two underscores, digits, two underscores: abc__12__ or __x__1__"""

TABLE_ANSWER = """Example 1
Table:
| Name | Score |
|------|-------|
| **Ann** | 2**10 |
| __Bob__ | 3**2 |
Output: **Ann** scored 1024, __Bob__ scored 9."""

MATHS_ANSWER = """Example 1
Expression: 2**10 + 3**2 - a**b**c
Output: 1033 (with `a**b**c` left symbolic; **bold** is content here)"""

INLINE_CODE_ANSWER = """Output: Use `__slots__` and `**kwargs` in `def __init__(self, **kw)`."""


@pytest.mark.parametrize("chat", [False, True])
@pytest.mark.parametrize(
    "text", [PYTHON_ANSWER, REGEX_ANSWER, TABLE_ANSWER, MATHS_ANSWER, INLINE_CODE_ANSWER]
)
def test_instance_content_never_cleaned(text, chat):
    # Whatever the mode, input and output are the reference's split of the text, unchanged.
    body = text.split("Example 1\n", 1)[-1]
    input_text, _, output = body.partition("Output:")
    assert parse_generation_instances(text, chat=chat) == [
        ParsedInstance(input=input_text.strip(), output=output.strip())
    ]


def test_init_is_not_emphasis():
    parsed = parse_generation_instances(PYTHON_ANSWER, chat=True)
    assert "def __init__(self, **kw):" in parsed[0].output
    assert "self.__dict__.update(kw)" in parsed[0].output


def test_chat_wrapping_removed_but_fenced_code_kept():
    text = (
        "**Example 1**\n**Function:** `area(r)`\n**Output:**\n```python\n"
        "def area(r):\n    return 3.14159 * r**2\n**Output:** not a label in code\n```"
    )
    assert parse_generation_instances(text, chat=True) == [
        ParsedInstance(
            input="Function: `area(r)`",
            output="```python\ndef area(r):\n    return 3.14159 * r**2\n**",
        )
    ]


def test_chat_classification_code_input_kept():
    text = "**Class label:** Valid\n**Code:** `def __init__(self, **kw): pass`\n"
    text += "Class label: Invalid\nCode: def __init__(self, **kw) pass"
    assert parse_classification_instances(text, chat=True) == [
        ParsedInstance(input="Code: `def __init__(self, **kw): pass`", output="Valid"),
        ParsedInstance(input="Code: def __init__(self, **kw) pass", output="Invalid"),
    ]
    assert parse_classification_instances(text)[1] == ParsedInstance(
        input="Code: def __init__(self, **kw) pass", output="Invalid"
    )


@pytest.mark.parametrize(
    "item",
    [
        "Explain what def __init__(self, **kw) does in a Python class.",
        "Explain what `__init__(self, **kw)` does in a Python class.",
        "Compute 2**10 + 3**2 and show the steps.",
        "Match the regex ^__\\w+__$ against the list of names.",
        "Rename the __main__ module and the __dict__ attribute.",
    ],
)
def test_chat_instruction_code_untouched(item):
    assert parse_instructions(f"9. {item}", chat=True) == [item]


def test_parse_instances_passes_chat_flag():
    text = "**Example 1**\n**Word:** dog\n**Output:** dogs"
    assert parse_instances(text, is_classification=False, chat=True) == [
        ParsedInstance(input="Word: dog", output="dogs")
    ]
    assert parse_instances(text, is_classification=False) == [
        ParsedInstance(input="", output="**"),
        ParsedInstance(input="**\n**Word:** dog\n**", output="** dogs"),
    ]
    cls = "**Class label:** Yes\nQuestion: Is water wet?"
    assert parse_instances(cls, is_classification=True, chat=True) == [
        ParsedInstance(input="Question: Is water wet?", output="Yes")
    ]
    assert parse_instances(cls, is_classification=True) == [
        ParsedInstance(input="Question: Is water wet?", output="** Yes")
    ]


def test_parse_instances_dispatches_on_kind():
    cls_text = "Class label: Yes\nQuestion: Is water wet?"
    assert parse_instances(cls_text, is_classification=True) == [
        ParsedInstance(input="Question: Is water wet?", output="Yes")
    ]
    gen_text = "Example 1\nWord: dog\nOutput: dogs"
    assert parse_instances(gen_text, is_classification=False) == [
        ParsedInstance(input="Word: dog", output="dogs")
    ]
