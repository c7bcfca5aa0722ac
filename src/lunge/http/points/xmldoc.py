"""XML documents (``XML``): element text and CDATA, attributes, comments, processing instructions
and the DTD, in FAST's grammar (``XML_TAG_<name>``, ``XML_TAG_ARRAY_<i>`` for repeated siblings,
``XML_ATTR_<name>``, ``XML_COMMENT_<i>``, ``XML_PI_<i>``, ``XML_DTD``, ``XML_DTD_ENTITY_<i>``).

A document without a DOCTYPE still has an ``XML_DTD`` point: an empty place before the root
element, so an XXE test can add one.

>>> [(".".join(s.label for s in leaf.steps), leaf.value) for leaf in parse('<a x="1"><b>hi</b></a>')][1:]
[('XML.XML_TAG_a.XML_ATTR_x', '1'), ('XML.XML_TAG_a.XML_TAG_b', 'hi')]

lxml checks well-formedness (with entities, DTD loading and network access off); the spans come
from a small scanner, because lxml does not report character offsets.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from lxml import etree

from lunge.http.points.model import Encoder, Leaf, Role, Step

_TOKEN = re.compile(
    r"""<!--(?P<comment>.*?)-->
      | <!\[CDATA\[(?P<cdata>.*?)\]\]>
      | <\?(?P<pi>[^\s?]+)(?P<pi_data>.*?)\?>
      | <!DOCTYPE(?P<doctype>(?:[^\[>]|\[.*?\])*)>
      | </(?P<end>[^\s>]+)\s*>
      | <(?P<start>[^\s/>!?]+)(?P<attrs>(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(?P<empty>/?)>
      | (?P<text>[^<]+)""",
    re.S | re.X,
)
_ATTR = re.compile(r"""([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_ENTITY = re.compile(r"""<!ENTITY\s+(%\s+)?([^\s]+)\s+(?:"([^"]*)"|'([^']*)')""")
_NAMESPACE_DOMAIN = etree.ErrorDomains.NAMESPACE
_ERROR = etree.ErrorLevels.ERROR


@dataclass(slots=True)
class _Element:
    name: str
    attrs: list[tuple[str, int, int, str]] = field(default_factory=list)  # name, start, end, quote
    texts: list[tuple[int, int, bool]] = field(default_factory=list)  # start, end, is_cdata
    children: list[_Element] = field(default_factory=list)
    inner_start: int = -1
    inner_end: int = -1


_XML_WS = " \t\r\n"
_CDATA_SPLIT = "]]><![CDATA["
_REFERENCE = re.compile(r"&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|(lt|gt|amp|quot|apos));")
_PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_EDGE_WS = {" ": "&#32;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}


def unescape(text: str) -> str:
    """Character references and the five predefined entities resolved, as an XML parser does;
    other entity references stay as written (their DTD is not read).

    >>> unescape("a &lt;b&gt; &#38;&#x41; &nbsp;")
    'a <b> &A &nbsp;'
    """
    if "&" not in text:
        return text
    return _REFERENCE.sub(_resolve, text)


def _resolve(match: re.Match[str]) -> str:
    hex_code, dec_code, name = match.groups()
    if name:
        return _PREDEFINED[name]
    code = int(hex_code, 16) if hex_code else int(dec_code)
    return chr(code) if code <= 0x10FFFF else match.group(0)


def escape_text(value: str) -> str:
    """Element text: markup characters escaped; whitespace at either end and every CR written as
    character references, which a parser keeps (it would drop or normalise the literal ones).

    >>> escape_text(" a<b & c\\r")
    '&#32;a&lt;b &amp; c&#13;'
    """
    out = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    lead = len(out) - len(out.lstrip(_XML_WS))
    trail = len(out) - len(out.rstrip(_XML_WS)) if lead < len(out) else 0
    if not lead and not trail:
        return out
    head = "".join(_EDGE_WS[c] for c in out[:lead])
    tail = "".join(_EDGE_WS[c] for c in out[len(out) - trail :])
    return head + out[lead : len(out) - trail] + tail


def _attr_encoder(quote: str) -> Encoder:
    entity = "&quot;" if quote == '"' else "&apos;"

    def encode(value: str) -> str:
        # Parsers normalise literal tabs and line breaks in attributes to spaces; references survive.
        escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(quote, entity)
        return escaped.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")

    return encode


def encode_cdata(value: str) -> str:
    """CDATA content: a ``]]>`` inside the value is split across two sections.

    >>> encode_cdata("a]]>b")
    'a]]]]><![CDATA[>b'
    """
    return value.replace("]]>", "]]" + _CDATA_SPLIT + ">")


def encode_comment(value: str) -> str:
    """Comment text: ``--`` cannot appear in a comment, nor ``-`` at its end; a space breaks both.

    >>> encode_comment("a---b-")
    'a- - -b- '
    """
    while "--" in value:
        value = value.replace("--", "- -")
    return value + " " if value.endswith("-") else value


def encode_entity_value(quote: str) -> Encoder:
    """An entity's literal value is kept as written (references in it are resolved twice, once
    when the DTD is read and again where the entity is used), except the quote that delimits it
    and ``%`` (a parameter-entity reference), which become character references.

    >>> encode_entity_value('"')('say "%hi"')
    'say &#34;&#37;hi&#34;'
    """
    reference = "&#34;" if quote == '"' else "&#39;"
    return lambda value: value.replace("%", "&#37;").replace(quote, reference)


def encode_pi_target(value: str) -> str:
    # The target ends at whitespace or '?': those would move the rest of the value into the data.
    return re.sub(r"[\s?>]", "_", value) or "_"


def _pi_data_encoder(needs_space: bool) -> Encoder:
    def encode(value: str) -> str:
        data = value.replace("?>", "? >")
        return " " + data if needs_space and data else data

    return encode


def _well_formed(text: str) -> bool:
    """Whether ``text`` is a well-formed XML 1.0 document. Namespace errors (an undeclared prefix,
    a namespace name that is not a URI) do not count: XML without namespaces allows them, and a
    check's payload in an ``xmlns`` attribute must not turn the document into plain text."""
    stripped = text.lstrip("\ufeff").strip()
    if not (stripped.startswith("<") and stripped.endswith(">")):
        return False
    # A parser per call: lxml's error log belongs to its parser, and parsers are not shared safely.
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False)
    try:
        etree.fromstring(text.encode("utf-8", "surrogateescape"), parser)
    except (etree.XMLSyntaxError, ValueError):
        return False
    return not any(e.domain != _NAMESPACE_DOMAIN and e.level >= _ERROR for e in parser.error_log)


def parse(text: str) -> list[Leaf] | None:
    """The leaves of an XML document, or None when it is not well-formed."""
    if not _well_formed(text):
        return None
    try:
        return _Scan(text).run()
    except (ValueError, IndexError, RecursionError):
        return None


class _Scan:
    def __init__(self, text: str) -> None:
        self.text = text
        self.leaves: list[Leaf] = []
        self.comments = 0
        self.pis = 0
        self.doctype_seen = False
        self.dtd_place = 0

    def run(self) -> list[Leaf]:
        stack: list[_Element] = []
        root: _Element | None = None
        for match in _TOKEN.finditer(self.text):
            kind = match.lastgroup
            if kind == "text" or kind == "cdata":
                if stack:
                    self._text(stack[-1], match.span(kind), kind == "cdata")
            elif kind == "pi_data":
                self._pi(match)
            elif kind == "comment":
                self._simple("XML_COMMENT", self.comments, match.span("comment"), encode_comment)
                self.comments += 1
            elif kind == "doctype":
                self._doctype(match)
            elif kind == "end":
                element = stack.pop()
                element.inner_end = match.start()
            elif match.group("start"):
                element = self._element(match)
                if stack:
                    stack[-1].children.append(element)
                elif root is None:
                    root = element
                if not match.group("empty"):
                    stack.append(element)
        if root is None:
            raise ValueError("no root element")
        if not self.doctype_seen:
            self.leaves.insert(0, Leaf((Step("XML"), Step("XML_DTD")), (self.dtd_place, self.dtd_place), "",
                                       nested=False))
        self._emit(root, (Step("XML"), Step("XML_TAG", root.name)))
        return self.leaves

    def _text(self, element: _Element, span: tuple[int, int], is_cdata: bool) -> None:
        texts = element.texts
        if is_cdata and texts and texts[-1][2] and self.text[texts[-1][1] : span[0]] == _CDATA_SPLIT:
            # adjacent CDATA sections are one value (that is how encode_cdata writes "]]>")
            texts[-1] = (texts[-1][0], span[1], True)
        else:
            texts.append((span[0], span[1], is_cdata))

    def _element(self, match: re.Match[str]) -> _Element:
        element = _Element(match.group("start"), inner_start=match.end())
        base = match.start("attrs")
        for attr in _ATTR.finditer(match.group("attrs") or ""):
            group = 2 if attr.group(2) is not None else 3
            start, end = attr.span(group)
            element.attrs.append((attr.group(1), base + start, base + end, '"' if group == 2 else "'"))
        return element

    def _pi(self, match: re.Match[str]) -> None:
        target = match.group("pi")
        if target.lower() == "xml":
            self.dtd_place = match.end()
            return
        steps = (Step("XML"), Step("XML_PI", str(self.pis)))
        self.leaves.append(Leaf(steps, match.span("pi"), target, encode_pi_target, role=Role.NAME, nested=False))
        data_start, data_end = match.span("pi_data")
        data = match.group("pi_data")
        lead = len(data) - len(data.lstrip(_XML_WS))
        trail = len(data) - len(data.rstrip(_XML_WS)) if data.strip(_XML_WS) else 0
        self.leaves.append(Leaf(steps, (data_start + lead, data_end - trail), data.strip(_XML_WS),
                                _pi_data_encoder(lead == 0), nested=False))
        self.pis += 1

    def _simple(self, parser: str, index: int, span: tuple[int, int], encode: Encoder) -> None:
        value = self.text[span[0] : span[1]]
        self.leaves.append(Leaf((Step("XML"), Step(parser, str(index))), span, value, encode, nested=False))

    def _doctype(self, match: re.Match[str]) -> None:
        self.doctype_seen = True
        self.leaves.append(Leaf((Step("XML"), Step("XML_DTD")), match.span(), match.group(0), nested=False))
        base = match.start("doctype")
        for i, entity in enumerate(_ENTITY.finditer(match.group("doctype"))):
            steps = (Step("XML"), Step("XML_DTD_ENTITY", str(i)))
            name_start, name_end = entity.span(2)
            self.leaves.append(Leaf(steps, (base + name_start, base + name_end), entity.group(2),
                                    encode_pi_target, role=Role.NAME, nested=False))
            group = 3 if entity.group(3) is not None else 4
            start, end = entity.span(group)
            self.leaves.append(Leaf(steps, (base + start, base + end), entity.group(group),
                                    encode_entity_value('"' if group == 3 else "'"), nested=False))

    def _emit(self, element: _Element, steps: tuple[Step, ...]) -> None:
        for name, start, end, quote in element.attrs:
            self.leaves.append(Leaf((*steps, Step("XML_ATTR", name)), (start, end),
                                    unescape(self.text[start:end]), _attr_encoder(quote)))
        self._emit_text(element, steps)
        counts = Counter(child.name for child in element.children)
        seen: Counter[str] = Counter()
        for child in element.children:
            child_steps = (*steps, Step("XML_TAG", child.name))
            if counts[child.name] > 1:
                child_steps += (Step("XML_TAG_ARRAY", str(seen[child.name])),)
                seen[child.name] += 1
            self._emit(child, child_steps)

    def _emit_text(self, element: _Element, steps: tuple[Step, ...]) -> None:
        """The element's first text (or CDATA) is its value; an element with no content at all is
        an empty place for one."""
        for start, end, is_cdata in element.texts:
            raw = self.text[start:end]
            if is_cdata:
                self.leaves.append(Leaf(steps, (start, end), raw.replace(_CDATA_SPLIT, ""), encode_cdata))
                return
            core = raw.strip(_XML_WS)
            if core:
                lead = len(raw) - len(raw.lstrip(_XML_WS))
                span = (start + lead, start + lead + len(core))
                self.leaves.append(Leaf(steps, span, unescape(core), escape_text))
                return
        inner = (element.inner_start, element.inner_end)
        if not element.children and 0 <= inner[0] <= inner[1] and not self.text[inner[0] : inner[1]].strip(_XML_WS):
            # <a></a> or <a> </a>
            self.leaves.append(Leaf(steps, inner, "", escape_text))
