"""The remote store's spool on its own: durable appends read back, segments emptied and rotated,
a dead process's segment found (and a torn last line skipped), a live one left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from lunge.store.remote import spool as spool_module
from lunge.store.remote.spool import REJECTED, Spool


def test_append_read_back_and_empty_once_acknowledged(tmp_path) -> None:
    spool = Spool(tmp_path)
    first = spool.append(b'{"id":"a","op":"baselines"}')
    second = spool.append(b'{"id":"b","op":"test_sets"}')
    assert (first.line(), second.line()) == (b'{"id":"a","op":"baselines"}', b'{"id":"b","op":"test_sets"}')
    spool.acknowledged(first.segment)
    assert first.segment.path.stat().st_size > 0  # one still waits
    spool.acknowledged(second.segment)
    assert first.segment.path.stat().st_size == 0
    third = spool.append(b'{"id":"c","op":"findings"}')
    assert third.offset == 0 and third.line() == b'{"id":"c","op":"findings"}'
    spool.acknowledged(third.segment)
    spool.close()
    assert list(tmp_path.glob("*.jsonl")) == []


def test_rotation_deletes_a_full_segment_once_acknowledged(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 64)
    spool = Spool(tmp_path)
    spooled = [spool.append(json.dumps({"id": str(i), "op": "baselines", "pad": "x" * 40}).encode()) for i in range(3)]
    assert len({s.segment.path for s in spooled}) == 3
    assert [json.loads(s.line())["id"] for s in spooled] == ["0", "1", "2"]
    for s in spooled:
        spool.acknowledged(s.segment)
    assert not spooled[0].segment.path.exists() and not spooled[1].segment.path.exists()
    spool.close()


def test_a_dead_processs_segment_is_found_and_a_live_ones_is_not(tmp_path) -> None:
    torn = b'{"id":"x3"'  # the process died writing it: never acknowledged to anyone
    (tmp_path / "123-dead.jsonl").write_bytes(b'{"id":"x1","op":"baselines"}\n{"id":"x2","op":"close_record"}\n' + torn)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from lunge.store.remote.spool import Spool\n"
        "s = Spool(Path(sys.argv[1])); s.append(b'{\"id\":\"live\",\"op\":\"baselines\"}')\n"
        "print('ready', flush=True); time.sleep(60)"), str(tmp_path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        spool = Spool(tmp_path)
        found = spool.leftovers()
        assert [(json.loads(s.line())["id"], s.op) for s in found] == [("x1", "baselines"), ("x2", "close_record")]
        for s in found:
            spool.acknowledged(s.segment)
        assert not (tmp_path / "123-dead.jsonl").exists()
        assert len(list(tmp_path.glob("*.jsonl"))) == 2  # the live process's and ours
        spool.reject(b'{"id":"r","op":"baselines"}', "404 no test record 9")
        assert json.loads((tmp_path / REJECTED).read_text())["reason"] == "404 no test record 9"
        assert oct(os.stat(tmp_path / REJECTED).st_mode & 0o777) == "0o600"
        spool.close()
    finally:
        holder.kill()
        holder.wait()
