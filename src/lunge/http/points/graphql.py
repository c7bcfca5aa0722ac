"""GraphQL documents (``GRAPHQL``): the literal values of inline arguments.

A field's argument is addressed by the fields that lead to it (aliases win over names, so two
aliased calls of one field stay apart), then ``ARG_<name>``, then ``HASH_``/``ARRAY_`` steps inside
object and list literals. Variables (``$id``) are not literals: their values live in the JSON
``variables`` object, which is a JSON point of its own.

>>> doc = '{ user(id: 5) { posts(tag: "a") { id } } }'
>>> [(".".join(s.label for s in leaf.steps), leaf.value) for leaf in parse(doc)]
[('GRAPHQL.FIELD_user.ARG_id', '5'), ('GRAPHQL.FIELD_user.FIELD_posts.ARG_tag', 'a')]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from lunge.http.points.model import Leaf, Step, ValueKind

_TOKENS = re.compile(
    r'''(?P<ws>[\s,\ufeff]+|\#[^\n]*)
      | (?P<block>"""(?:[^"\\]|\\.|"(?!""))*""")
      | (?P<string>"(?:[^"\\\n]|\\.)*")
      | (?P<number>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
      | (?P<spread>\.\.\.)
      | (?P<punct>[!$&()/:=@\[\]{|}])
      | (?P<error>.)''',
    re.X | re.S,
)
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_OPERATIONS = ("query", "mutation", "subscription", "fragment")


@dataclass(slots=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int


def encode_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def encode_number(value: str) -> str:
    return value if _NUMBER.fullmatch(value) else encode_string(value)


def encode_name(value: str) -> str:
    return value if _NAME.fullmatch(value) else encode_string(value)


def _tokenize(text: str) -> list[_Token] | None:
    """The tokens of ``text`` (whitespace, commas and comments dropped), or None at the first
    character that starts no token. One regex scan: every position matches some group."""
    tokens = []
    for match in _TOKENS.finditer(text):
        kind = match.lastgroup or ""
        if kind == "error":
            return None
        if kind != "ws":
            tokens.append(_Token(kind, match.group(0), match.start(), match.end()))
    return tokens


def looks_like_graphql(text: str) -> bool:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return True
    word = _NAME.match(stripped)
    return word is not None and word.group(0) in _OPERATIONS


def parse(text: str) -> list[Leaf] | None:
    """The argument literals of a GraphQL document, or None when ``text`` is not one."""
    if not looks_like_graphql(text):
        return None
    tokens = _tokenize(text)
    if not tokens or not any(t.text == "{" for t in tokens):
        return None
    try:
        return _Parser(text, tokens).run()
    except (IndexError, ValueError, RecursionError):
        return None


class _Parser:
    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.pos = 0
        self.leaves: list[Leaf] = []

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[self.pos + offset]

    def next(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        if self.next().text != text:
            raise ValueError(f"expected {text!r}")

    def run(self) -> list[Leaf]:
        while self.pos < len(self.tokens):
            token = self.peek()
            if token.text == "{":
                self.selection((Step("GRAPHQL"),))
            elif token.kind == "name" and token.text in _OPERATIONS:
                self.operation_header()
            else:
                raise ValueError("unexpected token at the top level")
        return self.leaves

    def operation_header(self) -> None:
        # query Name($a: Int = 1) @dir { ... }  /  fragment F on Type { ... }
        while self.peek().text != "{":
            if self.peek().text == "(":
                self.skip_group("(", ")")
            else:
                self.next()
        self.selection((Step("GRAPHQL"),))

    def skip_group(self, opening: str, closing: str) -> None:
        depth = 0
        while True:
            token = self.next()
            if token.text == opening:
                depth += 1
            elif token.text == closing:
                depth -= 1
                if depth == 0:
                    return

    def selection(self, steps: tuple[Step, ...]) -> None:
        self.expect("{")
        while self.peek().text != "}":
            token = self.next()
            if token.kind == "spread":
                if self.peek().text == "on":
                    self.next()
                    self.next()
                continue
            if token.text == "@":
                self.next()
                if self.peek().text == "(":
                    self.skip_group("(", ")")
                continue
            if token.text == "{":
                self.pos -= 1
                self.selection(steps)
                continue
            if token.kind != "name":
                raise ValueError("expected a field")
            label = token.text
            if self.peek().text == ":":  # alias: field
                self.next()
                self.next()
            field = (*steps, Step("FIELD", label))
            if self.peek().text == "(":
                self.arguments(field)
            if self.peek().text == "{":
                self.selection(field)
        self.next()

    def arguments(self, steps: tuple[Step, ...]) -> None:
        self.expect("(")
        while self.peek().text != ")":
            name = self.next()
            if name.kind != "name":
                raise ValueError("expected an argument name")
            self.expect(":")
            self.value((*steps, Step("ARG", name.text)))
        self.next()

    def value(self, steps: tuple[Step, ...]) -> None:
        token = self.next()
        if token.text == "$":
            self.next()
        elif token.text == "[":
            index = 0
            while self.peek().text != "]":
                self.value((*steps, Step("ARRAY", str(index))))
                index += 1
            self.next()
        elif token.text == "{":
            while self.peek().text != "}":
                key = self.next()
                self.expect(":")
                self.value((*steps, Step("HASH", key.text)))
            self.next()
        elif token.kind == "string":
            self.leaves.append(Leaf(steps, (token.start, token.end), json.loads(token.text), encode_string))
        elif token.kind == "block":
            # The value is the block's raw content; a new value is written as an ordinary string,
            # which carries any text (a block string cannot end in a quote).
            value = token.text[3:-3].replace('\\"""', '"""')
            self.leaves.append(Leaf(steps, (token.start, token.end), value, encode_string))
        elif token.kind == "number":
            self.leaves.append(Leaf(steps, (token.start, token.end), token.text, encode_number, ValueKind.NUMBER,
                                    nested=False))
        elif token.kind == "name":
            kind = ValueKind.BOOLEAN if token.text in ("true", "false") else (
                ValueKind.NULL if token.text == "null" else ValueKind.STRING)
            self.leaves.append(Leaf(steps, (token.start, token.end), token.text, encode_name, kind, nested=False))
        else:
            raise ValueError("expected a value")
