"""Where lunge's log lines go, and the filter that keeps secrets out of them.

Log lines quote requests (a replay that failed, a refused target, a proxy error) and CI logs are
read by many people and kept for months, so every line lunge emits passes through
:class:`SecretMaskingFilter` first: credentials in headers, cookies, URLs, forms and JSON become
``****``. Imports nothing of lunge, so every layer may log through it.
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
    """Masks secrets in a record's final message (arguments merged in) and in its traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
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
