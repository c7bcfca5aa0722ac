"""What changes between normal responses of one endpoint, so differential checks ignore it.

Built once per baseline from fresh replays and the recorded response (detection.md §15.1):

- tokens that are dynamic by nature (UUIDs, long hex and base64 runs, timestamps) are normalised away;
- regions that differ between replays are cut, sqlmap-style: the text around a difference becomes a
  pair of anchors, and whatever lies between those anchors in a later response is dropped;
- the value the point carried (and any payload) is removed wherever it is reflected: raw, URL-,
  HTML- or JSON-encoded, so an echo cannot pass for a difference;
- JSON bodies are compared as an order-independent projection (one ``path=value`` line per leaf,
  arrays as multisets), without the key paths whose values differ between replays;
- an HTML page whose text is unstable but whose structure is not (random quotes, ads) is compared
  by its tag skeleton instead.

``floor`` is the lowest similarity between normal responses after cleaning and ``jitter`` the most
characters by which they differ: a differential below ``floor - margin``, or bigger than the jitter
by a clear amount, means something; anything else is noise. Comparisons strip the common prefix
and suffix first and fall back to segment (line, tag) matching for big middles, so 100 KB pages
cost milliseconds.
"""

from __future__ import annotations

import bisect
import difflib
import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from lunge.checks.base import Exchange

