"""Out-of-band callbacks as a check sees them: where the listener is, the tokens that tie a
callback to one attack, and what the listener saw.

A check stays pure. It asks the context for the listener (``ctx.oob``, None when the listener is
off), mints a token (:func:`token`, drawn from the context's seeded random numbers behind the run's
own prefix), puts a URL or host name carrying the token in its payload and marks the attack with
it (:func:`attack`). The engine sends the attack and hands back, on its :class:`Exchange`, every
interaction the listener logged for that token by the time the response came back
(``exchange.interactions``): a target that fetches synchronously has called back before it answers.

A callback that comes later (a queued fetch, an asynchronous parser) is awaited by the engine: a
check returns a :class:`Deferred` verdict, written as if the callback had arrived, and the engine
reports it only if an interaction carrying one of its tokens arrives before the end of the run plus
the grace period (interactsh, Burp Collaborator and ZAP's OAST do the same: a payload is registered
with the alert it raises; detection.md §8.1).

Example (a check reporting a URL parameter that the server fetches)::

    def run(ctx: CheckContext) -> Probe:
        if ctx.oob is None:
            return []
        tok = token(ctx)
        (hit,) = yield [attack(ctx, ctx.oob.url(tok), tok, "oob")]
        if not http_callbacks(hit):
            return [deferred(CHECK, ctx, hit, (tok,), "...")]
        ...
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Verdict

if TYPE_CHECKING:
    from collections.abc import Mapping

TOKEN_LENGTH = 20  # interactsh's correlation id is 20 characters too; lowercase: DNS ignores case
PREFIX_LENGTH = 6


@dataclass(frozen=True, slots=True)
class OobEndpoint:
    """Where the target should call back, as the engine's listener serves it.

    - ``host``: the address or name the target reaches the node at (``LUNGE_OOB_HOST``).
    - ``http_port``: the HTTP listener's port.
    - ``domain``: names under it are answered by the DNS listener (``<token>.<domain>``); None
      when the DNS listener is off.
    - ``prefix``: the run's token prefix: a callback whose token lacks it belongs to no attack of
      this run (a stale callback of an earlier run never matches).
    """

    host: str
    http_port: int
    prefix: str
    domain: str | None = None

    def authority(self) -> str:
        """``host:port`` of the HTTP listener (IPv6 addresses bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.http_port}"

    def url(self, tok: str, suffix: str = "") -> str:
        """``http://<host>:<port>/<token><suffix>``: the token in the path, so HTTP alone
        correlates where no DNS zone is delegated to the node."""
        return f"http://{self.authority()}/{tok}{suffix}"

    def hostname(self, tok: str) -> str | None:
        """``<token>.<domain>``, a name only the DNS listener answers (None without DNS)."""
        return f"{tok}.{self.domain}" if self.domain else None

    def named_url(self, tok: str, suffix: str = "") -> str | None:
        """The listener's URL through the token's host name, so both DNS and HTTP correlate."""
        name = self.hostname(tok)
        return f"http://{name}:{self.http_port}/{tok}{suffix}" if name else None

    def body(self, tok: str) -> str:
        """The text the HTTP listener answers for ``tok``: a fetcher that returns what it fetched
        shows it. It is derived from the token, never part of it, so an echo of the attack cannot
        contain it.

        >>> OobEndpoint("127.0.0.1", 1, "abc").body("x") == OobEndpoint("h", 2, "z").body("x")
        True
        """
        return "lunge-oob-" + hashlib.sha256(b"lunge-oob:" + tok.encode()).hexdigest()[:24]

    def loopback(self) -> bool:
        """Whether the listener is on this machine's loopback (the internal-address forms of its
        URL then reach it too)."""
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host.lower() == "localhost"


@dataclass(frozen=True, slots=True)
class Interaction:
    """One callback the listener received.

    ``protocol`` is ``http`` or ``dns``; ``raw`` the request as received (HTTP: request line,
    headers and up to a few KiB of body; DNS: the queried name and type); ``remote`` the peer
    address; ``delay`` seconds between the attack's response and the callback (negative when it
    came while the target was still answering)."""

    token: str
    protocol: str
    remote: str
    raw: str
    delay: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The interaction as plain data for a finding's details."""
        return {"token": self.token, "protocol": self.protocol, "remote": self.remote,
                "delay_s": round(self.delay, 3), "request": self.raw}


@dataclass(frozen=True, slots=True)
class Deferred(Verdict):
    """A verdict that holds only if the listener receives an HTTP callback carrying one of
    ``tokens`` before the end of the run plus the grace period. The engine adds the callback to
    the details (``oob``) when it reports it; without one, nothing is reported."""

    tokens: tuple[str, ...] = field(default=())


def token(ctx: CheckContext) -> str:
    """A fresh token for one attack: the run's prefix and random lowercase characters."""
    if ctx.oob is None:
        raise ValueError("no out-of-band listener in this context (ctx.oob is None)")
    return ctx.oob.prefix + ctx.marker(TOKEN_LENGTH - len(ctx.oob.prefix))


def attack(ctx: CheckContext, payload: str, tok: str, label: str, *, raw: bool = False) -> Attack:
    """An attack carrying ``payload`` at the context's point, marked with ``tok`` so the engine
    attaches the token's callbacks to its exchange."""
    return Attack(ctx.inject(payload, raw=raw), payload, label, token=tok)


def http_callbacks(exchange: Exchange) -> list[Interaction]:
    """The HTTP callbacks of the exchange's token. DNS lookups alone prove nothing: resolvers,
    validators and link previewers resolve names they never fetch (nuclei's blind-SSRF template
    requires HTTP for the same reason)."""
    return [i for i in exchange.interactions if i.protocol == "http"]


def dns_callbacks(exchange: Exchange) -> list[Interaction]:
    return [i for i in exchange.interactions if i.protocol == "dns"]


def proof_line(interaction: Interaction) -> str:
    """The first line of the callback (``GET /<token> HTTP/1.1``, or the DNS question)."""
    return interaction.raw.partition("\r\n")[0].partition("\n")[0]


def deferred(check: Check, ctx: CheckContext, exchange: Exchange, tokens: tuple[str, ...], what: str,
             details: Mapping[str, Any] | None = None) -> Deferred:
    """A :class:`Deferred` verdict of ``check`` for the attack of ``exchange``: ``what`` says what
    the payload asked the target to fetch."""
    return Deferred(
        check.id, check.title, check.severity, check.cwe, Confidence.FIRM, ctx.point.name,
        exchange.attack.payload, exchange, proof="", controls=(ctx.normal,), details=dict(details or {}),
        confirmation=(f"the target called the out-of-band listener back over HTTP with the attack's unique "
                      f"token after answering ({what}); no other request carried that token"),
        tokens=tokens,
    )
