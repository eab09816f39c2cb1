"""Unit tests for file input/output: jsonio, records, option parsing and the response cache."""

import io
import json
import sys
from pathlib import Path

import jsonlines
import pytest
from conftest import anchor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfinstruct.backends.base import Completion
from selfinstruct.cache import ResponseCache, request_key
from selfinstruct.decoding import parse_decoding_overrides
from selfinstruct.errors import UserError
from selfinstruct.jsonio import (
    JsonlAppender,
    atomic_outputs,
    dumps,
    read_jsonl,
    read_records,
    repair_tail,
    write_jsonl,
)
from selfinstruct.methods.self_instruct import SelfInstruct
from selfinstruct.pricing import parse_price
from selfinstruct.records import Task, iter_tasks, load_seed_tasks


def seed(**overrides):
    record = {
        "id": "seed_task_0",
        "name": "greet",
        "instruction": "Say hello to the user.",
        "instances": [{"input": "", "output": "Hello!"}],
        "is_classification": False,
    }
    record.update(overrides)
    return record


def write_lines(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------- read_jsonl


def test_read_jsonl_yields_line_numbers(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [{"a": 1}, {"b": 2}])
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (2, {"b": 2})]


def test_read_jsonl_skips_blank_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('\n{"a": 1}\n   \n\n{"b": 2}\n', encoding="utf-8")
    assert list(read_jsonl(path)) == [(2, {"a": 1}), (5, {"b": 2})]


