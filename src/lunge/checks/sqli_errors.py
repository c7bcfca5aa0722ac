"""DBMS error signatures (``data/sql_errors.yaml``) and the error-based technique.

An error signature proves little on its own: pages show SQL-looking text for many reasons. The
technique counts a signature only when it is absent from every normal response, present after a
breaking payload, absent after a neutral control of the same shape, and present again after a
second, different breaking payload; the escaped twin of that payload (a doubled quote) staying
clean makes it certain.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lunge.checks.base import Attack, CheckContext, Confidence, Exchange
from lunge.checks.datafiles import safe_load
from lunge.checks.sqli_context import Outcome, is_numeric
from lunge.errors import CheckError

DATA_FILE = "sql_errors.yaml"
_EXCERPT = 120  # characters of context kept on each side of a matched error
_PRESENT_CACHE = 256  # texts whose signatures Signatures.present remembers
_LITERALS_CACHE = 64  # texts whose literal scan Signatures remembers
_CACHED_TEXT_MAX = 64 * 1024  # longer texts are not remembered: the caches stay a few MB at most


@dataclass(frozen=True, slots=True)
class Signature:
    """One error text of one DBMS family; ``kind`` is ``error`` (the query text was rejected) or
    ``cast`` (a value failed a type conversion)."""

    dbms: str
    kind: str
    regex: re.Pattern[str]
    literals: tuple[str, ...] = ()  # lower-cased texts every match contains (a cheap pre-filter)

    @property
    def pattern(self) -> str:
        return self.regex.pattern

    def find(self, text: str, lowered: str) -> re.Match[str] | None:
        """The first match in ``text`` (``lowered`` is ``text.lower()``, computed once per text):
        141 case-insensitive regexes over a 100 KB page cost half a second, the literal checks
        first a few milliseconds."""
        if not all(literal in lowered for literal in self.literals):
            return None
        return self.regex.search(text)


@dataclass(frozen=True, slots=True)
class ErrorMatch:
    """A signature found in a response: the matched text and an excerpt around it."""

    signature: Signature
    text: str
    excerpt: str
    start: int

    @property
    def dbms(self) -> str:
        return self.signature.dbms


@dataclass(frozen=True, slots=True)
class Signatures:
    """The signature table, searched in order."""

    entries: tuple[Signature, ...]
    # Each signature with its literals as a set, and every distinct literal of the table: a text is
    # lowered and scanned once per literal (C substring search), then only signatures whose
    # literals are all there run their regex. Per attack response this is most of sqli's CPU.
    _indexed: tuple[tuple[Signature, frozenset[str]], ...] = field(init=False, repr=False, compare=False)
    _literals: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _present_cache: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    _literals_cache: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        indexed = tuple((s, frozenset(s.literals)) for s in self.entries)
        object.__setattr__(self, "_indexed", indexed)
        object.__setattr__(self, "_literals", tuple(sorted({lit for _, lits in indexed for lit in lits})))
        object.__setattr__(self, "_present_cache", {})
        object.__setattr__(self, "_literals_cache", {})

    def search(self, text: str, *, kind: str = "error", exclude: frozenset[str] = frozenset(),
               dbms: str | None = None) -> ErrorMatch | None:
        """The first signature of ``kind`` (and ``dbms``) found in ``text`` whose pattern is not in
        ``exclude`` (the patterns normal responses already show)."""
        seen = self._literals_in(text)
        for signature, literals in self._indexed:
            if signature.kind != kind or not literals <= seen or signature.pattern in exclude:
                continue
            if dbms is not None and signature.dbms != dbms:
                continue
            match = signature.regex.search(text)
            if match:
                start, end = match.span()
                excerpt = text[max(0, start - _EXCERPT) : end + _EXCERPT]
                return ErrorMatch(signature, match.group(0), excerpt, start)
        return None

    def present(self, texts: Iterable[str]) -> frozenset[str]:
        """The patterns (of any kind) found in any of ``texts``."""
        found: set[str] = set()
        for text in texts:
            found |= self._present_in(text)
        return frozenset(found)

    def _present_in(self, text: str) -> frozenset[str]:
        # The same normal responses are asked about for every point of a baseline: remember the
        # last few hundred texts (a dict keyed by the text, whose hash Python caches).
        found = self._present_cache.get(text)
        if found is None:
            seen = self._literals_in(text)
            found = frozenset(s.pattern for s, literals in self._indexed if literals <= seen and s.regex.search(text))
            _remember(self._present_cache, text, found, _PRESENT_CACHE)
        return found

    def _literals_in(self, text: str) -> frozenset[str]:
        # A probe's text is searched for errors, then for cast errors, then with the neutral
        # control's: keep the last few scans (keyed by the text, whose hash Python caches).
        seen = self._literals_cache.get(text)
        if seen is None:
            lowered = text.lower()
            seen = frozenset(literal for literal in self._literals if literal in lowered)
            _remember(self._literals_cache, text, seen, _LITERALS_CACHE)
        return seen


def _remember(cache: dict[str, frozenset[str]], text: str, value: frozenset[str], limit: int) -> None:
    """Keep ``value`` for ``text`` (short texts only; the cache is emptied when full)."""
    if len(text) <= _CACHED_TEXT_MAX:
        if len(cache) >= limit:
            cache.clear()
        cache[text] = value


# ---------------------------------------------------------------------- loading
class _EntryModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dbms: str = Field(min_length=1)
    kind: Literal["error", "cast"] = "error"
    pattern: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{pattern!r} is not a valid regular expression ({exc})") from exc
        return pattern


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signatures: list[_EntryModel] = Field(min_length=1)


def load_signatures(path: Path | None = None) -> Signatures:
    """The signature table from ``path`` (default: the packaged ``data/sql_errors.yaml``).

    Raises :class:`~lunge.errors.CheckError` naming the file, the entry and the problem."""
    name = str(path) if path is not None else f"lunge/checks/data/{DATA_FILE}"
    text = path.read_text(encoding="utf-8") if path is not None else _packaged()
    try:
        document = _FileModel.model_validate(safe_load(text))
    except yaml.YAMLError as exc:
        raise CheckError(f"{name}: not valid YAML: {' '.join(str(exc).split())}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {' '.join(e['msg'].split())}" for e in exc.errors())
        raise CheckError(f"{name}: {problems}") from exc
    return Signatures(tuple(Signature(e.dbms, e.kind, re.compile(e.pattern, re.IGNORECASE),
                                      required_literals(e.pattern)) for e in document.signatures))


def required_literals(pattern: str) -> tuple[str, ...]:
    r"""Lower-cased runs of plain text (3 characters or more) that every match of ``pattern``
    contains: text outside groups, classes and optional parts; none when the pattern has a
    top-level ``|``.

    >>> required_literals(r"SQL syntax.*?MySQL")
    ('sql syntax', 'mysql')
    >>> required_literals(r"\bORA-\d{5}"), required_literals(r"(?:Microsoft|System)\.Data\.SQLite\.SQLiteException")
    (('ora-',), ('.data.sqlite.sqliteexception',))
    >>> required_literals(r"Microsoft Access (?:\d+ )?Driver"), required_literals("a|b")
    (('microsoft access ', 'driver'), ())
    """
    runs: list[str] = []
    current = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "|":
            return ()
        if char in "([":
            runs.append(current)
            current, i = "", _skip_group(pattern, i)
            continue
        if char in "*?{":  # the atom before is optional or repeated any number of times
            runs.append(current[:-1])
            current, i = "", _skip_quantifier(pattern, i)
            continue
        if char == "+":
            runs.append(current)
            current, i = "", _skip_quantifier(pattern, i)
            continue
        if char == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            current, i = current + pattern[i + 1], i + 2  # an escaped punctuation character
            continue
        if char == "\\" or char in ".^$":
            runs.append(current)
            current, i = "", i + (2 if char == "\\" else 1)
            continue
        current, i = current + char, i + 1
    runs.append(current)
    return tuple(run.lower() for run in runs if len(run) >= 3)


def _skip_group(pattern: str, start: int) -> int:
    """The index after the group or class opening at ``start`` (and after its quantifier)."""
    closing = ")" if pattern[start] == "(" else "]"
    depth, i = 0, start
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == pattern[start]:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return _skip_quantifier(pattern, i + 1)
        i += 1
    return i


def _skip_quantifier(pattern: str, i: int) -> int:
    """The index after a quantifier starting at ``i`` (``*``, ``+``, ``?``, ``{m,n}``, lazy ``?``)."""
    if i < len(pattern) and pattern[i] in "*+?":
        i += 1
    elif i < len(pattern) and pattern[i] == "{":
        i = pattern.find("}", i) + 1 or len(pattern)
    if i < len(pattern) and pattern[i] == "?":
        i += 1
    return i


def _packaged() -> str:
    return files("lunge.checks").joinpath("data", DATA_FILE).read_text(encoding="utf-8")


@cache
def signatures() -> Signatures:
    """The packaged table, loaded once."""
    return load_signatures()


# ---------------------------------------------------------------------- the technique
def neutral_value(ctx: CheckContext) -> str:
    """A harmless value of the same shape: the value with random digits (numbers) or a random
    alphanumeric word appended. A page that errors on it errors on any change, not on SQL."""
    suffix = str(ctx.number(10, 99)) if is_numeric(ctx) else ctx.marker(6)
    return ctx.point.value + suffix


def error_based(ctx: CheckContext, table: Signatures, first: ErrorMatch, probe: Exchange, neutral: Exchange | None,
                normal: frozenset[str]) -> Generator[list[Attack], list[Exchange], tuple[Outcome | None, int]]:
    """Confirm the DBMS error ``first`` that the heuristic ``probe`` produced.

    Sends the neutral control if the heuristic did not, then a lone single quote and, if that
    shows nothing of this DBMS, a lone double quote; the escaped twin (the quote doubled) of the
    one that did. Returns (outcome, requests sent): no outcome when the neutral control errors too
    (any input breaks the page), a tentative one when no second payload reproduces the error."""
    sent = 0
    if neutral is None:
        (neutral,) = yield [ctx.attack(neutral_value(ctx), "sqli-error:neutral")]
        sent += 1
    if neutral.ok and table.search(neutral.text, exclude=normal) is not None:
        return None, sent
    controls = [neutral]
    for quote in ("'", '"'):
        (breaking,) = yield [ctx.attack(ctx.point.value + quote, f"sqli-error:break{quote}")]
        sent += 1
        controls.append(breaking)
        second = table.search(breaking.text, exclude=normal, dbms=first.dbms) if breaking.ok else None
        if second is None:
            continue
        (escaped,) = yield [ctx.attack(ctx.point.value + quote * 2, f"sqli-error:escaped{quote}")]
        controls.append(escaped)
        clean = escaped.ok and table.search(escaped.text, exclude=normal) is None
        return _outcome(first, probe, tuple(controls), quote, clean, second), sent + 1
    return _tentative(first, probe, tuple(controls)), sent


def _outcome(first: ErrorMatch, probe: Exchange, controls: tuple[Exchange, ...], quote: str, escaped_clean: bool,
             second: ErrorMatch) -> Outcome:
    confidence = Confidence.CERTAIN if escaped_clean else Confidence.FIRM
    how = (f"the {first.dbms} error appeared for the probe and for a lone {quote}, not for a neutral value "
           "of the same shape" + (f", nor for the escaped {quote * 2}" if escaped_clean else ""))
    details = {"technique": "error", "dbms": first.dbms, "pattern": first.signature.pattern,
               "matched": first.text, "second_match": second.text, "quote": quote,
               "escaped_twin_clean": escaped_clean}
    return Outcome("error", probe, first.excerpt.strip(), how, confidence, controls, details)


def _tentative(first: ErrorMatch, probe: Exchange, controls: tuple[Exchange, ...]) -> Outcome:
    how = (f"the {first.dbms} error appeared for the probe and not for a neutral value, but no lone quote "
           "reproduced it")
    details = {"technique": "error", "dbms": first.dbms, "pattern": first.signature.pattern,
               "matched": first.text}
    return Outcome("error", probe, first.excerpt.strip(), how, Confidence.TENTATIVE, controls, details)
