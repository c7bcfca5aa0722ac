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


def _cookie_verdict(baseline: Request, attacked: Request, payload: str, echo: bytes,
                    point: str = "HEADER_COOKIE_COOKIE_session_value") -> Verdict:
    exchange = Exchange(Attack(attacked, payload, "error"), Response(500, body=echo), 0.01)
    control = Exchange(Attack(attacked, payload + "x", "control"), Response(200, body=b"ok " + echo), 0.01)
    return Verdict("sqli", "SQL injection", Severity.HIGH, 89, Confidence.FIRM, point, payload, exchange,
                   "unrecognized token", "twice", (control,), {})


def test_an_attacked_session_cookie_keeps_the_attack_but_hides_the_recorded_token() -> None:
    token = "d199f143a36adc58ac40cac7cd115651"
    baseline = Request.from_url("http://app.test/me", headers=[("Cookie", f"prefs=dark; session={token}")])
    payload = token + ",(.,)"
    attacked = Request.from_url("http://app.test/me", headers=[("Cookie", f"prefs=dark; session={payload}")])
    echo = f"SQLITE_ERROR: unrecognized token near '{payload}'".encode()
    finding = to_finding(_cookie_verdict(baseline, attacked, payload, echo), run_id=1, baseline_id=1,
                         baseline=baseline)
    shown = [finding.payload, finding.attack_request, finding.response_excerpt, str(finding.controls)]
    assert all(token not in text for text in shown)
    assert finding.payload == MASK + ",(.,)"
    assert f"session={MASK},(.,)" in finding.attack_request
    assert "unrecognized token" in finding.response_excerpt


def test_short_cookie_values_and_jwt_claims_are_evidence_but_a_jwt_signature_is_not() -> None:
    claims = base64.urlsafe_b64encode(b'{"sub":"alice\'"}').decode().rstrip("=")
    signature = "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
    jwt = f"eyJhbGciOiJIUzI1NiJ9.{claims}.{signature}"
    request = Request.from_url("http://app.test/", headers=[("Authorization", f"Bearer {jwt}")])
    text = masked_request(request, "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_sub_value", "alice'")
    assert claims in text and signature not in text
    baseline = Request.from_url("http://app.test/", headers=[("Cookie", "theme=dark")])
    attacked = Request.from_url("http://app.test/", headers=[("Cookie", "theme=dark'")])
    verdict = _cookie_verdict(baseline, attacked, "dark'", b"near 'dark''", "HEADER_COOKIE_COOKIE_theme_value")
    finding = to_finding(verdict, run_id=1, baseline_id=1, baseline=baseline)
    assert finding.payload == "dark'" and "theme=dark'" in finding.attack_request  # too short to be a token


def test_a_cookie_attacked_through_a_nested_value_stays_visible() -> None:
    blob = base64.b64encode(b'{"lang": "en\' AND 1=1"}').decode()
    request = Request.from_url("http://app.test/", headers=[("Cookie", f"sid=s3cr3t-session; prefs={blob}")])
    text = masked_request(request, "HEADER_COOKIE_COOKIE_prefs_BASE64_JSON_DOC_HASH_lang_value", "en' AND 1=1")
    assert f"prefs={blob}" in text and "s3cr3t-session" not in text and f"sid={MASK}; prefs=" in text
