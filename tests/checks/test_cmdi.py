"""cmdi against applications that run a real /bin/sh (sleep and ping are shell functions that report
instead of waiting, so time-based tests stay fast), a small cmd.exe stand-in for the Windows forms,
and the traps of detection.md §15.2 (input echo, passwd-like and numeric text, random slowness)."""

from __future__ import annotations

import html
import random
import re
import shlex
import subprocess
from collections.abc import Callable

import pytest

from lunge.checks.base import Attack, Confidence
from lunge.checks.cmdi import CHECKS, CMDI, TABLE, command_shaped, named_like_command, normalise
from lunge.checks.testing import context, drive
from lunge.http import Headers, Point, Request, Response, Step, parse

URL = "http://t.test/lookup?host=example.org"
POINT = "GET_host_value"
# The application's shell: sleep and ping report what they were asked instead of waiting.
PRELUDE = 'sleep() { echo "__SLEPT__ $1" >&2; }; ping() { echo "__PING__ $*" >&2; }; '


def html_response(body: str) -> Response:
    return Response(200, headers=Headers([("Content-Type", "text/html")]), body=body.encode())


class ShellApp:
    """Runs ``command_line(value)`` with /bin/sh and shows its output (or not, when ``blind``)."""

    def __init__(self, command_line: Callable[[str], str], *, blind: bool = False,
                 prepare: Callable[[str], str] = lambda v: v, errors: bool = False) -> None:
        self.command_line, self.blind, self.prepare, self.errors = command_line, blind, prepare, errors
        self.jitter = random.Random(3)

    def __call__(self, request: Request) -> tuple[Response, float]:
        point = next((p for p in parse(request) if p.family == "GET"), None)
        value = self.prepare(point.value if point else "")
        proc = subprocess.run(["/bin/sh", "-c", PRELUDE + self.command_line(value)], capture_output=True,
                              text=True, timeout=10, check=False)
        slept = sum(float(s) for s in re.findall(r"__SLEPT__ ([\d.]+)", proc.stderr))
        slept += sum(int(n) - 1 for n in re.findall(r"__PING__ -n (\d+)", proc.stderr))
        errors = "".join(line for line in proc.stderr.splitlines(True) if "__" not in line) if self.errors else ""
        shown = "" if self.blind else html.escape(proc.stdout + errors)
        return html_response(f"<h1>Lookup</h1><pre>{shown}</pre>"), 0.01 + self.jitter.random() * 0.004 + slept


def fake_cmd(line: str) -> tuple[str, float]:
    """cmd.exe, as far as the Windows forms need it: '&' and '|' outside double quotes separate
    commands; ``echo``, ``set /a x+y`` (which prints without a newline) and ``ping -n N`` (N-1
    seconds) run, nothing else does. Returns the output and the seconds it took."""
    parts, current, quoted = [], "", False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch in "&|" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    out, seconds = [], 0.0
    for part in (p.strip() for p in parts):
        if part.lower().startswith("echo "):
            out.append(part[5:] + "\r\n")
        elif match := re.fullmatch(r"set /a (\d+)\+(\d+)", part, re.IGNORECASE):
            out.append(str(int(match[1]) + int(match[2])))
        elif match := re.fullmatch(r"ping -n (\d+) 127\.0\.0\.1", part, re.IGNORECASE):
            seconds += int(match[1]) - 1
    return "".join(out), seconds


def windows_app(command_line: Callable[[str], str], *,
                blind: bool = False) -> Callable[[Request], tuple[Response, float]]:
    def respond(request: Request) -> tuple[Response, float]:
        value = parse(request).get(POINT).value  # type: ignore[union-attr]
        out, seconds = fake_cmd(command_line(value))
        return html_response("<pre>done</pre>" if blind else f"<pre>{html.escape(out)}</pre>"), 0.01 + seconds

    return respond


def run(responder, *, light: bool = False, url: str = URL, point: str = POINT, time_delay: float = 3.0):
    sent: list[Attack] = []
    ctx = context(Request.from_url(url), point, responder, seed=9, light=light, time_delay=time_delay)
    return drive(CMDI, ctx, responder, sent=sent), sent


def strip(chars: str) -> Callable[[str], str]:
    return lambda v: "".join(c for c in v if c not in chars)


