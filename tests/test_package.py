"""The package as users and plugins see it: the CLI entry point, the exported names, the layers.

As httpx's tests/test_exported_members.py: each curated ``__all__`` must list exactly the public
names its package defines, so nothing is exported by accident and nothing public is forgotten.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import lunge
from lunge.cli import main

ROOT = Path(__file__).resolve().parents[1]
CURATED = ["lunge", "lunge.http", "lunge.http.points", "lunge.checks", "lunge.report"]
PUBLIC_DUNDERS = {"__version__"}


def public_names(module: types.ModuleType) -> list[str]:
    """Names a module defines for its users: not private, not a submodule, not ``annotations``
    (the ``from __future__`` feature every module imports)."""
    return sorted(
        name for name, value in vars(module).items()
        if (not name.startswith("_") or name in PUBLIC_DUNDERS)
        and not isinstance(value, types.ModuleType) and name != "annotations"
    )


@pytest.mark.parametrize("name", CURATED)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    assert sorted(exported) == public_names(module)
    for member in exported:
        assert getattr(module, member) is not None


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lunge {lunge.__version__}"
    assert lunge.__version__.count(".") >= 2


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out and "points" in out and "bench" in out


def test_no_arguments_shows_help_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([])
    captured = capsys.readouterr()
    assert code in (0, 2) and "Usage" in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert "No such command" in err and "lunge --help" in err and err.count("\n") == 1


@pytest.mark.parametrize(("argv", "expected"), [
    (["test", "--rps", "abc"], ["--rps", "abc", "1-1000"]),
    (["test", "--workers", "0"], ["--workers", "0", "1-1000"]),
    (["record", "--port", "99999"], ["--port", "99999", "1-65535"]),
    (["test", "--no-such-flag"], ["--no-such-flag", "lunge test --help"]),
])
def test_bad_flags_get_one_line_naming_them_and_exit_2(argv: list[str], expected: list[str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("lunge: "), captured.err
    assert all(part in captured.err for part in expected), captured.err
    assert "Traceback" not in captured.out + captured.err


def test_import_linter_contracts_hold() -> None:
    binary = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(binary).exists():
        pytest.skip("lint-imports is not installed (pip install 'lunge[dev]')")
    result = subprocess.run([binary], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
