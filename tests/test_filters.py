"""Unit tests for selfinstruct.filters: each rule, its reason string, and the rule order."""

import json
import random
import re
from pathlib import Path

import pytest
from conftest import anchor
from hypothesis import given
from hypothesis import strategies as st

from selfinstruct.filters import (
    ALPACA_EXTRA_BLACKLIST,
    BLACKLISTS,
    PAPER_BLACKLIST,
    InstructionFilter,
    filter_instances,
    instance_reason,
    instruction_rules,
)
from selfinstruct.records import ParsedInstance

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


def reference_blacklisted(blacklist: tuple[str, ...], text: str) -> bool:
    """The blacklist rule as the reference states it: a word, whole, in any case."""
    return any(re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE) for w in blacklist)


# Letters that case-fold onto ASCII ones under re.IGNORECASE (Kelvin sign, long s, dotted and
# dotless i) and others that do not: a shortcut through str.lower() must not miss them.
TRICKY = ["\u212a", "\u017f", "\u0130", "\u0131", "\u00e9", "\u00df"]
PIECES = [
    *BLACKLISTS["alpaca"],
    "stop",
    "Go To",
    "IMAGES",
    "Lego",
    "tower",
    "the",
    "a",
    "mapping",
    *TRICKY,
]


@pytest.mark.parametrize(
    ("blacklist", "text", "hit"),
    [
        (PAPER_BLACKLIST, "Open the FILE\u017f now", True),  # long s folds to s: "files"
        (PAPER_BLACKLIST, "Open the fi\u212ae now", False),
        (("\u212aelvin",), "Convert the kelvin scale", True),  # Kelvin sign folds to k
        (("\u212aelvin",), "Convert the celsius scale", False),
        (("\u017ftop",), "Please stop here", True),  # a blacklisted long s matches s
        (PAPER_BLACKLIST, "Describe a tall lego tower briefly", False),
        (PAPER_BLACKLIST, "Say where to GO  TO", False),
        (PAPER_BLACKLIST, "Say where to GO TO.", True),
    ],
)
def test_blacklist_rule_folds_case_as_the_reference(blacklist, text, hit):
    assert reference_blacklisted(blacklist, text) is hit
    assert ("blacklist" in InstructionFilter(blacklist=blacklist).failures(text)) is hit


@given(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=8),
    st.lists(st.sampled_from([" ", "", ".", ", ", "-", "\n"]), min_size=8, max_size=8),
    st.sampled_from(["paper", "alpaca", "none", "tricky"]),
    st.data(),
)
def test_blacklist_rule_is_the_reference_on_any_text(pieces, glue, name, data):
    cased = [data.draw(st.sampled_from([p, p.upper(), p.lower(), p.title()])) for p in pieces]
    text = "".join(p + g for p, g in zip(cased, glue, strict=False))
    blacklist = (
        ("\u212aelvin", "\u017ftop", "stra\u00dfe", "file")
        if name == "tricky"
        else BLACKLISTS[name]
    )
    rules = InstructionFilter(blacklist=blacklist)
    expected = reference_blacklisted(blacklist, text.strip())
    assert ("blacklist" in rules.failures(text)) is expected


def test_alpaca_blacklist_contains_paper_blacklist():
    assert set(PAPER_BLACKLIST) < set(BLACKLISTS["alpaca"])
    assert set(ALPACA_EXTRA_BLACKLIST) == {"video", "audio", "music", "flowchart", "diagram"}


def test_no_blacklist():
    assert InstructionFilter(blacklist=BLACKLISTS["none"]).reason("Draw a cat on a mat") is None


@pytest.mark.parametrize(
    "text",
    [
        "Write a program that sorts numbers",
        "Write a Program that sorts numbers",
        "WRITE A PROGRAM THAT SORTS NUMBERS",
        "write a program that sorts numbers",
        "Write  a\tprogram that sorts numbers",
        "Write a programme that sorts numbers",
    ],
)
def test_write_a_program_any_case(text):
    # The reference capitalises the instruction (lower-casing all but the first letter) before
    # its startswith("Write a program") check, so the rule ignores case.
    assert PAPER.reason(text) == "write_a_program"


