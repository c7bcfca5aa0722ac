"""``lunge records`` and ``lunge records show ID``: tables, one JSON document with --json, and the
exit codes of bad and unknown ids."""

from __future__ import annotations

import json

import pytest

from lunge.cli import main
from lunge.http import Request, Response
from lunge.store import open_store
from lunge.store.models import NewBaseline


@pytest.fixture
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'lunge.db'}"
    store = open_store(url)
    try:
        first = store.create_record("nightly", build_id="b1")
        store.add_baselines([
            NewBaseline(first.id, Request.from_url(f"http://app.test/items?id={i}"),
                        Response(200, "OK", body=b"x" * (10 * i)), response_truncated=i == 2, elapsed_ms=1.5 * i)
            for i in range(1, 4)
        ])
        store.close_record(first.id, stats={"recorded": 3, "duplicates": 4})
        store.create_record("still recording")
    finally:
        store.close()
    return url


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_records_json_lists_newest_first(db, capsys):
    code, out, _ = _run(capsys, "records", "--json", "--db", db)
    records = json.loads(out)
    assert code == 0
    assert [(r["label"], r["name"], r["build_id"], r["state"], r["baselines"]) for r in records] == [
        ("rec_0002", "still recording", None, "recording", 0),
        ("rec_0001", "nightly", "b1", "closed", 3),
    ]
    assert all(r["created_at"] for r in records)


def test_records_table(db, capsys):
    code, out, _ = _run(capsys, "records", "--db", db)
    assert code == 0 and "rec_0001" in out and "nightly" in out and "b1" in out and "closed" in out


@pytest.mark.parametrize("ref", ["1", "rec_0001", "rec_1"])
def test_show_json(db, capsys, ref):
    code, out, _ = _run(capsys, "records", "show", ref, "--json", "--db", db)
    document = json.loads(out)
    assert code == 0
    assert document["record"]["label"] == "rec_0001" and document["record"]["stats"]["duplicates"] == 4
    assert [(b["seq"], b["method"], b["url"], b["status"], b["response_bytes"], b["response_truncated"])
            for b in document["baselines"]] == [
        (1, "GET", "http://app.test/items?id=1", 200, 10, False),
        (2, "GET", "http://app.test/items?id=2", 200, 20, True),
        (3, "GET", "http://app.test/items?id=3", 200, 30, False),
    ]


def test_show_table_and_limit(db, capsys):
    code, out, _ = _run(capsys, "records", "show", "1", "--limit", "2", "--db", db)
    assert code == 0 and "first 2 shown" in out and "items?id=2" in out and "items?id=3" not in out


def test_bad_and_unknown_ids_are_bad_input(db, capsys):
    code, out, err = _run(capsys, "records", "show", "twelve", "--db", db)
    assert (code, out) == (2, "") and "'twelve' is not a record id" in err and len(err.strip().splitlines()) == 1
    code, out, err = _run(capsys, "records", "show", "rec_0099", "--json", "--db", db)
    assert (code, out) == (2, "") and "no test record rec_0099" in err and len(err.strip().splitlines()) == 1
