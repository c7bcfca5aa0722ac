"""A small JavaScript lexer: where a position lies (code, string, template, comment, regex) and
whether a name is *called from code*.

Enough of ECMAScript's lexical grammar for the XSS and open-redirect oracles: string literals with
escapes, template literals with nested ``${...}``, line and block comments (and the HTML-like
``<!--`` line comment of classic scripts), regular-expression literals told apart from division by
the preceding token. It never evaluates anything.

>>> context_at("var s = 'abc'; f(x)", 10)
('string', "'")
>>> calls("var s = ''-m1()-'';", "m1")
[(11, 13)]
>>> calls("var s = '\\\\'-m1()-\\\\'';", "m1")
[]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum


class JsKind(StrEnum):
    """What a token is: executable code, or text that never runs as code."""

    CODE = "code"
    STRING = "string"
    TEMPLATE = "template"
    COMMENT = "comment"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class JsToken:
    """One token: ``text`` spans ``code[start:end]``; ``quote`` is the delimiter of a string or
    template (``'``, ``"``, a backtick)."""

    kind: JsKind
    start: int
    end: int
    text: str
    quote: str = ""


_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
_IDENT = _IDENT_START | frozenset("0123456789")
_SPACE = frozenset(" \t\r\n\f\v\u00a0\u2028\u2029\ufeff")
# After these keywords a '/' starts a regular expression, not a division.
_REGEX_KEYWORDS = frozenset({"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw",
                             "case", "do", "else", "yield", "await"})
_VALUE_END = frozenset(")]}")


def tokenize(code: str) -> list[JsToken]:
    """The tokens of ``code``; whitespace is skipped, unterminated literals end at the end of the
    line (strings) or of the code (templates, comments)."""
    return list(_Lexer(code).run())


def context_at(code: str, index: int) -> tuple[str, str]:
    """``(kind, quote)`` of the token covering ``index``: ``("string", "'")``, ``("template", "`")``,
    ``("comment", "")``, ``("regex", "")`` or ``("code", "")``."""
    for token in tokenize(code):
        if token.start <= index < token.end and token.kind is not JsKind.CODE:
            return token.kind.value, token.quote
        if token.start > index:
            break
    return JsKind.CODE.value, ""


def calls(code: str, name: str) -> list[tuple[int, int]]:
    """Spans of ``name`` used as a called identifier in code (``name(`` outside strings, comments
    and regexes), compared case-insensitively so a case-folding server is still recognised."""
    wanted = name.lower()
    tokens = [t for t in tokenize(code) if t.kind is JsKind.CODE]
    spans = []
    for i, token in enumerate(tokens[:-1]):
        if token.text.lower() == wanted and tokens[i + 1].text == "(":
            previous = tokens[i - 1].text if i else ""
            if previous != ".":  # a method of some object is not our global function
                spans.append((token.start, token.end))
    return spans


class _Lexer:
    """One pass over the code. ``braces`` tells, for each open ``{``, whether it opened a template
    substitution (so the matching ``}`` resumes the template)."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.pos = 0
        self.braces: list[bool] = []
        self.previous: JsToken | None = None

    def run(self) -> Iterator[JsToken]:
        code, n = self.code, len(self.code)
        while self.pos < n:
            ch = code[self.pos]
            if ch in _SPACE:
                self.pos += 1
                continue
            token = self._next(ch)
            if token.kind is not JsKind.COMMENT:
                self.previous = token
            yield token

    def _next(self, ch: str) -> JsToken:
        code, start = self.code, self.pos
        if code.startswith(("//", "<!--"), start):
            return self._until_newline(start)
        if code.startswith("/*", start):
            end = code.find("*/", start + 2)
            return self._emit(JsKind.COMMENT, start, len(code) if end < 0 else end + 2)
        if ch in "'\"":
            return self._string(start, ch)
        if ch == "`":
            return self._template(start + 1, start)
        if ch == "}" and self.braces and self.braces.pop():
            return self._template(start + 1, start)
        if ch == "/" and self._regex_allowed():
            return self._regex(start)
        if ch in _IDENT_START or ch == "\\" or ord(ch) > 127:
            return self._word(start)
        if ch.isdigit() or (ch == "." and code[start + 1 : start + 2].isdigit()):
            return self._number(start)
        if ch == "{":
            self.braces.append(False)
        return self._emit(JsKind.CODE, start, start + 1)

    def _emit(self, kind: JsKind, start: int, end: int, quote: str = "") -> JsToken:
        self.pos = end
        return JsToken(kind, start, end, self.code[start:end], quote)

    def _until_newline(self, start: int) -> JsToken:
        end = self.code.find("\n", start)
        return self._emit(JsKind.COMMENT, start, len(self.code) if end < 0 else end)

    def _string(self, start: int, quote: str) -> JsToken:
        code, i, n = self.code, start + 1, len(self.code)
        while i < n and code[i] != quote and code[i] != "\n":
            i += 2 if code[i] == "\\" else 1
        return self._emit(JsKind.STRING, start, min(i + 1, n), quote)

    def _template(self, i: int, start: int) -> JsToken:
        """A template chunk from ``start`` (the backtick, or the ``}`` closing a substitution) to
        the closing backtick or the next ``${``."""
        code, n = self.code, len(self.code)
        while i < n:
            if code[i] == "\\":
                i += 2
            elif code[i] == "`":
                return self._emit(JsKind.TEMPLATE, start, i + 1, "`")
            elif code.startswith("${", i):
                self.braces.append(True)
                return self._emit(JsKind.TEMPLATE, start, i + 2, "`")
            else:
                i += 1
        return self._emit(JsKind.TEMPLATE, start, n, "`")

    def _regex(self, start: int) -> JsToken:
        code, i, n = self.code, start + 1, len(self.code)
        in_class = False
        while i < n and code[i] != "\n":
            ch = code[i]
            if ch == "\\":
                i += 2
                continue
            if ch == "[":
                in_class = True
            elif ch == "]":
                in_class = False
            elif ch == "/" and not in_class:
                i += 1
                while i < n and code[i] in _IDENT:
                    i += 1
                break
            i += 1
        return self._emit(JsKind.REGEX, start, min(i, n))

    def _word(self, start: int) -> JsToken:
        code, i, n = self.code, start, len(self.code)
        while i < n and (code[i] in _IDENT or code[i] == "\\" or ord(code[i]) > 127):
            i += 1
        return self._emit(JsKind.CODE, start, max(i, start + 1))

    def _number(self, start: int) -> JsToken:
        code, i, n = self.code, start, len(self.code)
        while i < n and (code[i] in _IDENT or code[i] == "."):
            i += 1
        return self._emit(JsKind.CODE, start, i)

    def _regex_allowed(self) -> bool:
        """Whether a ``/`` here starts a regex: after an operator, an opening bracket, a keyword
        like ``return``, or at the start; not after a value (a name, a number, a literal, ``)``)."""
        prev = self.previous
        if prev is None:
            return True
        if prev.kind in (JsKind.STRING, JsKind.TEMPLATE, JsKind.REGEX):
            return False
        text = prev.text
        if text[0] in _IDENT_START or text[0].isdigit() or text[0] == "\\":
            return text in _REGEX_KEYWORDS
        return text not in _VALUE_END