def test_write_a_program_is_a_prefix_rule():
    assert PAPER.reason("Write a poem that rhymes well") is None
    assert PAPER.reason("Please write a program that sorts numbers") is None
    assert PAPER.reason("Write a programming tutorial for beginners") == "write_a_program"


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
# The reference's order: empty, length (too short / too long), blacklist, "Write a program",
# first character punctuation, first character non-ASCII. Our prompt_echo rule comes right after
# the empty check. Each case fails exactly the two rules listed; the first one is reported.
# Pairs that cannot both fail are not listed: "empty" excludes every other rule; a text starting
# "Write a program" starts with a letter; string.punctuation is ASCII; an echo of 6+ words is
# never too short.

ECHO = "Continue the list from that number with new task instructions"


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        (ECHO + " " + words(150), "prompt_echo", "too_long"),
        (ECHO + " and draw them", "prompt_echo", "blacklist"),
        ("Write a program: " + ECHO, "prompt_echo", "write_a_program"),
        ('"' + ECHO, "prompt_echo", "starts_with_punctuation"),
        ("É " + ECHO, "prompt_echo", "starts_with_non_ascii"),
        ("Draw a cat", "too_short", "blacklist"),
        ("Write a program", "too_short", "write_a_program"),
        ('"Summarise this"', "too_short", "starts_with_punctuation"),
        ("Écris un poème", "too_short", "starts_with_non_ascii"),
        ("Draw " + words(150), "too_long", "blacklist"),
        ("Write a program " + words(150), "too_long", "write_a_program"),
        ("'" + words(151), "too_long", "starts_with_punctuation"),
        ("É" + words(151), "too_long", "starts_with_non_ascii"),
        ("Write a program to read a file", "blacklist", "write_a_program"),
        ("'Draw a cat on a mat", "blacklist", "starts_with_punctuation"),
        ("Émile wants to draw a cat", "blacklist", "starts_with_non_ascii"),
    ],
)
def test_first_failing_rule_in_reference_order_is_reported(text, first, second):
    assert PAPER.failures(text) == [first, second]
    assert PAPER.reason(text) == first


def test_failures_of_a_good_instruction_and_an_empty_one():
    assert PAPER.failures("Summarise this text briefly") == []
    assert PAPER.failures("   ") == ["empty"]


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


def test_filter_at_most_five_random_choice_with_rng():
    # The reference keeps random.sample(instances, min(len(instances), 5)).
    items = [inst(str(n), f"out {n}") for n in range(9)]
    result = filter_instances(items, rng=random.Random(7))
    chosen = set(random.Random(7).sample(items, 5))
    assert set(result.kept) == chosen
    assert result.kept == [item for item in items if item in chosen]  # response order kept
    assert result.dropped == [(item, "instance_over_limit") for item in items if item not in chosen]
    assert result.kept != items[:5]


def test_filter_random_choice_depends_on_the_seed():
    items = [inst(str(n), f"out {n}") for n in range(9)]
    kept = {tuple(filter_instances(items, rng=random.Random(seed)).kept) for seed in range(20)}
    assert len(kept) > 1
    assert filter_instances(items, rng=random.Random(3)) == filter_instances(
        items, rng=random.Random(3)
    )


def test_filter_rng_with_five_or_fewer_keeps_all_in_order():
    items = [inst(str(n), f"out {n}") for n in range(5)]
    result = filter_instances(items, rng=random.Random(0))
    assert result.kept == items and result.dropped == []


def test_filter_rng_samples_after_dedup():
    a = inst("a", "1")
    items = [a, a] + [inst(str(n), f"out {n}") for n in range(6)]
    result = filter_instances(items, rng=random.Random(5))
    unique = [a] + items[2:]
    chosen = set(random.Random(5).sample(unique, 5))
    assert set(result.kept) == chosen
    assert [reason for _, reason in result.dropped] == ["instance_duplicate"] + [
        "instance_over_limit"
    ] * 2


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


# ------------------------------------------------------------------------------ prompt echo

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
ECHO_FILES = [
    "instructions_header.txt",
    "instructions_header_classification.txt",
    "chat_instructions.txt",
    "chat_is_classification.txt",
    "chat_instances.txt",
]


HEADER_FILES = ["is_classification.txt", "instances_input_first.txt", "instances_output_first.txt"]


