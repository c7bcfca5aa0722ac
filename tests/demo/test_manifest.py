"""The manifest names real points of the suite's real requests, covers every check and point family,
and pairs each vulnerable endpoint with a safe twin; the shipped policy is valid and selects them."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from lunge.demo import CHECKS, MANIFEST, POLICY_PATH, manifest
from lunge.demo.manifest import vulnerable
from lunge.http import parse
from lunge.policy import load_policy
from tests.demo.conftest import Recording

FIELDS = {"method", "path", "point", "check", "vulnerable", "technique", "description", "needs"}
NEEDS = {"ordered-replay", "session-refresh", "csrf-token", "linked-values", "operations", "value-flow", "identities"}


def test_manifest_is_plain_json_data() -> None:
    entries = manifest()

    assert json.loads(json.dumps(entries)) == entries
    assert all(set(entry) == FIELDS for entry in entries)
    assert all(entry["check"] in CHECKS for entry in entries)
    assert all(set(entry["needs"]) <= NEEDS for entry in entries)
    assert "?" not in "".join(entry["path"] for entry in entries)
    entries[0]["vulnerable"] = "changed"
    assert manifest()[0]["vulnerable"] is True  # a fresh copy each call


def test_entries_are_unique() -> None:
    keys = Counter((e.method, e.path, e.point, e.check) for e in MANIFEST)
    assert [key for key, n in keys.items() if n > 1] == []


def test_every_vulnerable_entry_has_one_safe_twin() -> None:
    twins = [e for e in MANIFEST if not e.vulnerable and e.path.startswith("/safe/")]
    traps = [e for e in MANIFEST if not e.vulnerable and not e.path.startswith("/safe/")]
    assert len(twins) == len(vulnerable())
    assert all(trap.description.startswith("a trap") for trap in traps)  # no sibling: silent by design
    for entry in vulnerable():
        twin = [t for t in twins if t.path == "/safe" + entry.path and t.check == entry.check]
        assert len(twin) == 1, entry
        assert (twin[0].method, twin[0].check, twin[0].technique) == (entry.method, entry.check, entry.technique)


def test_content_type_traps_are_reflected_xss_traps() -> None:
    # the same raw echo where no browser runs it (issue 18)
    traps = [e for e in MANIFEST if e.technique == "content-type"]
    assert len(traps) == 4
    assert all(e.check == "xss-reflected" and not e.vulnerable for e in traps)


def test_every_check_and_sqli_technique_is_covered() -> None:
    assert {e.check for e in vulnerable()} == set(CHECKS)
    assert {e.technique for e in vulnerable() if e.check == "sqli"} == {"error", "boolean", "time", "status"}


@pytest.mark.parametrize("family", ["GET_", "POST_FORM_URLENCODED_", "POST_JSON_DOC_", "HEADER_COOKIE_COOKIE_",
                                    "HEADER_X-", "PATH_", "_BASE64_JSON_DOC_", "_JWT_PAYLOAD_"])
def test_every_point_family_is_covered(family: str) -> None:
    assert any(family in e.point for e in vulnerable())


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: f"{e.method} {e.path} {e.point}")
def test_point_names_are_the_ones_lunge_gives_the_recorded_request(entry, recording: Recording) -> None:
    request = recording.of(entry)
    point = parse(request).get(entry.point)

    assert point is not None, [p.name for p in parse(request)]
    # the suite sends a legitimate value there; a DOCTYPE's place in an XML document is empty
    assert point.value or point.path[-1].parser == "XML_DTD"


def test_the_demo_policy_is_valid_and_attacks_every_manifest_point() -> None:
    policy = load_policy(str(POLICY_PATH))

    assert policy.name == "demo"
    assert set(policy.checks) == {"sqli", "xss", "rce", "ptrav", "redir", "nosqli", "ldapi", "xpathi", "xslti",
                                  "hqli", "sparqli", "odatai", "ssti", "crlf", "jwt", "session", "csrf",
                                  "authbypass", "userenum", "bruteforce", "massassign", "access", "bola", "xxe", "ssrf",
                                  "deser"}
    assert policy.limits.time_delay == 1
    assert all(policy.selects(e.point) for e in MANIFEST)
    for noise in ("HEADER_HOST_value", "HEADER_CONTENT-TYPE_value", "HEADER_ACCEPT_value",
                  "HEADER_ACCEPT-ENCODING_value", "HEADER_USER-AGENT_value", "HEADER_CONTENT-LENGTH_value"):
        assert not policy.selects(noise)


def test_the_policy_ships_with_the_package() -> None:
    assert POLICY_PATH.is_file() and POLICY_PATH.parent.name == "demo"


def test_state_keeping_scenarios_are_marked_with_what_they_need() -> None:
    needs = {need for entry in manifest() if entry["vulnerable"] for need in entry["needs"]}
    assert needs >= NEEDS - {"operations"}
