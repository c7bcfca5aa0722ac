"""Settings read at the edge: one line naming the variable, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from lunge.errors import SettingError
from lunge.node import settings
from lunge.node.settings import store_settings


def test_data_dir_is_created_when_missing(tmp_path: Path) -> None:
    where = store_settings(environ={"LUNGE_DATA_DIR": str(tmp_path / "a" / "b")})
    assert where.data_dir.is_dir() and where.url.endswith("/a/b/lunge.db")


@pytest.mark.parametrize("flags", [{}, {"data_dir": "FILE"}])
def test_a_data_dir_that_cannot_exist_names_the_variable(tmp_path: Path, flags: dict[str, str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    bad = str(blocker / "sub")
    environ = {} if flags else {"LUNGE_DATA_DIR": bad}
    with pytest.raises(SettingError) as caught:
        store_settings(dict.fromkeys(flags, bad), environ=environ)
    message = str(caught.value)
    assert ("--data-dir" if flags else "LUNGE_DATA_DIR") in message and bad in message and "\n" not in message


@pytest.mark.parametrize(("variable", "value"), [("TEST_RUN_RPS", "0"), ("TEST_RUN_RPS", "1001"),
                                                 ("WORKERS", "abc"), ("PROCESSES", "0"), ("TEST_RUN_URI", "ftp://x")])
def test_bad_testing_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingError) as caught:
        settings.testing_settings(environ={variable: value})
    assert variable in str(caught.value) and value in str(caught.value)


def test_the_oob_listener_is_on_by_default_on_loopback_with_free_ports() -> None:
    oob = settings.testing_settings({}, {}).oob
    assert (oob.enabled, oob.host, oob.bind, oob.http_port, oob.dns_port, oob.grace) == (
        True, "127.0.0.1", "127.0.0.1", 0, 0, 5.0)


def test_oob_settings_from_the_environment() -> None:
    env = {"LUNGE_OOB_HOST": "ci-runner.internal", "LUNGE_OOB_HTTP_PORT": "8899", "LUNGE_OOB_DNS_PORT": "off",
           "LUNGE_OOB_GRACE": "12", "LUNGE_OOB_DOMAIN": "oob.ci.example"}
    oob = settings.testing_settings({}, env).oob
    assert (oob.host, oob.http_port, oob.dns_port, oob.grace, oob.domain) == (
        "ci-runner.internal", 8899, None, 12.0, "oob.ci.example")
    off = settings.testing_settings({}, {"LUNGE_OOB": "false"}).oob
    assert not off.enabled and "LUNGE_OOB=false" in off.reason


@pytest.mark.parametrize(("variable", "value"), [
    ("LUNGE_OOB", "maybe"), ("LUNGE_OOB_HOST", "a host"), ("LUNGE_OOB_HTTP_PORT", "70000"),
    ("LUNGE_OOB_DNS_PORT", "-5"), ("LUNGE_OOB_GRACE", "601"),
])
def test_bad_oob_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingError, match=variable):
        settings.testing_settings({}, {variable: value})
