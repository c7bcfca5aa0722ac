"""The connectivity check: a real shell on the vulnerable side, none on the safe side, and every
command killed (with its children) when it runs too long."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lunge.demo import cmdi


async def test_the_vulnerable_command_is_a_real_shell(tmp_path: Path) -> None:
    assert (await cmdi.run(cmdi.shell_command("127.0.0.1"), tmp_path)).report == "reachable\n"
    done = await cmdi.run(cmdi.shell_command("127.0.0.1; echo $((6*7)) > made.txt; pwd"), tmp_path)
    assert done.report == f"{tmp_path}\nreachable\n"
    assert (tmp_path / "made.txt").read_text() == "42\n"  # writes land in the scratch directory


async def test_the_page_never_echoes_the_host(tmp_path: Path) -> None:
    # A lone quote breaks the command line: no output. A balanced SQL condition is one shell word,
    # so true and false conditions answer alike: nothing for a boolean SQL injection check to read.
    for host in ("127.0.0.1'", "a b", "<svg onload=alert(1)>"):
        assert (await cmdi.run(cmdi.shell_command(host), tmp_path)).report == ""
    true = await cmdi.run(cmdi.shell_command("127.0.0.1' AND '1'='1"), tmp_path)
    false = await cmdi.run(cmdi.shell_command("127.0.0.1' AND '1'='2"), tmp_path)
    assert true.report == false.report == "reachable\n"


async def test_the_safe_command_has_no_shell(tmp_path: Path) -> None:
    done = await cmdi.run(cmdi.exec_command("db-1.example.com"), tmp_path)
    assert (done.returncode, done.stdout, done.report) == (0, "", "reachable\n")
    for host in ("127.0.0.1;id", "$(id)", "a b", "`id`", "x" * 300, "-n"):
        with pytest.raises(cmdi.Rejected):
            cmdi.exec_command(host)


async def test_a_long_command_and_its_children_are_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cmdi, "COMMAND_TIMEOUT", 0.3)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await cmdi.run(["/bin/sh", "-c", "sleep 30 & echo started; sleep 30"], tmp_path)
    assert time.monotonic() - started < 5


async def test_a_nul_byte_is_refused_not_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await cmdi.run(cmdi.shell_command("a\x00b"), tmp_path)
