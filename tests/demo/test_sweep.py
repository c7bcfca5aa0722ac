"""Nothing but the manifest: every point of every request the suite sends (every point the demo
policy would attack, JSON keys included) gets every hand-written attack, and the points where one
works are exactly the manifest's vulnerable entries. This is the demo's false-positive trap battery
(detection.md §15.2): safe twins, routing segments, validated parameters, ignored cookies, signed
tokens and escaped echoes must all stay silent."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from lunge.demo import MANIFEST, POLICY_PATH
from lunge.demo.manifest import vulnerable
from lunge.errors import MessageError
from lunge.http import Request, parse
from lunge.policy import TestPolicy, load_policy
from tests.demo import attacks, oob_attacks
from tests.demo.conftest import Recording

CONCURRENCY = 8
WAITING_CONCURRENCY = 64  # attacks idle in a callback wait (oob_attacks.WAITING): 640 points x 1.5 s
Finding = tuple[str, str, str, str]  # method, path, point, check


def _policy() -> TestPolicy:
    policy = load_policy(str(POLICY_PATH))
    if any(f.name == "attack_names" for f in dataclasses.fields(policy)):
        policy = dataclasses.replace(policy, attack_names=True)  # a stricter sweep than the demo's
    return policy


# Endpoints whose answers depend on state other requests change (a reset, a logout, a rotated key):
# attacked blindly and concurrently, they answer by luck. tests/demo/test_stateful.py covers them.
STATEFUL_PATHS = {e.path for e in MANIFEST if set(e.needs) - {"operations"}}


def _targets(recording: Recording) -> list[tuple[Request, str]]:
    policy = _policy()
    return [(request, point.name) for request in recording.requests if request.path not in STATEFUL_PATHS
            for point in parse(request) if policy.selects(point.name)]


async def _sweep(recording: Recording) -> dict[Finding, str]:
    found: dict[Finding, str] = {}
    sinks = tuple(r for r in recording.requests if r.method == "GET")
    gate, waiting_gate = asyncio.Semaphore(CONCURRENCY), asyncio.Semaphore(WAITING_CONCURRENCY)

    async def run(request: Request, point: str, check: str, attack: attacks.Attack) -> None:
        async with waiting_gate if attack in oob_attacks.WAITING else gate:
            try:
                evidence = await attack(request, point, sinks)
            except MessageError:  # a head broken by the attack (a bare LF in a header) proves nothing
                evidence = None
        if evidence:
            found[(request.method, request.path, point, check)] = evidence

    async with asyncio.TaskGroup() as group:
        for request, point in _targets(recording):
            for check, family in attacks.BY_CHECK.items():
                if check == "xss-stored" and request.method == "GET":
                    continue  # a GET stores nothing
                for attack in family:
                    if attack not in attacks.SEQUENTIAL:
                        group.create_task(run(request, point, check, attack))
    # Time-based probes one at a time, after everything else: nothing else loads the shop meanwhile.
    # Like a scanner, they skip points another technique of their check already proved.
    for check in ("sqli", "code-injection"):
        for attack in (a for a in attacks.BY_CHECK[check] if a in attacks.SEQUENTIAL):
            for request, point in _targets(recording):
                if (request.method, request.path, point, check) in found:
                    continue
                evidence = await attack(request, point, ())
                if evidence:
                    found[(request.method, request.path, point, check)] = evidence
    return found


@pytest.mark.slow
async def test_the_attacks_that_work_are_exactly_the_manifest(recording: Recording) -> None:
    assert len(_targets(recording)) > 150  # the sweep really covers the recording

    found = await _sweep(recording)

    # Entries that need state kept (a fresh token, a reset first, ...) are out of a blind sweep's
    # reach: none may show up here (tests/demo/test_stateful.py exploits them with the state kept).
    expected = {(e.method, e.path, e.point, e.check) for e in vulnerable() if not set(e.needs) - {"operations"}}
    unexpected = {key: evidence for key, evidence in found.items() if key not in expected}
    assert unexpected == {}
    assert set(found) == expected
