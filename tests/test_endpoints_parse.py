"""Reading --base-url values: URLs, #N in-flight limits and @files of URLs, with their errors."""

from __future__ import annotations

import pytest

from selfinstruct.endpoints import Endpoint, parse_endpoints
from selfinstruct.errors import UserError


def test_plain_urls_and_limits():
    assert parse_endpoints(("http://a:8000/v1", "http://b:8000/v1#32")) == [
        Endpoint("http://a:8000/v1", None),
        Endpoint("http://b:8000/v1", 32),
    ]


def test_no_values_is_no_endpoint():
    assert parse_endpoints(()) == []


def test_file_of_urls_with_comments_and_blank_lines(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text(
        "# the vLLM replicas\n\nhttp://a:8000/v1   # GPU 0\n  http://b:8000/v1#8\n",
        encoding="utf-8",
    )
    found = parse_endpoints(("http://first/v1", f"@{urls}"))
    assert found == [
        Endpoint("http://first/v1", None),
        Endpoint("http://a:8000/v1", None),
        Endpoint("http://b:8000/v1", 8),
    ]


def test_bad_line_names_file_and_line(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://a/v1\n\nlocalhost:8000\n", encoding="utf-8")
    with pytest.raises(UserError) as error:
        parse_endpoints((f"@{urls}",))
    assert str(error.value) == (
        f"{urls}:3: 'localhost:8000' is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)"
    )


def test_bad_limit_in_a_file(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://a/v1#0\n", encoding="utf-8")
    with pytest.raises(UserError) as error:
        parse_endpoints((f"@{urls}",))
    assert str(error.value) == (
        f"{urls}:1: 'http://a/v1#0': after # comes the endpoint's number of requests in "
        "flight, 1 to 1024 (e.g. http://127.0.0.1:8000/v1#32)"
    )


def test_two_urls_on_one_line(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://a/v1 http://b/v1\n", encoding="utf-8")
    with pytest.raises(UserError) as error:
        parse_endpoints((f"@{urls}",))
    assert str(error.value) == f"{urls}:1: one URL per line (a comment starts with ' #')"


def test_url_listed_twice(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://b/v1\nhttp://a/v1/#4\n", encoding="utf-8")
    with pytest.raises(UserError) as error:
        parse_endpoints(("http://a/v1", f"@{urls}"))
    assert str(error.value) == f"{urls}:2: http://a/v1/ is listed twice"


def test_bad_value_on_the_command_line():
    with pytest.raises(UserError) as error:
        parse_endpoints(("http://a/v1#many",))
    assert str(error.value) == (
        "--base-url 'http://a/v1#many': after # comes the endpoint's number of requests in "
        "flight, 1 to 1024 (e.g. http://127.0.0.1:8000/v1#32)"
    )


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(UserError) as error:
        parse_endpoints((f"@{tmp_path / 'nope.txt'}",))
    assert str(error.value) == f"--base-url @{tmp_path / 'nope.txt'}: no such file"
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(UserError) as error:
        parse_endpoints((f"@{empty}",))
    assert str(error.value) == f"{empty}: no URLs in the file (one per line, # for comments)"
