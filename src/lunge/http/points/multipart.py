"""multipart/form-data bodies (``MULTIPART``): each part's body (``MULTIPART_<name>``) and, for file
parts, the file name (``MULTIPART_<name>_FILENAME``).

>>> body = '--b\\r\\nContent-Disposition: form-data; name="a"\\r\\n\\r\\n1\\r\\n--b--\\r\\n'
>>> [(".".join(s.label for s in leaf.steps), leaf.value) for leaf in parse(body, "multipart/form-data; boundary=b")]
[('MULTIPART_a', '1')]
"""

from __future__ import annotations

import re
from collections import Counter

from lunge.http.points.model import Encoder, Leaf, Step, ValueKind

_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_NAME = re.compile(r'\bname\s*=\s*"([^"]*)"|\bname\s*=\s*([^;\s]+)', re.IGNORECASE)
_FILENAME = re.compile(r'\bfilename\s*=\s*"([^"]*)"', re.IGNORECASE)


def encode_filename(value: str) -> str:
    """A file name inside ``filename="..."``, escaped as browsers do (WHATWG HTML, multipart/form-data
    encoding): only ``"``, CR and LF are percent-encoded.

    >>> encode_filename('a"b\\r\\n.php')
    'a%22b%0D%0A.php'
    """
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _body_encoder(delimiter: str) -> Encoder:
    # A part's body cannot be escaped: a line starting with the delimiter would end the part. Such a
    # line gets one space in front, the smallest change that keeps the framing.
    line = "\n" + delimiter
    return lambda value: value.replace(line, "\n " + delimiter)


def _binary(text: str) -> bool:
    return "\x00" in text or any("\udc80" <= ch <= "\udcff" for ch in text[:4096])


def parse(text: str, content_type: str) -> list[Leaf] | None:
    """The leaves of a multipart body, or None when the boundary or the framing is missing."""
    match = _BOUNDARY.search(content_type)
    if not match:
        return None
    delimiter = "--" + (match.group(1) or match.group(2))
    parts = _parts(text, delimiter)
    if parts is None:
        return None
    names = Counter(name for name, *_ in parts)
    seen: Counter[str] = Counter()
    leaves: list[Leaf] = []
    encode_body = _body_encoder(delimiter)
    for name, body_start, body_end, filename_span in parts:
        steps: tuple[Step, ...] = (Step("MULTIPART", name),)
        if names[name] > 1:
            steps += (Step("ARRAY", str(seen[name])),)
            seen[name] += 1
        value = text[body_start:body_end]
        kind = ValueKind.BINARY if _binary(value) else ValueKind.STRING
        leaves.append(Leaf(steps, (body_start, body_end), value, encode_body, kind=kind,
                           nested=kind is ValueKind.STRING))
        if filename_span:
            start, end = filename_span
            leaves.append(Leaf((*steps, Step("FILENAME")), filename_span, text[start:end], encode_filename,
                               nested=False))
    return leaves


def _parts(text: str, delimiter: str) -> list[tuple[str, int, int, tuple[int, int] | None]] | None:
    """(name, body start, body end, filename span) for each part; None when malformed."""
    pos = text.find(delimiter)
    if pos < 0:
        return None
    out: list[tuple[str, int, int, tuple[int, int] | None]] = []
    while True:
        if text.startswith(delimiter + "--", pos):
            return out  # the close delimiter; anything after it is the epilogue
        line_end = text.find("\n", pos)
        if line_end < 0:
            return None
        head_end, sep = _end_of_part_head(text, line_end)
        if head_end < 0:
            return None
        next_delim = text.find("\n" + delimiter, head_end + sep)
        if next_delim < 0:
            return None
        body_end = next_delim - 1 if text[next_delim - 1 : next_delim] == "\r" else next_delim
        part = _named_part(text, line_end + 1, head_end)
        if part:
            name, filename_span = part
            out.append((name, head_end + sep, max(body_end, head_end + sep), filename_span))
        pos = next_delim + 1


def _end_of_part_head(text: str, line_end: int) -> tuple[int, int]:
    """Where the part's header block ends, and the length of the blank line there (-1 if none).
    The search starts at the end of the delimiter line, so a part without headers is found too."""
    crlf = text.find("\r\n\r\n", line_end - 1 if text[line_end - 1 : line_end] == "\r" else line_end)
    lf = text.find("\n\n", line_end)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    return lf, 2


def _named_part(text: str, head_start: int, head_end: int) -> tuple[str, tuple[int, int] | None] | None:
    """The name (and file name span) in a part's Content-Disposition, or None for a nameless part."""
    offset = head_start
    for line in text[head_start:head_end].split("\n"):
        if line.lower().startswith("content-disposition:"):
            name = _NAME.search(line)
            if not name:
                return None
            filename = _FILENAME.search(line)
            span = (offset + filename.start(1), offset + filename.end(1)) if filename else None
            return (name.group(1) if name.group(1) is not None else name.group(2)), span
        offset += len(line) + 1
    return None
