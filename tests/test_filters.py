"""Unit tests for selfinstruct.filters: each rule, its reason string, and the rule order."""

import pytest

from selfinstruct.filters import (
    ALPACA_EXTRA_BLACKLIST,
    BLACKLISTS,
    PAPER_BLACKLIST,
    InstructionFilter,
    filter_instances,
    instance_reason,
)
from selfinstruct.parse import ParsedInstance

PAPER = InstructionFilter()
ALPACA = InstructionFilter(blacklist=BLACKLISTS["alpaca"])


def words(n: int) -> str:
    return " ".join(["Word"] + ["word"] * (n - 1))


# ------------------------------------------------------------------------------ instructions


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty(text):
    assert PAPER.reason(text) == "empty"


def test_too_short_at_three_words():
    assert PAPER.reason("Summarise this text") == "too_short"


def test_kept_at_four_words():
    assert PAPER.reason("Summarise this text briefly") is None


def test_too_long_at_151_words():
    assert PAPER.reason(words(151)) == "too_long"


def test_kept_at_150_words():
    assert PAPER.reason(words(150)) is None


def test_paper_blacklist_is_the_thirteen_words():
    assert set(PAPER_BLACKLIST) == {
        "image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
        "map", "maps", "draw", "plot", "go to",
    }  # fmt: skip
    assert len(PAPER_BLACKLIST) == 13


@pytest.mark.parametrize("word", PAPER_BLACKLIST)
def test_each_paper_blacklist_word_rejected(word):
    text = f"Please describe the {word} in detail"
    assert PAPER.reason(text) == "blacklist"
    assert PAPER.blacklisted_word(text) == word


@pytest.mark.parametrize("word", PAPER_BLACKLIST)
def test_blacklist_is_case_insensitive(word):
    assert PAPER.reason(f"Please describe the {word.upper()} in detail") == "blacklist"
    assert PAPER.reason(f"Please describe the {word.title()} in detail") == "blacklist"


def test_go_to_as_phrase():
    assert PAPER.reason("Tell me how to Go To the station") == "blacklist"
    assert PAPER.blacklisted_word("Tell me how to go to the station") == "go to"


def test_blacklist_word_at_start_and_before_punctuation():
    assert PAPER.reason("Draw a cat on a mat") == "blacklist"
    assert PAPER.reason("Describe what is in this picture.") == "blacklist"


@pytest.mark.parametrize(
    "text",
    [
        "Update your profile with a new bio",  # "file" inside "profile"
        "Explain the mapping between keys and values",  # "map" inside "mapping"
        "Describe what is in the drawer now",  # "draw" inside "drawer"
        "Explain graphic design to a beginner",  # "graph" inside "graphic"
        "Summarise the plotline of the novel",  # "plot" inside "plotline"
        "Name an imaginary animal with wings",  # "image" is not in "imaginary"
        "Tell me about the cargo tonnage today",  # "go to" across "cargo tonnage"
        "Describe a tall lego tower briefly",  # "go to" across "lego tower"
    ],
)
def test_blacklist_words_not_matched_inside_other_words(text):
    assert PAPER.reason(text) is None
    assert PAPER.blacklisted_word(text) is None


@pytest.mark.parametrize("word", ALPACA_EXTRA_BLACKLIST)
def test_alpaca_extras_rejected_only_with_alpaca_blacklist(word):
    text = f"Recommend a good {word} for a party"
    assert ALPACA.reason(text) == "blacklist"
    assert ALPACA.blacklisted_word(text) == word
    assert PAPER.reason(text) is None


def test_alpaca_blacklist_contains_paper_blacklist():
    assert set(PAPER_BLACKLIST) < set(BLACKLISTS["alpaca"])
    assert set(ALPACA_EXTRA_BLACKLIST) == {"video", "audio", "music", "flowchart", "diagram"}


def test_no_blacklist():
    assert InstructionFilter(blacklist=BLACKLISTS["none"]).reason("Draw a cat on a mat") is None


def test_write_a_program():
    assert PAPER.reason("Write a program that sorts numbers") == "write_a_program"


def test_write_a_program_is_case_sensitive_prefix():
    # The reference checks the exact prefix "Write a program".
    assert PAPER.reason("Write a poem that rhymes well") is None
    assert PAPER.reason("Please write a program that sorts numbers") is None


@pytest.mark.parametrize("first", ['"', "'", "(", "-", "*", "#", "[", "."])
def test_starts_with_punctuation(first):
    assert PAPER.reason(f"{first}Summarise the following text briefly") == "starts_with_punctuation"


def test_starts_with_non_ascii():
    assert PAPER.reason("Écris un poème sur la mer") == "starts_with_non_ascii"
    assert PAPER.reason("写 一 首 关于 大海 的 诗") == "starts_with_non_ascii"


def test_non_ascii_switch_off_keeps_it():
    loose = InstructionFilter(ascii_first_char=False)
    assert loose.reason("Écris un poème sur la mer") is None


def test_non_ascii_later_in_text_is_fine():
    assert PAPER.reason("Translate 'café au lait' into English") is None


