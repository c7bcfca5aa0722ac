"""Settings: read once, here, from CLI flags and environment variables (FAST's names), validated
into typed, frozen groups. Nothing below ``node`` reads ``os.environ``.

A flag wins over its variable, a variable over the default. A bad value raises
:class:`~lunge.errors.SettingError` naming the variable (or flag), the value and what is allowed;
the CLI prints that one line and exits 2.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lunge.checks.identity import IDENTITIES_SHAPE, Identity, parse_identities
from lunge.engine.oob import OobConfig
from lunge.errors import SettingError
from lunge.logs import MASK

if TYPE_CHECKING:
    from lunge.control.config import ControlConfig

_BUILD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
DEFAULT_EXCLUDED_EXTENSIONS = (
    "css|js|mjs|map|png|jpg|jpeg|gif|ico|svg|webp|avif|bmp|tif|tiff|woff|woff2|ttf|otf|eot|"
    "mp3|mp4|webm|ogg|wav|avi|mov|pdf|zip|gz|tgz|rar|7z|swf"
)
REPORT_FORMATS = ("txt", "json", "html", "sarif", "junit")  # the default; "md" may be asked for too
_ORIGIN_HELP = "the target's origin, http[s]://HOST[:PORT] (port 1-65535), without path, query or credentials"


# ---------------------------------------------------------------------- groups
@dataclass(frozen=True, slots=True)
class StoreSettings:
    data_dir: Path
    url: str  # SQLAlchemy URL


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    record_name: str
    build_id: str | None
    port: int
    bind: str
    allowed_hosts: str | None
    excluded_extensions: str
    inactivity_timeout: float
    ca_cert: Path | None
    ca_key: Path | None
    reverse: str | None  # upstream URL in reverse-proxy mode
    upstream_verify: bool
    dedup: bool
    max_body: int


@dataclass(frozen=True, slots=True)
class TestingSettings:
    __test__ = False

    record_id: int | None
    build_id: str | None
    run_name: str
    run_desc: str
    policy: str | None  # builtin name, id, or YAML path
    target: str | None  # TEST_RUN_URI
    rps: int | None
    workers: int
    processes: int
    stop_on_first_fail: bool
    report_dir: Path
    report_formats: tuple[str, ...]
    verify_tls: bool
    oob: OobConfig = OobConfig()
    compare_to: str | None = None  # --compare-to / LUNGE_COMPARE_TO: a run id (run_0007), "latest" or "none"
    identities: tuple[Identity, ...] = ()  # LUNGE_IDENTITIES: users to replay baselines as


# ---------------------------------------------------------------------- reading
class _Source:
    """Where each setting's text comes from: a CLI flag (by flag name) or environment variables
    (first one set wins)."""

    def __init__(self, flags: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.flags = flags
        self.environ = environ

    def get(self, flag: str, *env_names: str) -> tuple[str, Any] | None:
        """(name to blame in errors, raw value) or None when unset."""
        value = self.flags.get(flag)
        if value is not None:
            return "--" + flag.replace("_", "-"), value
        for name in env_names:
            # An empty variable means the default, for every setting (``LUNGE_UPSTREAM_VERIFY=``
            # must not turn verification off): CI templates often export variables left blank.
            if self.environ.get(name, "").strip():
                return name, self.environ[name]
        return None


def _parse[T](src: _Source, flag: str, env: tuple[str, ...], default: T, convert: Callable[[Any], T],
              allowed: str) -> T:
    found = src.get(flag, *env)
    if found is None:
        return default
    name, raw = found
    try:
        return convert(raw)
    except (ValueError, TypeError) as exc:
        reason = f" ({exc.reason})" if isinstance(exc, Refused) else ""
        raise SettingError(name, _shown(raw), allowed + reason) from exc


class Refused(ValueError):
    """A value refused with a reason worth showing next to what is allowed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _shown(raw: Any) -> Any:
    """The value as an error message may show it: credentials in a URL masked, all of them (a
    user name alone is often a token, as in ``https://TOKEN@host``)."""
    if not isinstance(raw, str) or "@" not in raw or "://" not in raw:
        return raw
    scheme, _, rest = raw.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return raw
    return f"{scheme}://{MASK}@{authority.rpartition('@')[2]}{slash}{path}"


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def convert(raw: Any) -> int:
        value = int(str(raw).strip())
        if not low <= value <= high:
            raise ValueError(value)
        return value

    return convert


