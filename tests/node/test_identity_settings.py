"""Identities from the settings: LUNGE_IDENTITIES and a policy's ``identities:`` block are read into
typed values; bad input is one line naming the variable or the file's line, exit 2, and never the
credentials themselves."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from lunge.checks.identity import Identity, parse_identities
from lunge.errors import PolicyError, SettingError
from lunge.node import settings as node_settings
from lunge.policy import parse_policy
from tests.record.targets import lunge_command, subprocess_env

SECRET = "s3cr3t-session-value"


def test_lunge_identities_is_read_into_identities() -> None:
    raw = json.dumps({"bob": {"cookies": {"sid": "b2"}, "headers": {"Authorization": "Bearer t"}}})
    settings = node_settings.testing_settings({}, {"LUNGE_IDENTITIES": raw})
    assert settings.identities == (Identity("bob", (("Authorization", "Bearer t"),), (("sid", "b2"),),
                                            source="settings"),)
    assert node_settings.testing_settings({}, {}).identities == ()


@pytest.mark.parametrize(("raw", "reason"), [
    ("{bob", "not JSON"),
    ('["bob"]', "identities must be a mapping"),
    ('{"bob": {"cookies": {"sid": 1}}}', "must be a string"),
    ('{"bob": {"cookies": {"s id": "x"}}}', "not an HTTP token"),
    ('{"bob": {"headers": {"Cookie": "sid=x"}}}', "put cookies under 'cookies'"),
    ('{"bob": {"token": "x"}}', "unknown key 'token'"),
    ('{"anonymous": {"cookies": {"sid": "x"}}}', "not 'anonymous'"),
    ('{"bob": {"cookies": {}}}', "no headers and no cookies"),
])
def test_bad_lunge_identities_names_the_variable_not_the_value(raw: str, reason: str) -> None:
    with pytest.raises(SettingError) as caught:
        node_settings.testing_settings({}, {"LUNGE_IDENTITIES": raw.replace("x", SECRET)})
    message = str(caught.value)
    assert message.startswith("LUNGE_IDENTITIES=") and reason in message
    assert SECRET not in message


def test_policy_identities_block() -> None:
    policy = parse_policy("name: p\nidentities:\n  bob: {cookies: {sid: b2}}\n  admin: {headers: {X-Key: k}}\n")
    assert [i.name for i in policy.identities] == ["bob", "admin"]
    assert policy.identities[1].headers == (("X-Key", "k"),)
    assert policy.summary()["identities"] == ["bob", "admin"]
    with pytest.raises(PolicyError, match=r"^p.yaml:4: identities: .*identity 'bob': cookies 'sid' must be a string"):
        parse_policy("name: p\nchecks: [sqli]\nidentities:\n  bob: {cookies: {sid: [1]}}\n", "p.yaml")


def test_parse_identities_keeps_order_and_sources() -> None:
    ids = parse_identities({"a1": {"cookies": {"s": "1"}}, "b.2": {"headers": {"X-Api-Key": "k"}}})
    assert [(i.name, i.source) for i in ids] == [("a1", "settings"), ("b.2", "settings")]


def test_the_cli_refuses_bad_identities_with_one_line_and_exit_2(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"name: p\nidentities:\n  bob: {{cookie: {{sid: {SECRET}}}}}\n")
    for args, env in ((("test",), {"LUNGE_IDENTITIES": f'{{"bob": "{SECRET}"}}'}),
                      (("policy", "validate", str(policy)), {})):
        result = subprocess.run(lunge_command(*args), env=subprocess_env(tmp_path / "data", **env),
                                capture_output=True, text=True, timeout=120)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert "identit" in lines[0] and SECRET not in lines[0], lines[0]


def test_an_api_mode_node_hands_lunge_identities_to_the_engine(tmp_path: Path) -> None:
    from lunge.checks import load
    from lunge.node.apimode import _run_config
    from lunge.policy import BUILTIN
    from lunge.store import open_store

    raw = json.dumps({"bob": {"cookies": {"sid": "b2"}}})
    settings = node_settings.testing_settings({}, {"LUNGE_IDENTITIES": raw})
    store = open_store(f"sqlite:///{tmp_path / 'lunge.db'}")
    try:
        record = store.create_record("r")
        run = store.create_run(name="run", record_id=record.id, policy_name="default")
        config = _run_config(run, BUILTIN["default"], load(), settings, None)
    finally:
        store.close()
    assert config.identities == settings.identities and config.identities[0].name == "bob"
