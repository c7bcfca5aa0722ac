"""`lunge demo` end to end, as a user runs it: a real process, the real shop, proxy and engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lunge.demo import manifest


@pytest.mark.slow
def test_demo_findings_equal_exactly_the_manifests_vulnerable_entries(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lunge.cli", "demo", "--json", "--data-dir", str(tmp_path / "data"),
         "--report-dir", str(tmp_path / "reports")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stderr[-2000:]  # the shop is vulnerable: the build fails
    document = json.loads(done.stdout)
    found = {(f["method"], f["url"].split("://", 1)[1].split("/", 1)[1].split("?")[0], f["point"], f["check_id"])
             for f in document["findings"]}
    expected = {(e["method"], e["path"].lstrip("/"), e["point"], e["check"]) for e in manifest() if e["vulnerable"]}
    assert found == expected
    assert document["demo"]["exact"] is True
    assert document["run"]["state"] == "failed"
    assert document["run"]["replay_coverage"] == 1.0
    assert sorted(p.suffix for p in (tmp_path / "reports").iterdir()) == [".json", ".txt"]
    for finding in document["findings"]:  # evidence or silence
        assert finding["evidence"]["attack_request"] and finding["evidence"]["proof"] and finding["confirmation"]


def test_manifest_is_json_with_a_safe_twin_per_vulnerable_check(capsys: pytest.CaptureFixture[str]) -> None:
    from lunge.cli import main

    assert main(["demo", "--manifest"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {"method", "path", "point", "check", "vulnerable"} <= set(entries[0])
    vulnerable = {e["check"] for e in entries if e["vulnerable"]}
    safe = {e["check"] for e in entries if not e["vulnerable"]}
    assert vulnerable == safe == {"sqli", "xss-reflected", "xss-stored", "cmdi", "path-traversal", "open-redirect",
                                  "ssrf", "xxe", "deserialization"}