def _float_in(low: float, high: float) -> Callable[[Any], float]:
    def convert(raw: Any) -> float:
        value = float(str(raw).strip())
        if not low <= value <= high:  # NaN fails both comparisons: refused too
            raise ValueError(value)
        return value

    return convert


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(raw)


def _build_id(raw: Any) -> str | None:
    text = str(raw).strip()
    if not text:
        return None
    if not _BUILD_ID.match(text):
        raise ValueError(text)
    return text


def _text(raw: Any) -> str:
    return str(raw)


def _optional_text(raw: Any) -> str | None:
    text = str(raw).strip()
    return text or None


def _url(raw: Any) -> str:
    """An http(s) URL whose host and port are usable (``TEST_RUN_URI``); its scheme, host and port
    are what the run uses."""
    text = str(raw).strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", text):
        raise ValueError(text)
    parts = urlsplit(text)
    if not parts.hostname:
        raise Refused("no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise Refused("the port is not a number 1-65535") from exc
    if port == 0:
        raise Refused("the port is not a number 1-65535")
    return text


def _origin(raw: Any) -> str:
    """``scheme://host[:port]`` and nothing else: the upstream of the reverse proxy (``LUNGE_REVERSE``,
    ``BACKEND``), which forwards each request's own path and query there."""
    text = _url(raw)
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise Refused("credentials are not allowed in it; send them in the requests")
    if parts.path or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise Refused("a path, query or fragment is not allowed: requests keep their own")
    return text


def _path(raw: Any) -> Path:
    return Path(str(raw)).expanduser()


def _data_dir(raw: Any) -> Path:
    """A directory that exists or can be created (lunge keeps its store and CA there)."""
    path = _path(raw)
    try:
        # Only lunge reads it: the store holds recorded credentials, the CA its private key.
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise Refused(exc.strerror or str(exc)) from exc
    return path


def _report_dir(raw: Any) -> Path:
    """A directory lunge can write reports in, created if missing: checked before a run starts,
    not discovered after it."""
    path = _path(raw)
    if path.exists() and not path.is_dir():
        raise Refused("it is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".lunge-write-check-"):
            pass
    except OSError as exc:
        raise Refused(exc.strerror or str(exc)) from exc
    return path


def _processes(raw: Any) -> int:
    text = str(raw).strip().lower()
    if text == "auto":
        return max(1, (os.cpu_count() or 2) // 2)
    return _int_in(1, 256)(text)


def _formats(raw: Any) -> tuple[str, ...]:
    items = tuple(f.strip().lower() for f in re.split(r"[,\s]+", str(raw)) if f.strip())
    if not items or any(f not in (*REPORT_FORMATS, "md") for f in items):
        raise ValueError(raw)
    return items


def _now_label(prefix: str) -> str:
    return f"{prefix} {datetime.now(UTC):%b %d %H:%M UTC}"


def default_data_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("LUNGE_DATA_DIR"):
        return Path(environ["LUNGE_DATA_DIR"]).expanduser()
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lunge"


def store_settings(flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None, *,
                   remote: bool = True) -> StoreSettings:
    """Where the data directory and the database are (``LUNGE_DATA_DIR``, ``LUNGE_DB``).

    Without ``LUNGE_DB``, a node with a control plane (``LUNGE_API_URL`` and ``LUNGE_API_TOKEN``)
    keeps its store there (:mod:`lunge.store.remote`, spooling in ``LUNGE_DATA_DIR/spool``);
    ``remote=False`` for the server's own commands, which always open a database."""
    env = os.environ if environ is None else environ
    src = _Source(flags or {}, env)
    data_dir = _parse(src, "data_dir", ("LUNGE_DATA_DIR",), default_data_dir(env), _data_dir,
                      "a directory that exists or can be created")
    if remote and src.get("db", "LUNGE_DB") is None and src.get("api_url", "LUNGE_API_URL", "WALLARM_API_HOST"):
        from lunge.store.remote import remote_url

        api = api_settings(flags, env)
        return StoreSettings(data_dir, remote_url(api.url, api.token, data_dir / "spool"))
    default_url = f"sqlite:///{data_dir / 'lunge.db'}"
    url = _parse(src, "db", ("LUNGE_DB",), default_url, _db_url,
                 "a SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, or a file path")
    return StoreSettings(data_dir, url)


def _db_url(raw: Any) -> str:
    text = str(raw).strip()
    if not text:
        raise ValueError(text)
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    if not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", text):
        raise ValueError(text)
    return text


def recording_settings(flags: Mapping[str, Any] | None = None,
                       environ: Mapping[str, str] | None = None) -> RecordingSettings:
    """The settings of ``lunge record`` / ``CI_MODE=recording``."""
    env = os.environ if environ is None else environ
    src = _Source(flags or {}, env)
    reverse = _parse(src, "reverse", ("LUNGE_REVERSE",), None, _origin, _ORIGIN_HELP)
    if reverse is None and _parse(src, "reverse_proxy", ("REVERSE_PROXY",), False, _bool, "true or false"):
        reverse = _parse(src, "backend", ("BACKEND",), None, _origin, _ORIGIN_HELP)
        if reverse is None:
            raise SettingError("BACKEND", env.get("BACKEND", ""),
                               "an http:// or https:// URL (REVERSE_PROXY=true needs it)")
    ca_cert = _parse(src, "ca_cert", ("LUNGE_CA_CERT", "CA_CERT"), None, _path, "a path to a PEM certificate")
    ca_key = _parse(src, "ca_key", ("LUNGE_CA_KEY", "CA_KEY"), None, _path, "a path to a PEM private key")
    if (ca_cert is None) != (ca_key is None):
        missing = "LUNGE_CA_KEY" if ca_key is None else "LUNGE_CA_CERT"
        raise SettingError(missing, "", "set both LUNGE_CA_CERT and LUNGE_CA_KEY, or neither")
    return RecordingSettings(
        record_name=_parse(src, "record_name", ("TEST_RECORD_NAME",), _now_label("TestRecord"), _text, "a name"),
        build_id=_parse(src, "build_id", ("BUILD_ID",), None, _build_id,
                        "letters and digits (and . _ -), at most 128 characters"),
        port=_parse(src, "port", ("PROXY_PORT",), 8080, _int_in(0, 65535), "a TCP port, 1-65535 (0: any free port)"),
        bind=_parse(src, "bind", ("LUNGE_PROXY_BIND",), "127.0.0.1", _text, "an IP address to listen on"),
        allowed_hosts=_parse(src, "allowed_hosts", ("ALLOWED_HOSTS",), None, _optional_text,
                             "host names, .suffix, *, a|b alternation or ~regex"),
        excluded_extensions=_parse(src, "exclude_extensions", ("FILE_EXTENSIONS_TO_EXCLUDE",),
                                   DEFAULT_EXCLUDED_EXTENSIONS, _text, "extensions separated by |, e.g. jpg|png"),
        inactivity_timeout=_parse(src, "inactivity_timeout", ("INACTIVITY_TIMEOUT",), 600.0,
                                  lambda r: float(_int_in(1, 691200)(r)), "whole seconds, 1-691200"),
        ca_cert=ca_cert,
        ca_key=ca_key,
        reverse=reverse,
        upstream_verify=_parse(src, "upstream_verify", ("LUNGE_UPSTREAM_VERIFY",), True, _bool, "true or false"),
        dedup=_parse(src, "dedup", ("LUNGE_DEDUP",), True, _bool, "true or false"),
        max_body=_parse(src, "max_body", ("LUNGE_MAX_BODY",), 1_048_576, _int_in(0, 1 << 30),
                        "bytes of response body kept per baseline, 0-1073741824"),
    )


def inactivity_cap(flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> float | None:
    """An API-mode node's ``INACTIVITY_TIMEOUT`` when it is set: it caps the ``inactivity_timeout``
    each recording run was ordered with (FAST's 300-86400 s); None when it is not set."""
    env = os.environ if environ is None else environ
    if (flags or {}).get("inactivity_timeout") is None and not env.get("INACTIVITY_TIMEOUT", "").strip():
        return None
    return recording_settings(flags, env).inactivity_timeout


def testing_settings(flags: Mapping[str, Any] | None = None,
                     environ: Mapping[str, str] | None = None) -> TestingSettings:
    """The settings of ``lunge test`` / ``CI_MODE=testing``."""
    env = os.environ if environ is None else environ
    src = _Source(flags or {}, env)

    def record_id(raw: Any) -> int | None:
        from lunge.store.models import parse_id

        text = str(raw).strip()
        if not text:
            return None
        value = parse_id(text)
        if value is None:
            raise ValueError(text)
        return value

    return TestingSettings(
        record_id=_parse(src, "record", ("TEST_RECORD_ID",), None, record_id, "a record id such as 12 or rec_0012"),
        build_id=_parse(src, "build_id", ("BUILD_ID",), None, _build_id,
                        "letters and digits (and . _ -), at most 128 characters"),
        run_name=_parse(src, "name", ("TEST_RUN_NAME",), _now_label("TestRun"), _text, "a name"),
        run_desc=_parse(src, "desc", ("TEST_RUN_DESC",), "", _text, "a description"),
        policy=_parse(src, "policy", ("TEST_RUN_POLICY_ID",), None, _optional_text,
                      "a built-in policy name, a policy id or a path to a policy YAML file"),
        target=_parse(src, "target", ("TEST_RUN_URI",), None, _url, "an http:// or https:// URL such as http://app:8000"),
        rps=_parse(src, "rps", ("TEST_RUN_RPS",), None, _int_in(1, 1000), "an integer 1-1000"),
        workers=_parse(src, "workers", ("WORKERS",), 10, _int_in(1, 1000), "an integer 1-1000"),
        processes=_parse(src, "processes", ("PROCESSES",), 1, _processes, "an integer 1-256 or auto"),
        stop_on_first_fail=_parse(src, "stop_on_first_fail", ("TEST_RUN_STOP_ON_FIRST_FAIL",), False, _bool,
                                  "true or false"),
        report_dir=_parse(src, "report_dir", ("REPORT_DIR",), Path("reports"), _report_dir,
                          "a directory lunge can create and write in"),
        report_formats=_parse(src, "report_formats", ("REPORT_FORMATS",), REPORT_FORMATS, _formats,
                              "a comma-separated list of: " + ", ".join((*REPORT_FORMATS, "md"))),
        verify_tls=_parse(src, "verify_tls", ("LUNGE_VERIFY_TLS",), False, _bool, "true or false"),
        oob=oob_settings(src),
        compare_to=_parse(src, "compare_to", ("LUNGE_COMPARE_TO",), None, _compare_to,
                          "a run id such as 7 or run_0007, latest or none"),
        identities=_identity_settings(src),
    )


def _compare_to(raw: Any) -> str | None:
    """``latest``, ``none`` (compared with no run: every finding new) or a run id, as its label
    (``run_0007``): whether that run exists is the store's to say
    (:func:`lunge.node.reporting.previous_run`), also before a run starts."""
    from lunge.store.models import parse_id

    text = str(raw).strip()
    if not text:
        return None
    if text.lower() in ("latest", "none"):
        return text.lower()
    run_id = parse_id(text)
    if run_id is None:
        raise ValueError(text)
    return f"run_{run_id:04d}"


def _identity_settings(src: _Source) -> tuple[Identity, ...]:
    """``LUNGE_IDENTITIES``: JSON naming users and their credential headers and cookies. An error
    names what is wrong but never shows the value: it holds credentials."""
    found = src.get("identities", "LUNGE_IDENTITIES")
    if found is None:
        return ()
    name, raw = found
    try:
        data = json.loads(str(raw))
    except ValueError as exc:  # the decoder's message gives a position, never the text
        raise SettingError(name, MASK, f"JSON such as {IDENTITIES_SHAPE} (not JSON: {exc})") from exc
    try:
        return parse_identities(data)
    except ValueError as exc:
        raise SettingError(name, MASK, f"JSON such as {IDENTITIES_SHAPE} ({exc})") from exc


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?:{_LABEL}\.)*{_LABEL}\Z|^[0-9A-Fa-f:]+\Z")


def _host(raw: Any) -> str:
    text = str(raw).strip()
    if not _HOST.match(text):
        raise ValueError(text)
    return text


def _dns_port(raw: Any) -> int | None:
    text = str(raw).strip().lower()
    return None if text in ("off", "none", "-") else _int_in(0, 65535)(text)


def oob_settings(src: _Source) -> OobConfig:
    """The out-of-band listener (``LUNGE_OOB*``): on by default, bound to 127.0.0.1 on free ports."""
    enabled = _parse(src, "oob", ("LUNGE_OOB",), True, _bool, "true or false")
    free: int | None = 0
    return OobConfig(
        enabled=enabled,
        host=_parse(src, "oob_host", ("LUNGE_OOB_HOST",), "127.0.0.1", _host,
                    "the address or host name the target can reach this node at"),
        bind=_parse(src, "oob_bind", ("LUNGE_OOB_BIND",), "127.0.0.1", _host, "an IP address to listen on"),
        http_port=_parse(src, "oob_http_port", ("LUNGE_OOB_HTTP_PORT",), 0, _int_in(0, 65535),
                         "a TCP port 0-65535 (0: any free port)"),
        dns_port=_parse(src, "oob_dns_port", ("LUNGE_OOB_DNS_PORT",), free, _dns_port,
                        "a UDP port 0-65535 (0: any free port) or off"),
        domain=_parse(src, "oob_domain", ("LUNGE_OOB_DOMAIN",), "oob.lunge.test", _host,
                      "a DNS domain the listener answers names under"),
        grace=_parse(src, "oob_grace", ("LUNGE_OOB_GRACE",), 5.0, lambda r: float(_int_in(0, 600)(r)),
                     "whole seconds 0-600 to await late callbacks after the last attack"),
        reason="" if enabled else "the out-of-band listener is turned off (LUNGE_OOB=false)",
    )


def ci_mode(environ: Mapping[str, str] | None = None) -> str | None:
    """``recording``, ``testing`` or None (``CI_MODE``)."""
    env = os.environ if environ is None else environ
    mode = env.get("CI_MODE", "").strip().lower() or None
    if mode not in (None, "recording", "testing"):
        raise SettingError("CI_MODE", env.get("CI_MODE"), "recording or testing")
    return mode


def require_pg(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("LUNGE_REQUIRE_PG", "").strip().lower() in _TRUE


# ---------------------------------------------------------------------- a test run's settings, whole
@dataclass(frozen=True, slots=True)
class RunSettings:
    """Everything ``lunge test`` was told, read once: built by :func:`run_settings` in the process
    that starts the run and handed whole (it pickles) to every worker process, which never reads
    flags or the environment again."""

    testing: TestingSettings
    store: StoreSettings


def run_settings(flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> RunSettings:
    """The settings of ``lunge test`` / ``CI_MODE=testing``, store included."""
    return RunSettings(testing_settings(flags, environ), store_settings(flags, environ))


# ---------------------------------------------------------------------- the control plane
@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Where the control plane is and this client's token (``lunge runs create|show|wait|list``)."""

    url: str
    token: str


def serve_settings(flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> ControlConfig:
    """The settings of ``lunge serve``: ``LUNGE_SERVE_BIND``, ``LUNGE_SERVE_PORT``, ``LUNGE_DB``,
    ``LUNGE_ADMIN_TOKEN``, ``LUNGE_SERVE_MAX_BODY``, ``LUNGE_SERVE_AUTH_FAILURES``,
    ``LUNGE_SERVE_REAP_EVERY`` and ``LUNGE_SERVE_REAP_GRACE`` (seconds)."""
    from lunge.control.config import (
        DEFAULT_AUTH_FAILURES,
        DEFAULT_MAX_BODY,
        DEFAULT_REAP_EVERY_S,
        DEFAULT_REAP_GRACE_S,
        ControlConfig,
    )

    env = os.environ if environ is None else environ
    src = _Source(flags or {}, env)
    admin = env.get("LUNGE_ADMIN_TOKEN", "").strip() or None
    if admin is not None and len(admin) < 24:
        # The value is a secret: the message never repeats it.
        raise SettingError("LUNGE_ADMIN_TOKEN", "****", "at least 24 characters (e.g. openssl rand -hex 32)")
    return ControlConfig(
        db_url=store_settings(flags, env, remote=False).url,
        bind=_parse(src, "bind", ("LUNGE_SERVE_BIND",), "127.0.0.1", _text, "an IP address to listen on"),
        port=_parse(src, "port", ("LUNGE_SERVE_PORT",), 8000, _int_in(1, 65535), "a TCP port, 1-65535"),
        admin_token=admin,
        max_body=_parse(src, "max_body", ("LUNGE_SERVE_MAX_BODY",), DEFAULT_MAX_BODY, _int_in(1024, 1 << 30),
                        "request body bytes, 1024-1073741824"),
        auth_failures=_parse(src, "auth_failures", ("LUNGE_SERVE_AUTH_FAILURES",), DEFAULT_AUTH_FAILURES,
                             _int_in(1, 1_000_000), "failed authentications per address per minute, 1-1000000"),
        reap_every_s=_parse(src, "reap_every", ("LUNGE_SERVE_REAP_EVERY",), DEFAULT_REAP_EVERY_S,
                            _float_in(0.05, 3600), "seconds between sweeps for abandoned runs, 0.05-3600"),
        reap_grace_s=_parse(src, "reap_grace", ("LUNGE_SERVE_REAP_GRACE",), DEFAULT_REAP_GRACE_S,
                            _float_in(0, 3600), "seconds the sweeps wait after start-up or a failed one, 0-3600"),
    )


def api_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a control plane is configured (``lunge node`` then runs in API mode)."""
    env = os.environ if environ is None else environ
    return bool(env.get("LUNGE_API_URL", "").strip() or env.get("WALLARM_API_HOST", "").strip())


def api_settings(flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> ApiSettings:
    """``LUNGE_API_URL`` and ``LUNGE_API_TOKEN`` (FAST's ``WALLARM_API_HOST`` and
    ``WALLARM_API_TOKEN`` as aliases; a bare host means https, as FAST's default
    ``WALLARM_API_USE_SSL=true``)."""
    env = os.environ if environ is None else environ
    src = _Source(flags or {}, env)

    def api_url(raw: Any) -> str:
        text = str(raw).strip()
        return _url(text if "://" in text else f"https://{text}")

    url = _parse(src, "api_url", ("LUNGE_API_URL", "WALLARM_API_HOST"), None, api_url,
                 "the control plane's URL, e.g. http://lunge.internal:8000")
    token = _parse(src, "token", ("LUNGE_API_TOKEN", "WALLARM_API_TOKEN"), None, _optional_text, "a token")
    if url is None:
        raise SettingError("LUNGE_API_URL", "", "the control plane's URL (--api-url), e.g. http://lunge.internal:8000")
    if token is None:
        raise SettingError("LUNGE_API_TOKEN", "", "a project token (--token; lunge token create makes one)")
    return ApiSettings(url, token)


def shard_size(flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """``LUNGE_SHARD_SIZE``: baselines per shard of a run tested by many nodes (API mode on PostgreSQL)."""
    env = os.environ if environ is None else environ
    return int(_parse(_Source(flags or {}, env), "shard_size", ("LUNGE_SHARD_SIZE",), 100, _int_in(1, 100000),
                      "an integer 1-100000"))
