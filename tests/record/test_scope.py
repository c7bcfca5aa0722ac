"""ALLOWED_HOSTS and FILE_EXTENSIONS_TO_EXCLUDE: every documented form, and bad values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lunge.errors import SettingError
from lunge.node.settings import DEFAULT_EXCLUDED_EXTENSIONS
from lunge.record.scope import AllowedHosts, ExcludedExtensions, Scope, ScopeVerdict, path_extension

HOSTS = ["example.com", "api.example.com", "a.b.example.com", "example.com.evil.test", "notexample.com",
         "localhost", "127.0.0.1", "google-gruyere.appspot.com", "other.test"]


@pytest.mark.parametrize(("value", "allowed"), [
    (None, set(HOSTS)),
    ("", set(HOSTS)),
    ("*", set(HOSTS)),
    ("example.com", {"example.com"}),
    ("EXAMPLE.com.", {"example.com"}),
    (".example.com", {"example.com", "api.example.com", "a.b.example.com"}),
    ("*.example.com", {"api.example.com", "a.b.example.com"}),
    ("(localhost|other.test)", {"localhost", "other.test"}),
    ("localhost|other.test", {"localhost", "other.test"}),
    ("example.com, other.test 127.0.0.1", {"example.com", "other.test", "127.0.0.1"}),
    ("~^api\\.", {"api.example.com"}),
    ("~*\\.EXAMPLE\\.com$", {"api.example.com", "a.b.example.com"}),
    ("~(example|gruyere)\\.(com|appspot)", {"example.com", "api.example.com", "a.b.example.com",
                                            "example.com.evil.test", "notexample.com",
                                            "google-gruyere.appspot.com"}),
    ("google-gruyere", {"google-gruyere.appspot.com"}),  # FAST's quick start: a word is a substring
    ("(.example.com|~^127\\.)", {"example.com", "api.example.com", "a.b.example.com", "127.0.0.1"}),
])
def test_allowed_hosts_forms(value, allowed):
    hosts = AllowedHosts.parse(value)
    assert {h for h in HOSTS if hosts.allows(h)} == allowed


def test_host_with_port_matches_only_that_port():
    hosts = AllowedHosts.parse("app.test:8080, other.test")
    assert hosts.allows("app.test", 8080) and not hosts.allows("app.test", 80)
    assert hosts.allows("other.test", 80) and hosts.allows("other.test", 443)


def test_a_regex_value_may_contain_commas_and_spaces():
    hosts = AllowedHosts.parse("~^a{1,2}\\.test$")
    assert hosts.allows("aa.test") and not hosts.allows("aaa.test")


@pytest.mark.parametrize("value", ["~(unclosed", "(a.test|~[z-a])", "exa mple.com!", "..", "*.", "a.test:99999x"])
def test_bad_allowed_hosts_name_the_variable_and_value(value):
    with pytest.raises(SettingError) as error:
        AllowedHosts.parse(value)
    assert error.value.name == "ALLOWED_HOSTS" and error.value.value == value
    assert str(error.value).startswith(f"ALLOWED_HOSTS={value!r} is not allowed:")


@given(st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){1,3}", fullmatch=True))
def test_exact_and_suffix_rules_agree_with_their_definition(host):
    assert AllowedHosts.parse(host).allows(host.upper())
    assert AllowedHosts.parse("." + host).allows("x." + host)
    assert not AllowedHosts.parse(host).allows("x" + host + ".evil")


@pytest.mark.parametrize(("target", "extension"), [
    ("/a/b.PNG", "png"), ("/a/b.tar.gz?x=1.jpg", "gz"), ("/a.dir/b", None), ("/.env", None), ("/", None),
    ("/img/x.jpg;jsessionid=1", "jpg"), ("/a/b%2Ecss", "css"), ("/a/b.", None), ("/file.JS#frag", "js"),
])
def test_path_extension(target, extension):
    assert path_extension(target) == extension


def test_excluded_extensions():
    excluded = ExcludedExtensions.parse("jpg|.PNG, css")
    assert excluded.extensions == frozenset({"jpg", "png", "css"})
    assert excluded.excludes("/logo.png?v=1") and excluded.excludes("/x.JPG")
    assert not excluded.excludes("/api/items.json") and not excluded.excludes("/api/v1.2/users")
    assert not ExcludedExtensions.parse("").excludes("/logo.png")


def test_default_exclusions_cover_common_static_files():
    excluded = ExcludedExtensions.parse(DEFAULT_EXCLUDED_EXTENSIONS)
    assert all(excluded.excludes(f"/static/x.{ext}") for ext in ("css", "js", "png", "woff2", "svg", "ico"))
    assert not excluded.excludes("/api/login") and not excluded.excludes("/page.php")


@pytest.mark.parametrize("value", ["jpg|p*g", "jpg|../x", "a" * 40])
def test_bad_extensions(value):
    with pytest.raises(SettingError) as error:
        ExcludedExtensions.parse(value)
    assert error.value.name == "FILE_EXTENSIONS_TO_EXCLUDE"


def test_scope_verdicts():
    scope = Scope.from_settings(".shop.test", "png")
    assert scope.check("www.shop.test", 80, "/cart?id=1") is ScopeVerdict.IN_SCOPE
    assert scope.check("www.shop.test", 80, "/logo.png") is ScopeVerdict.EXCLUDED
    assert scope.check("cdn.test", 80, "/logo.png") is ScopeVerdict.OUT_OF_SCOPE