def test_read_jsonl_broken_json_names_file_and_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n{"b": 2}\n{"c": \n', encoding="utf-8")
    with pytest.raises(UserError) as err:
        list(read_jsonl(path))
    assert str(err.value) == f"{path}:3: invalid JSON (Expecting value)"


@pytest.mark.parametrize(("line", "kind"), [("[1, 2]", "list"), ('"text"', "str"), ("3", "int")])
def test_read_jsonl_non_object_names_file_and_line(tmp_path, line, kind):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(UserError) as err:
        list(read_jsonl(path))
    assert str(err.value) == f"{path}:2: expected a JSON object, got {kind}"


def test_read_jsonl_non_utf8_first_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(UserError) as err:
        list(read_jsonl(path))
    assert str(err.value) == f"{path}:1: not valid UTF-8 (invalid start byte)"


def test_read_jsonl_non_utf8_names_the_right_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": "\xff"}\n')
    with pytest.raises(UserError) as err:
        list(read_jsonl(path))
    assert str(err.value) == f"{path}:3: not valid UTF-8 (invalid start byte)"


def test_read_jsonl_missing_file(tmp_path):
    with pytest.raises(UserError) as err:
        list(read_jsonl(tmp_path / "missing.jsonl"))
    assert str(err.value) == f"{tmp_path / 'missing.jsonl'}: no such file"


def test_read_jsonl_folder(tmp_path):
    with pytest.raises(UserError) as err:
        list(read_jsonl(tmp_path))
    assert str(err.value) == f"{tmp_path}: is a folder, expected a JSONL file"


# -------------------------------------------------------------------------------- read_records


def test_read_records_json_array(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([{"a": 1}, {"b": 2}], indent=2), encoding="utf-8")
    assert list(read_records(path)) == [(1, {"a": 1}), (2, {"b": 2})]


def test_read_records_array_with_leading_whitespace(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text("\n  " + json.dumps([{"a": 1}]), encoding="utf-8")
    assert list(read_records(path)) == [(1, {"a": 1})]


def test_read_records_array_non_object_item(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([{"a": 1}, 2]), encoding="utf-8")
    with pytest.raises(UserError) as err:
        list(read_records(path))
    assert str(err.value) == f"{path}: item 1 is not a JSON object"


def test_read_records_broken_array(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text('[\n{"a": 1},\n{"b": \n', encoding="utf-8")
    with pytest.raises(UserError) as err:
        list(read_records(path))
    assert str(err.value) == f"{path}:4: invalid JSON (Expecting value)"


def test_read_records_falls_back_to_jsonl(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [{"a": 1}])
    assert list(read_records(path)) == [(1, {"a": 1})]


def test_read_records_non_utf8_names_the_right_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": "\xff"}\n')
    with pytest.raises(UserError) as err:
        list(read_records(path))
    assert str(err.value) == f"{path}:3: not valid UTF-8 (invalid start byte)"


# --------------------------------------------------------------------- repair_tail / appender


def test_repair_tail_cuts_half_written_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')
    assert repair_tail(path) == len(b'{"c": ')
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'


def test_repair_tail_keeps_complete_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n')
    assert repair_tail(path) == 0
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'


def test_repair_tail_single_partial_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"a": ')
    assert repair_tail(path) == 6
    assert path.read_bytes() == b""


def test_repair_tail_partial_line_longer_than_block(tmp_path):
    path = tmp_path / "out.jsonl"
    tail = b'{"x": "' + b"y" * 70000
    path.write_bytes(b'{"a": 1}\n' + tail)
    assert repair_tail(path) == len(tail)
    assert path.read_bytes() == b'{"a": 1}\n'


def test_repair_tail_missing_and_empty(tmp_path):
    assert repair_tail(tmp_path / "missing.jsonl") == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert repair_tail(empty) == 0


def test_appender_appends_whole_lines(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonlAppender(path) as out:
        out.write({"a": 1})
        out.write_all([{"b": "é"}, {"c": [1, 2]}])
        # Flushed after each record: readable before close.
        assert path.read_text(encoding="utf-8").count("\n") == 3
    with JsonlAppender(path) as out:
        out.write({"d": None})
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert [json.loads(line) for line in text.splitlines()] == [
        {"a": 1},
        {"b": "é"},
        {"c": [1, 2]},
        {"d": None},
    ]
    assert '"é"' in text  # not escaped


def test_appender_repairs_tail_before_appending(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": ')
    with JsonlAppender(path) as out:
        out.write({"c": 3})
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (2, {"c": 3})]


def test_write_jsonl_replaces_atomically(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n", encoding="utf-8")
    assert write_jsonl(path, [{"a": 1}, {"b": 2}]) == 2
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (2, {"b": 2})]
    assert not (tmp_path / "out.jsonl.tmp").exists()


def test_write_jsonl_error_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n", encoding="utf-8")

    def records():
        yield {"a": 1}
        raise UserError("in.jsonl:2: invalid JSON (Expecting value)")

    with pytest.raises(UserError) as err:
        write_jsonl(path, records())
    assert str(err.value) == "in.jsonl:2: invalid JSON (Expecting value)"
    assert path.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_atomic_outputs_commit_together_or_not_at_all(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.json"
    a.write_text("old a\n", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_outputs(a, b) as (out_a, out_b):
        out_a.write({"x": 1})
        out_b.write_text("[]\n")
        raise RuntimeError("boom")
    assert a.read_text(encoding="utf-8") == "old a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]
    with atomic_outputs(a, b) as (out_a, out_b):
        out_a.write({"x": "é"})
        out_b.write_text("[]\n")
        assert a.read_text(encoding="utf-8") == "old a\n"  # not before the end
    assert a.read_text(encoding="utf-8") == '{"x": "é"}\n'
    assert b.read_text(encoding="utf-8") == "[]\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.json"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.text(), JSON_VALUES, max_size=5), max_size=5))
def test_atomic_output_writes_what_the_jsonlines_writer_wrote(tmp_path, records):
    """AtomicOutput.write encodes a record itself (issue 25): the bytes of jsonlines' writer."""
    expected = io.StringIO()
    jsonlines.Writer(expected, dumps=dumps).write_all(records)
    target = tmp_path / "out.jsonl"
    try:
        encoded = expected.getvalue().encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: neither writes it
        with pytest.raises(UnicodeEncodeError), atomic_outputs(target) as (out,):
            for record in records:
                out.write(record)
        assert not target.exists()
        return
    with atomic_outputs(target) as (out,):
        for record in records:
            out.write(record)
    assert target.read_bytes() == encoded
    assert out.count == len(records)


def test_atomic_output_in_missing_folder_creates_nothing(tmp_path):
    ok, bad = tmp_path / "ok.jsonl", tmp_path / "missing" / "x.jsonl"
    with pytest.raises(UserError) as err, atomic_outputs(ok, bad):
        pytest.fail("opened an output in a missing folder")
    assert str(err.value) == f"cannot write {bad}: No such file or directory"
    assert list(tmp_path.iterdir()) == []


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    """Windows editors save UTF-8 with a byte order mark; jsonlines skips it, as we must."""
    bom = b"\xef\xbb\xbf"
    lines = tmp_path / "a.jsonl"
    lines.write_bytes(bom + b'{"a": 1}\n{"b": 2}\n')
    assert list(read_jsonl(lines)) == [(1, {"a": 1}), (2, {"b": 2})]
    assert list(read_records(lines)) == [(1, {"a": 1}), (2, {"b": 2})]
    array = tmp_path / "a.json"
    array.write_bytes(bom + b' [{"a": 1}]')
    assert list(read_records(array)) == [(1, {"a": 1})]


# ------------------------------------------------------------------------------------ stdin


def set_stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_read_records_stdin_json_array(monkeypatch):
    set_stdin(monkeypatch, b"\n  " + json.dumps([{"a": 1}, {"b": 2}], indent=2).encode())
    assert list(read_records("-")) == [(1, {"a": 1}), (2, {"b": 2})]


def test_read_records_stdin_jsonl_keeps_line_numbers(monkeypatch):
    set_stdin(monkeypatch, b'\n \n  {"a": 1}\n\n{"b": 2}')
    assert list(read_records("-")) == [(3, {"a": 1}), (5, {"b": 2})]


def test_read_records_stdin_empty(monkeypatch):
    set_stdin(monkeypatch, b" \n")
    assert list(read_records("-")) == []


def test_read_records_stdin_errors_name_stdin(monkeypatch):
    set_stdin(monkeypatch, b'{"a": 1}\n[2]\n')
    with pytest.raises(UserError) as err:
        list(read_records("-"))
    assert str(err.value) == "<stdin>:2: expected a JSON object, got list"
    set_stdin(monkeypatch, b"[\n{}, 3]")
    with pytest.raises(UserError) as err:
        list(read_records("-"))
    assert str(err.value) == "<stdin>: item 1 is not a JSON object"


def test_read_jsonl_null_line_is_not_an_object(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("null\n", encoding="utf-8")
    with pytest.raises(UserError) as err:
        list(read_jsonl(path))
    assert str(err.value) == f"{path}:1: expected a JSON object, got NoneType"


# ------------------------------------------------------------------------------ torn tail


def test_torn_tail_is_skipped_with_one_warning_and_file_unchanged(tmp_path, capsys):
    path = tmp_path / "tasks.jsonl"
    data = b'{"a": 1}\n\n{"b": 2}\n{"c": '
    path.write_bytes(data)
    assert list(read_jsonl(path, skip_torn_tail=True)) == [(1, {"a": 1}), (3, {"b": 2})]
    assert list(read_records(path, skip_torn_tail=True)) == [(1, {"a": 1}), (3, {"b": 2})]
    assert path.read_bytes() == data
    assert capsys.readouterr().err == (
        f"warning: {path}:4: ignored a half-written last line "
        "(interrupted run; resuming the run removes it)\n"
    )


def test_torn_tail_that_parses_is_still_skipped(tmp_path, capsys):
    """Resume cuts any line without its newline, so readers of the run ignore it too."""
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}')
    assert list(read_jsonl(path, skip_torn_tail=True)) == [(1, {"a": 1})]
    assert capsys.readouterr().err.startswith(f"warning: {path}:2: ignored")


def test_without_skip_a_last_line_without_newline_is_read(tmp_path, capsys):
    path = tmp_path / "hand.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}')
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (2, {"b": 2})]
    path.write_bytes(b'{"a": 1}\n{"b": ')
    with pytest.raises(UserError) as err:
        list(read_jsonl(path))
    assert str(err.value) == f"{path}:2: invalid JSON (Expecting value)"
    assert capsys.readouterr().err == ""


def test_complete_file_gives_no_warning(tmp_path, capsys):
    path = write_lines(tmp_path / "a.jsonl", [{"a": 1}])
    path.write_bytes(path.read_bytes() + b"  ")  # trailing blanks are not a torn line
    assert list(read_jsonl(path, skip_torn_tail=True)) == [(1, {"a": 1})]
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------- seed tasks


def test_load_seed_tasks_ok(tmp_path):
    path = write_lines(tmp_path / "seeds.jsonl", [seed(), seed(id="seed_task_1", name="")])
    tasks = load_seed_tasks(path)
    assert [t.id for t in tasks] == ["seed_task_0", "seed_task_1"]
    assert tasks[0].instances[0].input == ""
    assert tasks[0].instances[0].output == "Hello!"


@pytest.mark.parametrize("field", ["id", "instruction", "instances", "is_classification"])
def test_load_seed_tasks_missing_field(tmp_path, field):
    bad = seed()
    del bad[field]
    path = write_lines(tmp_path / "seeds.jsonl", [seed(), bad])
    with pytest.raises(UserError) as err:
        load_seed_tasks(path)
    assert str(err.value) == f"{path}:2: not a seed task: missing field '{field}'"


def test_load_seed_tasks_missing_instance_output(tmp_path):
    path = write_lines(tmp_path / "seeds.jsonl", [seed(instances=[{"input": "x"}])])
    with pytest.raises(UserError, match=r"seeds\.jsonl:1: .*missing field 'instances\.0\.output'"):
        load_seed_tasks(path)


def test_load_seed_tasks_empty_file(tmp_path):
    path = tmp_path / "seeds.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserError, match="holds no tasks"):
        load_seed_tasks(path)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"is_classification": "maybe"}, "is_classification"),
        ({"instances": "text"}, "instances"),
        ({"instances": []}, "instances"),
        ({"instruction": 5}, "instruction"),
    ],
)
def test_load_seed_tasks_wrong_type(tmp_path, overrides, field):
    path = write_lines(tmp_path / "seeds.jsonl", [seed(**overrides)])
    with pytest.raises(UserError, match=rf"seeds\.jsonl:1: not a seed task: field '{field}'"):
        load_seed_tasks(path)