VULNERABLE = {
    "unquoted": (ShellApp(lambda v: f"echo Looking up {v}"), "semicolon"),
    "single-quoted": (ShellApp(lambda v: f"echo 'Looking up {v}'"), "semicolon"),
    "double-quoted": (ShellApp(lambda v: f'echo "Looking up {v}"'), "semicolon"),
    "output discarded by a suffix": (ShellApp(lambda v: f"echo {v} >/dev/null; echo done"), "semicolon"),
    "semicolon filtered": (ShellApp(lambda v: f"echo Looking up {v}", prepare=strip(";")), "pipe"),
    # ";|&" stripped: the polyglot's other copies still expand inside the server's argument
    "separators filtered": (ShellApp(lambda v: f"echo Looking up {v}", prepare=strip(";|&")), None),
    "only substitution": (ShellApp(lambda v: f'echo "Looking up {v}"', prepare=strip(";|&\n#")), "substitution"),
    "windows": (windows_app(lambda v: f"nslookup {v}"), "ampersand"),
    "windows quoted": (windows_app(lambda v: f'nslookup "{v}"'), "ampersand"),
}


@pytest.mark.parametrize("name", sorted(VULNERABLE))
def test_output_based_twin_is_found_and_confirmed(name: str) -> None:
    app, form = VULNERABLE[name]
    verdicts, sent = run(app)
    assert len(verdicts) == 1, name
    verdict = verdicts[0]
    assert (verdict.check_id, verdict.cwe, verdict.confidence) == ("cmdi", 78, Confidence.FIRM)
    assert verdict.details["technique"] == "output" and verdict.details["form"] == (form or verdict.details["form"])
    a, b = verdict.details["operands"]
    assert str(a + b) in verdict.proof and str(a + b) not in verdict.payload
    assert verdict.details["tag"] in verdict.proof.lower()
    assert sent[-1].label == "confirm"
    assert len(sent) <= 13


def test_blind_injection_is_found_by_time_with_a_zero_delay_control() -> None:
    verdicts, sent = run(ShellApp(lambda v: f"nslookup {v} >/dev/null 2>&1", blind=True))
    assert len(verdicts) == 1
    verdict = verdicts[0]
    assert verdict.details["technique"] == "time" and verdict.details["form"] == "semicolon"
    assert verdict.details["requested"] == [3.0, 6.0, 0.0, 3.0, 6.0]
    assert any(c.attack.payload.count("sleep 0") for c in verdict.controls)
    assert all(a.timing for a in sent if a.label.startswith("time-"))
    assert "slope" in verdict.proof


def echo_page(request: Request) -> Response:
    return html_response(f"<p>No results for {parse(request).get(POINT).value}</p>")  # type: ignore[union-attr]


def numbers_page() -> Callable[[Request], Response]:
    rng = random.Random(1)
    return lambda r: html_response("<pre>root:x:0:0:root:/root:/bin/bash</pre>"
                                   + " ".join(str(rng.randint(100, 99999)) for _ in range(300)))


def slow_page(spike: float = 0.0) -> Callable[[Request], tuple[Response, float]]:
    """Random latency: 0–1 s (sqlmap's slowrand), or with ``spike`` that many seconds 30% of the time."""
    rng = random.Random(2)

    def respond(request: Request) -> tuple[Response, float]:
        if spike:
            return html_response("<p>ok</p>"), 0.02 + (spike if rng.random() < 0.3 else 0.0)
        return html_response("<p>ok</p>"), rng.random()

    return respond


def argv_page(request: Request) -> Response:
    value = parse(request).get(POINT).value  # type: ignore[union-attr]
    out = subprocess.run(["echo", "Looking", "up", value], capture_output=True, text=True, check=False).stdout
    return html_response(f"<pre>{html.escape(out)}</pre>")


def test_blind_windows_injection_is_found_by_ping_timing() -> None:
    verdicts, _ = run(windows_app(lambda v: f"nslookup {v} >NUL", blind=True))
    assert len(verdicts) == 1
    assert verdicts[0].details["technique"] == "time" and verdicts[0].details["form"] == "ampersand"
    # the proof is the longest delay asked for: 6 s, i.e. 7 echoes one second apart
    assert "ping -n 7 127.0.0.1" in verdicts[0].payload


