"""Files of curl command lines into baselines."""

from __future__ import annotations

import json

import pytest

from lunge.errors import InputFileError
from lunge.record.importers.curl import split_commands

from .files import imported, items


def test_fixture_commands() -> None:
    found = imported("curl", "requests.curl")
    assert [(i.where, i.request.method, i.request.path) for i in found] == [
        ("line 4", "GET", "/api/products"),
        ("line 10", "POST", "/api/reviews"),
        ("line 16", "PUT", "/api/profile"),
        ("line 21", "POST", "/upload"),
    ]
    products, reviews, profile, upload = found
    assert products.request.headers.get("cookie") == "session=eyJ1aWQiOjd9; consent=yes"
    assert json.loads(reviews.request.body)["text"] == "It's great \u2014 5 stars"
    assert json.loads(profile.request.body)["bio"] == "likes # and \\ characters"
    assert profile.request.headers.get("authorization") == "Bearer t0k3n"
    assert "report.pdf" in upload.note and upload.response is None


def test_base_url_moves_every_command() -> None:
    moved = imported("curl", "requests.curl", base_url="https://staging.test")
    assert {i.request.origin for i in moved} == {"https://staging.test"}


def test_comments_blank_lines_and_continuations() -> None:
    text = "#!/bin/sh\n\n  # note\ncurl http://a.test/1 \\\n  -H 'X: 1'\ncurl http://a.test/2  # trailing\n"
    assert list(split_commands(text)) == [(4, "curl http://a.test/1 \\\n  -H 'X: 1'"),
                                          (6, "curl http://a.test/2  # trailing")]
    assert [i.request.path for i in imported("curl", text)] == ["/1", "/2"]


def test_a_quote_left_open_runs_to_the_end_and_is_an_error() -> None:
    with pytest.raises(InputFileError) as info:
        items("curl", "curl http://a.test/\ncurl -d 'open http://a.test/\n\ncurl http://b.test/\n", source="r.sh")
    assert (info.value.path, info.value.where) == ("r.sh", "line 2")
    assert "unbalanced quote" in info.value.problem


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("curl http://a.test/\nwget http://b.test/\n", "line 2", "must start with 'curl'"),
        ("\n\ncurl -H\n", "line 3", "needs a value"),
        ("curl 'http://a.test/' -H 'X: a\nb'\n", "line 1", "line break"),
    ],
)
def test_errors_name_the_line(text: str, where: str, problem: str) -> None:
    with pytest.raises(InputFileError) as info:
        items("curl", text)
    assert info.value.where == where and problem in info.value.problem


def test_empty_file_yields_nothing() -> None:
    assert items("curl", "# nothing here\n\n") == []
