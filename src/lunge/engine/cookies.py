"""The cookies a record's responses set, by name, for checks that judge cookie attributes.

The producer notes every baseline's recorded ``Set-Cookie`` headers in record order, before the
baseline is queued (and before the partition filter, so every process sees every cookie): when a
baseline is tested, the login baseline that set its session cookie was noted already. A check reads
a snapshot (:attr:`lunge.checks.base.CheckContext.set_cookies`), taken once per baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lunge.http import Response


@dataclass(slots=True)
class SetCookies:
    """``Set-Cookie`` values seen so far, by cookie name (the last one wins)."""

    seen: dict[str, str] = field(default_factory=dict)
    _snapshot: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    _dirty: bool = False

    def note(self, response: Response | None) -> None:
        if response is None:
            return
        for value in response.headers.get_all("set-cookie"):
            name = value.partition("=")[0].strip()
            if name and self.seen.get(name) != value:
                self.seen[name] = value
                self._dirty = True

    def snapshot(self) -> Mapping[str, str]:
        """A read-only copy of what was seen (the same object while nothing new was noted)."""
        if self._dirty:
            self._snapshot = MappingProxyType(dict(self.seen))
            self._dirty = False
        return self._snapshot
