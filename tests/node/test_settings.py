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
