"""The demo's state-keeping scenarios: the recorded request, replayed as it is, is refused (that is
the point of each scenario); with the state kept by hand (the reset first, a fresh token, a fresh
key, a fresh CSRF token, both password fields) the vulnerable endpoint gives in and its twin resists."""

from __future__ import annotations

import json
import re

import pytest

from lunge.demo import MANIFEST
from lunge.demo.manifest import Entry
from lunge.http import Request, parse
from tests.demo import attacks
from tests.demo.conftest import Recording
from tests.demo.wire import send

# Two users' scenarios (needs "identities") have their own tests: tests/demo/test_identities.py.
STATEFUL = [e for e in MANIFEST if set(e.needs) - {"operations", "identities"}]
XSS = "<script>alert(4242)</script>"


def _id(entry: Entry) -> str:
    return f"{'vulnerable' if entry.vulnerable else 'twin'}:{entry.method} {entry.path}"


def _with_header(request: Request, name: str, value: str) -> Request:
    return request.with_headers(request.headers.set(name, value))


async def _kept(recording: Recording, entry: Entry) -> Request:
    """The recorded request with the state its scenario needs restored, as lunge's engine does."""
    request = recording.of(entry)
    if entry.path.endswith("/lab/notes"):
        await send(recording.baseline("POST", "/lab/reset"))
    elif entry.path.endswith("/api/v2/orders"):
        token = json.loads((await send(recording.baseline("POST", "/api/v2/session"))).text)["access_token"]
        request = _with_header(request, "Authorization", f"Bearer {token}")
    elif entry.path.endswith("/api/v3/notes"):
        key = json.loads((await send(recording.baseline("POST", "/api/v3/keys"))).text)["key"]
        request = _with_header(request, "X-APIKEY", key)
    elif entry.path.endswith("/feedback"):
        page = await send(recording.baseline("GET", entry.path))
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert token is not None
        request = parse(request).replace("POST_FORM_URLENCODED_csrf_token_value", token.group(1))
    return request


async def _exploit(recording: Recording, entry: Entry) -> bool:
    request = await _kept(recording, entry)
    if entry.check == "xss-reflected":
        sent = await send(attacks.inject(request, entry.point, XSS))
        return XSS in sent.text
    if "linked-values" in entry.needs:
        points = parse(request)
        value = points.get(entry.point).value + "'"  # type: ignore[union-attr]
        both = points.replace_many({entry.point: value, "POST_FORM_URLENCODED_password_again_value": value})
        alone = await send(attacks.inject(request, entry.point, "'"))
        assert attacks.SQL_ERROR not in alone.text and alone.status == 400  # one field alone never gets there
        return attacks.SQL_ERROR in (await send(both)).text
    return await attacks.sqli_error(request, entry.point) is not None


# A confirmation field needs no state (only both fields together reach the code): not refused.
@pytest.mark.parametrize("entry", [e for e in STATEFUL if "linked-values" not in e.needs], ids=_id)
async def test_the_recorded_request_replayed_blindly_is_refused(entry: Entry, recording: Recording) -> None:
    sent = await send(recording.of(entry))
    assert sent.status in (401, 403, 500), sent.text[:200]


@pytest.mark.parametrize("entry", STATEFUL, ids=_id)
async def test_with_the_state_kept_only_the_vulnerable_one_gives_in(entry: Entry, recording: Recording) -> None:
    assert await _exploit(recording, entry) is entry.vulnerable
