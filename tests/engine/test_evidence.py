from __future__ import annotations

import base64

from lunge.checks.base import Attack, Confidence, Exchange, Severity, Verdict
from lunge.engine.evidence import MASK, excerpt, fingerprint, masked_request, to_finding
from lunge.http import Headers, Request, Response


def _request(body: bytes = b"", ctype: str = "application/x-www-form-urlencoded") -> Request:
    return Request.from_url(
        "http://app.test/users/42/edit?id=5", "POST",
        headers=[("Authorization", "Bearer abc.def.ghi"), ("Cookie", "sid=s3cr3t; theme=dark' OR 1=1--"),
                 ("X-Api-Key", "k-123"), ("Content-Type", ctype)],
        body=body,
    )


def test_secrets_masked_but_the_attacked_value_is_evidence() -> None:
    text = masked_request(_request(b"user=ann&password=hunter2&q=x"), "HEADER_COOKIE_COOKIE_theme_value",
                          "dark' OR 1=1--")
    assert "Bearer " + MASK in text and "abc.def.ghi" not in text
    assert "sid=" + MASK in text and "s3cr3t" not in text
    assert "theme=dark' OR 1=1--" in text
    assert "k-123" not in text
    assert "hunter2" not in text and f"password={MASK}" in text
    assert "user=ann" in text


def test_attacked_password_field_stays_visible() -> None:
    text = masked_request(_request(b'{"password": "x\' OR 1=1--", "token": "t0k"}', "application/json"),
                          "POST_JSON_DOC_HASH_password_value", "x' OR 1=1--")
    assert "x' OR 1=1--" in text
    assert "t0k" not in text


def test_attacked_authorization_header_stays_visible() -> None:
    token = base64.urlsafe_b64encode(b'{"sub":"1\' OR 1=1--"}').decode().rstrip("=")
    request = Request.from_url("http://app.test/", headers=[("Authorization", f"Bearer eyJh.{token}.sig")])
    text = masked_request(request, "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_sub_value", "1' OR 1=1--")
    assert token in text


def test_excerpt_centres_on_proof_and_masks_set_cookie() -> None:
    body = "x" * 1000 + "near \"'\": syntax error" + "y" * 1000
    response = Response(500, "Internal Server Error", headers=Headers([("Set-Cookie", "sid=abc; HttpOnly")]),
                        body=body.encode())
    text = excerpt(response, "syntax error")
    assert "syntax error" in text and len(text) < 900
    assert "sid=" + MASK in text and "abc" not in text.split("\n\n")[0]


def test_fingerprint_is_stable_across_ids_in_paths() -> None:
    assert fingerprint("sqli", "GET", "/users/1", "GET_id_value") == fingerprint("sqli", "get", "/users/99",
                                                                                    "GET_id_value")
    assert fingerprint("sqli", "GET", "/users/1", "GET_id_value") != fingerprint("xss-reflected", "GET", "/users/1",
                                                                                    "GET_id_value")


def test_to_finding_carries_evidence_and_controls() -> None:
    attack = Attack(_request(b"q=1'"), "1'", "error")
    response = Response(500, body=b"SQLITE_ERROR: unrecognized token")
    verdict = Verdict("sqli", "SQL injection", Severity.HIGH, 89, Confidence.FIRM, "POST_FORM_URLENCODED_q_value",
                      "1'", Exchange(attack, response, 0.01), "unrecognized token", "error twice, control clean",
                      (Exchange(Attack(_request(b"q=1a"), "1a", "control"), Response(200, body=b"fine"), 0.01),),
                      {"dbms": "SQLite", "ratios": (0.5, 0.99)})
    finding = to_finding(verdict, run_id=3, baseline_id=7, baseline=_request(b"q=1"))
    assert finding.point == "POST_FORM_URLENCODED_q_value" and finding.response_status == 500
    assert "unrecognized token" in finding.response_excerpt
    assert finding.controls[0]["label"] == "control" and finding.controls[0]["status"] == 200
    assert finding.details["ratios"] == [0.5, 0.99]
    assert finding.url == "http://app.test/users/42/edit?id=5"
    assert finding.details["proven_at"].startswith("POST http://app.test/users/42/edit")