def test_leading_whitespace_ignored():
    assert PAPER.reason("   Summarise this text briefly  ") is None


# ----------------------------------------------------------------------------- rule order


def test_too_short_reported_before_blacklist():
    assert PAPER.reason("Draw a cat") == "too_short"


def test_too_long_reported_before_blacklist():
    assert PAPER.reason("Draw " + words(150)) == "too_long"


def test_blacklist_reported_before_write_a_program():
    assert PAPER.reason("Write a program to read a file") == "blacklist"


def test_write_a_program_checked_before_others():
    # starts with "W" so punctuation/non-ascii never fire; ordering is as the reference.
    assert PAPER.reason("Write a program that prints primes") == "write_a_program"


def test_punctuation_reported_before_non_ascii():
    # Punctuation is ASCII, so check the reason is punctuation, not non-ASCII.
    assert PAPER.reason("!Summarise the following text briefly") == "starts_with_punctuation"


# ------------------------------------------------------------------------------- instances


def inst(i: str, o: str) -> ParsedInstance:
    return ParsedInstance(input=i, output=o)


def test_instance_valid():
    assert instance_reason(inst("2 + 2", "4")) is None
    assert instance_reason(inst("", "A poem.")) is None


def test_instance_input_equals_output():
    assert instance_reason(inst("same", "same")) == "instance_input_equals_output"


def test_instance_empty_output():
    assert instance_reason(inst("question", "")) == "instance_empty_output"
    assert instance_reason(inst("question", "   ")) == "instance_empty_output"


def test_instance_input_ends_with_colon():
    assert instance_reason(inst("Sentence:", "Hello")) == "instance_ends_with_colon"


def test_instance_output_ends_with_colon():
    assert instance_reason(inst("Hello", "Answer:")) == "instance_ends_with_colon"
    assert instance_reason(inst("Hello", "Answer:  ")) == "instance_ends_with_colon"


def test_filter_keeps_valid_in_order():
    items = [inst("a", "1"), inst("b", "2")]
    result = filter_instances(items)
    assert result.kept == items
    assert result.dropped == []


def test_filter_truncated_drops_last():
    items = [inst("a", "1"), inst("b", "2"), inst("c", "3")]
    result = filter_instances(items, truncated=True)
    assert result.kept == items[:2]
    assert result.dropped == [(items[2], "instance_truncated")]


def test_filter_truncated_with_no_instances():
    result = filter_instances([], truncated=True)
    assert result.kept == []
    assert result.dropped == []


def test_filter_not_truncated_keeps_last():
    items = [inst("a", "1"), inst("b", "2")]
    assert filter_instances(items, truncated=False).kept == items


def test_filter_records_per_instance_reasons():
    good = inst("a", "1")
    items = [good, inst("x", "x"), inst("y", ""), inst("z:", "ok")]
    result = filter_instances(items)
    assert result.kept == [good]
    assert [reason for _, reason in result.dropped] == [
        "instance_input_equals_output",
        "instance_empty_output",
        "instance_ends_with_colon",
    ]


def test_filter_conflicting_outputs_drop_all():
    items = [inst("q", "yes"), inst("other", "ok"), inst("q", "no")]
    result = filter_instances(items)
    assert result.kept == []
    assert [reason for _, reason in result.dropped] == ["instance_conflicting_outputs"] * 3
    assert [item for item, _ in result.dropped] == items


def test_filter_same_empty_input_different_outputs_is_fine():
    items = [inst("", "A poem."), inst("", "Another poem.")]
    assert filter_instances(items).kept == items


def test_filter_same_input_same_output_is_duplicate_not_conflict():
    items = [inst("q", "yes"), inst("q", "yes")]
    result = filter_instances(items)
    assert result.kept == [items[0]]
    assert result.dropped == [(items[1], "instance_duplicate")]


def test_filter_duplicates_removed_keeping_order():
    a, b, c = inst("a", "1"), inst("b", "2"), inst("", "3")
    result = filter_instances([a, b, a, c, b, c])
    assert result.kept == [a, b, c]
    assert [reason for _, reason in result.dropped] == ["instance_duplicate"] * 3


def test_filter_at_most_five():
    items = [inst(str(n), f"out {n}") for n in range(8)]
    result = filter_instances(items)
    assert result.kept == items[:5]
    assert result.dropped == [(item, "instance_over_limit") for item in items[5:]]


def test_filter_limit_counts_after_dedup():
    a = inst("a", "1")
    items = [a, a, a] + [inst(str(n), f"out {n}") for n in range(5)]
    result = filter_instances(items)
    assert result.kept == [a] + items[3:7]


def test_filter_max_instances_parameter():
    items = [inst(str(n), f"out {n}") for n in range(4)]
    assert filter_instances(items, max_instances=2).kept == items[:2]


def test_filter_invalid_instance_does_not_cause_conflict():
    # The colon-ended output is dropped first, so the remaining one stands alone.
    items = [inst("q", "yes"), inst("q", "Answer:")]
    result = filter_instances(items)
    assert result.kept == [items[0]]
    assert result.dropped == [(items[1], "instance_ends_with_colon")]