def test_load_seed_tasks_json_array(tmp_path):
    path = tmp_path / "seeds.json"
    path.write_text(json.dumps([seed()]), encoding="utf-8")
    assert len(load_seed_tasks(path)) == 1


def test_paper_seed_file_loads_unchanged():
    tasks = load_seed_tasks(anchor("self_instruct_seed_tasks.jsonl"))
    assert len(tasks) == 175
    assert tasks[0].id == "seed_task_0"
    assert all(len(t.instances) == 1 for t in tasks)
    assert sum(t.is_classification for t in tasks) == 26
    assert sum(t.instances[0].input == "" for t in tasks) == 50


# -------------------------------------------------------------------------------- iter_tasks


def test_iter_tasks_our_shape(tmp_path):
    record = {
        "id": "t1",
        "instruction": "Add the numbers.",
        "is_classification": False,
        "instances": [{"input": "2, 3", "output": "5"}],
        "extra": "kept",
    }
    path = write_lines(tmp_path / "tasks.jsonl", [record])
    [(lineno, task)] = list(iter_tasks(path))
    assert lineno == 1
    assert isinstance(task, Task)
    assert task.instruction == "Add the numbers."
    assert task.instances[0].input == "2, 3"
    assert task.instances[0].output == "5"


def test_iter_tasks_alpaca_shape(tmp_path):
    records = [
        {"instruction": "Add the numbers.", "input": "2, 3", "output": "5"},
        {"instruction": "Tell a joke.", "output": "Why did..."},
        {"instruction": "Name a colour.", "input": None, "output": "Blue"},
    ]
    path = write_lines(tmp_path / "alpaca.jsonl", records)
    tasks = [task for _, task in iter_tasks(path)]
    assert [(t.instances[0].input, t.instances[0].output) for t in tasks] == [
        ("2, 3", "5"),
        ("", "Why did..."),
        ("", "Blue"),
    ]
    assert all(len(t.instances) == 1 for t in tasks)


