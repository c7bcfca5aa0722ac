"""Which recorded requests become baselines: ``ALLOWED_HOSTS`` and ``FILE_EXTENSIONS_TO_EXCLUDE``.

Both filters are pure and are built once from the settings' text; a bad value raises
:class:`~lunge.errors.SettingError` naming the variable. Requests outside the scope are still
proxied, only not recorded.

``ALLOWED_HOSTS`` accepts FAST's forms, separated by commas or spaces; unset or empty means every
host:

- ``example.com``: that host exactly (any case, any port); ``example.com:8080`` only that port.
- ``.example.com``: the domain and all its subdomains; ``*.example.com``: its subdomains only.
- ``*``: every host.
- ``(a.local|b.com)`` or ``a.local|b.com``: alternatives, each one of these forms.
- ``~regex``: a regular expression searched in the host (nginx style, case-insensitive). A value
  that starts with ``~`` is one regex as a whole, so it may contain commas and spaces.
- a word without a dot, such as ``gruyere``: any host containing it (FAST's quick start relies on
  this substring behaviour, e.g. ``google-gruyere`` for ``google-gruyere.appspot.com``).

>>> hosts = AllowedHosts.parse("api.test, .shop.test, (a.test|b.test)")
>>> [hosts.allows(h) for h in ("api.test", "x.shop.test", "shop.test", "b.test", "evil.test")]
[True, True, True, True, False]
>>> ExcludedExtensions.parse("jpg|PNG").excludes("/img/logo.png?v=2")
True
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

from lunge.errors import SettingError

ALLOWED_HOSTS_HELP = (
    "host names (exact, .suffix, *.suffix, *), host:port, (a|b) alternation, ~regex or a word matched "
    "as a substring, separated by commas or spaces"
)
EXTENSIONS_HELP = "file extensions separated by | or commas, e.g. jpg|png|css"

HostRule = Callable[[str, int | None], bool]
_SEPARATORS = re.compile(r"[,\s]+")
# [*. or .] name [. trailing dot] [:port]
_HOST_ITEM = re.compile(r"^(\*\.|\.)?([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)\.?(?::(\d{1,5}))?\Z")
_EXTENSION = re.compile(r"^[a-z0-9_+\-]{1,32}\Z")


class ScopeVerdict(StrEnum):
    """What the scope says about one request."""

    IN_SCOPE = "in_scope"
    OUT_OF_SCOPE = "out_of_scope"  # its host is not in ALLOWED_HOSTS
    EXCLUDED = "excluded"  # its path has an excluded (static) extension


class AllowedHosts:
    """The ``ALLOWED_HOSTS`` filter: does a request to this host get recorded?"""

    __slots__ = ("_rules", "text")

    def __init__(self, text: str | None, rules: tuple[HostRule, ...]) -> None:
        self.text = text
        self._rules = rules

    @classmethod
    def parse(cls, text: str | None, variable: str = "ALLOWED_HOSTS") -> AllowedHosts:
        """Build the filter; raises SettingError(``variable``, text, ...) for a value it cannot use."""
        value = (text or "").strip()
        if not value:
            return cls(None, ())
        if value.startswith("~"):
            return cls(value, (_regex_rule(value[1:], text, variable),))
        rules: list[HostRule] = []
        for item in _SEPARATORS.split(value):
            if item:
                rules.extend(_item_rules(item, text, variable))
        return cls(value, tuple(rules))

    @property
    def allows_all(self) -> bool:
        return not self._rules

    def allows(self, host: str, port: int | None = None) -> bool:
        """Whether ``host`` (a name or an IP, any case, optional trailing dot) is in scope."""
        if not self._rules:
            return True
        name = host.strip().rstrip(".").lower()
        return any(rule(name, port) for rule in self._rules)


def _item_rules(item: str, text: str | None, variable: str) -> list[HostRule]:
    """The rules of one comma/space-separated item."""
    if item.startswith("~"):
        return [_regex_rule(item[1:], text, variable)]
    inner = item[1:-1] if item.startswith("(") and item.endswith(")") else item
    if "|" in inner:
        return [rule for part in inner.split("|") for rule in _item_rules(part, text, variable)]
    if inner == "*":
        return [lambda host, port: True]
    return [_host_rule(inner, text, variable)]


def _host_rule(item: str, text: str | None, variable: str) -> HostRule:
    match = _HOST_ITEM.match(item.lower())
    if not match:
        raise SettingError(variable, text, ALLOWED_HOSTS_HELP)
    prefix, name, port_text = match.groups()
    wanted_port = int(port_text) if port_text else None
    if wanted_port is not None and not 0 < wanted_port < 65536:
        raise SettingError(variable, text, ALLOWED_HOSTS_HELP)

    def port_ok(port: int | None) -> bool:
        return wanted_port is None or port == wanted_port

    if prefix == "*.":
        suffix = "." + name
        return lambda host, port: host.endswith(suffix) and port_ok(port)
    if prefix == ".":
        suffix = "." + name
        return lambda host, port: (host == name or host.endswith(suffix)) and port_ok(port)
    if "." not in name and wanted_port is None:
        # FAST documents a bare word as matching hosts that contain it.
        return lambda host, port: name in host
    return lambda host, port: host == name and port_ok(port)


def _regex_rule(pattern: str, text: str | None, variable: str) -> HostRule:
    try:
        compiled = re.compile(pattern.lstrip("*"), re.IGNORECASE)
    except re.error as exc:
        raise SettingError(variable, text, f"a valid regular expression after ~ ({exc})") from exc
    return lambda host, port: compiled.search(host) is not None


class ExcludedExtensions:
    """The ``FILE_EXTENSIONS_TO_EXCLUDE`` filter, matched against the path's extension.

    >>> ExcludedExtensions.parse("css|js").excludes("/static/app.JS")
    True
    >>> ExcludedExtensions.parse("css|js").excludes("/api/v1.2/users")
    False
    """

    __slots__ = ("extensions",)

    def __init__(self, extensions: frozenset[str]) -> None:
        self.extensions = extensions

    @classmethod
    def parse(cls, text: str | None, variable: str = "FILE_EXTENSIONS_TO_EXCLUDE") -> ExcludedExtensions:
        items = [i.strip().lstrip(".").lower() for i in re.split(r"[|,\s]+", text or "") if i.strip()]
        bad = [i for i in items if not _EXTENSION.match(i)]
        if bad:
            raise SettingError(variable, text, EXTENSIONS_HELP)
        return cls(frozenset(items))

    def excludes(self, target: str) -> bool:
        """Whether the request target's path (query and ``;params`` ignored) ends in an excluded
        extension."""
        if not self.extensions:
            return False
        extension = path_extension(target)
        return extension is not None and extension in self.extensions


def path_extension(target: str) -> str | None:
    """The lower-cased extension of the last path segment, or None.

    >>> path_extension("/a/b.tar.GZ?x=1"), path_extension("/a.b/c"), path_extension("/x/.env")
    ('gz', None, None)
    """
    path = target.split("?", 1)[0].split("#", 1)[0]
    segment = unquote(path.rsplit("/", 1)[-1]).split(";", 1)[0]
    stem, dot, extension = segment.rpartition(".")
    if not dot or not stem or not extension:
        return None
    return extension.lower()


@dataclass(frozen=True, slots=True)
class Scope:
    """Both filters together: what becomes a baseline."""

    hosts: AllowedHosts
    extensions: ExcludedExtensions

    @classmethod
    def from_settings(cls, allowed_hosts: str | None, excluded_extensions: str | None) -> Scope:
        return cls(AllowedHosts.parse(allowed_hosts), ExcludedExtensions.parse(excluded_extensions))

    def check(self, host: str, port: int | None, target: str) -> ScopeVerdict:
        """The verdict for a request to ``host:port`` with request target ``target``."""
        if not self.hosts.allows(host, port):
            return ScopeVerdict.OUT_OF_SCOPE
        if self.extensions.excludes(target):
            return ScopeVerdict.EXCLUDED
        return ScopeVerdict.IN_SCOPE
