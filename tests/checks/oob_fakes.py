"""A fake out-of-band listener for check tests: the fake application "fetches" through it, and the
driver attaches its interactions to each exchange as the engine does."""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

from lunge.checks.base import Check, CheckContext, Verdict
from lunge.checks.callbacks import Interaction, OobEndpoint
from lunge.checks.testing import Responder, exchange

PREFIX = "tstpfx"
TOKEN = re.compile(PREFIX + "[a-z0-9]{14}")


class FakeListener:
    def __init__(self, *, dns: bool = True) -> None:
        self.endpoint = OobEndpoint("127.0.0.1", 8999, PREFIX, "oob.lunge.test" if dns else None)
        self.seen: dict[str, list[Interaction]] = {}
        self.late: list[tuple[str, str]] = []  # (protocol, text) delivered only after the response

    def http(self, url: str) -> str | None:
        """The target fetches ``url``: logged when it reaches the listener; the body it gets."""
        try:
            parts = urlsplit(url)
            reached = parts.port == self.endpoint.http_port and parts.hostname is not None and (
                parts.hostname == self.endpoint.host or parts.hostname.endswith(f".{self.endpoint.domain}"))
        except ValueError:
            reached = False
        if not reached:
            return None
        found = TOKEN.findall(url)
        for tok in found:
            self.seen.setdefault(tok, []).append(Interaction(tok, "http", "127.0.0.1:5555", f"GET /{tok} HTTP/1.1"))
        if not found:
            return None
        body = self.endpoint.body(found[0])
        return f"<!-- {body} -->" if url.endswith(".dtd") else body  # as the real listener answers

    def dns(self, name: str) -> None:
        for tok in TOKEN.findall(name):
            self.seen.setdefault(tok, []).append(Interaction(tok, "dns", "127.0.0.1:53", f"A {name}"))


def with_oob(ctx: CheckContext, listener: FakeListener | None) -> CheckContext:
    return dataclasses.replace(ctx, oob=listener.endpoint if listener else None)


def drive_oob(check: Check, ctx: CheckContext, responder: Responder, listener: FakeListener | None,
              sent: list | None = None) -> list[Verdict]:
    """Like lunge.checks.testing.drive, with the listener's interactions attached to each exchange."""
    if not check.applies(ctx):
        return []
    probe = check.run(ctx)
    try:
        batch = next(probe)
        while True:
            if sent is not None:
                sent.extend(batch)
            out = []
            for attack in batch:
                done = exchange(attack, responder)
                if listener is not None and attack.token:
                    done = dataclasses.replace(done, interactions=tuple(listener.seen.get(attack.token, ())))
                out.append(done)
            batch = probe.send(out)
    except StopIteration as stop:
        return list(stop.value or [])
