"""Reading a ``curl`` command line (as browsers' "Copy as cURL" write it) into a :class:`Request`.

>>> r = parse_curl("curl 'http://t.test/api?x=1' -H 'X-A: 1' --data-raw '{\\"a\\":1}' "
...                "-H 'Content-Type: application/json'")
>>> r.method, r.target, r.body, r.headers.get("x-a")
('POST', '/api?x=1', b'{"a":1}', '1')

The command is split into words the way bash would (single and double quotes, ``$'...'``
ANSI-C strings that Chrome writes for bodies with quotes or line breaks, backslash escapes and
continuations); nothing is expanded or executed. Files a command refers to (``-d @body.json``,
``-F f=@photo.png``, ``-T file``) are not read: such a value is left empty and a note says so.

This module also holds two small builders the importers share (:func:`encode_multipart`,
:func:`ascii_url`), since :mod:`lunge.http` is the lowest layer that both can use.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from lunge.errors import MessageError
from lunge.http.message import Request

# Options whose value is the next word (or the rest of the word: -XPOST, --data=x), by action.
_VALUE_OPTIONS: dict[str, str] = {
    "-X": "method", "--request": "method",
    "-H": "header", "--header": "header",
    "-b": "cookie", "--cookie": "cookie",
    "-A": "user_agent", "--user-agent": "user_agent",
    "-e": "referer", "--referer": "referer",
    "-u": "user", "--user": "user",
    "--oauth2-bearer": "bearer",
    "-F": "form", "--form": "form", "--form-string": "form_string",
    "--url": "url", "--url-query": "url_query",
    "-d": "data", "--data": "data", "--data-ascii": "data", "--data-binary": "data",
    "--data-raw": "data_raw", "--data-urlencode": "data_urlencode", "--json": "json",
    "-T": "upload", "--upload-file": "upload",
}
# Options with a value that does not change the request lunge stores (output, timeouts, TLS, proxy ...).
_IGNORED_VALUE_OPTIONS = frozenset({
    "-o", "--output", "-m", "--max-time", "--connect-timeout", "-x", "--proxy", "-w", "--write-out",
    "--retry", "--retry-delay", "--retry-max-time", "--cacert", "--capath", "--cert", "--cert-type", "--key",
    "--key-type", "--pass", "-E", "--resolve", "--connect-to", "-K", "--config", "--limit-rate", "-r", "--range",
    "--ciphers", "-c", "--cookie-jar", "--max-redirs", "--interface", "--dns-servers", "-U", "--proxy-user",
    "--noproxy", "--crlfile", "--local-port", "--keepalive-time", "--expect100-timeout", "-y", "--speed-time",
    "-Y", "--speed-limit", "-z", "--time-cond", "-C", "--continue-at", "-Q", "--quote", "-t", "--telnet-option",
    "-P", "--ftp-port", "--mail-from", "--mail-rcpt", "--stderr", "--trace", "--trace-ascii", "--unix-socket",
    "--abstract-unix-socket", "--variable", "--proto", "--proto-redir", "--tls-max", "--aws-sigv4", "-D",
    "--dump-header", "--output-dir", "--happy-eyeballs-timeout-ms", "--proxy-header", "--preproxy",
    "--socks5", "--socks5-hostname", "--socks4", "--socks4a", "--hostpubmd5", "--pinnedpubkey",
})
_FLAG_ACTIONS = {"-G": "get", "--get": "get", "-I": "head", "--head": "head"}
# Short options that take a value; any other letter in a cluster such as -sSLk is a flag.
_SHORT_WITH_VALUE = frozenset("XHbAueFdoTmxwKrEcUyYzCQtPD")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


@dataclass(frozen=True, slots=True)
class CurlCommand:
    """The request a curl command would send, and notes on what could not be reproduced."""

    request: Request
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FormPart:
    """One part of a multipart/form-data body; ``filename`` makes it a file part."""

    name: str
    content: bytes
    filename: str | None = None
    content_type: str | None = None


def parse_curl(command: str) -> Request:
    """The request a curl command line would send. Raises MessageError for what is not one
    (no URL, an option missing its value, unbalanced quotes)."""
    return parse_curl_command(command).request


def parse_curl_command(command: str) -> CurlCommand:
    """Like :func:`parse_curl`, with notes about values that could not be reproduced
    (files the command reads, unknown options, extra URLs)."""
    args = split_command(command)
    if args and args[0] in ("$", ">") and len(args) > 1:
        args = args[1:]  # a shell prompt copied with the command
    if not args or args[0].rsplit("/", 1)[-1] not in ("curl", "curl.exe"):
        raise MessageError("not a curl command line (it must start with 'curl')")
    state = _State()
    i = 1
    while i < len(args):
        i = state.take(args, i)
    return state.build()


# ---------------------------------------------------------------------- word splitting
def split_command(text: str) -> list[str]:
    r"""The words of a shell command line, as bash splits them (no expansion).

    >>> split_command("curl -H 'A: b' \"x\\\"y\" $'l1\\nl2' a\\ b \\\n -k")
    ['curl', '-H', 'A: b', 'x"y', 'l1\nl2', 'a b', '-k']
    """
    if re.search(r"(^|\s)\^\"|\^\s*$", text, re.MULTILINE):
        raise MessageError("Windows cmd quoting (^) is not supported: copy the command as cURL (bash)")
    return _Splitter(text).words()


class _Splitter:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.words_: list[str] = []

    def words(self) -> list[str]:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t\r\n":
                self.pos += 1
            elif ch == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                word = self._word()
                if word is not None:
                    self.words_.append(word)
        return self.words_

    def _word(self) -> str | None:
        """The next word; None when there was only a line continuation (no word at all)."""
        text, started = self.text, False
        out: list[str] = []
        while self.pos < len(text) and text[self.pos] not in " \t\r\n":
            ch = text[self.pos]
            if ch == "\\":
                started = self._backslash(out) or started
                continue
            if ch == "'":
                out.append(self._until("'", self.pos + 1))
            elif ch == "$" and text.startswith("$'", self.pos):
                out.append(_ansi_c(self._until("'", self.pos + 2, escapes=True)))
            elif ch == '"':
                out.append(self._double_quoted())
            else:
                out.append(ch)
                self.pos += 1
            started = True
        return "".join(out) if started else None

    def _backslash(self, out: list[str]) -> bool:
        nxt = self.text[self.pos + 1 : self.pos + 2]
        self.pos += 2
        if nxt == "\r" and self.text[self.pos : self.pos + 1] == "\n":
            self.pos += 1
            return False
        if nxt in ("\n", ""):
            return False  # a line continuation joins lines; a trailing backslash is dropped
        out.append(nxt)
        return True

    def _until(self, quote_char: str, start: int, *, escapes: bool = False) -> str:
        i = start
        while i < len(self.text):
            if escapes and self.text[i] == "\\":
                i += 2
                continue
            if self.text[i] == quote_char:
                self.pos = i + 1
                return self.text[start:i]
            i += 1
        raise MessageError(f"unbalanced quote: {quote_char} opened at character {start} is never closed")

    def _double_quoted(self) -> str:
        text, i = self.text, self.pos + 1
        out: list[str] = []
        while i < len(text):
            ch = text[i]
            if ch == '"':
                self.pos = i + 1
                return "".join(out)
            if ch == "\\" and text[i + 1 : i + 2] in ('"', "\\", "$", "`", "\n"):
                if text[i + 1] != "\n":
                    out.append(text[i + 1])
                i += 2
                continue
            out.append(ch)
            i += 1
        raise MessageError(f'unbalanced quote: " opened at character {self.pos} is never closed')


_ANSI_SIMPLE = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_ANSI_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|c.|.)", re.DOTALL)


def _ansi_c(body: str) -> str:
    r"""The value of bash's ``$'...'``; ``\xHH`` and octal escapes are bytes (kept as UTF-8 where they
    form it, else as surrogate escapes so :func:`wire_bytes` gives them back exactly).

    >>> _ansi_c(r"a\nb\x41\u00e9\'")
    "a\nbAé'"
    """
    out = bytearray()
    pos = 0
    for match in _ANSI_ESCAPE.finditer(body):
        out += body[pos : match.start()].encode("utf-8", "surrogateescape")
        out += _ansi_escape(match.group(1))
        pos = match.end()
    out += body[pos:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


def _ansi_escape(code: str) -> bytes:
    head = code[0]
    if head == "x" and len(code) > 1:
        return bytes([int(code[1:], 16)])
    if head in "uU" and len(code) > 1:
        value = int(code[1:], 16)
        return chr(value).encode("utf-8", "surrogatepass") if value <= 0x10FFFF else b"?"
    if head in "01234567":
        return bytes([int(code, 8) & 0xFF])
    if head == "c":
        return bytes([ord(code[1]) & 0x1F]) if ord(code[1]) < 128 else code[1].encode("utf-8", "surrogateescape")
    if code in _ANSI_SIMPLE:
        return _ANSI_SIMPLE[code].encode()
    return ("\\" + code).encode("utf-8", "surrogateescape")


def wire_bytes(text: str) -> bytes:
    """Text from a command line as bytes (UTF-8; raw bytes from ``$'\\xHH'`` kept as they were)."""
    return text.encode("utf-8", "surrogateescape")


def wire_text(text: str) -> str:
    """Text as a header value: the UTF-8 bytes seen as latin-1, as :class:`Headers` keeps them.

    >>> wire_text("é")
    'Ã©'
    """
    return wire_bytes(text).decode("latin-1")


# ---------------------------------------------------------------------- options
class _State:
    def __init__(self) -> None:
        self.urls: list[str] = []
        self.method: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.data: list[str] = []
        self.queries: list[str] = []
        self.forms: list[FormPart] = []
        self.notes: list[str] = []
        self.get = False
        self.head = False
        self.json = False
        self.upload = False

    def take(self, args: list[str], i: int) -> int:
        """Consume the option (with its value) or URL at ``args[i]``; the index of the next word."""
        arg = args[i]
        if arg.startswith("--"):
            return self._long(args, i)
        if arg.startswith("-") and len(arg) > 1:
            return self._short_cluster(args, i)
        self.urls.append(arg)
        return i + 1

    def _long(self, args: list[str], i: int) -> int:
        arg = args[i]
        name, eq, value = arg.partition("=")
        takes_value = name in _VALUE_OPTIONS or name in _IGNORED_VALUE_OPTIONS
        if eq and takes_value:
            self._apply(name, value)
            return i + 1
        if takes_value:
            if i + 1 >= len(args):
                raise MessageError(f"option {arg} needs a value")
            self._apply(arg, args[i + 1])
            return i + 2
        if arg in _FLAG_ACTIONS:
            self._flag(_FLAG_ACTIONS[arg])
        return i + 1  # other flags (--compressed, --insecure, --location, ...) do not change the request

    def _short_cluster(self, args: list[str], i: int) -> int:
        arg = args[i]
        for pos in range(1, len(arg)):
            letter = arg[pos]
            if letter in _SHORT_WITH_VALUE:
                rest = arg[pos + 1 :]
                if rest:
                    self._apply("-" + letter, rest)
                    return i + 1
                if i + 1 >= len(args):
                    raise MessageError(f"option -{letter} needs a value")
                self._apply("-" + letter, args[i + 1])
                return i + 2
            if "-" + letter in _FLAG_ACTIONS:
                self._flag(_FLAG_ACTIONS["-" + letter])
        return i + 1

    def _flag(self, action: str) -> None:
        if action == "get":
            self.get = True
        elif action == "head":
            self.head = True

    def _apply(self, option: str, value: str) -> None:
        action = _VALUE_OPTIONS.get(option)
        if action is None:
            return  # an option with a value that does not change the request
        handler = getattr(self, "_on_" + action)
        handler(value)

    # one handler per action of _VALUE_OPTIONS
    def _on_method(self, value: str) -> None:
        self.method = value

    def _on_header(self, value: str) -> None:
        if value.startswith("@"):
            self.notes.append(f"headers from file {value[1:]!r} are not available")
            return
        name, colon, rest = value.partition(":")
        if not colon and value.endswith(";"):
            name, rest = value[:-1], ""  # curl's "Name;" sends the header with an empty value
        elif not colon:
            raise MessageError(f"not a header (Name: value): {value!r}")
        elif not rest.strip():
            return  # "Name:" tells curl to remove a header it would add itself
        if not _TOKEN.match(name):
            raise MessageError(f"not a header name: {name!r}")
        self.headers.append((name, rest.strip()))

    def _on_cookie(self, value: str) -> None:
        if "=" not in value:
            self.notes.append(f"cookies from file {value!r} are not available")
            return
        self.headers.append(("Cookie", value))

    def _on_user_agent(self, value: str) -> None:
        self.headers.append(("User-Agent", value))

    def _on_referer(self, value: str) -> None:
        self.headers.append(("Referer", value.removesuffix(";auto")))

    def _on_user(self, value: str) -> None:
        token = base64.b64encode(wire_bytes(value)).decode()
        self.headers.append(("Authorization", f"Basic {token}"))

    def _on_bearer(self, value: str) -> None:
        self.headers.append(("Authorization", f"Bearer {value}"))

    def _on_form(self, value: str) -> None:
        self.forms.append(self._form_part(value, literal=False))

    def _on_form_string(self, value: str) -> None:
        self.forms.append(self._form_part(value, literal=True))

    def _on_url(self, value: str) -> None:
        self.urls.append(value)

    def _on_url_query(self, value: str) -> None:
        self.queries.append(self._urlencoded(value))

    def _on_data(self, value: str) -> None:
        if value.startswith("@"):
            self.notes.append(f"the body from file {value[1:]!r} is not available: it is left empty")
            self.data.append("")
            return
        self.data.append(value)

    def _on_data_raw(self, value: str) -> None:
        self.data.append(value)

    def _on_data_urlencode(self, value: str) -> None:
        self.data.append(self._urlencoded(value))

    def _on_json(self, value: str) -> None:
        self.json = True
        self._on_data(value)

    def _on_upload(self, value: str) -> None:
        self.upload = True
        self.notes.append(f"the uploaded file {value!r} is not available: the body is left empty")

    def _urlencoded(self, value: str) -> str:
        """curl's --data-urlencode forms: content, =content, name=content, @file, name@file."""
        if value.startswith("+"):
            return value[1:]  # --url-query's "+" prefix: already encoded
        name, eq, content = value.partition("=")
        if eq:
            encoded = quote(wire_bytes(content), safe="")
            return f"{name}={encoded}" if name else encoded
        name, at, filename = value.partition("@")
        if at:
            self.notes.append(f"the value from file {filename!r} is not available: it is left empty")
            return f"{name}=" if name else ""
        return quote(wire_bytes(value), safe="")

    def _form_part(self, value: str, *, literal: bool) -> FormPart:
        name, eq, content = value.partition("=")
        if not eq:
            raise MessageError(f"not a form field (name=content): {value!r}")
        if literal or not content.startswith(("@", "<")):
            text, _, options = (content, "", "") if literal else _split_form_options(content)
            return FormPart(name, wire_bytes(text), content_type=_form_type(options))
        path, _, options = _split_form_options(content[1:])
        self.notes.append(f"the file {path!r} of form field {name!r} is not available: it is left empty")
        if content.startswith("<"):
            return FormPart(name, b"", content_type=_form_type(options))
        filename = _form_option(options, "filename") or path.replace("\\", "/").rsplit("/", 1)[-1]
        return FormPart(name, b"", filename, _form_type(options) or "application/octet-stream")

    # ------------------------------------------------------------------ building
    def build(self) -> CurlCommand:
        if not self.urls:
            raise MessageError("the curl command has no URL")
        if len(self.urls) > 1:
            self.notes.append(f"the command has {len(self.urls)} URLs: only the first is imported")
        url = ascii_url(self.urls[0] if "://" in self.urls[0] else "http://" + self.urls[0])
        url = self._with_credentials(url)
        body = self._body()
        if self.data and self.get:
            url = _append_query(url, "&".join(self.data))
        if self.queries:
            url = _append_query(url, "&".join(self.queries))
        method = self.method or ("HEAD" if self.head else "PUT" if self.upload
                                 else "POST" if (self.data and not self.get) or self.forms else "GET")
        headers = [(name, _header_value(name, value)) for name, value in self.headers]
        if not _TOKEN.match(method):
            raise MessageError(f"not an HTTP method: {method!r}")
        request = Request.from_url(url, method, headers, body)
        return CurlCommand(request, tuple(self.notes))

    def _body(self) -> bytes:
        names = {k.lower() for k, _ in self.headers}
        if self.forms:
            body, content_type = encode_multipart(self.forms)
            if "content-type" not in names:
                self.headers.append(("Content-Type", content_type))
            return body
        if not self.data or self.get:
            return b""
        if "content-type" not in names:
            kind = "application/json" if self.json else "application/x-www-form-urlencoded"
            self.headers.append(("Content-Type", kind))
        if self.json and "accept" not in names:
            self.headers.append(("Accept", "application/json"))
        return wire_bytes("&".join(self.data))

    def _with_credentials(self, url: str) -> str:
        """curl turns ``user:password@`` in the URL into Basic authentication."""
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        userinfo, _, hostport = parts.netloc.rpartition("@")
        if not any(k.lower() == "authorization" for k, _ in self.headers):
            self._on_user(unquote(userinfo))
        return urlunsplit((parts.scheme, hostport, parts.path, parts.query, ""))