def prompt_lines() -> list[str]:
    lines = []
    for name in ECHO_FILES:
        text = (PROMPTS / name).read_text(encoding="utf-8").replace("{prompt}", "")
        lines += text.split("\n")
    for name in HEADER_FILES:
        lines.append((PROMPTS / name).read_text(encoding="utf-8").split("\n")[0])
    return [line for line in lines if len(line.split()) >= 6]


@pytest.mark.parametrize("line", prompt_lines())
def test_prompt_wording_inside_instruction_is_an_echo(line):
    assert PAPER.reason(line) == "prompt_echo"
    six = " ".join(line.split()[-6:])
    assert PAPER.reason(f"Then {six.upper()} please, and thank you") == "prompt_echo"


def test_chat_wrapper_sentence_echo():
    text = (
        "Make every new instruction differ from the others in topic, wording and kind of task, "
        "and write a limerick."
    )
    assert PAPER.reason(text) == "prompt_echo"


def test_five_words_of_the_prompt_are_not_an_echo():
    # "Continue the list from that number" is six words; five of them are fine.
    assert PAPER.reason("Continue the list from that point with three more rivers") is None
    assert PAPER.reason("Continue the list from that number with three more rivers") == (
        "prompt_echo"
    )


def test_prompt_echo_rule_can_be_switched_off():
    assert InstructionFilter(echo_words=0).reason(prompt_lines()[0]) is None


def test_echo_phrases_come_from_the_prompt_files(monkeypatch):
    # The phrases are read through prompting.load_prompt, so edited prompts are followed.
    from selfinstruct import filters, prompting

    def fake_load(name: str) -> str:
        return "Zebra quartz violin mango ladder kettle orbit.\n" if name in ECHO_FILES else ""

    monkeypatch.setattr(prompting, "load_prompt", fake_load)
    filters.prompt_phrases.cache_clear()
    try:
        rules = InstructionFilter()
        assert rules.reason("Say zebra quartz violin mango ladder kettle now") == "prompt_echo"
        assert rules.reason(prompt_lines()[0]) is None
    finally:
        filters.prompt_phrases.cache_clear()


def test_no_seed_or_alpaca_instruction_is_a_prompt_echo():
    SEEDS = anchor("self_instruct_seed_tasks.jsonl")
    ALPACA_5000 = anchor("alpaca_data_5000.json")
    seeds = [json.loads(line)["instruction"] for line in SEEDS.read_text("utf-8").splitlines()]
    alpaca = [r["instruction"] for r in json.loads(ALPACA_5000.read_text("utf-8"))]
    assert len(seeds) == 175 and len(alpaca) == 5000
    assert [t for t in seeds + alpaca if "prompt_echo" in PAPER.failures(t)] == []


SCAN_WORDS = ["go", "to", "Go to", "maps", "map", "xmap", "Draw", "drawer", "plot,",
              "image-based", "the", "file_name", "VIDEO", "audio's"]  # fmt: skip


@given(st.lists(st.sampled_from(SCAN_WORDS), min_size=1, max_size=8))
def test_blacklist_scan_agrees_with_each_word(words):
    """The one-regex scan finds a blacklisted word exactly when some word's own pattern does."""
    text = "Please " + " ".join(words)
    for rules in (PAPER, ALPACA):
        each = any(pattern.search(text) for _, pattern in rules._patterns)
        assert ("blacklist" in rules.failures(text)) == each
        assert (rules.blacklisted_word(text) is not None) == each


_PIECES = st.sampled_from([
    "image", "Images", "go", "to", "Go To", "go-to", "go  to", "file_", "_map", "maps's",
    "draw", "plot", "Write", "a", "program", "the", "ΚELVIN", "ſ", "é", "Ι", "9", "_", "-",
    " ", "\t", "\n", ",", ".", "'", "video", "Diagram",
])  # fmt: skip


@given(st.lists(_PIECES, max_size=12).map("".join), st.sampled_from(["paper", "alpaca"]))
def test_the_fast_word_and_blacklist_checks_agree_with_the_regular_expressions(
    text: str, blacklist: str
) -> None:
    from selfinstruct.filters import _WORD, _words

    assert _words(text) == _WORD.findall(text.casefold())
    rules = instruction_rules(blacklist, True, "rouge")
    either = "|".join(rf"\b{re.escape(w)}\b" for w in rules.blacklist)
    expected = re.search(either, text, re.IGNORECASE) is not None
    assert rules._blacklisted(text) == expected
    assert rules._blacklisted(text, _words(text)) == expected
