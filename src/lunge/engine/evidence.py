"""From a check's verdict to a stored finding: the raw attack with secrets masked, the response
excerpt around the proof, the controls, and a fingerprint that is stable across runs.

Secrets (Authorization, cookies, API keys, password-like fields) are masked everywhere except in the
value under attack, which is the evidence itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from lunge.checks.base import Exchange, Verdict
from lunge.engine.client import sent_form
from lunge.engine.planner import path_template
from lunge.http import Request, Response, parse
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
_SECRET_KEY = re.compile(SECRET_NAME, re.IGNORECASE)
_JWT_SIGNATURE = re.compile(r"\b(eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.)([A-Za-z0-9_-]{8,})")
_SECRET_FORM = re.compile(r"(^|[&?])(" + _SECRET_FIELD + r")=([^&\s]*)", re.IGNORECASE)


def fingerprint(check_id: str, method: str, path: str, point: str) -> str:
    """Same check, method, normalised path and point = the same vulnerability, run after run."""
    key = f"{check_id}|{method.upper()}|{path_template(path)}|{point}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def to_finding(verdict: Verdict, *, run_id: int, baseline_id: int, baseline: Request) -> NewFinding:
    """The stored form of a verdict. Method, URL and fingerprint name the *baseline* endpoint that
    was attacked (an attack on a path segment changes the path; a stored XSS is proven on another
    page); the attack as sent is in the evidence.

    When the attacked point is itself a secret (a session cookie, an API key header, a password
    field), its recorded value is masked wherever it shows (payload, request, response excerpt,
    controls); what the attack added to it stays visible, and that is the evidence."""
    request = verdict.exchange.attack.request
    response = verdict.exchange.response
    conceal = _concealer(recorded_secret(baseline, verdict.point))
    return NewFinding(
        run_id=run_id, baseline_id=baseline_id, check_id=verdict.check_id, title=verdict.title,
        severity=verdict.severity, cwe=verdict.cwe, confidence=verdict.confidence, method=baseline.method,
        url=baseline.url, point=verdict.point, payload=conceal(verdict.payload),
        attack_request=conceal(masked_request(sent_form(request), verdict.point, verdict.payload)),
        response_status=response.status if response is not None else 0,
        response_excerpt=conceal(excerpt(response, verdict.proof) if response is not None
                                 else (verdict.exchange.error or "")),
        proof=conceal(verdict.proof), confirmation=verdict.confirmation,
        fingerprint=fingerprint(verdict.check_id, baseline.method, baseline.path, verdict.point),
        details=_plain(dict(verdict.details)) | {"elapsed_s": round(verdict.exchange.elapsed, 4),
                                                 "proven_at": conceal(f"{request.method} {request.url}")},
        controls=[{k: conceal(v) if isinstance(v, str) else v for k, v in control(c, verdict.point).items()}
                  for c in verdict.controls],
    )


def recorded_secret(baseline: Request, point_name: str) -> str:
    """The recorded value of ``point_name`` when it is a secret, else "": the value of a
    credential header (Authorization, API keys, tokens), of a cookie that looks like a token
    (8 characters or more), or of a password-like field anywhere."""
    point = parse(baseline).get(point_name)
    if point is None or not point.value:
        return ""
    header = point.path[0].key or "" if point.path[0].parser == "HEADER" else ""
    depth = len(point.path)  # 1: a header's whole value; 2: one cookie's value; deeper: inside them
    if depth == 1 and _SECRET_HEADERS.match(header) and header.upper() not in ("COOKIE", "SET-COOKIE"):
        return point.value
    if depth == 2 and header.upper() == "COOKIE" and len(point.value) >= 8:
        return point.value
    keys = [step.key for step in point.path if step.key]
    if keys and _SECRET_KEY.fullmatch(keys[-1]) and len(point.value) >= 3:
        return point.value
    return ""


def _concealer(secret: str) -> Callable[[str], str]:
    def conceal(text: str) -> str:
        return text.replace(secret, MASK) if secret and text else text

    return conceal


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
        # A JWT's claims are evidence, its recorded signature is not: with both, the original token
        # could be rebuilt from the report.
        shown = _mask_header(name, value, attacked_header, payload, point)
        shown = _JWT_SIGNATURE.sub(lambda m: m.group(1) + MASK, shown)
        lines.append(f"{name}: {shown}")
    body = request.body.decode("utf-8", "replace")
    if body and not point.startswith("POST_"):
        body = _mask_body(body)
    elif body:
        body = _mask_body_except(body, payload)
    return "\r\n".join(lines) + "\r\n\r\n" + body


def _mask_header(name: str, value: str, attacked: str | None, payload: str, point: str) -> str:
    if not _SECRET_HEADERS.match(name):
        return value
    if name.lower() in ("cookie", "set-cookie"):
        return ";".join(_mask_cookie(c, payload, point) for c in value.split(";"))
    if attacked is not None and attacked == name.upper():
        return value
    scheme, space, _ = value.partition(" ")
    return f"{scheme} {MASK}" if space and scheme.isalpha() else MASK


def _mask_cookie(pair: str, payload: str, point: str) -> str:
    name, eq, value = pair.partition("=")
    attacked = point.startswith(f"HEADER_COOKIE_COOKIE_{name.strip()}_")  # also a value nested in it (base64 ...)
    if not eq or attacked or (payload and payload in _loose(value)):
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
