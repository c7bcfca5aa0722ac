"""Test policies: which points to attack, which checks to run, the limits, and what fails the build.

A policy is YAML (``lunge policy validate FILE`` checks one, with line numbers)::

    name: api
    description: JSON API, cookies included
    checks: [sqli, xss, rce, ptrav, redir]     # check ids or FAST type codes; "all" for every check
    points:
      include: ['GET_.*', 'POST_.*', 'URI', 'PATH_.*', 'ACTION_NAME', 'ACTION_EXT', 'HEADER_COOKIE_.*']
      exclude: ['.*_csrf.*']
      attack_names: false                      # also attack names (JSON keys, XML PI targets)
    limits: {rps: 200, workers: 10, timeout: 10, time_delay: 3, login_attempts: 20}
                                                 # login_attempts: failed sign-ins brute-force sends
    replay_coverage_threshold: 0.8
    max_error_ratio: 0.05                        # attack requests without an answer beyond this: error
    unreachable_after: 10                        # seconds every origin refuses connections: stop, error
    fail_on: {severity: low, confidence: firm}  # add "new: true" (or write "fail_on: new") to fail
                                                 # only on findings an earlier run did not have
    stop_on_first_fail: false
    light_after: 1                               # full attacks per (endpoint, point, kind); lighter after
    passive: true                                # passive rules on recorded/replayed responses
                                                 # (they fail the build only with fail_on: {passive: true})
    fuzzer:                                      # the anomaly check (checks: [..., anomaly]; FAST's fuzzer)
      payloads: [{insert: end, size: 250}, {replace: all, size: 250}]
      anomaly_if: {status_class: true, length_diff: 100, time_diff: 5, dom_diff: 5, body: ''}
      not_anomaly_if: {status: [400, 404, 422], body: ''}
      stop_if: {anomalies: 3, timeouts: 3}
      budget: 64                                 # requests per point
    setup: ['POST /api/seed', '^GET /createdb$']  # baselines pinned as setup (METHOD /path regexes)
    thorough: false                              # shape-gated checks (ssrf) attack every point too
    identities:                                  # users to replay baselines as (bola, broken-access),
      bob: {cookies: {session: 'b0b5e55i0n'}}    # besides those the record's sign-ins show
      admin: {headers: {Authorization: 'Bearer eyJ...'}}

Point patterns are regular expressions matched against whole point names; the trailing service
word may be left out (``URI`` matches ``URI_value``), as in FAST's policy editor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lunge.checks.anomaly import FuzzerConfig, FuzzPayload
from lunge.checks.base import Confidence, Severity
from lunge.checks.identity import Identity, parse_identities
from lunge.errors import PolicyError

FAST_DEFAULT_POINTS = ("GET_.*", "POST_.*", "URI", "PATH_.*", "ACTION_NAME", "ACTION_EXT")
# FAST's five, the NoSQL, LDAP and XPath injections (2 requests each on a point seen before: light mode),
# template and CRLF injection (no out-of-band listener needed), then the cheap authentication checks:
# jwt (7-9 requests per token; +3 with a kid, +4 for an RSA token whose origin publishes its key, +3-4
# once per origin to look for its JWK Set), session-forgery (at most 6 per identity field in a cookie), csrf (3 per
# state-changing baseline), auth-bypass (at most 9 per password or API-key field), user-enumeration
# (4 per sign-in), mass-assignment (3 per write request whose JSON answer shows sensitive fields the
# request does not send), broken-access (at most 4 per privilege-named flag holding a low value; by
# identity, 2-3 per function only a higher user used, per lower user, at most 2), bola (2-4 per baseline
# naming an object by id, per other user, at most 2, and 1-4 more for a numeric id's neighbours; both
# only with two users or more from the record or the settings; 22 requests of the demo's 43 000), then
# the server-side request checks (out-of-band listener).
DEFAULT_CHECKS = ("sqli", "xss", "rce", "ptrav", "redir", "nosqli", "ldapi", "xpathi", "ssti", "crlf", "jwt",
                  "session", "csrf", "authbypass", "userenum", "massassign", "access", "bola", "xxe", "ssrf",
                  "deser")
# The rarer query languages (XSLT, HQL, SPARQL, OData) cost 4-6 requests on every new point and find
# something only where such a backend exists: 21 % of the demo's requests for 1 of its 47 findings.
# They run in `full`, or where a policy names them.
RARE_QUERY_LANGUAGES = ("xslti", "hqli", "sparqli", "odatai")
# brute-force sends limits.login_attempts (20) wrong passwords and the right one, one at a time, per
# sign-in: too many for the default policy. It runs in `full`, or where a policy names it.
COSTLY_AUTH_CHECKS = ("bruteforce",)


@dataclass(frozen=True, slots=True)
class Limits:
    rps: int | None = None  # attack requests per second for the run; None = unlimited
    workers: int | None = None  # concurrent requests; None = the node's WORKERS
    timeout: float = 10.0  # seconds per request
    time_delay: float = 3.0  # seconds time-based checks ask the target to sleep
    login_attempts: int = 20  # wrong passwords brute-force sends per sign-in before the right one


@dataclass(frozen=True, slots=True)
class TestPolicy:
    """A validated test policy."""

    __test__ = False

    name: str
    description: str = ""
    checks: tuple[str, ...] = DEFAULT_CHECKS
    include: tuple[str, ...] = FAST_DEFAULT_POINTS
    exclude: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    replay_coverage_threshold: float = 0.8
    # Share of attack requests allowed to get no answer (refused, reset, timeout) before the run
    # is an error: past it the target was not really tested, whatever the findings say.
    max_error_ratio: float = 0.05
    # Seconds during which every origin of the run refuses or resets connections before the run
    # stops early in error (the target went away): no point burning through every baseline.
    unreachable_after: float = 10.0
    fail_on_severity: Severity = Severity.LOW
    fail_on_confidence: Confidence = Confidence.FIRM
    stop_on_first_fail: bool = False
    light_after: int = 1
    attack_names: bool = False
    passive: bool = True  # run the passive rules on recorded and replayed responses
    fail_on_passive: bool = False  # passive findings fail the build (by the fail_on thresholds) only if set
    fuzzer: FuzzerConfig = field(default_factory=FuzzerConfig)  # the anomaly check's settings (FAST's fuzzer)
    fail_on_new: bool = False  # fail only on findings the run compared with (--compare-to) did not have
    setup: tuple[str, ...] = ()  # regexes over "METHOD /path": baselines replayed as setup (engine/order.py)
    thorough: bool = False  # checks gated on a value's shape (ssrf) also try every other point
    # Users to replay baselines as (bola, broken-access), besides those learned from the record.
    identities: tuple[Identity, ...] = ()
    _include_re: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)
    _exclude_re: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_include_re", tuple(_point_pattern(p) for p in self.include))
        object.__setattr__(self, "_exclude_re", tuple(_point_pattern(p) for p in self.exclude))

    def selects(self, point_name: str) -> bool:
        """Whether the policy allows attacking the point called ``point_name``."""
        if point_name.endswith("_name") and not self.attack_names:
            return False
        if not any(p.fullmatch(point_name) for p in self._include_re):
            return False
        return not any(p.fullmatch(point_name) for p in self._exclude_re)

    def fails(self, severity: Severity, confidence: Confidence) -> bool:
        """Whether a finding of this severity and confidence fails the build."""
        return severity.rank >= self.fail_on_severity.rank and confidence.rank >= self.fail_on_confidence.rank

    def fails_finding(self, severity: Severity, confidence: Confidence, *, passive: bool = False) -> bool:
        """Whether a finding fails the build: :meth:`fails`, and for a passive finding only when
        the policy says so (``fail_on: {passive: true}``)."""
        return (not passive or self.fail_on_passive) and self.fails(severity, confidence)

    def summary(self) -> dict[str, Any]:
        """The policy as plain data, for reports."""
        return {
            "name": self.name, "description": self.description, "checks": list(self.checks),
            "include": list(self.include), "exclude": list(self.exclude),
            "limits": {"rps": self.limits.rps, "workers": self.limits.workers, "timeout": self.limits.timeout,
                       "time_delay": self.limits.time_delay, "login_attempts": self.limits.login_attempts},
            "replay_coverage_threshold": self.replay_coverage_threshold,
            "max_error_ratio": self.max_error_ratio, "unreachable_after": self.unreachable_after,
            "fail_on": {"severity": self.fail_on_severity.value, "confidence": self.fail_on_confidence.value,
                        "passive": self.fail_on_passive, "new": self.fail_on_new},
            "stop_on_first_fail": self.stop_on_first_fail, "light_after": self.light_after,
            "attack_names": self.attack_names, "passive": self.passive, "fuzzer": _fuzzer_summary(self.fuzzer),
            "setup": list(self.setup), "identities": [i.name for i in self.identities],
            "thorough": self.thorough,
        }


def _fuzzer_summary(f: FuzzerConfig) -> dict[str, Any]:
    return {
        "payloads": [{p.action: p.where, "size": p.size} for p in f.payloads],
        "anomaly_if": {"status_class": f.status_class, "length_diff": f.length_diff, "time_diff": f.time_diff,
                       "dom_diff": f.dom_diff, "body": f.body},
        "not_anomaly_if": {"status": list(f.ignore_status), "body": f.ignore_body},
        "stop_if": {"anomalies": f.max_anomalies, "timeouts": f.max_timeouts}, "budget": f.budget,
    }


_FAST_HEADER = re.compile(r"^HEADER_([A-Za-z0-9-]+)(?=_|$)")


def fast_spelling(pattern: str) -> str:
    """A FAST point pattern in lunge's spelling: header names upper-case, ``JSON_OBJ_`` as
    ``HASH_``, ``JSON_ARRAY_`` as ``ARRAY_`` (FAST accepts both; lunge names use one).

    >>> fast_spelling("HEADER_Cookie_COOKIE_sid_value"), fast_spelling("POST_JSON_DOC_JSON_OBJ_a_JSON_ARRAY_1_value")
    ('HEADER_COOKIE_COOKIE_sid_value', 'POST_JSON_DOC_HASH_a_ARRAY_1_value')
    """
    pattern = _FAST_HEADER.sub(lambda m: "HEADER_" + m.group(1).upper(), pattern)
    return pattern.replace("JSON_OBJ_", "HASH_").replace("JSON_ARRAY_", "ARRAY_")


def _point_pattern(pattern: str) -> re.Pattern[str]:
    # FAST writes "URI" or "ACTION_NAME" for the points "URI_value", "ACTION_NAME_value".
    return re.compile(f"(?:{fast_spelling(pattern)})(?:_(?:value|name))?")


BUILTIN: dict[str, TestPolicy] = {
    "default": TestPolicy(
        name="default",
        description="FAST's default policy: GET, POST, URI, PATH and ACTION points; SQL injection, XSS, "
        "command and code injection, path traversal, open redirect, template and CRLF injection, NoSQL, LDAP and "
        "XPath injection, XXE, SSRF, unsafe deserialization, and the authentication checks.",
    ),
    "full": TestPolicy(
        name="full",
        description="The default policy plus every header and cookie (base64, JWT and JSON inside included); "
        "checks gated on a value's shape (ssrf) try every point; brute-force (login_attempts + 1 requests per "
        "sign-in) and the anomaly fuzzer run too.",
        include=(*FAST_DEFAULT_POINTS, "HEADER_.*"), thorough=True,
        exclude=("HEADER_HOST_.*", "HEADER_CONTENT-TYPE_.*", "HEADER_ACCEPT-ENCODING_.*"),
        # the fuzzer too: off in default, as in FAST
        checks=(*DEFAULT_CHECKS, *RARE_QUERY_LANGUAGES, *COSTLY_AUTH_CHECKS, "anomaly"),
    ),
}


# ---------------------------------------------------------------------- the YAML schema
class _LimitsModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rps: int | None = Field(default=None, ge=1, le=1000)
    workers: int | None = Field(default=None, ge=1, le=1000)
    timeout: float = Field(default=10.0, gt=0, le=600)
    time_delay: float = Field(default=3.0, ge=1, le=30)
    login_attempts: int = Field(default=20, ge=3, le=200)


class _PointsModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include: list[str] = Field(default_factory=lambda: list(FAST_DEFAULT_POINTS))
    exclude: list[str] = Field(default_factory=list)
    attack_names: bool = False

    @field_validator("include", "exclude")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        return [_valid_regex(pattern) for pattern in patterns]


class _FailOnModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: Literal["info", "low", "medium", "high", "critical"] = "low"
    confidence: Literal["tentative", "firm", "certain"] = "firm"
    new: bool = False
    passive: bool = False


class _FuzzPayloadModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    insert: Literal["start", "random", "end"] | None = None
    replace: Literal["random", "first", "last", "all"] | None = None
    size: int = Field(default=250, ge=1, le=255)

    @model_validator(mode="after")
    def _one_action(self) -> _FuzzPayloadModel:
        if (self.insert is None) == (self.replace is None):
            raise ValueError("a payload either inserts (insert: start|random|end) or replaces "
                             "(replace: random|first|last|all)")
        return self


class _AnomalyIfModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status_class: bool = True
    length_diff: int = Field(default=100, ge=0)
    time_diff: float = Field(default=5.0, gt=0, le=600)
    dom_diff: int = Field(default=5, ge=0)
    body: str = ""

    @field_validator("body")
    @classmethod
    def _regex(cls, pattern: str) -> str:
        return _valid_regex(pattern)


class _NotAnomalyIfModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: list[int] = Field(default_factory=lambda: list(FuzzerConfig().ignore_status))
    body: str = ""

    @field_validator("body")
    @classmethod
    def _regex(cls, pattern: str) -> str:
        return _valid_regex(pattern)


class _StopIfModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    anomalies: int = Field(default=3, ge=1, le=255)
    timeouts: int = Field(default=3, ge=1, le=255)


class _FuzzerModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payloads: list[_FuzzPayloadModel] = Field(
        default_factory=lambda: [_FuzzPayloadModel(insert="end"), _FuzzPayloadModel(replace="all")], min_length=1)
    anomaly_if: _AnomalyIfModel = Field(default_factory=_AnomalyIfModel)
    not_anomaly_if: _NotAnomalyIfModel = Field(default_factory=_NotAnomalyIfModel)
    stop_if: _StopIfModel = Field(default_factory=_StopIfModel)
    budget: int = Field(default=64, ge=1, le=400)

    def config(self) -> FuzzerConfig:
        a, n = self.anomaly_if, self.not_anomaly_if
        payloads = tuple(FuzzPayload("insert", p.insert, p.size) if p.insert else
                         FuzzPayload("replace", p.replace or "all", p.size) for p in self.payloads)
        return FuzzerConfig(payloads, a.status_class, a.length_diff, a.time_diff, a.dom_diff, a.body,
                            tuple(n.status), n.body, self.stop_if.anomalies, self.stop_if.timeouts, self.budget)


def _valid_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression ({exc})") from exc
    return pattern


class _PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    description: str = ""
    checks: list[str] = Field(default_factory=lambda: list(DEFAULT_CHECKS), min_length=1)
    points: _PointsModel = Field(default_factory=_PointsModel)
    limits: _LimitsModel = Field(default_factory=_LimitsModel)
    replay_coverage_threshold: float = Field(default=0.8, ge=0, le=1)
    max_error_ratio: float = Field(default=0.05, ge=0, le=1)
    unreachable_after: float = Field(default=10.0, gt=0, le=3600)
    fail_on: _FailOnModel | Literal["info", "low", "medium", "high", "critical", "new"] = Field(
        default_factory=_FailOnModel)
    stop_on_first_fail: bool = False
    light_after: int = Field(default=1, ge=1)
    passive: bool = True
    fuzzer: _FuzzerModel = Field(default_factory=_FuzzerModel)
    setup: list[str] = Field(default_factory=list)

    @field_validator("setup")
    @classmethod
    def _setup_regexes(cls, patterns: list[str]) -> list[str]:
        return [_valid_regex(pattern) for pattern in patterns]
    thorough: bool = False
    identities: dict[str, Any] = Field(default_factory=dict)

    @field_validator("identities")
    @classmethod
    def _identities(cls, value: dict[str, Any]) -> dict[str, Any]:
        parse_identities(value)  # raises ValueError with what is wrong
        return value

    @field_validator("checks", mode="before")
    @classmethod
    def _all_alone(cls, value: object) -> object:
        return [value] if value == "all" else value  # "checks: all" as well as "checks: [all]"


def parse_policy(text: str, source: str = "<policy>", known_checks: set[str] | None = None) -> TestPolicy:
    """A policy from YAML text. Raises :class:`~lunge.errors.PolicyError` with ``source:line:``
    and what is wrong. ``known_checks`` (ids and kinds) makes unknown check names an error."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{source}{line}: not valid YAML: {problem}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{source}:1: a policy is a mapping with at least 'name'")
    try:
        model = _PolicyModel.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        raise PolicyError(f"{source}:{_line_of(node, loc)}: {'.'.join(map(str, loc)) or 'policy'}: "
                          f"{first['msg']}") from exc
    if known_checks is not None:
        for i, name in enumerate(model.checks):
            if name != "all" and name not in known_checks:
                raise PolicyError(f"{source}:{_line_of(node, ('checks', i))}: checks: unknown check {name!r} "
                                  f"(known: {', '.join(sorted(known_checks))}, or all)")
    return _from_model(model)


