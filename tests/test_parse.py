"""Unit tests for selfinstruct.parse: one case per parsing rule."""

import pytest

from selfinstruct.parse import (
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


def test_completion_at_most_seven_items():
    text = " Item nine." + "".join(f"\n{n}. Item {n}." for n in range(10, 20))
    items = parse_instructions(text)
    assert len(items) == 7
    assert items[0] == "Item nine."
    assert items[-1] == "Item 15."


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


def test_chat_at_most_seven_items():
    text = "\n".join(f"{n}. Task number {n}." for n in range(1, 12))
    assert len(parse_instructions(text, chat=True)) == 7


def test_chat_capitalises_first_letter():
    assert parse_instructions("9. write a haiku.", chat=True) == ["Write a haiku."]


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


@pytest.mark.parametrize("answer", ["Yes.", "No", "no", "", "  ", "Yes, it is", "**Yes**", "Y"])
def test_completion_everything_else_rejected(answer):
    assert parse_is_classification(answer) is False


@pytest.mark.parametrize("answer", ["Yes", "Yes.", "**Yes**", "yes, it is", " YES!\n"])
def test_chat_decorated_yes_accepted(answer):
    assert parse_is_classification(answer, chat=True) is True


@pytest.mark.parametrize("answer", ["No", "No.", "**No**", "", "   ", "Nope, yes"])
def test_chat_no_and_empty_rejected(answer):
    assert parse_is_classification(answer, chat=True) is False


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


def test_classification_code_fence_stripped():
    text = "```\nClass label: Positive\nSentence: Good.\n```"
    assert parse_classification_instances(text) == [
        ParsedInstance(input="Sentence: Good.", output="Positive")
    ]


def test_classification_markdown_emphasis_stripped():
    text = "Class label: **Positive**\nSentence: Good."
    assert parse_classification_instances(text) == [
        ParsedInstance(input="Sentence: Good.", output="Positive")
    ]


# ------------------------------------------------------------------------ generation instances


def test_generation_split_on_example_n():
    text = "Example 1\nNumber: 4\nOutput: 16\n\nExample 2\nNumber: 5\nOutput: 25"
    assert parse_generation_instances(text) == [
        ParsedInstance(input="Number: 4", output="16"),
        ParsedInstance(input="Number: 5", output="25"),
    ]


def test_generation_example_marker_with_dot_and_colon():
    text = "Example 1.\nNumber: 4\nOutput: 16\nExample 2:\nNumber: 5\nOutput: 25"
    assert parse_generation_instances(text) == [
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


def test_generation_plain_text_without_markers_is_one_output():
    assert parse_generation_instances("Roses are red.") == [
        ParsedInstance(input="", output="Roses are red.")
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_generation_empty_text_gives_nothing(text):
    assert parse_generation_instances(text) == []


def test_generation_code_fence_stripped():
    text = "```text\nExample 1\nWord: cat\nOutput: cats\n```"
    assert parse_generation_instances(text) == [ParsedInstance(input="Word: cat", output="cats")]


def test_generation_bare_fence_stripped():
    text = "```\nOutput: A short story.\n```"
    assert parse_generation_instances(text) == [ParsedInstance(input="", output="A short story.")]


def test_parse_instances_dispatches_on_kind():
    cls_text = "Class label: Yes\nQuestion: Is water wet?"
    assert parse_instances(cls_text, is_classification=True) == [
        ParsedInstance(input="Question: Is water wet?", output="Yes")
    ]
    gen_text = "Example 1\nWord: dog\nOutput: dogs"
    assert parse_instances(gen_text, is_classification=False) == [
        ParsedInstance(input="Word: dog", output="dogs")
    ]
