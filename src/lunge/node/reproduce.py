"""``lunge reproduce FINDING_ID``: does a finding still reproduce? (exit 1 yes, 0 no, 2 bad id)

The attack is rebuilt from the recorded baseline (whose credentials are real, where the stored
evidence has them masked) by putting the finding's payload into its point again, and sent to where
the run sent it (TEST_RUN_URI included), with the baseline itself as the negative control. Then
it is judged again by the kind of proof the finding carries:

- text the response showed (an error signature, a reflected marker, file contents, a redirect
  target): it reproduces when the attack's response shows it and the baseline's does not;
- a delay (time-based checks; the proof reads "slept ... s"): when the attack is delayed by at least
  80 % of the delay that was proven and the baseline is not;
- anything else (a boolean comparison across several requests) cannot be judged from one attack:
  the answer is "inconclusive", counted as still reproducing (exit 1) so a build never passes on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

from rich.console import Console

from lunge import aio
from lunge.checks.base import Attack, Exchange
from lunge.engine.sender import Sender
from lunge.errors import LungeError, NotFoundError, SettingError
from lunge.http import Request, replace
from lunge.node.settings import store_settings
from lunge.report import curl_line
from lunge.store import open_store
from lunge.store.models import Finding, TestRun, parse_id

TIMEOUT = 30.0
_DELAY_SHARE = 0.8


class Outcome(StrEnum):
    REPRODUCES = "reproduces"
    FIXED = "does not reproduce"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class Reproduction:
    finding: Finding
    curl: str
    outcome: Outcome
    why: str
    attack: Exchange | None
    baseline: Exchange | None

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome is Outcome.FIXED else 1

    def as_dict(self) -> dict[str, Any]:
        def exchange(e: Exchange | None) -> dict[str, Any] | None:
            return None if e is None else {"status": e.status, "elapsed_s": round(e.elapsed, 4), "error": e.error}

        return {"finding": self.finding.label, "check_id": self.finding.check_id, "curl": self.curl,
                "outcome": self.outcome.value, "reproduces": self.outcome is not Outcome.FIXED, "why": self.why,
                "attack": exchange(self.attack), "baseline": exchange(self.baseline)}


def reproduce(finding_ref: str, flags: Mapping[str, Any] | None = None) -> Reproduction:
    """Send the finding's attack and its baseline again and judge the answer."""
    finding_id = parse_id(finding_ref)
    if finding_id is None:
        raise SettingError("FINDING_ID", finding_ref, "a finding id such as 12 or fnd_12 (see the reports)")
    store = open_store(store_settings(flags).url)
    try:
        try:
            finding = store.get_finding(finding_id)
        except NotFoundError as exc:
            raise SettingError("FINDING_ID", finding_ref, "the id of a stored finding (see the reports)") from exc
        run = store.get_run(finding.run_id)
        recorded = store.get_baseline(finding.baseline_id).request
    finally:
        store.close()
    baseline = _moved(recorded, run)
    try:
        attack = replace(baseline, finding.point, finding.payload)
    except KeyError as exc:
        raise LungeError(f"{finding.label}: its baseline bl_{finding.baseline_id} has no point "
                         f"{finding.point}") from exc
    sink = _sink(finding, attack)
    sent = aio.run(_send(attack, baseline, sink, verify_tls=bool((flags or {}).get("verify_tls"))))
    outcome, why = judge(finding, *sent)
    return Reproduction(finding, curl_line(finding), outcome, why, sent[0], sent[1])


def _sink(finding: Finding, attack: Request) -> Request | None:
    """The page the proof was seen on when it is not the attack's own response (a stored XSS shows
    on another page): fetched with GET after the attack."""
    method, _, proven_url = str(finding.details.get("proven_at") or "").partition(" ")
    if not proven_url:
        return None
    proven = urlsplit(proven_url)
    # the attack's own page (its query may be encoded differently by the rebuild: compare method and path)
    if method == attack.method and unquote(proven.path or "/") == unquote(attack.path):
        return None
    target = (proven.path or "/") + (f"?{proven.query}" if proven.query else "")
    return dataclasses.replace(attack, method="GET", target=target, body=b"",
                               headers=attack.headers.without(("content-type", "content-length")))


