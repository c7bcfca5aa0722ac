"""What one recording session counted: recorded baselines, duplicates, out-of-scope and excluded
requests, failures, per host. Kept with the test record when it is closed (``stats``) and printed
as the summary when recording stops."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

# The outcomes of one proxied request, as counted.
RECORDED = "recorded"  # stored as a baseline
DUPLICATE = "duplicates"  # same endpoint and parameter names as an earlier baseline
EXCLUDED = "excluded"  # static file (FILE_EXTENSIONS_TO_EXCLUDE)
OUT_OF_SCOPE = "out_of_scope"  # host not in ALLOWED_HOSTS
NO_RESPONSE = "no_response"  # the target never answered (refused, reset, timed out, TLS failure)
STORE_ERROR = "store_errors"  # answered, but the store refused the baseline
WEBSOCKET = "websockets"  # WebSocket handshakes: proxied, not baselines
REFUSED = "refused_while_stopping"  # arrived after the stop began, answered 503
TUNNELLED = "tunnelled_connections"  # TLS connections to hosts outside ALLOWED_HOSTS, passed through encrypted

OUTCOMES = (RECORDED, DUPLICATE, EXCLUDED, OUT_OF_SCOPE, NO_RESPONSE, STORE_ERROR, WEBSOCKET, REFUSED, TUNNELLED)
PER_HOST = (RECORDED, DUPLICATE, EXCLUDED, OUT_OF_SCOPE, TUNNELLED)


@dataclass(slots=True)
class RecordingStats:
    """Counters of a live recording; only the proxy's event loop writes them."""

    totals: Counter[str] = field(default_factory=Counter)
    hosts: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def count(self, outcome: str, host: str | None = None) -> None:
        self.totals[outcome] += 1
        if host is not None and outcome in PER_HOST:
            self.hosts[host][outcome] += 1

    def __getitem__(self, outcome: str) -> int:
        return self.totals[outcome]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able counters: every outcome (0 included) and ``hosts`` -> outcome -> count.

        >>> s = RecordingStats(); s.count(RECORDED, "a.test"); s.as_dict()["hosts"]["a.test"]["recorded"]
        1
        """
        document: dict[str, Any] = {name: self.totals[name] for name in OUTCOMES}
        document["hosts"] = {
            host: {name: counts[name] for name in PER_HOST} for host, counts in sorted(self.hosts.items())
        }
        return document
