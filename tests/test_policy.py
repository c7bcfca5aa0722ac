from __future__ import annotations

from pathlib import Path

import pytest

from lunge.checks.base import Confidence, Severity
from lunge.errors import PolicyError
from lunge.policy import BUILTIN, load_policy, parse_policy

KNOWN = {"sqli", "xss", "rce", "ptrav", "redir", "xss-reflected", "nosqli", "ldapi", "xpathi", "xslti", "hqli",
         "sparqli", "odatai", "ssti", "crlf", "jwt", "session", "csrf", "authbypass", "userenum", "massassign", "bola",
         "access", "xxe", "ssrf", "deser"}
GOOD = """\
name: api
description: JSON API
checks: [sqli, xss]
points:
  include: ['GET_.*', 'POST_JSON_DOC_.*', 'URI']
  exclude: ['.*_csrf_value']
limits: {rps: 50, workers: 4, timeout: 5, time_delay: 2}
replay_coverage_threshold: 0.5
fail_on: {severity: medium, confidence: certain}
stop_on_first_fail: true
"""


def test_parse_valid_policy() -> None:
    policy = parse_policy(GOOD, "api.yaml", KNOWN)
    assert policy.name == "api" and policy.checks == ("sqli", "xss")
    assert policy.limits.rps == 50 and policy.limits.time_delay == 2
    assert policy.selects("GET_q_value") and policy.selects("URI_value")
    assert not policy.selects("GET_csrf_value") and not policy.selects("HEADER_X_value")
    assert not policy.selects("POST_JSON_DOC_HASH_a_name")  # keys only with attack_names
    assert policy.fails(Severity.HIGH, Confidence.CERTAIN)
    assert not policy.fails(Severity.HIGH, Confidence.FIRM)
    assert not policy.fails(Severity.LOW, Confidence.CERTAIN)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nlimits:\n  rps: 5000\n", "p.yaml:3: limits.rps"),
        ("name: x\npoints:\n  include: ['GET_(']\n", "p.yaml:3: points.include"),
        ("name: x\nchecks:\n  - sqli\n  - nope\n", "p.yaml:4: checks: unknown check 'nope'"),
        ("name: x\nfail_on: severe\n", "p.yaml:2: fail_on"),
        ("name: x\nbogus: 1\n", "p.yaml:2: bogus"),
        ("name: [unclosed\n", "p.yaml:2: not valid YAML"),
        ("- a list\n", "p.yaml:1: a policy is a mapping"),
        ("description: no name\n", "p.yaml:1: name"),
    ],
)
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "p.yaml", KNOWN)
    assert str(err.value).startswith(message), str(err.value)


def test_load_policy_specs(tmp_path: Path) -> None:
    assert load_policy(None) is BUILTIN["default"]
    assert load_policy("0") is BUILTIN["default"]
    assert load_policy("full") is BUILTIN["full"]
    path = tmp_path / "p.yaml"
    path.write_text(GOOD)
    assert load_policy(str(path), KNOWN).name == "api"
    with pytest.raises(PolicyError, match="TEST_RUN_POLICY_ID='nope'"):
        load_policy("nope")


def test_fail_on_shorthand() -> None:
    policy = parse_policy("name: x\nfail_on: high\n", "p.yaml", KNOWN)
    assert policy.fail_on_severity is Severity.HIGH and policy.fail_on_confidence is Confidence.FIRM


def test_fast_spellings_select_lunge_names() -> None:
    policy = parse_policy("name: x\npoints:\n  include: ['HEADER_Cookie_COOKIE_sid', 'POST_JSON_DOC_JSON_OBJ_a_.*']\n",
                          "p.yaml", KNOWN)
    assert policy.selects("HEADER_COOKIE_COOKIE_sid_value")
    assert policy.selects("POST_JSON_DOC_HASH_a_ARRAY_0_value")
    assert not policy.selects("HEADER_COOKIE_COOKIE_other_value")


@pytest.mark.parametrize("spelling", ["all", "[all]"])
def test_checks_all_alone_or_in_a_list(spelling: str) -> None:
    policy = parse_policy(f"name: p\nchecks: {spelling}\n", known_checks={"sqli", "xss"})
    assert policy.checks == ("all",)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_policy_as_yaml_reads_back_as_the_same_policy(name: str) -> None:
    from lunge.node.runs import builtin_policies, policy_yaml

    text = policy_yaml(builtin_policies()[name])
    assert parse_policy(text, f"{name}.yaml").summary() == BUILTIN[name].summary()


