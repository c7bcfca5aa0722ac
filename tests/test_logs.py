"""Secrets never reach a log line: the masking filter on lunge's handlers."""

from __future__ import annotations

import logging

import pytest

from lunge.logs import MASK, SecretMaskingFilter, configure_logging, mask_secrets


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("replay failed: Authorization: Bearer eyJhbGciOi.abc", "Bearer eyJ"),
        ("Cookie: session=s3cr3t-value; theme=dark", "s3cr3t-value"),
        ("proxy-authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("POST /login body password=hunter2&user=ann", "hunter2"),
        ('body {"user": "ann", "password": "hunter2"}', "hunter2"),
        ('{"refresh_token": "r-9f8e7d"}', "r-9f8e7d"),
        ("target postgresql+psycopg://lunge:pgpass@db:5432/x", "pgpass"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl in query", "eyJzdWIiOiIxIn0"),
        ("GET /api?api_key=AKIA1234&page=2", "AKIA1234"),
    ],
)
def test_secret_is_masked(line: str, secret: str) -> None:
    masked = mask_secrets(line)
    assert secret not in masked
    assert MASK in masked


def test_ordinary_text_is_untouched() -> None:
    line = "GET http://127.0.0.1:8000/items?page=2&sort=name -> 200 in 3 ms (passwords page)"
    assert mask_secrets(line) == line


def test_filter_masks_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("lunge.test_logs")
    caplog.handler.addFilter(SecretMaskingFilter())
    with caplog.at_level(logging.INFO, logger="lunge"):
        logger.info("sent %s", "Authorization: Bearer abcdefghijkl")
        try:
            raise ValueError("password=hunter2")
        except ValueError:
            logger.exception("failed")
    assert "abcdefghijkl" not in caplog.text
    assert "hunter2" not in caplog.text
    assert caplog.text.count(MASK) >= 2


def test_configure_logging_puts_the_filter_on_every_handler() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        configure_logging()
        configure_logging()
        assert sum(isinstance(f, SecretMaskingFilter) for f in handler.filters) == 1
    finally:
        root.removeHandler(handler)
