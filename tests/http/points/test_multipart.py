"""multipart/form-data bodies: MULTIPART_<name> (a part's body) and MULTIPART_<name>_FILENAME."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from lunge.http import parse
from lunge.http.points import ValueKind, multipart
from tests.http import strategies as gen
from tests.http.points.support import body_request, check_replace, expected_value, reparse

SETTINGS = settings(max_examples=gen.examples(80), deadline=None)
CT = "multipart/form-data; boundary=XyZ"


def _body(*parts: str, newline: str = "\r\n") -> str:
    return "".join(f"--XyZ{newline}{p}" for p in parts) + f"--XyZ--{newline}"


UPLOAD = _body(
    'Content-Disposition: form-data; name="title"\r\n\r\nMy cat\r\n',
    'Content-Disposition: form-data; name="photo"; filename="cat.png"\r\nContent-Type: image/png\r\n\r\n'
    "\x89PNG\r\n\x1a\n\x00\x00\r\n",
    'Content-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n{"tags": ["a"]}\r\n',
    'Content-Disposition: form-data; name="tag"\r\n\r\nx\r\n',
    'Content-Disposition: form-data; name="tag"\r\n\r\ny\r\n',
)


def test_names_of_a_multipart_upload() -> None:
    points = parse(body_request(UPLOAD, CT))
    assert [(p.name, p.kind) for p in points if p.family == "POST"] == [
        ("POST_MULTIPART_title_value", ValueKind.STRING),
        ("POST_MULTIPART_photo_value", ValueKind.BINARY),
        ("POST_MULTIPART_photo_FILENAME_value", ValueKind.STRING),
        ("POST_MULTIPART_meta_value", ValueKind.STRING),
        ("POST_MULTIPART_meta_JSON_DOC_HASH_tags_name", ValueKind.STRING),
        ("POST_MULTIPART_meta_JSON_DOC_HASH_tags_ARRAY_0_value", ValueKind.STRING),
        ("POST_MULTIPART_tag_ARRAY_0_value", ValueKind.STRING),
        ("POST_MULTIPART_tag_ARRAY_1_value", ValueKind.STRING),
    ]
    assert points.get("POST_MULTIPART_photo_FILENAME_value").value == "cat.png"  # type: ignore[union-attr]


@SETTINGS
@given(gen.multipart_bodies())
def test_every_part_is_found(generated: tuple[bytes, str, list[tuple[str, str, str | None]]]) -> None:
    body, content_type, parts = generated
    leaves = multipart.parse(body.decode(), content_type)
    assert leaves is not None
    assert [leaf.value for leaf in leaves if leaf.steps[-1].parser != "FILENAME"] == [v for _, v, _ in parts]
    assert [leaf.value for leaf in leaves if leaf.steps[-1].parser == "FILENAME"] == [f for _, _, f in parts if f]


@SETTINGS
@given(gen.multipart_bodies(), gen.hostile_text)
def test_part_values_and_file_names_round_trip(generated: tuple[bytes, str, list], value: str) -> None:
    body, content_type, _ = generated
    points = parse(body_request(body, content_type))
    for p in points:
        if p.family == "POST" and p.path[1].parser == "MULTIPART":
            check_replace(points, p, value, expected_value(p, value))


def test_binary_parts_survive_a_change_elsewhere() -> None:
    points = parse(body_request(UPLOAD.encode("latin-1"), CT))
    request = points.replace("POST_MULTIPART_title_value", "<script>")
    assert b"\x89PNG\r\n\x1a\n\x00\x00" in request.body
    assert request.body == UPLOAD.encode("latin-1").replace(b"My cat", b"<script>")


def test_a_file_name_is_escaped_as_browsers_do() -> None:
    points = parse(body_request(UPLOAD, CT))
    request = points.replace("POST_MULTIPART_photo_FILENAME_value", '../x".php\r\n')
    assert b'filename="../x%22.php%0D%0A"' in request.body


def test_a_value_cannot_end_its_part_early() -> None:
    points = parse(body_request(UPLOAD, CT))
    request = points.replace("POST_MULTIPART_title_value", "a\r\n--XyZ\r\nContent-Disposition: form-data; name=\"x\"")
    again = reparse(request)
    assert again.get("POST_MULTIPART_x_value") is None
    assert again.get("POST_MULTIPART_title_value").value == (  # type: ignore[union-attr]
        "a\r\n --XyZ\r\nContent-Disposition: form-data; name=\"x\""
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_body('Content-Disposition: form-data; name="a"\n\n1\n', newline="\n"), [("MULTIPART_a", "1")]),
        ("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--", [("MULTIPART_a", "1")]),
        ("preamble\r\n" + _body('Content-Disposition: form-data; name=a\r\n\r\n1\r\n') + "epilogue",
         [("MULTIPART_a", "1")]),
        (_body("\r\nnameless\r\n", 'Content-Disposition: form-data; name="b"\r\n\r\n\r\n'), [("MULTIPART_b", "")]),
    ],
)
def test_framing_variants(body: str, expected: list[tuple[str, str]]) -> None:
    leaves = multipart.parse(body, CT)
    assert leaves is not None
    assert [("_".join(s.label for s in leaf.steps), leaf.value) for leaf in leaves] == expected


@pytest.mark.parametrize(
    "body",
    [_body('Content-Disposition: form-data; name="a"\r\n\r\n1\r\n')[:-12], "no delimiter", "--XyZ",
     "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n1\r\n--XyZ--"],
)
def test_broken_multipart_has_no_sub_points(body: str) -> None:
    assert multipart.parse(body, CT) is None
    points = parse(body_request(body, CT))
    assert [(p.name, p.value) for p in points if p.family == "POST"] == [("POST_value", body)]


def test_no_boundary_no_parts() -> None:
    assert multipart.parse(UPLOAD, "multipart/form-data") is None


@settings(max_examples=gen.examples(200), deadline=None)
@given(gen.fragments("--XyZ", "--XyZ--", "\r\n", "\n", 'name="a"', 'filename="f"', "Content-Disposition: form-data; ",
                     "x", ";"))
def test_arbitrary_text_never_raises(text: str) -> None:
    leaves = multipart.parse(text, CT)
    for leaf in leaves or []:
        start, end = leaf.span
        assert text[start:end] == leaf.value
