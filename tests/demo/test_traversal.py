"""Document paths: joined as given on the vulnerable side, confined on the safe side."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lunge.demo import traversal


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    traversal.write_documents(tmp_path / "docs")
    (tmp_path / "secret.txt").write_text("secret")
    return tmp_path / "docs"


def test_the_unsafe_path_leaves_the_directory(docs: Path) -> None:
    assert traversal.read_document(traversal.unsafe_path(docs, "../secret.txt")) == b"secret"
    assert traversal.unsafe_path(docs, "/etc/passwd") == Path("/etc/passwd")


@pytest.mark.parametrize("name", ["../secret.txt", "/etc/passwd", "..", ".", "sub/../../secret.txt", "missing.txt"])
def test_the_safe_path_stays_inside(docs: Path, name: str) -> None:
    with pytest.raises(FileNotFoundError):
        traversal.safe_path(docs, name)


def test_the_safe_path_serves_the_documents(docs: Path) -> None:
    for name in traversal.DOCUMENTS:
        assert traversal.read_document(traversal.safe_path(docs, name)).decode() == traversal.DOCUMENTS[name]


def test_a_fifo_does_not_hang_a_worker(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert traversal.read_document(fifo) == b""
    assert time.monotonic() - started < 1
