"""path-traversal against fake applications that really read files, from a sandbox in tmp_path that
plays the server's file system (its root is the application's "/")."""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest

from lunge.checks import datafiles
from lunge.checks.base import Attack, Confidence
from lunge.checks.testing import context, drive
from lunge.checks.traversal import CHECKS, PATH_TRAVERSAL, TraversalTable
from lunge.errors import CheckError
from lunge.http import Headers, Request, Response, parse

PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:1:\n"
WIN_INI = "; for 16-bit app support\n[fonts]\n[extensions]\n"
SYSTEM_INI = "; for 16-bit app support\n[386Enh]\n[drivers]\nwave=mmdrv.dll\n"
SAMPLE = "<p>Example of a passwd line: <code>root:x:0:0:root:/root:/bin/bash</code></p>"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    files = {"etc/passwd": PASSWD, "etc/group": GROUP, "windows/win.ini": WIN_INI,
             "windows/system.ini": SYSTEM_INI, "var/www/docs/about.txt": "About us.",
             "var/www/docs/guide/intro.txt": "Intro."}
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return tmp_path


class FileApp:
    """Serves ``/view?file=...`` by joining the value to /var/www/docs, like a careless handler.

    ``prepare`` transforms the value first (filters, decoders); the read stops at a NUL, as C's
    open() does; ``windows`` accepts backslashes and drive letters."""

    def __init__(self, root: Path, prepare: Callable[[str], str | None] = lambda v: v, *, windows: bool = False,
                 extra: str = "", headers: list[tuple[str, str]] | None = None) -> None:
        self.root, self.prepare, self.windows, self.extra = root, prepare, windows, extra
        self.headers = headers or []

    def read(self, value: str) -> str | None:
        if self.windows:
            value = value.replace("\\", "/")
            value = value[2:] if value[1:2] == ":" else value
        value = value.split("\0")[0]
        virtual = posixpath.normpath(posixpath.join("/var/www/docs", value))
        real = self.root / virtual.lstrip("/")
        if self.windows and not real.exists():
            real = self.root / virtual.lstrip("/").lower()
        return real.read_text() if real.is_file() else None

    def __call__(self, request: Request) -> Response:
        point = parse(request).get("GET_file_value")
        value = self.prepare(point.value if point else "")
        content = self.read(value) if value is not None else None
        headers = Headers([("Content-Type", "text/html"), *self.headers])
        if content is None:
            body = f"<p>Cannot open {html.escape(str(value))}: No such file or directory</p>{self.extra}"
            return Response(404, headers=headers, body=body.encode())
        return Response(200, headers=headers, body=f"<pre>{html.escape(content)}</pre>{self.extra}".encode())


def run(responder, *, light: bool = False, url: str = "http://t.test/view?file=about.txt",
        point: str = "GET_file_value"):
    sent: list[Attack] = []
    ctx = context(Request.from_url(url), point, responder, seed=5, light=light)
    return drive(PATH_TRAVERSAL, ctx, responder, sent=sent), sent


def strip_once(value: str) -> str:
    return value.replace("../", "")


def needs_prefix(value: str) -> str | None:
    return value if value.startswith("guide/") else None


def needs_txt(value: str) -> str | None:
    return value if value.endswith(".txt") and ".." not in value.split("\0")[0][:2] else None


def checked_then_decoded(value: str) -> str | None:
    # checks for "../" and then URL-decodes again: the double-decoding bug
    return None if "../" in value or value.startswith("/") else unquote(value)


@pytest.mark.parametrize(("name", "app", "url", "technique"), [
    ("naive join", lambda r: FileApp(r), None, "absolute"),
    ("relative only", lambda r: FileApp(r, lambda v: None if v.startswith("/") else v), None, "relative"),
    ("strips ../ once", lambda r: FileApp(r, lambda v: None if v.startswith("/") else strip_once(v)), None,
     "nested-dots"),
    ("keeps its directory", lambda r: FileApp(r, needs_prefix), "http://t.test/view?file=guide/intro.txt",
     "keep-directory"),
    ("extension check and NUL", lambda r: FileApp(r, lambda v: v if v.endswith(".txt") and not v.startswith("/")
                                                  and "\0" in v else None), None, "nul-extension"),
    ("windows server", lambda r: FileApp(r, windows=True, headers=[("Server", "Microsoft-IIS/10.0")]), None,
     "absolute-windows"),
    ("windows backslashes only", lambda r: FileApp(r, lambda v: None if "/" in v or ":" in v else v, windows=True),
     None, "backslash"),
    ("double decoding", lambda r: FileApp(r, checked_then_decoded), None, "double-encoded"),
    ("passwd sample on every page", lambda r: FileApp(r, extra=SAMPLE), None, "absolute"),
])
def test_vulnerable_twin_is_found_and_confirmed(root: Path, name: str, app, url: str | None, technique: str) -> None:
    verdicts, sent = run(app(root), **({"url": url} if url else {}))
    assert len(verdicts) == 1, name
    verdict = verdicts[0]
    assert (verdict.check_id, verdict.cwe, verdict.confidence) == ("path-traversal", 22, Confidence.FIRM)
    assert verdict.details["technique"] == technique
    assert verdict.proof in verdict.exchange.text
    assert [c.attack.label for c in verdict.controls][-2:] == ["confirm", "control"]
    assert "non-existent file name" in verdict.confirmation
    assert len(sent) <= 16