def test_iter_tasks_alpaca_json_array(tmp_path):
    path = tmp_path / "alpaca_data.json"
    path.write_text(json.dumps([{"instruction": "Say hi.", "input": "", "output": "Hi"}]))
    [(lineno, task)] = list(iter_tasks(path))
    assert lineno == 1
    assert task.instances[0].output == "Hi"


@pytest.mark.parametrize(
    "record",
    [{"prompt": "x", "completion": "y"}, {"instruction": "x"}, {"output": "y", "input": "z"}],
)
def test_iter_tasks_rejects_other_shapes(tmp_path, record):
    path = write_lines(tmp_path / "tasks.jsonl", [{"instruction": "ok", "output": "ok"}, record])
    with pytest.raises(UserError) as err:
        list(iter_tasks(path))
    message = str(err.value)
    assert message.startswith(f"{path}:2: not a task: expected 'instruction'")
    assert "Alpaca" in message


def test_iter_tasks_wrong_type_names_field(tmp_path):
    path = write_lines(tmp_path / "tasks.jsonl", [{"instruction": "x", "output": 5}])
    with pytest.raises(UserError, match=r"tasks\.jsonl:1: not a task: field 'output'"):
        list(iter_tasks(path))


# ------------------------------------------------------------------------- option parsing

STAGES = SelfInstruct.stages


def test_parse_decoding_overrides_good():
    assert parse_decoding_overrides(
        (
            "instructions.temperature=1.0",
            "instructions.top_p=0.9",
            "classify.max_tokens=5",
            "generation_instances.stop=\\n\\n|Task:",
        ),
        STAGES,
    ) == {
        "instructions": {"temperature": 1.0, "top_p": 0.9},
        "classify": {"max_tokens": 5},
        "generation_instances": {"stop": ("\n\n", "Task:")},
    }