SAFE = {
    "input echo": lambda: echo_page,
    "properly quoted argument": lambda: ShellApp(lambda v: f"echo Looking up {shlex.quote(v)}"),
    "passwd-like and numeric text on every page": numbers_page,
    "random slowness": slow_page,
    "random latency spikes": lambda: slow_page(spike=4.0),
    "argument vector, no shell": lambda: argv_page,
}


@pytest.mark.parametrize("name", sorted(SAFE))
def test_trap_stays_silent(name: str) -> None:
    verdicts, sent = run(SAFE[name]())
    assert verdicts == [], name
    assert len(sent) <= 13


def test_budget_full_light_and_time_gate() -> None:
    static = ShellApp(lambda v: "echo static")
    _, full = run(static, url="http://t.test/lookup?q=hello", point="GET_q_value")
    assert [a.label for a in full] == [f.name for f in TABLE.forms]  # 11 output forms, no time probes
    # example.org is shaped like a command argument (and "host" named like one): 1 time probe per form
    _, shaped = run(static)
    assert len(shaped) == len(TABLE.forms) + 2
    assert [a.label for a in shaped[-2:]] == ["time-semicolon:delay-3", "time-ampersand:delay-3"]
    _, named = run(static, url="http://t.test/lookup?pingTarget=x", point="GET_pingTarget_value")
    assert len(named) == len(TABLE.forms) + 2
    _, light = run(static, light=True)
    assert [a.label for a in light] == ["semicolon"]


def test_light_mode_escalates_on_a_shell_error() -> None:
    # "$" is stripped: no computed marker can print, the polyglot makes sh complain, and sleep still runs
    app = ShellApp(lambda v: f"echo Looking up {v}", prepare=strip("$"), errors=True, blind=False)
    verdicts, sent = run(app, light=True, url="http://t.test/lookup?q=hello", point="GET_q_value")
    assert sent[0].label == "semicolon" and len(verdicts) == 1
    assert verdicts[0].details["technique"] == "time"
    _, quiet = run(ShellApp(lambda v: f"echo Looking up {v}", prepare=strip("$")), light=True,
                   url="http://t.test/lookup?q=hello", point="GET_q_value")
    assert len(quiet) == 1  # the same shell, errors not shown: nothing to escalate on


def test_a_marker_that_does_not_repeat_is_not_reported() -> None:
    state = {"n": 0}

    def once(request: Request) -> Response:
        value = parse(request).get(POINT).value  # type: ignore[union-attr]
        if value == "example.org":
            return html_response("<p>ok</p>")
        state["n"] += 1
        proc = subprocess.run(["/bin/sh", "-c", PRELUDE + f"echo {value}"], capture_output=True, text=True, check=False)
        return html_response(f"<pre>{html.escape(proc.stdout) if state['n'] == 1 else ''}</pre>")

    verdicts, sent = run(once, url="http://t.test/lookup?host=example.org", time_delay=3.0)
    assert verdicts == []
    assert "confirm" in [a.label for a in sent]


def test_normalise_removes_the_echo_and_decodes() -> None:
    payload = "x;echo ab$((1+2))$(echo ab)ab"
    assert "ab3abab" not in normalise(f"<p>{html.escape(payload)}</p>", payload)
    assert "ab3abab" in normalise("out: ab3ab&#97;b", payload)
    assert "ab3abab" in normalise("out: ab3ab%61b", payload)


def test_named_like_command() -> None:
    assert named_like_command(Point("GET_host_value", (Step("GET", "host"),), "x"))
    assert named_like_command(Point("P", (Step("POST"), Step("JSON_DOC"), Step("HASH", "targetIp")), "x"))
    assert not named_like_command(Point("GET_q_value", (Step("GET", "q"),), "x"))


def test_command_shaped_values() -> None:
    assert command_shaped("192.168.1.10") and command_shaped("mail.example.org") and command_shaped("a.txt")
    assert not command_shaped("hello world") and not command_shaped("42")


def test_module_exports_the_check() -> None:
    assert [c.id for c in CHECKS] == ["cmdi"] and CHECKS[0].kind == "rce" and CHECKS[0].severity.value == "critical"