def test_sample_passwd_text_makes_the_check_use_another_file(root: Path) -> None:
    verdicts, _ = run(FileApp(root, extra=SAMPLE))
    assert verdicts[0].details["file"] == "etc/group"
    assert "equivalent path" in verdicts[0].confirmation  # passwd is unusable for confirming here


class Honeypot:
    """Shows passwd-like (and, with ``group``, group-like) text whenever the value looks like a
    traversal attempt, whatever file is named: no file is ever read."""

    def __init__(self, group: bool = False) -> None:
        self.group = group

    def __call__(self, request: Request) -> Response:
        value = parse(request).get("GET_file_value").value  # type: ignore[union-attr]
        shown = "<p>about</p>"
        if ".." in value or value.startswith(("/", "C:", "file:")):
            shown = f"<pre>{PASSWD}{GROUP if self.group else ''}</pre>"
        return Response(200, headers=Headers([("Content-Type", "text/html")]), body=shown.encode())


def spa(request: Request) -> Response:
    return Response(200, headers=Headers([("Content-Type", "text/html")]),
                    body=b"<!doctype html><div id=app></div><script src=/app.js></script>")


@pytest.mark.parametrize(("name", "responder"), [
    ("sample passwd text in the page", lambda r: (lambda req: Response(
        200, headers=Headers([("Content-Type", "text/html")]), body=SAMPLE.encode()))),
    ("payload echoed in an error page", lambda r: FileApp(r, lambda v: None if ".." in v or v.startswith(("/", "C:"))
                                                          else v)),
    ("SPA catch-all 200", lambda r: spa),
    ("passwd-like text for any traversal", lambda r: Honeypot()),
    ("passwd and group text for any traversal", lambda r: Honeypot(group=True)),
    ("confined to the directory", lambda r: FileApp(r, lambda v: posixpath.basename(v.replace("\\", "/")))),
])
def test_trap_stays_silent(root: Path, name: str, responder) -> None:
    verdicts, sent = run(responder(root))
    assert verdicts == [], name
    assert len(sent) <= 16


def test_budget_full_and_light(root: Path) -> None:
    safe = FileApp(root, lambda v: posixpath.basename(v))  # no file error: the name alone is looked up
    _, full = run(safe, url="http://t.test/view?file=about")
    _, light = run(safe, url="http://t.test/view?file=about", light=True)
    assert [a.label for a in full] == ["absolute", "absolute-windows", "relative", "nested-dots", "backslash"]
    assert [a.label for a in light] == ["absolute"]
    assert light[0].payload == "/etc/passwd"


def test_light_mode_escalates_on_a_file_error(root: Path) -> None:
    verdicts, sent = run(FileApp(root, lambda v: None if v.startswith("/") else v), light=True)
    assert len(verdicts) == 1 and sent[0].label == "absolute"


def test_file_errors_open_the_extra_forms_only_when_absent_from_the_normal_page(root: Path) -> None:
    echo = FileApp(root, lambda v: None if ".." in v or v.startswith(("/", "C:")) else v)
    _, sent = run(echo)
    assert "double-encoded" in [a.label for a in sent]
    always_error = FileApp(root, lambda v: None if ".." in v or v.startswith(("/", "C:")) else v,
                           extra="<!-- failed to open stream -->")
    _, sent = run(always_error)
    assert "double-encoded" not in [a.label for a in sent]


@pytest.mark.parametrize(("url", "point", "applies"), [
    ("http://t.test/search?q=hello", "GET_q_value", False),
    ("http://t.test/view?template=home", "GET_template_value", True),
    ("http://t.test/view?x=docs/a.txt", "GET_x_value", True),
    ("http://t.test/view?x=report.pdf", "GET_x_value", True),
    ("http://t.test/view?downloadFile=x", "GET_downloadFile_value", True),
    ("http://t.test/view?sourceFile=x", "GET_sourceFile_value", True),
    ("http://t.test/view?profileId=x", "GET_profileId_value", False),
    ("http://t.test/files/report.pdf", "ACTION_NAME_value", True),
    ("http://t.test/files/report.pdf", "PATH_0_value", False),
    ("http://t.test/files/report", "ACTION_NAME_value", False),
])
def test_gate(url: str, point: str, applies: bool) -> None:
    ctx = context(Request.from_url(url), point, spa)
    assert PATH_TRAVERSAL.applies(ctx) is applies


def test_module_exports_the_check() -> None:
    assert [c.id for c in CHECKS] == ["path-traversal"] and CHECKS[0].kind == "ptrav"


@pytest.mark.parametrize(("text", "problem"), [
    ("files: []\ntechniques: [{name: a, os: unix, template: x, tier: full, depht: 3}]\nfile_errors: []",
     "techniques.0.depht: Unexpected keyword argument"),
    ("files: []\ntechniques: [{name: a, os: beos, template: x, tier: full}]\nfile_errors: []", "techniques.0.os"),
    ("files: [{name: a}]\ntechniques: []\nfile_errors: []", "files.0.os"),
    ("files: [\n", "not valid YAML"),
])
def test_data_tables_are_schema_validated(text: str, problem: str) -> None:
    with pytest.raises(CheckError, match=re.escape(problem)):
        datafiles.parse("traversal_files.yaml", text, TraversalTable)


def test_bad_signature_regex_is_a_check_error() -> None:
    with pytest.raises(CheckError, match="bad regular expression"):
        datafiles.pattern("traversal_files.yaml", "root:(")
