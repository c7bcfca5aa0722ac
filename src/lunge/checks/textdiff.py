"""How different two texts are: :func:`similarity` (difflib's ratio) and :func:`difference`
(characters inserted or deleted), fast on big pages.

Both strip the common prefix and suffix first; a short differing middle is matched by characters
(difflib), a long one by segments (lines, tags, statements) aligned patience-style on the segments
unique to both sides, then the gaps between them again. The noise model (:mod:`lunge.checks.noise`)
and the dynamic-region finder (:mod:`lunge.checks.dynamic`) build on :func:`blocks`.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections import Counter

_CHAR_LIMIT = 2_000  # differing middles longer than this are matched by segments: difflib is quadratic
_MAX_DEPTH = 3  # segment alignment nested in gaps this deep at most
_SEGMENT_MAX = 400  # a segment (line, tag run) longer than this is split into fixed chunks
_SEGMENTS = re.compile(r"[^\n>;]*[\n>;]|[^\n>;]+")


def similarity(a: str, b: str) -> float:
    """difflib's ratio of two texts, 1.0 for identical texts; computed on the differing middle
    only, by characters or, for long middles, by segments (lines and tags).

    >>> similarity("abcd", "abcd"), similarity("", "x"), round(similarity("hello world", "hello there"), 2)
    (1.0, 0.0, 0.64)
    """
    return measure(a, b)[0]


def difference(a: str, b: str) -> int:
    """How many characters must be deleted or inserted to turn ``a`` into ``b`` (an upper bound
    for long texts, matched by segments).

    >>> difference("<p>1</p><p>2</p>", "<p>1</p>")
    8
    """
    return measure(a, b)[1]


def measure(a: str, b: str) -> tuple[float, int]:
    if a == b:
        return 1.0, 0
    total = len(a) + len(b)
    if not a or not b:
        return 0.0, total
    matched = sum(size for _, _, size in blocks(a, b))
    return 2.0 * matched / total, total - 2 * matched


def multiset_measure(a: list[str], b: list[str]) -> tuple[float, int]:
    """Similarity of two line multisets, weighted by line length (order-independent)."""
    ca, cb = Counter(a), Counter(b)
    total = sum(len(k) * n for k, n in ca.items()) + sum(len(k) * n for k, n in cb.items())
    if total == 0:
        return 1.0, 0
    common = sum(len(k) * n for k, n in (ca & cb).items())
    return 2.0 * common / total, total - 2 * common


def blocks(a: str, b: str, depth: int = 0) -> list[tuple[int, int, int]]:
    """Matching blocks ``(i, j, size)`` of ``a`` and ``b``, in order, without the zero sentinel.

    The common prefix and suffix are taken first (often all but a few characters); a short
    differing middle is matched by characters, a long one by segments (patience alignment on the
    segments unique to both sides, near-linear), then the gaps between matched segments again.
    Gaps still too long at the last level count as wholly different: an upper bound on the
    difference, never a hidden one."""
    limit = min(len(a), len(b))
    p = 0
    while p < limit and a[p] == b[p]:
        p += 1
    s = 0
    while s < limit - p and a[-1 - s] == b[-1 - s]:
        s += 1
    ma, mb = a[p : len(a) - s], b[p : len(b) - s]
    middle: list[tuple[int, int, int]] = []
    if ma and mb:
        if len(ma) + len(mb) <= _CHAR_LIMIT:
            inner = _char_blocks(ma, mb)
        elif depth < _MAX_DEPTH:
            inner = _segment_blocks(ma, mb, depth)
        else:
            inner = []
        middle = [(i + p, j + p, n) for i, j, n in inner]
    head = [(0, 0, p)] if p else []
    tail = [(len(a) - s, len(b) - s, s)] if s else []
    return head + middle + tail


def _char_blocks(a: str, b: str) -> list[tuple[int, int, int]]:
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [(m.a, m.b, m.size) for m in matcher.get_matching_blocks() if m.size]


def _segment_blocks(a: str, b: str, depth: int) -> list[tuple[int, int, int]]:
    sa, sb = _segments(a), _segments(b)
    offsets_a, offsets_b = _offsets(sa), _offsets(sb)
    out: list[tuple[int, int, int]] = []
    ia = ib = 0
    for i, j, n in [*_patience(sa, sb), (len(sa), len(sb), 0)]:
        ci, cj = offsets_a[i], offsets_b[j]
        if ci > ia and cj > ib:  # the differing gap: align it on its own (its own unique segments)
            out.extend((x + ia, y + ib, k) for x, y, k in blocks(a[ia:ci], b[ib:cj], depth + 1))
        if n:
            size = offsets_a[i + n] - ci
            out.append((ci, cj, size))
            ia, ib = ci + size, cj + size
    return out


def _patience(sa: list[str], sb: list[str]) -> list[tuple[int, int, int]]:
    """Blocks of equal segments ``(i, j, n)``: the longest increasing chain of segments that occur
    once on each side (patience diff), each grown over the equal segments around it."""
    count_a, count_b = Counter(sa), Counter(sb)
    where_b = {seg: j for j, seg in enumerate(sb) if count_b[seg] == 1}
    pairs = [(i, where_b[seg]) for i, seg in enumerate(sa) if count_a[seg] == 1 and seg in where_b]
    found: list[tuple[int, int, int]] = []
    end_a = end_b = 0
    for i, j in _increasing_chain(pairs):
        if i < end_a or j < end_b:
            continue  # inside the previous block's growth
        while i > end_a and j > end_b and sa[i - 1] == sb[j - 1]:
            i, j = i - 1, j - 1
        n = 0
        while i + n < len(sa) and j + n < len(sb) and sa[i + n] == sb[j + n]:
            n += 1
        found.append((i, j, n))
        end_a, end_b = i + n, j + n
    return found


def _increasing_chain(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest subsequence of ``pairs`` (sorted by their first item) whose second items
    increase (patience sorting, O(n log n)).

    >>> _increasing_chain([(0, 2), (1, 0), (2, 1), (3, 3)])
    [(1, 0), (2, 1), (3, 3)]
    """
    tops: list[int] = []  # second item ending the best chain of each length
    ends: list[int] = []  # index in pairs of that chain's last pair
    parent: list[int] = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        length = bisect.bisect_left(tops, j)
        if length:
            parent[k] = ends[length - 1]
        if length == len(tops):
            tops.append(j)
            ends.append(k)
        else:
            tops[length], ends[length] = j, k
    chain: list[tuple[int, int]] = []
    k = ends[-1] if ends else -1
    while k >= 0:
        chain.append(pairs[k])
        k = parent[k]
    return chain[::-1]


def _segments(text: str) -> list[str]:
    """Lines, tags and statements; long ones cut into fixed chunks, so a minified page still has
    many segments to match."""
    out: list[str] = []
    for segment in _SEGMENTS.findall(text):
        if len(segment) <= _SEGMENT_MAX:
            out.append(segment)
        else:
            out.extend(segment[i : i + _SEGMENT_MAX] for i in range(0, len(segment), _SEGMENT_MAX))
    return out


def _offsets(segments: list[str]) -> list[int]:
    offsets = [0]
    for segment in segments:
        offsets.append(offsets[-1] + len(segment))
    return offsets


__all__ = ["blocks", "difference", "measure", "multiset_measure", "similarity"]