def test_passive_rules_and_whether_they_fail_the_build() -> None:
    default = parse_policy("name: p\n")
    assert default.passive and not default.fail_on_passive
    policy = parse_policy("name: p\npassive: false\nfail_on: {severity: info, passive: true}\n")
    assert not policy.passive and policy.fail_on_passive
    assert policy.summary()["passive"] is False and policy.summary()["fail_on"]["passive"] is True
    with pytest.raises(PolicyError, match="passive"):
        parse_policy("name: p\npassive: sometimes\n")


def test_the_fuzzer_is_off_in_default_on_in_full_and_set_by_the_policy() -> None:
    assert "anomaly" not in BUILTIN["default"].checks and "anomaly" in BUILTIN["full"].checks
    policy = parse_policy("""\
name: fuzz
checks: [anomaly]
fuzzer:
  payloads: [{insert: random, size: 10}, {replace: last, size: 1}]
  anomaly_if: {status_class: false, length_diff: 50, time_diff: 2, dom_diff: 3, body: 'Exception'}
  not_anomaly_if: {status: [400], body: 'maintenance'}
  stop_if: {anomalies: 1, timeouts: 2}
  budget: 20
""")
    f = policy.fuzzer
    assert [(p.action, p.where, p.size) for p in f.payloads] == [("insert", "random", 10), ("replace", "last", 1)]
    assert (f.status_class, f.length_diff, f.time_diff, f.dom_diff, f.body) == (False, 50, 2.0, 3, "Exception")
    assert (f.ignore_status, f.ignore_body, f.max_anomalies, f.max_timeouts, f.budget) == ((400,), "maintenance",
                                                                                           1, 2, 20)
    assert policy.summary()["fuzzer"]["payloads"] == [{"insert": "random", "size": 10}, {"replace": "last", "size": 1}]
    for bad, where in (("{payloads: [{insert: middle}]}", "fuzzer.payloads.0.insert"),
                       ("{payloads: [{size: 3}]}", "fuzzer.payloads.0"),
                       ("{payloads: [{insert: end, size: 256}]}", "fuzzer.payloads.0.size"),
                       ("{budget: 0}", "fuzzer.budget"), ("{anomaly_if: {body: '('}}", "fuzzer.anomaly_if.body")):
        with pytest.raises(PolicyError, match=where.replace(".", r"\.")):
            parse_policy(f"name: p\nfuzzer: {bad}\n")


def test_error_rules_of_a_policy() -> None:
    default = BUILTIN["default"]
    assert (default.max_error_ratio, default.unreachable_after) == (0.05, 10.0)
    policy = parse_policy("name: lax\nmax_error_ratio: 0.2\nunreachable_after: 30\n", "lax.yaml", KNOWN)
    assert (policy.max_error_ratio, policy.unreachable_after) == (0.2, 30.0)
    assert policy.summary()["max_error_ratio"] == 0.2
    with pytest.raises(PolicyError, match=r"bad.yaml:2: max_error_ratio: .*less than or equal to 1"):
        parse_policy("name: bad\nmax_error_ratio: 2\n", "bad.yaml", KNOWN)
    with pytest.raises(PolicyError, match=r"bad.yaml:2: unreachable_after: .*greater than 0"):
        parse_policy("name: bad\nunreachable_after: 0\n", "bad.yaml", KNOWN)


@pytest.mark.parametrize("text", ["name: x\nfail_on: new\n", "name: x\nfail_on: {severity: low, new: true}\n"])
def test_fail_on_new(text: str) -> None:
    policy = parse_policy(text, "p.yaml", KNOWN)
    assert policy.fail_on_new is True and policy.fail_on_severity is Severity.LOW
    assert policy.summary()["fail_on"]["new"] is True
    assert parse_policy("name: x\n", "p.yaml", KNOWN).fail_on_new is False


def test_setup_pins_are_regexes_and_reach_the_summary() -> None:
    from lunge.errors import PolicyError
    from lunge.policy import parse_policy

    policy = parse_policy("name: p\nsetup: ['^POST /api/seed$']\n")
    assert policy.setup == ("^POST /api/seed$",) and policy.summary()["setup"] == ["^POST /api/seed$"]
    with pytest.raises(PolicyError, match="setup"):
        parse_policy("name: p\nsetup: ['(']\n")