_DYNAMIC_TOKENS = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # UUID
    r"|\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"  # ISO timestamp
    r"|\b\d{2}:\d{2}:\d{2}\b"  # clock time
    r"|\b1[4-9]\d{8}(?:\d{3})?\b"  # unix time (s or ms)
    r"|\b(?=[a-f]*\d)[0-9a-f]{24,}\b"  # hashes, ids (with a digit: not a run of "a")
    r"|\b(?=[A-Za-z+/_-]*\d)[A-Za-z0-9+/_-]{32,}={0,2}",  # tokens (CSRF, nonces, sessions)
    re.IGNORECASE,
)
_ANCHOR = 20  # characters of stable text on each side of a dynamic region (sqlmap's DYNAMICITY_BOUNDARY)
_ANCHOR_MAX = 80  # anchors grow up to this length until they are unique in the page
_INNER_MIN = 32  # a stable run shorter than this between two dynamic regions is chance, not structure
_ANCHOR_MIN = 8  # an anchor not found whole is tried shortened, down to this length
_CLEANED: dict[tuple[Any, ...], str] = {}  # NoiseModel.clean results, recent ones
_CLEANED_MAX = 256
_BUILT: dict[tuple[Any, ...], NoiseModel] = {}  # build() results for recent replays, by their answers
_BUILT_MAX = 256
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_CACHED_TEXT_MAX = 64 * 1024  # longer texts are not remembered: both caches together stay under ~48 MB
_DELIMITERS = frozenset("<>\"'\n\t =&;,()[]{}")  # where dynamic regions usually start and end
_CHAR_LIMIT = 2_000  # differing middles longer than this are matched by segments: difflib is quadratic
_MAX_DEPTH = 3  # segment alignment nested in gaps this deep at most
_SEGMENT_MAX = 400  # a segment (line, tag run) longer than this is split into fixed chunks
_DYNAMIC_MARK = "\x00"
_STABLE = 0.98  # sqlmap's UPPER_RATIO_BOUND: above this two pages are "the same"
_TESTABLE = 0.90  # below this floor an endpoint is too noisy for differential checks
_SEGMENTS = re.compile(r"[^\n>;]*[\n>;]|[^\n>;]+")
_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w:-]*)([^>]*)>")
_CLASS_OR_ID = re.compile(r"""\b(class|id)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


class Mode(StrEnum):
    """How responses of an endpoint are compared."""

    TEXT = "text"  # cleaned text
    JSON = "json"  # order-independent projection of the parsed JSON body
    SKELETON = "skeleton"  # HTML tag/class/id skeleton (text unstable, structure stable)


@dataclass(frozen=True, slots=True)
class NoiseModel:
    """The noise of one endpoint. Build it with :func:`build`.

    - ``reference``: the first normal response, cleaned (what :meth:`clean` returns for it).
    - ``anchors``: pairs of stable text around dynamic regions (text and skeleton modes).
    - ``floor``: lowest similarity between normal responses after cleaning (1.0 when they agree).
    - ``stable``: every normal response cleans to exactly ``reference``.
    - ``reflected``: values removed wherever they appear (the point's recorded value).
    - ``mode``: text, JSON projection or HTML skeleton (:class:`Mode`).
    - ``excluded``: JSON key paths whose values differ between replays.
    - ``jitter``: the most characters by which two normal responses differ after cleaning.
    - ``drifted``: the recorded response differs from the (mutually stable) replays: the target's
      state changed since recording; the replays are the reference.
    """

    status: int
    reference: str
    anchors: tuple[tuple[str, str], ...] = ()
    floor: float = 1.0
    stable: bool = True
    reflected: tuple[str, ...] = ()
    mode: Mode = Mode.TEXT
    excluded: frozenset[str] = frozenset()
    jitter: int = 0
    drifted: bool = False

    @property
    def testable(self) -> bool:
        """Whether normal responses agree enough for differential (boolean) checks."""
        return self.status != 0 and self.floor >= _TESTABLE

    def clean(self, text: str, reflections: Iterable[str] = ()) -> str:
        """``text`` as this model compares it: dynamic tokens, dynamic regions and reflected values
        removed; the JSON projection or the HTML skeleton in those modes."""
        values = (*self.reflected, *reflections)
        if self.mode is Mode.JSON:
            document = _parse_json(text)
            if document is not None:
                return "\n".join(sorted(_project(document, values, self.excluded)))
        return self._clean_text(strip_reflections(text, values))

    def _clean_text(self, text: str) -> str:
        # Attack responses repeat (the same error page, the same unchanged page) and each is compared
        # several times; once reflections are gone the result depends on the text alone, whatever
        # the payload was: remember recent results. Pure: same inputs, same output.
        key = (text, self.mode, self.anchors)
        cleaned = _CLEANED.get(key)
        if cleaned is None:
            cleaned = _DYNAMIC_TOKENS.sub(_DYNAMIC_MARK, text)
            if self.mode is Mode.SKELETON:
                cleaned = skeleton(cleaned)
            cleaned = _apply(cleaned, self.anchors)
            if len(text) <= _CACHED_TEXT_MAX:
                if len(_CLEANED) >= _CLEANED_MAX:
                    _CLEANED.clear()
                _CLEANED[key] = cleaned
        return cleaned

    def ratio(self, text: str, reflections: Iterable[str] = ()) -> float:
        """Similarity of ``text`` (cleaned) to the normal response, 0.0 to 1.0."""
        return self.measure(self.clean(text, reflections), self.reference)[0]

    def compare(self, a: str, b: str, reflections: Iterable[str] = ()) -> float:
        """Similarity of two responses of this endpoint after cleaning both."""
        refl = tuple(reflections)
        return self.measure(self.clean(a, refl), self.clean(b, refl))[0]

    def difference(self, text: str, reflections: Iterable[str] = (), other: str | None = None) -> int:
        """How many characters differ between ``text`` and the normal response (or ``other``),
        both cleaned. Compare it with :attr:`jitter`: on a 100 KB page a removed table row is a
        ratio of 0.999 but a difference of a hundred characters where the jitter is zero."""
        refl = tuple(reflections)
        base = self.reference if other is None else self.clean(other, refl)
        return self.measure(self.clean(text, refl), base)[1]

    def measure(self, a: str, b: str) -> tuple[float, int]:
        """(similarity, differing characters) of two texts already cleaned by this model."""
        if self.mode is Mode.JSON:
            return _multiset_measure(a.split("\n"), b.split("\n"))
        return _measure(a, b)

    def looks_normal(self, exchange: Exchange, reflections: Iterable[str] = (), margin: float = 0.02) -> bool:
        """True when ``exchange`` is indistinguishable from normal behaviour (same status, ratio
        within the noise floor)."""
        if exchange.response is None or exchange.status != self.status:
            return False
        return self.ratio(exchange.text, reflections) >= self.floor - margin


def build(replays: Sequence[Exchange], recorded_text: str | None = None, value: str = "") -> NoiseModel:
    """The noise model of an endpoint from its fresh replays (at least one) and, if kept, the text
    of the recorded response. ``value`` is the point's recorded value, removed where reflected."""
    # Baselines of one endpoint often get byte-identical replays (a listing, a static page, the
    # same error): the model depends on nothing else, so recent ones are remembered.
    answers = tuple((r.status, r.text) if r.response is not None else None for r in replays)
    key = (answers, recorded_text, value)
    model = _BUILT.get(key)
    if model is None:
        model = _build(replays, recorded_text, value)
        size = sum(len(a[1]) for a in answers if a is not None) + len(recorded_text or "")
        if size <= _CACHED_TEXT_MAX:
            if len(_BUILT) >= _BUILT_MAX:
                _BUILT.clear()
            _BUILT[key] = model
    return model


def _build(replays: Sequence[Exchange], recorded_text: str | None, value: str) -> NoiseModel:
    texts = [r.text for r in replays if r.response is not None]
    status = next((r.status for r in replays if r.response is not None), 0)
    reflected = (value,) if len(value) >= 3 else ()
    if not texts and recorded_text is None:
        return NoiseModel(status, "", (), 0.0, False, reflected)
    documents = [_parse_json(t) for t in texts + ([recorded_text] if recorded_text is not None else [])]
    if documents and all(d is not None for d in documents):
        return _build_json(status, texts, recorded_text, reflected)
    model = _build_text(status, texts, recorded_text, reflected, Mode.TEXT)
    if texts and "<" in texts[0] and (model.floor < _STABLE or _cuts_markup(model, texts[0])):
        structural = _build_text(status, texts, recorded_text, reflected, Mode.SKELETON)
        if structural.floor >= _STABLE:
            return structural
    return model


def _cuts_markup(model: NoiseModel, text: str) -> bool:
    """Whether the dynamic regions swallow tags of a normal page: then they hide structure a
    differential needs to see (a list of random items cut as one region loses its length), and
    the skeleton is the better view. Regions of plain text (a random quote, an ad) are harmless."""
    prepared = _DYNAMIC_TOKENS.sub(_DYNAMIC_MARK, strip_reflections(text, model.reflected))
    return skeleton(model.reference) != skeleton(prepared)


def _build_text(status: int, texts: list[str], recorded: str | None, reflected: tuple[str, ...],
                mode: Mode) -> NoiseModel:
    def prepare(text: str) -> str:
        out = _DYNAMIC_TOKENS.sub(_DYNAMIC_MARK, strip_reflections(text, reflected))
        return skeleton(out) if mode is Mode.SKELETON else out

    normal = [prepare(t) for t in texts]
    extra = prepare(recorded) if recorded is not None else None
    drifted = False
    if extra is not None:
        if len(normal) >= 2 and _agree(normal) and extra != normal[0]:
            drifted = True  # R0 differs from replays that agree with each other: compare with the replays
        else:
            normal.append(extra)
    anchors: list[tuple[str, str]] = []
    for other in normal[1:]:
        anchors.extend(find_dynamic(normal[0], other))
    anchors = list(dict.fromkeys(anchors))
    cleaned = [_apply(t, anchors) for t in normal]
    return _summarise(status, cleaned, tuple(anchors), reflected, mode, frozenset(), drifted)


def _build_json(status: int, texts: list[str], recorded: str | None, reflected: tuple[str, ...]) -> NoiseModel:
    documents = [_parse_json(t) for t in texts]
    lines = [_project(d, reflected, frozenset()) for d in documents]
    drifted = False
    if recorded is not None:
        extra = _project(_parse_json(recorded), reflected, frozenset())
        if len(lines) >= 2 and all(Counter(x) == Counter(lines[0]) for x in lines) and \
                Counter(extra) != Counter(lines[0]):
            drifted = True
        else:
            documents.append(_parse_json(recorded))
            lines.append(extra)
    excluded = _varying_paths(lines)
    cleaned = ["\n".join(sorted(_project(d, reflected, excluded))) for d in documents]
    return _summarise(status, cleaned, (), reflected, Mode.JSON, excluded, drifted)


def _summarise(status: int, cleaned: list[str], anchors: tuple[tuple[str, str], ...], reflected: tuple[str, ...],
               mode: Mode, excluded: frozenset[str], drifted: bool) -> NoiseModel:
    probe = NoiseModel(status, cleaned[0], anchors, mode=mode)
    measures = [probe.measure(cleaned[0], c) for c in cleaned[1:]]
    floor = min((m[0] for m in measures), default=1.0)
    jitter = max((m[1] for m in measures), default=0)
    stable = all(c == cleaned[0] for c in cleaned[1:])
    return NoiseModel(status, cleaned[0], anchors, floor, stable, reflected, mode, excluded, jitter, drifted)


def _agree(texts: list[str]) -> bool:
    return all(t == texts[0] for t in texts[1:])


# ---------------------------------------------------------------------- comparing
def similarity(a: str, b: str) -> float:
    """difflib's ratio of two texts, 1.0 for identical texts; computed on the differing middle
    only, by characters or, for long middles, by segments (lines and tags).

    >>> similarity("abcd", "abcd"), similarity("", "x"), round(similarity("hello world", "hello there"), 2)
    (1.0, 0.0, 0.64)
    """
    return _measure(a, b)[0]


def difference(a: str, b: str) -> int:
    """How many characters must be deleted or inserted to turn ``a`` into ``b`` (an upper bound
    for long texts, matched by segments).

    >>> difference("<p>1</p><p>2</p>", "<p>1</p>")
    8
    """
    return _measure(a, b)[1]


def _measure(a: str, b: str) -> tuple[float, int]:
    if a == b:
        return 1.0, 0
    total = len(a) + len(b)
    if not a or not b:
        return 0.0, total
    matched = sum(size for _, _, size in _blocks(a, b))
    return 2.0 * matched / total, total - 2 * matched


def _multiset_measure(a: list[str], b: list[str]) -> tuple[float, int]:
    """Similarity of two line multisets, weighted by line length (order-independent)."""
    ca, cb = Counter(a), Counter(b)
    total = sum(len(k) * n for k, n in ca.items()) + sum(len(k) * n for k, n in cb.items())
    if total == 0:
        return 1.0, 0
    common = sum(len(k) * n for k, n in (ca & cb).items())
    return 2.0 * common / total, total - 2 * common


def _blocks(a: str, b: str, depth: int = 0) -> list[tuple[int, int, int]]:
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
            out.extend((x + ia, y + ib, k) for x, y, k in _blocks(a[ia:ci], b[ib:cj], depth + 1))
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
    blocks: list[tuple[int, int, int]] = []
    end_a = end_b = 0
    for i, j in _increasing_chain(pairs):
        if i < end_a or j < end_b:
            continue  # inside the previous block's growth
        while i > end_a and j > end_b and sa[i - 1] == sb[j - 1]:
            i, j = i - 1, j - 1
        n = 0
        while i + n < len(sa) and j + n < len(sb) and sa[i + n] == sb[j + n]:
            n += 1
        blocks.append((i, j, n))
        end_a, end_b = i + n, j + n
    return blocks


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


# ---------------------------------------------------------------------- dynamic regions
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

    blocks = [blk for blk in _blocks(a, b) if stable(*blk)]
    kept: list[tuple[int, int, int]] = []
    for k, (i, j, size) in enumerate(blocks):
        before = blocks[k - 1] if k else (0, 0, 0)
        after = blocks[k + 1] if k + 1 < len(blocks) else (len(a), len(b), 0)
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


def _apply(text: str, anchors: Sequence[tuple[str, str]]) -> str:
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
            out.append(text[pos:start] + _DYNAMIC_MARK)
            pos = after[0]
        return "".join(out) + text[pos:]
    if prefix:
        found = _find_shortened(text, prefix, 0, from_end=True)
        return text if found is None else text[: found[1]] + _DYNAMIC_MARK
    found = _find_shortened(text, suffix, 0, from_end=False)
    return text if found is None else _DYNAMIC_MARK + text[found[0] :]


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


# ---------------------------------------------------------------------- reflections
def strip_reflections(text: str, values: Iterable[str]) -> str:
    """``text`` with each value removed in its raw, URL-encoded, HTML-encoded and JSON-escaped
    forms, longest first (sqlmap's ``removeReflectiveValues``).

    >>> strip_reflections("you searched for a&lt;b", ["a<b"])
    'you searched for '
    >>> strip_reflections('{"q": "it\\'s \\\\"x\\\\""}', ['it\\'s "x"'])
    '{"q": ""}'
    """
    # Every encoding here keeps letters and digits as they are, so a value whose longest run of
    # them is not in the text has no form in it either: most attack responses never reflect the
    # payload, and this spares computing its nine encodings.
    present = tuple(v for v in values if _may_appear(v, text))
    if not present:
        return text
    for form in _removal_order(present):
        if form in text:
            text = text.replace(form, "")
    return text


def _may_appear(value: str, text: str) -> bool:
    anchor = _anchor(value)
    return anchor is None or anchor in text


@lru_cache(maxsize=4096)
def _anchor(value: str) -> str | None:
    """The value's longest run of ASCII letters and digits (3 or more), which every encoded form
    contains; None when it has none (then only the forms themselves can tell)."""
    runs = _ALNUM_RUN.findall(value)
    longest = max(runs, key=len, default="")
    return longest if len(longest) >= 3 else None


@lru_cache(maxsize=2048)
def _removal_order(values: tuple[str, ...]) -> tuple[str, ...]:
    """Every encoded form of ``values`` (two characters or more), longest first."""
    forms: set[str] = set()
    for value in values:
        if value:
            forms.update(_encoded_forms(value))
    return tuple(sorted((f for f in forms if len(f) >= 2), key=len, reverse=True))


def _encoded_forms(value: str) -> set[str]:
    markup = (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
              .replace("'", "&#39;").replace('"', "&#34;"))  # markupsafe/Jinja2's escaping
    return {value, quote(value, safe=""), quote(value), quote_plus(value), html.escape(value),
            html.escape(value, quote=False), markup, json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1]}


# ---------------------------------------------------------------------- structure
def skeleton(text: str) -> str:
    """The tag skeleton of an HTML text: one line per tag with its classes and id (sqlmap's
    structural tokens), text content left out.

    >>> skeleton('<div class="b a" id=x>hello <b>you</b></div>')
    '<div.a.b#x>\\n<b>\\n</b>\\n</div>'
    """
    return "\n".join(_tag_token(m) for m in _TAG.finditer(text))


def _tag_token(match: re.Match[str]) -> str:
    closing, name, attributes = match.groups()
    token = f"<{closing}{name.lower()}"
    for attr in _CLASS_OR_ID.finditer(attributes):
        value = attr.group(2) or attr.group(3) or attr.group(4) or ""
        if attr.group(1).lower() == "class":
            token += "".join(f".{c}" for c in sorted(value.split()))
        else:
            token += f"#{value}"
    return token + ">"


def _parse_json(text: str | None) -> Any:
    if not text or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _project(document: Any, reflections: Sequence[str], excluded: frozenset[str], path: str = "$") -> list[str]:
    """One ``path=value`` line per leaf; list items share the path ``[]`` (order-independent)."""
    if isinstance(document, dict):
        if not document:
            return [f"{path}={{}}"]
        lines: list[str] = []
        for key, value in document.items():
            lines.extend(_project(value, reflections, excluded, f"{path}.{key}"))
        return lines
    if isinstance(document, list):
        if not document:
            return [f"{path}=[]"]
        return [line for item in document for line in _project(item, reflections, excluded, f"{path}[]")]
    if path in excluded:
        return []
    if isinstance(document, str):
        value = _DYNAMIC_TOKENS.sub(_DYNAMIC_MARK, strip_reflections(document, reflections))
        return [f"{path}={json.dumps(value)}"]
    return [f"{path}={json.dumps(document)}"]


def _varying_paths(projections: list[list[str]]) -> frozenset[str]:
    """Leaf paths whose multiset of values is not the same in every projection."""
    per_sample: list[dict[str, Counter[str]]] = []
    for lines in projections:
        values: dict[str, Counter[str]] = {}
        for line in lines:
            path, _, value = line.partition("=")
            values.setdefault(path, Counter())[value] += 1
        per_sample.append(values)
    paths = {p for sample in per_sample for p in sample}
    return frozenset(p for p in paths if any(s.get(p) != per_sample[0].get(p) for s in per_sample[1:]))


__all__ = ["Mode", "NoiseModel", "build", "difference", "find_dynamic", "similarity", "skeleton",
           "strip_reflections"]
