"""The node image's entrypoint and the CI examples. Docker cannot run here, so the entrypoint
script is run by sh with a stand-in ``lunge`` on PATH that prints the command it was given."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def _entrypoint(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    stub = tmp_path / "bin" / "lunge"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text('#!/bin/sh\necho "lunge $*"\n')
    stub.chmod(0o755)
    environ = {"PATH": f"{stub.parent}:{os.environ['PATH']}", **env}
    done = subprocess.run(["sh", str(ENTRYPOINT), *args], env=environ, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
@pytest.mark.parametrize(("env", "args", "command"), [
    ({"CI_MODE": "recording"}, (), "lunge node"),
    ({"CI_MODE": "testing", "BUILD_ID": "42"}, (), "lunge node"),
    ({"CI_MODE": "report"}, (), "lunge report"),
    ({"CI_MODE": "report", "TEST_RUN_ID": "run_0007"}, (), "lunge report run_0007"),
    ({}, (), "lunge node"),
    ({"CI_MODE": "testing"}, ("test", "--record", "12"), "lunge test --record 12"),
])
def test_entrypoint_runs_fasts_modes(tmp_path: Path, env: dict[str, str], args: tuple[str, ...], command: str) -> None:
    assert _entrypoint(tmp_path, env, *args) == command


def test_dockerfile_uses_fasts_paths_and_files_that_exist() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+) ", text, re.MULTILINE):
        assert (ROOT / source).exists(), source
    assert "REPORT_DIR=/opt/reports" in text and "LUNGE_DATA_DIR=/var/lib/lunge" in text
    assert 'VOLUME ["/var/lib/lunge", "/opt/reports"]' in text and "EXPOSE 8080" in text
    assert "/usr/local/bin/lunge-entrypoint" in text.split("ENTRYPOINT", 1)[1]


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_examples_are_valid_yaml_and_use_the_report_files(name: str) -> None:
    text = (ROOT / "examples" / "ci" / name).read_text()
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    assert "CI_MODE=recording" in text and "CI_MODE=testing" in text and "reports/*.junit.xml" in text


def test_github_example_uploads_sarif_publishes_junit_and_writes_the_summary() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "ci" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["dast"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    assert any("junit" in u for u in uses)
    assert any("GITHUB_STEP_SUMMARY" in s.get("run", "") for s in steps)
    assert "md" in next(s["run"] for s in steps if s.get("id") == "lunge").split("REPORT_FORMATS=", 1)[1]


def test_the_migration_guide_maps_every_fast_ci_variable() -> None:
    guide = (ROOT / "docs" / "migrating-from-fast.md").read_text()
    fast = ["CI_MODE", "WALLARM_API_TOKEN", "WALLARM_API_HOST", "ALLOWED_HOSTS", "WORKERS", "PROCESSES",
            "GIT_EXTENSIONS", "BACKEND_HTTPS_PORTS", "CA_CERT", "CA_KEY", "TEST_RECORD_NAME", "INACTIVITY_TIMEOUT",
            "BUILD_ID", "TEST_RECORD_ID", "TEST_RUN_NAME", "TEST_RUN_DESC", "TEST_RUN_POLICY_ID", "TEST_RUN_RPS",
            "TEST_RUN_STOP_ON_FIRST_FAIL", "TEST_RUN_URI", "FILE_EXTENSIONS_TO_EXCLUDE", "TEST_RUN_ID",
            "REVERSE_PROXY", "BACKEND"]
    rows = [line for line in guide.splitlines() if line.startswith("| `")]
    for name in fast:
        assert any(f"`{name}`" in row.split("|")[1] for row in rows), name
