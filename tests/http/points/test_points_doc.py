"""docs/points.md stays true: every example request in it is parsed again and its point listing
must be exactly what the code gives, and the names the text quotes must exist.

After a deliberate naming change, rewrite the listings with
``.venv/bin/python -m tests.http.points.test_points_doc`` and review the diff.
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

import pytest

from lunge.http import Request, parse
from lunge.node.points import display_value
from lunge.policy import TestPolicy

DOC = Path(__file__).resolve().parents[3] / "docs" / "points.md"
# An example: a ```http block, then (after at most a line of prose) the ```points block listing it.
EXAMPLE = re.compile(r"```http\n(?P<request>.*?)```\n(?:[^`\n]*\n)?```points\n(?P<points>.*?)```", re.S)
POLICY_ROW = re.compile(r"^\| `(?P<pattern>[^`]+)` \| (?P<verdict>matches|does not match) `(?P<name>[^`]+)` \|$", re.M)


def listing(raw: str) -> str:
    """The ``points`` block for the request ``raw`` (written with LF, sent with CRLF; the newline
    before the closing fence is not part of the body)."""
    request = Request.parse(raw.removesuffix("\n").replace("\n", "\r\n").encode())
    points = list(parse(request))
    width = max(len(p.name) for p in points)
    return "".join(f"{p.name.ljust(width)}  {display_value(p.value, 56)}".rstrip() + "\n" for p in points)


def examples(text: str) -> list[re.Match[str]]:
    return list(EXAMPLE.finditer(text))


def test_the_doc_has_examples_of_every_family_and_layer() -> None:
    text = DOC.read_text()
    found = "".join(m.group("points") for m in examples(text))
    for needle in ("URI_value", "PATH_0_value", "ACTION_NAME_value", "ACTION_EXT_value", "GET_", "_ARRAY_0_", "_HASH_",
                   "HEADER_", "COOKIE_", "FORM_URLENCODED_", "MULTIPART_", "_FILENAME_value", "JSON_DOC_", "XML_TAG_",
                   "XML_ATTR_", "XML_DTD_value", "XML_COMMENT_0", "XML_PI_0_name", "GRAPHQL_FIELD_", "_ARG_",
                   "BASE64_", "_URL_", "JWT_HEADER_", "JWT_PAYLOAD_", "_name"):
        assert needle in found, f"docs/points.md has no example of {needle}"


@pytest.mark.parametrize("index", range(len(examples(DOC.read_text()))))
def test_every_example_lists_exactly_the_points_of_its_request(index: int) -> None:
    match = examples(DOC.read_text())[index]
    assert match.group("points") == listing(match.group("request")), (
        "docs/points.md is out of date; regenerate with: .venv/bin/python -m tests.http.points.test_points_doc"
    )


def test_names_quoted_in_the_text_are_real() -> None:
    text = DOC.read_text()
    gzip_json = Request.from_url("http://t/e", "POST",
                                 [("Content-Encoding", "gzip"), ("Content-Type", "application/json")],
                                 gzip.compress(b'{"event": "click"}'))
    graphql = Request.from_url("http://t/g", "POST", [("Content-Type", "application/graphql")],
                               b'mutation { login(user: "ann") { token } }')
    for request, name in ((gzip_json, "POST_GZIP_JSON_DOC_HASH_event_value"),
                          (graphql, "POST_GRAPHQL_FIELD_login_ARG_user_value")):
        assert f"`{name}`" in text
        assert parse(request).get(name) is not None


def test_policy_examples_behave_as_documented() -> None:
    rows = list(POLICY_ROW.finditer(DOC.read_text()))
    assert len(rows) >= 6
    for row in rows:
        policy = TestPolicy(name="doc", include=(row.group("pattern"),))
        assert policy.selects(row.group("name")) == (row.group("verdict") == "matches"), row.group(0)


def regenerate() -> int:
    """Rewrite every ``points`` block of docs/points.md from its request; returns how many changed."""
    text = DOC.read_text()
    changed = 0

    def fill(match: re.Match[str]) -> str:
        nonlocal changed
        new = listing(match.group("request"))
        changed += new != match.group("points")
        start, end = match.span("points")
        return match.group(0)[: start - match.start()] + new + match.group(0)[end - match.start() :]

    DOC.write_text(EXAMPLE.sub(fill, text))
    return changed


if __name__ == "__main__":
    sys.stdout.write(f"{regenerate()} example listing(s) rewritten in {DOC}\n")
