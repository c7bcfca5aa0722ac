from __future__ import annotations

from lunge.engine.planner import Depth, Frequency, path_template, select_points
from lunge.http import Request, parse
from lunge.policy import BUILTIN


def test_frequency_full_once_then_light_then_skip_after_a_finding() -> None:
    freq = Frequency(light_after=1)
    pts = parse(Request.from_url("http://t.test/users/1?q=a"))
    point = pts.get("GET_q_value")
    assert point is not None
    key1 = freq.key(Request.from_url("http://t.test/users/1?q=a"), point, "sqli")
    key2 = freq.key(Request.from_url("http://t.test/users/2?q=b"), point, "sqli")
    assert key1 == key2
    assert freq.claim(key1) is Depth.FULL
    assert freq.claim(key2) is Depth.LIGHT
    freq.record_finding(key1)
    assert freq.claim(key2) is Depth.SKIP
    assert freq.lightened == 1


def test_path_template() -> None:
    assert path_template("/a/123/b/deadbeefdeadbeef/c") == "/a/{id}/b/{id}/c"
    assert path_template("/search") == "/search"


def test_default_policy_selects_fast_points_not_headers_or_keys() -> None:
    req = Request.from_url("http://t.test/a/b.php?x=1", "POST", headers=[("Cookie", "c=1"),
                                                                         ("Content-Type", "application/json")],
                           body=b'{"k": "v"}')
    names = {p.name for p in select_points(parse(req), BUILTIN["default"])}
    assert names == {"URI_value", "PATH_0_value", "ACTION_NAME_value", "ACTION_EXT_value", "GET_x_value",
                     "POST_JSON_DOC_HASH_k_value"}
    full = {p.name for p in select_points(parse(req), BUILTIN["full"])}
    assert "HEADER_COOKIE_COOKIE_c_value" in full and "HEADER_HOST_value" not in full
