"""Finding checks: built-in and third-party, through the ``lunge.checks`` entry-point group.

Each entry point names a sequence of :class:`~lunge.checks.base.Check` objects (a module's
``CHECKS``). A plugin that fails to load is not skipped silently: it is reported in
:attr:`Registry.failures` and the node shows it in its summary.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from lunge.checks.base import Check

logger = logging.getLogger(__name__)
GROUP = "lunge.checks"


@dataclass(slots=True)
class Registry:
    """The checks lunge knows, by id, and the plugins that failed to load."""

    checks: dict[str, Check] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def add(self, check: Check) -> None:
        if check.id in self.checks and self.checks[check.id] is not check:
            raise ValueError(f"two checks share the id {check.id!r}")
        self.checks[check.id] = check

    def __iter__(self) -> Iterator[Check]:
        return iter(self.checks.values())

    def __len__(self) -> int:
        return len(self.checks)

    def get(self, check_id: str) -> Check | None:
        return self.checks.get(check_id)

    def select(self, names: Iterable[str]) -> list[Check]:
        """The checks named by id or by kind (FAST type code, e.g. ``sqli``); ``all`` selects
        every check. Unknown names raise KeyError."""
        chosen: dict[str, Check] = {}
        for name in names:
            if name == "all":
                chosen.update(self.checks)
                continue
            matched = [c for c in self.checks.values() if name in (c.id, c.kind)]
            if not matched:
                raise KeyError(name)
            chosen.update((c.id, c) for c in matched)
        return list(chosen.values())

    @property
    def kinds(self) -> set[str]:
        return {c.kind for c in self.checks.values()}


def load(group: str = GROUP) -> Registry:
    """Every check advertised in the ``lunge.checks`` entry-point group."""
    registry = Registry()
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            loaded = ep.load()
            checks = list(loaded) if not isinstance(loaded, Check) else [loaded]
            for check in checks:
                if not isinstance(check, Check):
                    raise TypeError(f"{check!r} is not a lunge Check")
                registry.add(check)
        except Exception as exc:  # the plugin boundary: a broken plugin is reported, not fatal
            logger.error("check plugin %s failed to load: %s", ep.name, exc)
            registry.failures[ep.name] = f"{type(exc).__name__}: {exc}"
    return registry
