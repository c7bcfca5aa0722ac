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

Split by job: :mod:`~lunge.checks.textdiff` (similarity and difference of two texts),
:mod:`~lunge.checks.dynamic` (dynamic tokens and regions), :mod:`~lunge.checks.reflections`
(echoed values) and :mod:`~lunge.checks.structure` (HTML skeleton, JSON projection); this module
builds the model from them and re-exports their public functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lunge.checks.dynamic import DYNAMIC_MARK, DYNAMIC_TOKENS, apply_anchors, find_dynamic
from lunge.checks.reflections import strip_reflections
from lunge.checks.structure import parse_json, project, skeleton, varying_paths
from lunge.checks.textdiff import difference, measure, multiset_measure, similarity

if TYPE_CHECKING:
    from lunge.checks.base import Exchange

_CLEANED: dict[tuple[Any, ...], str] = {}  # NoiseModel.clean results, recent ones
_CLEANED_MAX = 256
_BUILT: dict[tuple[Any, ...], NoiseModel] = {}  # build() results for recent replays, by their answers
_BUILT_MAX = 256
_CACHED_TEXT_MAX = 64 * 1024  # longer texts are not remembered: both caches together stay under ~48 MB
_STABLE = 0.98  # sqlmap's UPPER_RATIO_BOUND: above this two pages are "the same"
_TESTABLE = 0.90  # below this floor an endpoint is too noisy for differential checks


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
            document = parse_json(text)
            if document is not None:
                return "\n".join(sorted(project(document, values, self.excluded)))
        return self._clean_text(strip_reflections(text, values))

    def _clean_text(self, text: str) -> str:
        # Attack responses repeat (the same error page, the same unchanged page) and each is compared
        # several times; once reflections are gone the result depends on the text alone, whatever
        # the payload was: remember recent results. Pure: same inputs, same output.
        key = (text, self.mode, self.anchors)
        cleaned = _CLEANED.get(key)
        if cleaned is None:
            cleaned = DYNAMIC_TOKENS.sub(DYNAMIC_MARK, text)
            if self.mode is Mode.SKELETON:
                cleaned = skeleton(cleaned)
            cleaned = apply_anchors(cleaned, self.anchors)
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
            return multiset_measure(a.split("\n"), b.split("\n"))
        return measure(a, b)

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
    documents = [parse_json(t) for t in texts + ([recorded_text] if recorded_text is not None else [])]
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
    prepared = DYNAMIC_TOKENS.sub(DYNAMIC_MARK, strip_reflections(text, model.reflected))
    return skeleton(model.reference) != skeleton(prepared)


def _build_text(status: int, texts: list[str], recorded: str | None, reflected: tuple[str, ...],
                mode: Mode) -> NoiseModel:
    def prepare(text: str) -> str:
        out = DYNAMIC_TOKENS.sub(DYNAMIC_MARK, strip_reflections(text, reflected))
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
    cleaned = [apply_anchors(t, anchors) for t in normal]
    return _summarise(status, cleaned, tuple(anchors), reflected, mode, frozenset(), drifted)


def _build_json(status: int, texts: list[str], recorded: str | None, reflected: tuple[str, ...]) -> NoiseModel:
    documents = [parse_json(t) for t in texts]
    lines = [project(d, reflected, frozenset()) for d in documents]
    drifted = False
    if recorded is not None:
        extra = project(parse_json(recorded), reflected, frozenset())
        if len(lines) >= 2 and all(Counter(x) == Counter(lines[0]) for x in lines) and \
                Counter(extra) != Counter(lines[0]):
            drifted = True
        else:
            documents.append(parse_json(recorded))
            lines.append(extra)
    excluded = varying_paths(lines)
    cleaned = ["\n".join(sorted(project(d, reflected, excluded))) for d in documents]
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


__all__ = ["Mode", "NoiseModel", "build", "difference", "find_dynamic", "similarity", "skeleton",
           "strip_reflections"]
