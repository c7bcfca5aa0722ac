"""Where a reflected value lands in an HTML page, and whether injected markup would run there.

Parse, don't grep (detection.md §2): the page goes through the standard library's HTML tokenizer,
taught the elements whose content is raw text in a browser (``textarea``, ``title``, ``noscript``,
``iframe``, ``style``, ``xmp``, ... besides ``script``), so markup echoed inside them stays text, as
it does in a browser. Two questions are answered on the token stream:

- :func:`reflections`: every context a canary appears in (HTML text, attribute value and its quote,
  URL attribute, event handler, script string or code, comment, raw-text parent, ...);
- :func:`executions`: every place where a marker would *run*: an event-handler attribute calling it,
  a ``javascript:`` URL in an attribute that navigates (``a href``, ``iframe src``, ``form action``,
  never ``img src``), an executable ``<script>`` calling it from code, or the same inside an
  ``iframe srcdoc``. Elements inside ``<template>`` are inert and do not count.

>>> [r.context.value for r in reflections('<p title="zq1">zq1</p><!-- zq1 -->', "zq1")]
['attribute', 'html-text', 'comment']
>>> [e.how for e in executions('<textarea><b onclick=zq1()></textarea><i onclick=zq1()>', "zq1")]
['event-handler']
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from html.parser import HTMLParser
from urllib.parse import unquote

from lunge.checks import jscontext

# Elements whose content a browser does not parse as markup (RCDATA / RAWTEXT, and noscript when
# scripting is on, which is when XSS matters). ``script`` is handled like them by the tokenizer.
RAW_TEXT_ELEMENTS = ("script", "style", "textarea", "title", "noscript", "iframe", "noembed", "noframes", "xmp")
INERT_ELEMENTS = frozenset({"template"})
# Script types a browser executes (HTML "JavaScript MIME type essence match", plus module and empty).
EXECUTABLE_SCRIPT_TYPES = frozenset({
    "", "module", "text/javascript", "application/javascript", "application/ecmascript", "application/x-ecmascript",
    "application/x-javascript", "text/ecmascript", "text/javascript1.0", "text/javascript1.1", "text/javascript1.2",
    "text/javascript1.3", "text/javascript1.4", "text/javascript1.5", "text/jscript", "text/livescript",
    "text/x-ecmascript", "text/x-javascript",
})
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "data", "poster", "background", "cite",
                            "codebase", "longdesc", "usemap", "xlink:href", "ping", "manifest", "icon"})
# (element, attribute) pairs that navigate to or load a javascript: URL as a document (nuclei's
# executableURLSinks); ``img src`` and friends never run it.
EXECUTING_URL_SINKS = frozenset({
    ("a", "href"), ("area", "href"), ("iframe", "src"), ("frame", "src"), ("embed", "src"), ("form", "action"),
    ("button", "formaction"), ("input", "formaction"), ("object", "data"), ("a", "xlink:href"),
})
_SPACE = " \t\n\r\f"


class Context(StrEnum):
    """Where a reflection lands."""

    TEXT = "html-text"
    TAG_NAME = "tag-name"
    ATTRIBUTE_NAME = "attribute-name"
    ATTRIBUTE = "attribute"
    URL = "url-attribute"
    EVENT_HANDLER = "event-handler"
    SRCDOC = "srcdoc"
    SCRIPT = "script"
    INERT_SCRIPT = "non-executing-script"
    RAW_TEXT = "raw-text"
    COMMENT = "comment"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Attribute:
    """An attribute as written: ``value`` is entity-decoded, ``raw`` as in the page, ``quote`` the
    delimiter (``"``, ``'``, or '' for an unquoted or missing value)."""

    name: str
    value: str
    raw: str = ""
    quote: str = ""


@dataclass(frozen=True, slots=True)
class Tag:
    """A start tag, with its exact source text and whether it sits inside a ``<template>``."""

    name: str
    attributes: tuple[Attribute, ...]
    source: str
    inert: bool = False

    def get(self, name: str) -> str | None:
        """The first attribute called ``name`` (browsers ignore later duplicates)."""
        return next((a.value for a in self.attributes if a.name == name), None)


@dataclass(frozen=True, slots=True)
class Text:
    """Character data; ``parent`` is the raw-text element holding it ('' for normal text) and
    ``owner`` that element's start tag."""

    data: str
    parent: str = ""
    owner: Tag | None = None
    inert: bool = False


@dataclass(frozen=True, slots=True)
class Comment:
    data: str


@dataclass(frozen=True, slots=True)
class Other:
    """A doctype, processing instruction or other declaration."""

    data: str


Token = Tag | Text | Comment | Other


@dataclass(frozen=True, slots=True)
class Reflection:
    """One place a canary appears.

    - ``tag``/``attribute``: the element (or raw-text parent) and attribute holding it;
    - ``quote``: the attribute's quote ('' unquoted);
    - ``script``: for script, event-handler and ``javascript:`` contexts, where inside the JavaScript:
      a string quote (``'``, ``"``, a backtick), ``code``, ``comment`` or ``regex``;
    - ``at_start``: the canary starts the attribute value (so it controls a URL's scheme);
    - ``inert``: inside a ``<template>``.
    """

    context: Context
    tag: str = ""
    attribute: str = ""
    quote: str = ""
    script: str = ""
    at_start: bool = False
    inert: bool = False


@dataclass(frozen=True, slots=True)
class Execution:
    """A place where the marker would run. ``how`` is ``event-handler``, ``javascript-url``,
    ``script`` or ``srcdoc``; ``excerpt`` the exact source that proves it."""

    how: str
    excerpt: str
    tag: str = ""
    attribute: str = ""


def parse(text: str) -> list[Token]:
    """The token stream of an HTML document."""
    parser = _Tokenizer()
    parser.feed(text)
    parser.close()
    parser.flush()
    return parser.tokens


def reflections(text: str | list[Token], canary: str) -> list[Reflection]:
    """Every context ``canary`` appears in (case-insensitively), in document order."""
    tokens = parse(text) if isinstance(text, str) else text
    wanted = canary.lower()
    found: list[Reflection] = []
    for token in tokens:
        found.extend(_reflections_in(token, wanted))
    return found


def executions(text: str | list[Token], marker: str, *, depth: int = 0) -> list[Execution]:
    """Every place ``marker`` would be called from script in this page (see the module docstring)."""
    tokens = parse(text) if isinstance(text, str) else text
    found: list[Execution] = []
    for token in tokens:
        if isinstance(token, Tag) and not token.inert:
            found.extend(_tag_executions(token, marker, depth))
        elif isinstance(token, Text) and token.parent == "script" and token.owner is not None:
            if executable_script(token.owner) and not token.owner.inert:
                found.extend(Execution("script", _window(token.data, start, end), "script")
                             for start, end in jscontext.calls(token.data, marker))
    return found


def executable_script(tag: Tag) -> bool:
    """Whether a ``<script>`` element runs its inline text: a JavaScript type (the first ``type``
    attribute wins) and no ``src``."""
    kind = (tag.get("type") or "").strip().lower().partition(";")[0].strip()
    return kind in EXECUTABLE_SCRIPT_TYPES and tag.get("src") is None


def javascript_url(value: str) -> str | None:
    """The code of a ``javascript:`` URL as a browser reads it (leading controls and spaces
    stripped, tabs and newlines removed, percent-decoded), or None for any other URL.

    >>> javascript_url(" Java\\tScript:alert(%27x%27)")
    "alert('x')"
    """
    cleaned = value.lstrip("".join(chr(c) for c in range(0x21))).replace("\t", "").replace("\n", "")
    cleaned = cleaned.replace("\r", "")
    if cleaned[:11].lower() != "javascript:":
        return None
    return unquote(cleaned[11:])


def scan_attributes(source: str) -> tuple[Attribute, ...]:
    """The attributes of a start tag's source text, following the HTML tokenizer's attribute states.

    >>> [(a.name, a.value, a.quote) for a in scan_attributes('<a HREF="x&amp;y" b=c d>')]
    [('href', 'x&y', '"'), ('b', 'c', ''), ('d', '', '')]
    """
    i, n = 1, len(source)
    while i < n and source[i] not in _SPACE + "/>":
        i += 1
    found: list[Attribute] = []
    while i < n:
        while i < n and source[i] in _SPACE + "/":
            i += 1
        if i >= n or source[i] == ">":
            break
        start = i
        i += 1  # an attribute name may start with '='
        while i < n and source[i] not in _SPACE + "/>=":
            i += 1
        attribute, i = _attribute_value(source, source[start:i].lower(), i)
        found.append(attribute)
    return tuple(found)


def _attribute_value(source: str, name: str, i: int) -> tuple[Attribute, int]:
    n = len(source)
    j = i
    while j < n and source[j] in _SPACE:
        j += 1
    if j >= n or source[j] != "=":
        return Attribute(name, ""), i
    j += 1
    while j < n and source[j] in _SPACE:
        j += 1
    if j < n and source[j] in "\"'":
        quote = source[j]
        end = source.find(quote, j + 1)
        end = n - 1 if end < 0 else end
        raw = source[j + 1 : end]
        return Attribute(name, html.unescape(raw), raw, quote), end + 1
    k = j
    while k < n and source[k] not in _SPACE + ">":
        k += 1
    raw = source[j:k]
    return Attribute(name, html.unescape(raw), raw, ""), k


class _Tokenizer(HTMLParser):
    """The stdlib tokenizer with browser-like raw-text elements and ``<template>`` tracking."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[Token] = []
        self.template_depth = 0
        self.owner: Tag | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        source = self.get_starttag_text() or f"<{tag}>"
        token = Tag(tag, scan_attributes(source), source, self.template_depth > 0)
        self.tokens.append(token)
        if tag in INERT_ELEMENTS:
            self.template_depth += 1
        if tag in RAW_TEXT_ELEMENTS:
            self.owner = token
            # the tokenizer's own switch to raw text, which it makes by itself only for script and style
            self.set_cdata_mode(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # HTML ignores the self-closing flag on non-void elements: "<textarea/>" opens a textarea.
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in INERT_ELEMENTS:
            self.template_depth = max(0, self.template_depth - 1)

    def handle_data(self, data: str) -> None:
        parent = self.cdata_elem or ""
        owner = self.owner if parent else None
        last = self.tokens[-1] if self.tokens else None
        if isinstance(last, Text) and last.parent == parent and last.owner is owner:
            self.tokens[-1] = Text(last.data + data, parent, owner, last.inert)
            return
        self.tokens.append(Text(data, parent, owner, self.template_depth > 0))

    def handle_comment(self, data: str) -> None:
        self.tokens.append(Comment(data))

    def handle_decl(self, decl: str) -> None:
        self.tokens.append(Other(decl))

    def handle_pi(self, data: str) -> None:
        self.tokens.append(Other(data))

    def unknown_decl(self, data: str) -> None:
        self.tokens.append(Other(data))

    def flush(self) -> None:
        """Raw text left open at the end of the page (some Python versions keep it back)."""
        rest = getattr(self, "rawdata", "")
        if self.cdata_elem and rest:
            self.handle_data(rest)
            self.rawdata = ""


def _reflections_in(token: Token, wanted: str) -> Iterator[Reflection]:
    if isinstance(token, Tag):
        yield from _tag_reflections(token, wanted)
    elif isinstance(token, Text):
        yield from _text_reflections(token, wanted)
    elif isinstance(token, Comment) and wanted in token.data.lower():
        yield Reflection(Context.COMMENT)
    elif isinstance(token, Other) and wanted in token.data.lower():
        yield Reflection(Context.OTHER)


def _text_reflections(token: Text, wanted: str) -> Iterator[Reflection]:
    lowered = token.data.lower()
    if wanted not in lowered:
        return
    if not token.parent:
        yield Reflection(Context.TEXT, inert=token.inert)
    elif token.parent == "script" and token.owner is not None and executable_script(token.owner):
        for index in _occurrences(lowered, wanted):
            yield Reflection(Context.SCRIPT, "script", script=_js_position(token.data, index), inert=token.inert)
    elif token.parent == "script":
        yield Reflection(Context.INERT_SCRIPT, "script", inert=token.inert)
    else:
        yield Reflection(Context.RAW_TEXT, token.parent, inert=token.inert)


def _tag_reflections(tag: Tag, wanted: str) -> Iterator[Reflection]:
    if wanted in tag.name:
        yield Reflection(Context.TAG_NAME, tag.name, inert=tag.inert)
    for attr in tag.attributes:
        if wanted in attr.name:
            yield Reflection(Context.ATTRIBUTE_NAME, tag.name, attr.name, inert=tag.inert)
        lowered = attr.value.lower()
        if wanted not in lowered:
            continue
        for index in _occurrences(lowered, wanted):
            yield _attribute_reflection(tag, attr, index, wanted)


def _attribute_reflection(tag: Tag, attr: Attribute, index: int, wanted: str) -> Reflection:
    at_start = attr.value[:index].strip() == ""
    context, script = Context.ATTRIBUTE, ""
    if attr.name.startswith("on") and len(attr.name) > 2:
        context, script = Context.EVENT_HANDLER, _js_position(attr.value, index)
    elif attr.name == "srcdoc":
        context = Context.SRCDOC
    elif attr.name in URL_ATTRIBUTES:
        context = Context.URL
        code = javascript_url(attr.value)
        position = code.lower().find(wanted) if code is not None else -1
        script = _js_position(code, position) if code is not None and position >= 0 else ""
    return Reflection(context, tag.name, attr.name, attr.quote, script, at_start, tag.inert)


def _tag_executions(tag: Tag, marker: str, depth: int) -> Iterator[Execution]:
    seen: set[str] = set()
    for attr in tag.attributes:
        if attr.name in seen:
            continue  # a browser keeps the first of duplicate attributes and drops the rest
        seen.add(attr.name)
        if attr.name.startswith("on") and len(attr.name) > 2 and jscontext.calls(attr.value, marker):
            yield Execution("event-handler", tag.source, tag.name, attr.name)
        elif (tag.name, attr.name) in EXECUTING_URL_SINKS:
            code = javascript_url(attr.value)
            if code is not None and jscontext.calls(code, marker):
                yield Execution("javascript-url", tag.source, tag.name, attr.name)
        elif attr.name == "srcdoc" and tag.name == "iframe" and depth < 2 and marker.lower() in attr.value.lower():
            if executions(attr.value, marker, depth=depth + 1):
                yield Execution("srcdoc", tag.source, tag.name, attr.name)


def _js_position(code: str, index: int) -> str:
    kind, quote = jscontext.context_at(code, index)
    return quote if kind in ("string", "template") else kind


def _occurrences(text: str, wanted: str) -> Iterator[int]:
    index = text.find(wanted)
    while index >= 0:
        yield index
        index = text.find(wanted, index + len(wanted))


def _window(text: str, start: int, end: int, margin: int = 60) -> str:
    return text[max(0, start - margin) : end + margin]