def _moved(request: Request, run: TestRun) -> Request:
    """``request`` sent where the run sent its attacks (TEST_RUN_URI)."""
    if not run.target:
        return request
    target = urlsplit(run.target)
    scheme = target.scheme or "http"
    return request.with_origin(scheme, target.hostname or request.host, target.port or (443 if scheme == "https"
                                                                                         else 80))


async def _send(attack: Request, baseline: Request, sink: Request | None, *, verify_tls: bool
                ) -> tuple[Exchange, Exchange]:
    """The baseline first (the control), then the attack, then the sink page when there is one (its
    response stands for the attack's: that is where the proof showed)."""
    allowed = {(baseline.host.lower(), baseline.port)}
    async with Sender(workers=1, rps=None, timeout=TIMEOUT, allowed=allowed, verify_tls=verify_tls) as sender:
        sent_baseline = await sender.send(Attack(baseline, "", "baseline", timing=True))
        sent_attack = await sender.send(Attack(attack, "", "attack", timing=True))
        if sink is not None and sent_attack.ok:
            shown = await sender.send(Attack(sink, "", "sink", timing=True))
            sent_attack = dataclasses.replace(shown, attack=sent_attack.attack, elapsed=sent_attack.elapsed)
    return sent_attack, sent_baseline


def judge(finding: Finding, attack: Exchange, baseline: Exchange) -> tuple[Outcome, str]:
    """Judge the fresh attack against the finding's proof, with the baseline as the control."""
    if not attack.ok:
        return Outcome.INCONCLUSIVE, f"the attack got no response ({attack.error})"
    proof = finding.proof
    if proof.startswith("slept "):
        proven = float(finding.details.get("elapsed_s") or 0.0)
        if proven <= 0:
            return Outcome.INCONCLUSIVE, "the finding did not keep the delay it proved"
        if attack.elapsed >= _DELAY_SHARE * proven and baseline.elapsed < _DELAY_SHARE * proven / 2:
            return Outcome.REPRODUCES, (f"the attack took {attack.elapsed:.2f} s (proven {proven:.2f} s), "
                                        f"the baseline {baseline.elapsed:.2f} s")
        return Outcome.FIXED, (f"the attack took {attack.elapsed:.2f} s where {proven:.2f} s was proven "
                               f"(baseline {baseline.elapsed:.2f} s)")
    if not proof or proof not in finding.response_excerpt:
        return Outcome.INCONCLUSIVE, ("this proof compares several responses (e.g. true/false pages) and one "
                                      "attack cannot re-judge it: run lunge test again")
    if proof not in _seen(attack):
        return Outcome.FIXED, f"the response (status {attack.status}) no longer shows the proof {proof[:80]!r}"
    if baseline.ok and proof in _seen(baseline):
        return Outcome.INCONCLUSIVE, "the baseline's own response now shows the proof too: it proves nothing"
    return Outcome.REPRODUCES, f"the response (status {attack.status}) shows the proof {proof[:80]!r} again"


def _seen(exchange: Exchange) -> str:
    """What a proof may be found in: the response head (Location, Set-Cookie) and its body."""
    response = exchange.response
    if response is None:
        return ""
    return response.head_bytes().decode("latin-1") + "\n" + response.text()


def print_reproduction(console: Console, result: Reproduction) -> None:
    """The curl line, then the verdict and why."""
    console.print(result.curl, markup=False, highlight=False, soft_wrap=True)
    style = {Outcome.REPRODUCES: "bold red", Outcome.FIXED: "bold green"}.get(result.outcome, "bold yellow")
    console.print(f"[{style}]{result.finding.label} {result.outcome.value}[/]: ", end="")
    console.print(result.why, markup=False, highlight=False, soft_wrap=True)
