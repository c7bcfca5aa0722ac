"""From a check's verdict to a stored finding: the raw attack with secrets masked, the response
excerpt around the proof, the controls, and a fingerprint that is stable across runs.

Secrets (Authorization, cookies, API keys, password-like fields) are masked everywhere except in the
value under attack, which is the evidence itself.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from lunge.checks.base import Exchange, Verdict
from lunge.engine.planner import path_template
from lunge.http import Request, Response
from lunge.logs import MASK, SECRET_NAME
from lunge.store.models import NewFinding

EXCERPT_RADIUS = 300
_SECRET_HEADERS = re.compile(
    r"^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|x-access-token|"
    r"x-csrf-token|x-xsrf-token|.*-token|.*-secret|.*-key)$",
    re.IGNORECASE,
)
_SECRET_FIELD = SECRET_NAME
_SECRET_JSON = re.compile(r'("' + _SECRET_FIELD + r'"\s*:\s*")((?:[^"\\]|\\.)*)(")', re.IGNORECASE)
_SECRET_FORM = re.compile(r"(^|[&?])(" + _SECRET_FIELD + r")=([^&\s]*)", re.IGNORECASE)


def fingerprint(check_id: str, method: str, path: str, point: str) -> str:
    """Same check, method, normalised path and point = the same vulnerability, run after run."""
    key = f"{check_id}|{method.upper()}|{path_template(path)}|{point}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def to_finding(verdict: Verdict, *, run_id: int, baseline_id: int, baseline: Request) -> NewFinding:
    """The stored form of a verdict. Method, URL and fingerprint name the *baseline* endpoint that
    was attacked (an attack on a path segment changes the path; a stored XSS is proven on another
    page); the attack as sent is in the evidence."""
    request = verdict.exchange.attack.request
    response = verdict.exchange.response
    return NewFinding(
        run_id=run_id, baseline_id=baseline_id, check_id=verdict.check_id, title=verdict.title,
        severity=verdict.severity, cwe=verdict.cwe, confidence=verdict.confidence, method=baseline.method,
        url=baseline.url, point=verdict.point, payload=verdict.payload,
        attack_request=masked_request(request, verdict.point, verdict.payload),
        response_status=response.status if response is not None else 0,
        response_excerpt=excerpt(response, verdict.proof) if response is not None else (verdict.exchange.error or ""),
        proof=verdict.proof, confirmation=verdict.confirmation,
        fingerprint=fingerprint(verdict.check_id, baseline.method, baseline.path, verdict.point),
        details=_plain(dict(verdict.details)) | {"elapsed_s": round(verdict.exchange.elapsed, 4),
                                                 "proven_at": f"{request.method} {request.url}"},
        controls=[control(c, verdict.point) for c in verdict.controls],
    )


def control(exchange: Exchange, point: str) -> dict[str, Any]:
    response = exchange.response
    return {
        "label": exchange.attack.label, "payload": exchange.attack.payload,
        "status": response.status if response is not None else None,
        "elapsed_s": round(exchange.elapsed, 4), "error": exchange.error,
        "excerpt": response.text()[:300] if response is not None else "",
    }


def masked_request(request: Request, point: str, payload: str) -> str:
    """The raw request as text, secrets masked, the attacked value left visible."""
    attacked_header = point.split("_", 2)[1] if point.startswith("HEADER_") else None
    lines = [f"{request.method} {request.target} {request.http_version}"]
    for name, value in request.headers:
        lines.append(f"{name}: {_mask_header(name, value, attacked_header, payload)}")
    body = request.body.decode("utf-8", "replace")
    if body and not point.startswith("POST_"):
        body = _mask_body(body)
    elif body:
        body = _mask_body_except(body, payload)
    return "\r\n".join(lines) + "\r\n\r\n" + body


def _mask_header(name: str, value: str, attacked: str | None, payload: str) -> str:
    if not _SECRET_HEADERS.match(name):
        return value
    if name.lower() in ("cookie", "set-cookie"):
        return "; ".join(_mask_cookie(c, payload) for c in value.split(";"))
    if attacked is not None and attacked == name.upper():
        return value
    scheme, space, _ = value.partition(" ")
    return f"{scheme} {MASK}" if space and scheme.isalpha() else MASK


def _mask_cookie(pair: str, payload: str) -> str:
    name, eq, value = pair.partition("=")
    if not eq or (payload and payload in _loose(value)):
        return pair
    return f"{name}={MASK}"


def _loose(value: str) -> str:
    from urllib.parse import unquote

    return value + "\n" + unquote(value)


def _mask_body(body: str) -> str:
    body = _SECRET_JSON.sub(lambda m: m.group(1) + MASK + m.group(3), body)
    return _SECRET_FORM.sub(lambda m: f"{m.group(1)}{m.group(2)}={MASK}", body)


def _mask_body_except(body: str, payload: str) -> str:
    def json_sub(m: re.Match[str]) -> str:
        return m.group(0) if payload and payload in m.group(2) else m.group(1) + MASK + m.group(3)

    def form_sub(m: re.Match[str]) -> str:
        return m.group(0) if payload and payload in _loose(m.group(3)) else f"{m.group(1)}{m.group(2)}={MASK}"

    return _SECRET_FORM.sub(form_sub, _SECRET_JSON.sub(json_sub, body))


def excerpt(response: Response, proof: str) -> str:
    """The response head and the part of its body around ``proof`` (the start when the proof
    is not in the body, e.g. a Location header)."""
    head = response.head_bytes().decode("latin-1").rstrip("\r\n")
    head = "\n".join(_mask_head_line(line) for line in head.split("\r\n"))
    text = response.text()
    at = text.find(proof) if proof else -1
    if at < 0:
        window = text[: 2 * EXCERPT_RADIUS]
        return f"{head}\n\n{window}" + ("…" if len(text) > len(window) else "")
    start = max(0, at - EXCERPT_RADIUS)
    end = min(len(text), at + len(proof) + EXCERPT_RADIUS)
    return f"{head}\n\n" + ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _mask_head_line(line: str) -> str:
    name, colon, value = line.partition(":")
    if colon and name.lower() == "set-cookie":
        cookie, _, attributes = value.strip().partition(";")
        cname, _, _ = cookie.partition("=")
        return f"{name}: {cname}={MASK}" + (f";{attributes}" if attributes else "")
    return line


def _plain(value: Any) -> Any:
    """JSON-safe copy of check details (tuples to lists, floats rounded, objects to strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
