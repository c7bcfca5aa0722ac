"""Passive findings during a run: the passive rules (:mod:`lunge.checks.passive`) on each
baseline's recorded response and first fresh replay, one finding per host and rule.

No request is sent for them, with one exception: the CORS rule needs a foreign ``Origin``, so one
probe per host is sent, on the first baseline that shows a CORS header or answers JSON (an API).

Passive findings never fail the build unless the policy says so (``fail_on: {passive: true}``),
and then by the same severity and confidence thresholds as every finding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from lunge.checks import passive
from lunge.checks.base import Attack, Confidence, Exchange, Verdict
from lunge.engine import evidence
from lunge.http import Request, Response
from lunge.store.models import Baseline, Finding, NewFinding

if TYPE_CHECKING:
    from lunge.engine.results import Results
    from lunge.policy import TestPolicy

logger = logging.getLogger(__name__)
SendAll = Callable[[list[Attack]], Awaitable[list[Exchange]]]
Host = tuple[str, int]


class PassiveScan:
    """Runs the passive rules of one run (or one process's share of it)."""

    def __init__(self, policy: TestPolicy, results: Results, on_finding: Callable[[Finding], None] | None = None,
                 rules: tuple[passive.PassiveRule, ...] | None = None) -> None:
        self.policy = policy
        self.results = results
        self.on_finding = on_finding
        self.rules = (rules if rules is not None else passive.load()) if policy.passive else ()
        self._seen: set[tuple[Host, str]] = set()
        self._cors_probed: set[Host] = set()

    async def scan(self, run_id: int, baseline: Baseline, request: Request, replays: list[Exchange],
                   send_all: SendAll) -> int:
        """Run the rules on this baseline's exchanges; returns the requests sent (0, or 1 for the
        host's CORS probe)."""
        if not self.rules:
            return 0
        host = (request.host.lower(), request.port)
        exchanges = [e for e in replays[:1] if e.response is not None]
        if baseline.response is not None:
            exchanges.append(Exchange(Attack(request, "", "recorded"), baseline.response, 0.0))
        verdicts = self._judge(host, exchanges, self.rules)
        sent = 0
        if self._wants_cors_probe(host, baseline, exchanges):
            self._cors_probed.add(host)
            probe = await send_all([Attack(passive.cors_probe(request), passive.PROBE_ORIGIN, "cors-probe")])
            sent = 1
            cors = tuple(rule for rule in self.rules if rule.id == passive.CORS_RULE)
            verdicts += self._judge(host, [e for e in probe if e.response is not None], cors, probe=True)
        if verdicts:
            await self._store(run_id, baseline, request, host, verdicts)
        return sent

    def _judge(self, host: Host, exchanges: list[Exchange], rules: tuple[passive.PassiveRule, ...], *,
               probe: bool = False) -> list[tuple[Verdict, str]]:
        out: list[tuple[Verdict, str]] = []
        for exchange in exchanges:
            assert exchange.response is not None
            for rule, match in passive.run(rules, exchange.attack.request, exchange.response):
                if (host, rule.id) in self._seen:
                    continue
                self._seen.add((host, rule.id))
                out.append((_verdict(rule, match, exchange, probe), match.secret))
        return out

    def _wants_cors_probe(self, host: Host, baseline: Baseline, exchanges: list[Exchange]) -> bool:
        if host in self._cors_probed or (host, passive.CORS_RULE) in self._seen:
            return False
        if not any(rule.id == passive.CORS_RULE for rule in self.rules):
            return False
        if baseline.request.headers.get("origin"):
            return True
        return any(_cors_signal(e.response) for e in exchanges if e.response is not None)

    async def _store(self, run_id: int, baseline: Baseline, request: Request, host: Host,
                     verdicts: list[tuple[Verdict, str]]) -> None:
        new = [_finding(v, secret, run_id=run_id, baseline_id=baseline.id, baseline=request, host=host)
               for v, secret in verdicts]
        for finding in await self.results.add_findings(new):
            if self.on_finding is not None:  # the runner counts it when it fails the build
                self.on_finding(finding)


def _cors_signal(response: Response) -> bool:
    """A CORS header, or a JSON answer (an API, the usual target of cross-origin reads)."""
    headers = response.headers
    return bool(headers.get("access-control-allow-origin") or headers.get("access-control-allow-credentials")
                or response.content_type == "application/json" or response.content_type.endswith("+json"))


def _verdict(rule: passive.PassiveRule, match: passive.Match, exchange: Exchange, probe: bool) -> Verdict:
    label = exchange.attack.label
    if probe:
        how = f"one request with the foreign Origin {passive.PROBE_ORIGIN} was answered this way"
    elif label == "recorded":
        how = "seen in the response recorded with the baseline (no request sent)"
    else:
        how = "seen in a fresh replay of the baseline (no attack sent)"
    return Verdict(rule.id, rule.title, rule.severity, rule.cwe, Confidence.FIRM, "", "", exchange, match.proof,
                   how, (), {"passive": True, "kind": rule.kind, **match.details})


def _finding(verdict: Verdict, secret: str, *, run_id: int, baseline_id: int, baseline: Request,
             host: Host) -> NewFinding:
    """The stored finding: its fingerprint names the host and the rule (one finding per host and
    rule, run after run), and a secret the rule found is masked everywhere in the evidence."""
    finding = evidence.to_finding(verdict, run_id=run_id, baseline_id=baseline_id, baseline=baseline)
    key = f"{verdict.check_id}|{host[0]}:{host[1]}"
    changes: dict[str, object] = {"fingerprint": hashlib.sha256(key.encode()).hexdigest()[:16]}
    if secret:
        shown = passive.mask(secret)
        changes |= {name: getattr(finding, name).replace(secret, shown)
                    for name in ("attack_request", "response_excerpt", "proof", "url")}
        changes["details"] = {k: v.replace(secret, shown) if isinstance(v, str) else v
                              for k, v in finding.details.items()}
    return dataclasses.replace(finding, **changes)  # type: ignore[arg-type]
