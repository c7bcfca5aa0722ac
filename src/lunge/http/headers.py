"""An ordered, immutable header list that keeps case and duplicates exactly as sent.

Names and values are ``str`` holding the wire bytes decoded as latin-1, a bijection on bytes, so
nothing is lost and ``Headers.encode()`` gives back the exact bytes. A character above U+00FF (which
no latin-1 view holds, but a caller may write) is sent as its UTF-8 bytes, as a client would.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

HeaderPair = tuple[str, str]
# What surrounds a value on the wire: the text between the colon-less name and the value (": "
# normally) and any whitespace after the value. Kept so an untouched header serialises to the bytes
# it was parsed from.
Framing = tuple[str, str]
_DEFAULT_FRAMING: Framing = (": ", "")


def wire_bytes(text: str) -> bytes:
    """The bytes a latin-1 view of the wire stands for; characters above U+00FF become UTF-8.

    >>> wire_bytes("a\xe9"), wire_bytes("\u4e2d")
    (b'a\xe9', b'\xe4\xb8\xad')
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return b"".join(
            ch.encode("latin-1") if ord(ch) <= 0xFF else ch.encode("utf-8", "surrogatepass") for ch in text
        )


class Headers:
    """Header fields in wire order; lookups are case-insensitive, storage is not.

    >>> h = Headers([("Content-Type", "text/html"), ("set-cookie", "a=1"), ("Set-Cookie", "b=2")])
    >>> h.get("content-type")
    'text/html'
    >>> h.get_all("SET-COOKIE")
    ['a=1', 'b=2']
    >>> h.set("Content-Type", "text/plain").fields[0]
    ('Content-Type', 'text/plain')
    """

    __slots__ = ("_lower", "_wire", "fields", "framing")

    fields: tuple[HeaderPair, ...]
    framing: tuple[Framing, ...]
    _lower: tuple[str, ...]  # the names lower-cased, for lookups
    _wire: bytes | None  # encode()'s result, once asked for

    def __init__(self, fields: Iterable[HeaderPair] = (), framing: Iterable[Framing] | None = None) -> None:
        pairs = tuple((str(k), str(v)) for k, v in fields)
        frames = tuple(framing) if framing is not None else (_DEFAULT_FRAMING,) * len(pairs)
        if len(frames) != len(pairs):
            raise ValueError("framing must have one entry per field")
        object.__setattr__(self, "fields", pairs)
        object.__setattr__(self, "framing", frames)
        object.__setattr__(self, "_lower", tuple(k.lower() for k, _ in pairs))
        object.__setattr__(self, "_wire", None)

    @classmethod
    def received(cls, fields: tuple[HeaderPair, ...]) -> Headers:
        """Headers as an HTTP client decoded them (str pairs, default framing), without the
        per-field checks of ``Headers(...)``: one response is read per attack."""
        return cls._make(fields, (_DEFAULT_FRAMING,) * len(fields), tuple(k.lower() for k, _ in fields))

    @classmethod
    def _make(cls, fields: tuple[HeaderPair, ...], framing: tuple[Framing, ...], lower: tuple[str, ...]) -> Headers:
        # For the derived lists below, which are valid by construction: one variant of a request is
        # built per attack, so skipping the checks and the lower-casing of __init__ pays.
        headers = object.__new__(cls)
        object.__setattr__(headers, "fields", fields)
        object.__setattr__(headers, "framing", framing)
        object.__setattr__(headers, "_lower", lower)
        object.__setattr__(headers, "_wire", None)
        return headers

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Headers is immutable; use set(), add() or remove()")

    def __reduce__(self) -> tuple[type[Headers], tuple[tuple[HeaderPair, ...], tuple[Framing, ...]]]:
        # pickle and copy rebuild through __init__ (the default would set slots one by one,
        # which __setattr__ forbids): requests cross process boundaries (PROCESSES > 1)
        return (Headers, (self.fields, self.framing))

    def __iter__(self) -> Iterator[HeaderPair]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, index: int) -> HeaderPair:
        return self.fields[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and other.fields == self.fields and other.framing == self.framing

    def __hash__(self) -> int:
        return hash(self.fields)

    def __repr__(self) -> str:
        return f"Headers({list(self.fields)!r})"

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.index(name) is not None

    def index(self, name: str) -> int | None:
        """Position of the first field called ``name`` (any case), or None."""
        lowered = name.lower()
        return self._lower.index(lowered) if lowered in self._lower else None

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first field called ``name`` (any case)."""
        i = self.index(name)
        return default if i is None else self.fields[i][1]

    def get_all(self, name: str) -> list[str]:
        """Values of every field called ``name``, in wire order."""
        lowered = name.lower()
        return [v for k, (_, v) in zip(self._lower, self.fields, strict=True) if k == lowered]

    def set(self, name: str, value: str) -> Headers:
        """Replace the first ``name`` field in place (keeping its case) and drop later duplicates;
        append it when absent."""
        first = self.index(name)
        if first is None:
            return self.add(name, value)
        lowered = self._lower[first]
        keep = [i for i, k in enumerate(self._lower) if k != lowered or i == first]
        fields = tuple((self.fields[i][0], value) if i == first else self.fields[i] for i in keep)
        return Headers._make(fields, tuple(self.framing[i] for i in keep), tuple(self._lower[i] for i in keep))

    def replace_at(self, index: int, value: str) -> Headers:
        """The same headers with field ``index``'s value replaced (its framing kept)."""
        fields = list(self.fields)
        fields[index] = (fields[index][0], value)
        return Headers._make(tuple(fields), self.framing, self._lower)

    def add(self, name: str, value: str) -> Headers:
        """The same headers with one more field at the end."""
        return Headers._make((*self.fields, (name, value)), (*self.framing, _DEFAULT_FRAMING),
                             (*self._lower, name.lower()))

    def remove(self, name: str) -> Headers:
        """The same headers without any field called ``name``."""
        return self.without((name.lower(),))

    def without(self, lowered_names: Collection[str]) -> Headers:
        """The same headers without the fields whose lower-cased name is in ``lowered_names``
        (these very headers when none is)."""
        keep = [i for i, k in enumerate(self._lower) if k not in lowered_names]
        if len(keep) == len(self._lower):
            return self
        return Headers._make(tuple(self.fields[i] for i in keep), tuple(self.framing[i] for i in keep),
                             tuple(self._lower[i] for i in keep))

    def encode(self) -> bytes:
        """The header block as wire bytes, each field ending in CRLF (no final blank line)."""
        # Kept: the attacks on one baseline's query or body share its headers, and each is sent.
        wire: bytes | None = self._wire
        if wire is None:
            wire = wire_bytes("".join(
                f"{k}{sep}{v}{trail}\r\n" for (k, v), (sep, trail) in zip(self.fields, self.framing, strict=True)
            ))
            object.__setattr__(self, "_wire", wire)
        return wire
