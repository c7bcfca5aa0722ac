"""Dynamic regions: where two normal responses of one endpoint differ, found as pairs of stable
anchors around each difference (sqlmap's ``findDynamicContent``), and cut from later responses
(:func:`apply_anchors`); tokens dynamic by nature (UUIDs, timestamps, hashes, nonces) are
normalised by :data:`DYNAMIC_TOKENS` before anything is compared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lunge.checks.textdiff import blocks

DYNAMIC_TOKENS = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # UUID
    r"|\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"  # ISO timestamp
    r"|\b\d{2}:\d{2}:\d{2}\b"  # clock time
    r"|\b1[4-9]\d{8}(?:\d{3})?\b"  # unix time (s or ms)
    r"|\b(?=[a-f]*\d)[0-9a-f]{24,}\b"  # hashes, ids (with a digit: not a run of "a")
    r"|\b(?=[A-Za-z+/_-]*\d)[A-Za-z0-9+/_-]{32,}={0,2}",  # tokens (CSRF, nonces, sessions)
    re.IGNORECASE,
)
DYNAMIC_MARK = "\x00"  # what a dynamic token or region becomes
_ANCHOR = 20  # characters of stable text on each side of a dynamic region (sqlmap's DYNAMICITY_BOUNDARY)
_ANCHOR_MAX = 80  # anchors grow up to this length until they are unique in the page
_INNER_MIN = 32  # a stable run shorter than this between two dynamic regions is chance, not structure
_ANCHOR_MIN = 8  # an anchor not found whole is tried shortened, down to this length
_DELIMITERS = frozenset("<>\"'\n\t =&;,()[]{}")  # where dynamic regions usually start and end


def find_dynamic(a: str, b: str) -> list[tuple[str, str]]:
    """Anchor pairs around the regions where ``a`` and ``b`` differ (sqlmap's
    ``findDynamicContent``): the stable text before each region and after it, grown until unique
    in ``a``. Regions at the very start or end get an empty anchor on that side.

    Two samples of random content share characters by chance, which must not become anchors: a
    region is widened over neighbouring characters that also occur in it (a run of ``x`` that
    grew, more words of a random sentence), then to the nearest delimiter (``>``, a quote, a
    space ...); a short stable run between two regions merges them.

    >>> find_dynamic("<p>stable text before it</p><i>1</i><p>stable text after it!!</p>",
    ...              "<p>stable text before it</p><i>22</i><p>stable text after it!!</p>")
    [('ext before it</p><i>', '</i><p>stable text a')]
    >>> find_dynamic("<div id='ad'>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</div><footer>the end of the page</footer>",
    ...              "<div id='ad'>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</div><footer>the end of the page</footer>")
    [("<div id='ad'>", '</div><footer>the en')]
    """
    if a == b:
        return []
    anchors: list[tuple[str, str]] = []
    for start_a, end_a, start_b, end_b in _gaps(a, b):
        while start_a < end_a and start_b < end_b and a[start_a] == b[start_b]:
            start_a, start_b = start_a + 1, start_b + 1  # equal edges of a gap are stable text
        while end_a > start_a and end_b > start_b and a[end_a - 1] == b[end_b - 1]:
            end_a, end_b = end_a - 1, end_b - 1
        charset = (set(a[start_a:end_a]) | set(b[start_b:end_b])) - {"<", ">"}  # never widen over markup
        start = _back_to_delimiter(a, _widen_back(a, start_a, charset))
        end = _forward_to_delimiter(a, _widen_forward(a, end_a, charset))
        prefix = _unique_prefix_anchor(a, start) if start > 0 else ""
        suffix = _unique_suffix_anchor(a, end) if end < len(a) else ""
        if (prefix or suffix) and (prefix, suffix) not in anchors:
            anchors.append((prefix, suffix))
    return anchors


def _gaps(a: str, b: str) -> list[tuple[int, int, int, int]]:
    """The differing regions ``(start_a, end_a, start_b, end_b)`` between stable blocks longer
    than ``_ANCHOR`` (``_ANCHOR_MIN`` at the very start or end of both texts, where a match cannot
    be chance); interior blocks of plain text shorter than ``_INNER_MIN`` do not separate regions."""
    def stable(i: int, j: int, size: int) -> bool:
        at_edge = (i == j == 0) or (i + size == len(a) and j + size == len(b))
        return size > _ANCHOR or (at_edge and size >= _ANCHOR_MIN)

    found = [blk for blk in blocks(a, b) if stable(*blk)]
    kept: list[tuple[int, int, int]] = []
    for k, (i, j, size) in enumerate(found):
        before = found[k - 1] if k else (0, 0, 0)
        after = found[k + 1] if k + 1 < len(found) else (len(a), len(b), 0)
        gap_before = i > before[0] + before[2] or j > before[1] + before[2]
        gap_after = after[0] > i + size or after[1] > j + size
        # Two random sentences share a run of words by chance; markup they do not.
        chance = size < _INNER_MIN and "<" not in a[i : i + size] and ">" not in a[i : i + size]
        if not (chance and gap_before and gap_after):
            kept.append((i, j, size))
    gaps: list[tuple[int, int, int, int]] = []
    prev_a = prev_b = 0
    for i, j, size in [*kept, (len(a), len(b), 0)]:
        if i > prev_a or j > prev_b:
            gaps.append((prev_a, i, prev_b, j))
        prev_a, prev_b = i + size, j + size
    return gaps


def _widen_back(text: str, start: int, charset: set[str]) -> int:
    limit = max(0, start - _ANCHOR_MAX)
    while start > limit and text[start - 1] in charset:
        start -= 1
    return start


def _widen_forward(text: str, end: int, charset: set[str]) -> int:
    limit = min(len(text), end + _ANCHOR_MAX)
    while end < limit and text[end] in charset:
        end += 1
    return end


def _back_to_delimiter(text: str, end: int) -> int:
    """``end`` moved back to just after the nearest delimiter (at most ``_ANCHOR_MAX``
    characters); unchanged when there is none that close or the character before is one."""
    for k in range(end, max(0, end - _ANCHOR_MAX), -1):
        if text[k - 1] in _DELIMITERS:
            return k
    return end


def _forward_to_delimiter(text: str, start: int) -> int:
    for k in range(start, min(len(text), start + _ANCHOR_MAX)):
        if text[k] in _DELIMITERS:
            return k
    return start


def _unique_prefix_anchor(text: str, end: int) -> str:
    """The stable text just before ``end``: 20 characters, more (up to 80) while not unique."""
    length = _ANCHOR
    while length < _ANCHOR_MAX and end - length > 0 and text.count(text[end - length : end]) > 1:
        length *= 2
    return text[max(0, end - min(length, _ANCHOR_MAX)) : end]


def _unique_suffix_anchor(text: str, start: int) -> str:
    length = _ANCHOR
    while length < _ANCHOR_MAX and start + length < len(text) and text.count(text[start : start + length]) > 1:
        length *= 2
    return text[start : start + min(length, _ANCHOR_MAX)]


def apply_anchors(text: str, anchors: Sequence[tuple[str, str]]) -> str:
    for prefix, suffix in anchors:
        text = _cut_between(text, prefix, suffix)
    return text


def _cut_between(text: str, prefix: str, suffix: str) -> str:
    """Replace what lies between each ``prefix`` and the next ``suffix`` by one marker. An anchor
    not found whole is looked for shortened from its far side (down to 8 characters): the stable
    text next to a dynamic region may itself change in an attack response (a table replaced by
    "no results"), and the region must still be cut."""
    if prefix and suffix:
        out: list[str] = []
        pos = 0
        while True:
            found = _find_shortened(text, prefix, pos, from_end=True)
            if found is None:
                break
            start = found[1]
            after = _find_shortened(text, suffix, start, from_end=False)
            if after is None:
                break
            out.append(text[pos:start] + DYNAMIC_MARK)
            pos = after[0]
        return "".join(out) + text[pos:]
    if prefix:
        found = _find_shortened(text, prefix, 0, from_end=True)
        return text if found is None else text[: found[1]] + DYNAMIC_MARK
    found = _find_shortened(text, suffix, 0, from_end=False)
    return text if found is None else DYNAMIC_MARK + text[found[0] :]


def _find_shortened(text: str, anchor: str, start: int, *, from_end: bool) -> tuple[int, int] | None:
    """(start, end) of ``anchor`` in ``text`` from ``start``; if absent, of its last (``from_end``,
    for a prefix) or first characters, halving down to ``_ANCHOR_MIN``."""
    length = len(anchor)
    while True:
        piece = anchor[len(anchor) - length :] if from_end else anchor[:length]
        i = text.find(piece, start)
        if i >= 0:
            return i, i + len(piece)
        if length <= _ANCHOR_MIN:
            return None
        length = max(_ANCHOR_MIN, length // 2)


__all__ = ["DYNAMIC_MARK", "DYNAMIC_TOKENS", "apply_anchors", "find_dynamic"]
