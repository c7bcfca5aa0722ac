"""Where lunge's log lines go, and the filter that keeps secrets out of them.

Log lines quote requests (a replay that failed, a refused target, a proxy error) and CI logs are
read by many people and kept for months, so every line lunge emits passes through
:class:`SecretMaskingFilter` first: credentials in headers, cookies, URLs, forms and JSON become
``****``, and control characters become escapes (:func:`escape_controls`, which the console
output and the JSON documents use too). Imports nothing of lunge, so every layer may log through it.
"""

from __future__ import annotations

import logging
import re

MASK = "****"

SECRET_NAME = (  # field names whose values are credentials (forms, JSON, query); shared with evidence
    r"(?:password|passwd|pwd|pass|secret|token|api[_-]?key|access[_-]?token|refresh[_-]?token|"
    r"client[_-]?secret|session[_-]?id|sessionid|jsessionid|phpsessid|credit[_-]?card|card[_-]?number|cvv)"
)
_HEADER_LINE = re.compile(
    r"(?im)\b((?:proxy-)?authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|x-access-token|"
    r"x-csrf-token|x-xsrf-token)(\s*[:=]\s*)([^\r\n]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic|digest|token)(\s+)([A-Za-z0-9._~+/=-]{8,})")
_URL_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)")
_JSON_FIELD = re.compile(r'(?i)("' + SECRET_NAME + r'"\s*:\s*")((?:[^"\\]|\\.)*)(")')
_FORM_FIELD = re.compile(r"(?i)((?:^|[\s&?;,\"'(])" + SECRET_NAME + r"=)([^&\s;,'\"]+)")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


# C0 controls, DEL and C1 controls (ESC starts a terminal command, CR rewrites a line, LF forges a
# log line, 0x9b is CSI on 8-bit terminals), the bidirectional overrides and isolates that display
# text in another order than it has (CVE-2021-42574, "Trojan Source") and the Unicode line breaks.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` with control characters, bidirectional overrides and line separators written as
    escapes (``\\n``, ``\\u001b``, ``\\u202e``), so that a name or a recorded value cannot move the
    cursor, recolour the terminal, forge a log line or reverse the text around it. Characters in
    ``keep`` stay as they are (the line breaks of a multi-line text).

    The escapes are JSON's: on JSON text (with ``keep="\\n"`` for its indentation) they leave
    every value unchanged and take the characters out of the file.

    >>> escape_controls("evil\\n2026-01-01 INFO forged \\x1b[31mred\\u202etxt.exe")
    'evil\\\\n2026-01-01 INFO forged \\\\u001b[31mred\\\\u202etxt.exe'
    >>> escape_controls("a\\nb\\tc", keep="\\n")
    'a\\nb\\\\tc'
    """
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: m[0] if m[0] in keep else _SHORT_ESCAPES.get(m[0], f"\\u{ord(m[0]):04x}"), text)


def mask_secrets(text: str) -> str:
    """``text`` with credentials replaced by ``****``.

    >>> mask_secrets("GET /x?password=hunter2&q=1 Authorization: Bearer abcdefghijk")
    'GET /x?password=****&q=1 Authorization: ****'
    >>> mask_secrets('{"user": "ann", "api_key": "k-123"} via http://ann:pw@db.test/')
    '{"user": "ann", "api_key": "****"} via http://ann:****@db.test/'
    """
    text = _HEADER_LINE.sub(lambda m: m[1] + m[2] + MASK, text)
    text = _BEARER.sub(lambda m: m[1] + m[2] + MASK, text)
    text = _URL_USERINFO.sub(lambda m: m[1] + MASK + m[3], text)
    text = _JSON_FIELD.sub(lambda m: m[1] + MASK + m[3], text)
    text = _FORM_FIELD.sub(lambda m: m[1] + MASK, text)
    return _JWT.sub(MASK, text)


class SecretMaskingFilter(logging.Filter):
    """Masks secrets in a record's final message (arguments merged in) and in its traceback text,
    and escapes control characters in the message (:func:`escape_controls`): one record, one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = escape_controls(mask_secrets(message))
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_secrets(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        return True


def configure_logging(verbose: bool = False) -> None:
    """Send lunge's log lines to stderr, one plain masked line each (CI logs are not terminals).

    stdout stays for results (one JSON document with ``--json``). mitmproxy's per-connection chatter
    stays below WARNING. If the process already has handlers (a test harness, an embedding program),
    lunge only adds its masking filter to them.
    """
    logging.getLogger("mitmproxy").setLevel(logging.WARNING)
    logging.getLogger("lunge").setLevel(logging.DEBUG if verbose else logging.INFO)
    root = logging.getLogger()
    own = [h for h in root.handlers if not type(h).__module__.startswith("mitmproxy")]
    if not own:
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        root.addHandler(handler)
        own = [handler]
    for handler in own:
        if not any(isinstance(f, SecretMaskingFilter) for f in handler.filters):
            handler.addFilter(SecretMaskingFilter())