def _split_form_options(content: str) -> tuple[str, str, str]:
    """``value;type=text/plain;filename=x`` → (value, ';', 'type=...;filename=x')."""
    match = re.search(r";\s*(?:type|filename|headers|encoder)=", content)
    if not match:
        return content, "", ""
    return content[: match.start()], ";", content[match.start() + 1 :]


def _form_option(options: str, key: str) -> str | None:
    for item in options.split(";"):
        name, eq, value = item.strip().partition("=")
        if eq and name == key:
            return value.strip('"')
    return None


def _form_type(options: str) -> str | None:
    return _form_option(options, "type")


def _header_value(name: str, value: str) -> str:
    if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
        raise MessageError(f"header {name!r} contains a line break")
    return wire_text(value.strip(" \t"))  # whitespace around a value is not part of it on the wire


def _append_query(url: str, query: str) -> str:
    if not query:
        return url
    return url + ("&" if "?" in url else "?") + query


# ---------------------------------------------------------------------- shared builders
def encode_multipart(parts: list[FormPart]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type. The boundary is fixed (so an import is
    reproducible) unless some content contains it.

    >>> body, ctype = encode_multipart([FormPart("a", b"1"), FormPart("f", b"", "x.png", "image/png")])
    >>> ctype
    'multipart/form-data; boundary=----lungeFormBoundary7MA4YWxkTrZu0gW'
    >>> body.count(b"Content-Disposition")
    2
    """
    boundary = "----lungeFormBoundary7MA4YWxkTrZu0gW"
    suffix = 0
    while any(boundary.encode() in p.content for p in parts):
        suffix += 1
        boundary = f"----lungeFormBoundary7MA4YWxkTrZu0gW{suffix}"
    chunks: list[bytes] = []
    for part in parts:
        disposition = f'form-data; name="{_quoted(part.name)}"'
        if part.filename is not None:
            disposition += f'; filename="{_quoted(part.filename)}"'
        head = f"Content-Disposition: {disposition}\r\n"
        if part.content_type:
            head += f"Content-Type: {_quoted(part.content_type)}\r\n"
        chunks.append(f"--{boundary}\r\n".encode() + wire_bytes(head) + b"\r\n" + part.content + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _quoted(text: str) -> str:
    """A name or file name that cannot end its quoted string or its header line."""
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def ascii_url(url: str) -> str:
    """The URL with what cannot go on the wire made safe: spaces, controls and non-ASCII characters
    percent-encoded as UTF-8 (existing escapes kept), an internationalised host in IDNA form, and
    the fragment (never sent) dropped. Raises MessageError for what is not a URL.

    >>> ascii_url("http://bücher.test/ä ö?q=é#top")
    'http://xn--bcher-kva.test/%C3%A4%20%C3%B6?q=%C3%A9'
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise MessageError(f"not a URL: {url[:200]!r} ({exc})") from exc
    host = parts.hostname or ""
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise MessageError(f"bad host name {host[:100]!r} in URL") from exc
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    netloc = (quote(userinfo, safe=_URL_SAFE) + "@" if userinfo else "") + host + (f":{port}" if port else "")
    path = quote(parts.path, safe=_URL_SAFE, encoding="utf-8", errors="surrogateescape")
    query = quote(parts.query, safe=_URL_SAFE, encoding="utf-8", errors="surrogateescape")
    return urlunsplit((parts.scheme, netloc, path, query, ""))


__all__ = ["CurlCommand", "FormPart", "ascii_url", "encode_multipart", "parse_curl", "parse_curl_command",
           "split_command", "wire_bytes", "wire_text"]