def test_parse_decoding_overrides_empty():
    assert parse_decoding_overrides((), STAGES) == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("temperature=1.0", "expected STAGE.PARAM=VALUE"),
        ("instructions.temperature", "expected STAGE.PARAM=VALUE"),
        ("bogus.temperature=1", "stage must be one of"),
        ("instructions.bogus=1", "parameter must be one of"),
        ("instructions.temperature=hot", "'hot' is not a number"),
        ("classify.max_tokens=many", "'many' is not a whole number"),
    ],
)
def test_parse_decoding_overrides_bad(item, message):
    with pytest.raises(UserError) as err:
        parse_decoding_overrides((item,), STAGES)
    assert str(err.value).startswith(f"--decoding {item!r}: ")
    assert message in str(err.value)


def test_parse_decoding_overrides_non_ascii_stop():
    assert parse_decoding_overrides(("instructions.stop=。|é",), STAGES) == {
        "instructions": {"stop": ("。", "é")}
    }


def test_parse_price_good():
    assert parse_price("0.5,1.5") == (0.5, 1.5)
    assert parse_price(" 2 , 3 ") == (2.0, 3.0)
    assert parse_price(None) is None


@pytest.mark.parametrize("text", ["", "1", "1,2,3", "a,b", "1;2"])
def test_parse_price_bad(text):
    with pytest.raises(UserError) as err:
        parse_price(text)
    assert str(err.value) == (
        f"--price {text!r}: expected two numbers, IN,OUT (USD per million tokens)"
    )


# ---------------------------------------------------------------------------- response cache


def test_cache_round_trip_and_persistence(tmp_path):
    path = tmp_path / "cache.sqlite"
    request = {"model": "m", "prompt": "Task: é", "temperature": 0.0}
    key = request_key(request)
    cache = ResponseCache(path)
    assert cache.get(key) is None
    assert len(cache) == 0
    cache.put(key, "classify", request, Completion("Yes", "stop", 12, 1))
    assert cache.get(key) == Completion("Yes", "stop", 12, 1, cached=True)
    assert len(cache) == 1
    cache.close()

    reopened = ResponseCache(path)
    assert reopened.get(key) == Completion("Yes", "stop", 12, 1, cached=True)
    assert len(reopened) == 1
    reopened.put(key, "classify", request, Completion("No", "length", 12, 3))
    assert reopened.get(key) == Completion("No", "length", 12, 3, cached=True)
    assert len(reopened) == 1
    reopened.close()


def test_request_key_is_order_independent_and_sensitive():
    a = request_key({"prompt": "x", "temperature": 0.7})
    assert a == request_key({"temperature": 0.7, "prompt": "x"})
    assert a != request_key({"prompt": "x", "temperature": 0.5})
    assert len(a) == 64


def test_appender_on_a_full_disk_says_how_to_go_on(tmp_path):
    import errno as errno_module

    appender = JsonlAppender(tmp_path / "log.jsonl")

    class Full:
        def write(self, text):
            raise OSError(errno_module.ENOSPC, "No space left on device")

        def flush(self):
            pass

    appender._writer._fp = Full()
    with pytest.raises(UserError) as caught:
        appender.write({"id": "a"})
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'log.jsonl'}: the disk is full; free space and run the same "
        "command again to resume"
    )


def test_lines_orjson_refuses_or_reads_otherwise_are_read_as_json_reads_them(tmp_path):
    """A big integer (orjson 3.8 made it a float), NaN, a lone surrogate, a BOM and a plain
    line: the objects are json's, each with its line number."""
    from selfinstruct.jsonio import read_jsonl

    lines = [
        '{"n": 123456789012345678901234567890, "s": "x"}',
        '{"n": NaN}',
        '{"s": "\\ud800"}',
        '\ufeff{"bom": 1}',
        '{"plain": [1, 2.5, null, "é"]}',
        '{"n": 18446744073709551615, "f": 0.1, "neg": -0.0}',
        '{"id": "task", "n": 99999999999999999999}',
        '{"a": 1234567890, "b": 12345678901, "c": [0, 0]}',
    ]
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = list(read_jsonl(path))
    expected = [(i, json.loads(line.lstrip("\ufeff"))) for i, line in enumerate(lines, 1)]
    assert repr(got) == repr(expected)
    assert type(got[0][1]["n"]) is int
    assert type(got[6][1]["n"]) is int  # 20 digits, above 2**64
