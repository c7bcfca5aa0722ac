"""OS command injection: a connectivity-check tool that runs a real shell, and its safe twin.

``POST /tools/ping`` (form ``host``) runs ``/bin/sh -c "test -n <host> && echo reachable"``: a
stand-in for ``ping -c 1 <host>`` that never touches the network, harmless by itself, injectable by
construction. ``POST /safe/tools/ping`` accepts only an IP address or a host name and runs ``test``
without a shell. Both show the check's output, HTML-escaped, and never the host itself (so the page
reflects nothing a scanner could mistake for another flaw). Commands run in the application's
scratch directory with a small fixed environment, and are killed (with anything they started) after
:data:`COMMAND_TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from lunge.demo.pages import escape, message, page
from lunge.demo.state import Handler, demo

Command = Callable[[str], list[str]]

COMMAND_TIMEOUT = 10.0
MAX_OUTPUT = 16_384
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"}
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class Rejected(Exception):
    """The safe command refusing a host."""


def shell_command(host: str) -> list[str]:
    """The vulnerability: the host is pasted into a shell command line."""
    return ["/bin/sh", "-c", f"test -n {host} && echo reachable"]


def exec_command(host: str) -> list[str]:
    """The twin: a validated host, passed as one argument, no shell."""
    if not valid_host(host):
        raise Rejected
    return ["test", "-n", host]


@dataclass(frozen=True, slots=True)
class Completed:
    """How a command ended, and what it printed on standard output."""

    returncode: int
    stdout: str

    @property
    def report(self) -> str:
        """What the page shows: the output, else "reachable" for a command that succeeded
        silently (the twin's ``test``)."""
        if self.stdout:
            return self.stdout
        return "reachable\n" if self.returncode == 0 else ""


def valid_host(host: str) -> bool:
    """An IP address or a DNS host name.

    >>> valid_host("127.0.0.1"), valid_host("db-1.example.com"), valid_host("a;id"), valid_host("-x")
    (True, True, False, False)
    """
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return len(host) <= 253 and _HOSTNAME.fullmatch(host) is not None


async def run(argv: list[str], cwd: Path) -> Completed:
    """Run ``argv`` (stderr is dropped). Raises TimeoutError after
    :data:`COMMAND_TIMEOUT` seconds, once the command and its children are killed."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, cwd=cwd, env=ENV, start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT)
    except TimeoutError:
        # Its own session: background children ("; sleep 99 &") hold the pipe open and die too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    return Completed(proc.returncode if proc.returncode is not None else -1,
                     out[:MAX_OUTPUT].decode("utf-8", "replace"))


def ping(command: Command) -> Handler:
    """``POST /tools/ping`` (form ``host``): checks that the host is reachable."""

    async def handler(request: web.Request) -> web.StreamResponse:
        host = (await request.post()).get("host")
        if not isinstance(host, str) or not host:
            return message("Connectivity check", "Pass a host.", 400)
        try:
            done = await run(command(host), demo(request).scratch)
        except (Rejected, ValueError):  # ValueError: a NUL byte or unencodable text in the argument
            return message("Connectivity check", "Invalid host: use an IP address or a host name.", 400)
        except TimeoutError:
            return message("Connectivity check", "The check timed out.", 504)
        if not done.report:
            return page("Connectivity check", "<p class=\"result\">The host did not answer.</p>")
        return page("Connectivity check", f"<pre class=\"output\">{escape(done.report)}</pre>")

    return handler


def routes() -> list[web.RouteDef]:
    """The command injection endpoint and its twin."""
    return [
        web.post("/tools/ping", ping(shell_command)),
        web.post("/safe/tools/ping", ping(exec_command)),
    ]