def _from_model(model: _PolicyModel) -> TestPolicy:
    if isinstance(model.fail_on, _FailOnModel):
        fail_on = model.fail_on
    elif model.fail_on == "new":
        fail_on = _FailOnModel(new=True)
    else:
        fail_on = _FailOnModel(severity=model.fail_on)
    limits = model.limits
    return TestPolicy(
        name=model.name, description=model.description, checks=tuple(model.checks),
        include=tuple(model.points.include), exclude=tuple(model.points.exclude),
        limits=Limits(limits.rps, limits.workers, limits.timeout, limits.time_delay, limits.login_attempts),
        replay_coverage_threshold=model.replay_coverage_threshold, max_error_ratio=model.max_error_ratio,
        unreachable_after=model.unreachable_after,
        fail_on_severity=Severity(fail_on.severity), fail_on_confidence=Confidence(fail_on.confidence),
        stop_on_first_fail=model.stop_on_first_fail, light_after=model.light_after,
        attack_names=model.points.attack_names, passive=model.passive, fail_on_passive=fail_on.passive,
        fuzzer=model.fuzzer.config(), fail_on_new=fail_on.new, setup=tuple(model.setup), thorough=model.thorough,
        identities=parse_identities(model.identities),
    )


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at ``loc`` (or of its closest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if match is None:
                return line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def load_policy(spec: str | None, known_checks: set[str] | None = None) -> TestPolicy:
    """The policy named by ``TEST_RUN_POLICY_ID``: None or ``0`` for the default, a built-in name
    (``default``, ``full``), or a path to a YAML file."""
    if spec is None or spec.strip() in ("", "0"):
        return BUILTIN["default"]
    if spec in BUILTIN:
        return BUILTIN[spec]
    path = Path(spec).expanduser()
    if not path.exists():
        raise PolicyError(f"TEST_RUN_POLICY_ID={spec!r}: no such built-in policy ({', '.join(BUILTIN)}) "
                          f"or policy file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read the policy file: {exc}") from exc
    return parse_policy(text, str(path), known_checks)
