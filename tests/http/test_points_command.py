"""``lunge points FILE`` (lunge.node.points and its CLI command), through ``lunge.cli.main``.

Kept under tests/http with the other points tests; it mirrors src/lunge/node/points.py.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from lunge.cli import main
from lunge.errors import InputFileError, SettingError
from lunge.node.points import display_value, list_points, printable, read_request

RAW = (b"POST /api/users?debug=1 HTTP/1.1\r\nHost: app.test:8080\r\nContent-Type: application/json\r\n"
       b"Cookie: sid=abc\r\nContent-Length: 27\r\n\r\n" + b'{"user": {"name": "ann\\n"}}')


def _write(tmp_path: Path, data: bytes, name: str = "request.http") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main(["points", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_lists_the_request_and_every_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = _json(capsys, _write(tmp_path, RAW))
    assert document["request"] == {"method": "POST", "url": "http://app.test:8080/api/users?debug=1",
                                   "http_version": "HTTP/1.1", "headers": 4, "content_type": "application/json",
                                   "body_bytes": 27}
    assert document["count"] == len(document["points"])
    by_name = {p["name"]: p for p in document["points"]}
    assert by_name["POST_JSON_DOC_HASH_user_HASH_name_value"] == {
        "name": "POST_JSON_DOC_HASH_user_HASH_name_value", "value": "ann\n", "kind": "string", "role": "value",
        "family": "POST", "layers": ["JSON_DOC"],
        "path": [{"parser": "POST", "key": None}, {"parser": "JSON_DOC", "key": None},
                 {"parser": "HASH", "key": "user"}, {"parser": "HASH", "key": "name"}],
    }
    assert by_name["HEADER_COOKIE_COOKIE_sid_value"]["family"] == "COOKIE"
    assert by_name["POST_JSON_DOC_HASH_user_name"]["role"] == "name"


def test_the_table_shows_names_values_and_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["points", _write(tmp_path, RAW)]) == 0
    out = capsys.readouterr().out
    assert "POST http://app.test:8080/api/users?debug=1: 11 points" in out
    assert "POST_JSON_DOC_HASH_user_HASH_name_value" in out and "ann\\n" in out and "JSON_DOC" in out


def test_a_curl_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    curl = b"curl 'https://app.test/search?q=shoes' -H 'X-Token: eyJpZCI6IDF9' --compressed\n"
    names = [p["name"] for p in _json(capsys, _write(tmp_path, curl, "curl.txt"))["points"]]
    assert "GET_q_value" in names and "HEADER_X-TOKEN_BASE64_JSON_DOC_HASH_id_value" in names


def test_standard_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(RAW)))
    assert _json(capsys, "-")["source"] == "-"


def test_lf_line_endings_and_base_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = b"\nGET /a?x=1 HTTP/1.1\nAccept: */*\n\n"
    document = _json(capsys, _write(tmp_path, raw), "--base-url", "https://app.test:8443")
    assert document["request"]["url"] == "https://app.test:8443/a?x=1"
    curl = _write(tmp_path, b"curl http://old.test/p", "c.txt")
    assert _json(capsys, curl, "--base-url", "http://new.test")["request"]["url"] == "http://new.test/p"


def test_non_utf8_bytes_are_shown_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = b"GET /caf\xe9?q=\xff HTTP/1.1\r\nHost: t\r\n\r\n"
    by_name = {p["name"]: p for p in _json(capsys, _write(tmp_path, raw))["points"]}
    assert by_name["ACTION_NAME_value"]["value"] == "caf\\xe9"
    assert main(["points", _write(tmp_path, raw)]) == 0
    assert "caf\\xe9" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"   \n", "is empty"), (b"hello world\n\n", "not an HTTP request or a curl command line"),
     (b"GET / HTTP/1.1\r\n\r\n", "no Host header"),
     (b"curl 'unbalanced", "not an HTTP request or a curl command line")],
)
def test_what_is_not_a_request_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       content: bytes, message: str) -> None:
    path = _write(tmp_path, content)
    assert main(["points", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and err.startswith(f"lunge: {path}: ") and message in err
    assert "Traceback" not in err


def test_an_unreadable_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing.http")
    assert main(["points", missing]) == 2
    assert capsys.readouterr().err.strip() == f"lunge: {missing}: cannot be read: No such file or directory"
    assert main(["points", str(tmp_path)]) == 2
    assert "cannot be read" in capsys.readouterr().err


@pytest.mark.parametrize("base_url", ["ftp://x", "app.test", "http://", "http://a:99999"])
def test_a_bad_base_url_names_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str], base_url: str) -> None:
    assert main(["points", _write(tmp_path, RAW), "--base-url", base_url]) == 2
    err = capsys.readouterr().err
    assert f"--base-url={base_url!r} is not allowed" in err


def test_node_functions_raise_config_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError):
        read_request(str(tmp_path / "nope"))
    with pytest.raises(SettingError):
        list_points(_write(tmp_path, RAW), base_url="nope")
    assert len(list_points(_write(tmp_path, RAW)).points) == 11


def test_display_helpers() -> None:
    assert display_value("a\tb\x00\x85\u202e") == "a\\tb\\u0000\\u0085\\u202e"
    assert display_value("x" * 100, width=10) == "x" * 9 + "…"
    assert printable("\udcff\u00e9") == "\\xff\u00e9"
