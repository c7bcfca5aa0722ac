"""The demo shop's functional test suite: the traffic lunge records.

Like a pipeline's own end-to-end tests, it drives the shop as a browser and an API client would
(signing in, keeping cookies, carrying a bearer token), uses every endpoint, vulnerable and safe,
with legitimate values, and checks the normal answers. Through ``proxy`` (lunge's recording proxy)
every request it sends becomes a baseline.

>>> import asyncio
>>> from lunge.demo.app import start
>>> async def main() -> bool:
...     async with await start() as server:
...         return (await run_suite(server.url)).ok
>>> asyncio.run(main())
True

Each test gets a fresh client, as test frameworks give each test a fresh fixture, so cookies are
only sent where a test signed in.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

USER_AGENT = "lunge-demo-suite/1.0"
TIMEOUT = 15.0  # seconds per request


@dataclass(frozen=True, slots=True)
class SentRequest:
    """One request of the suite: method, target (path and query) and the status (0: no answer)."""

    method: str
    target: str
    status: int


@dataclass(frozen=True, slots=True)
class SuiteResult:
    """What the suite did: its requests in order, the failed expectations, and the time taken."""

    requests: tuple[SentRequest, ...]
    failures: tuple[str, ...]
    elapsed: float

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str
    headers: dict[str, str]


class SuiteFailure(Exception):
    """A request of a test could not be made; the test stops, the suite goes on."""


class Browser:
    """One test's HTTP client: a cookie jar, an optional proxy, and expectations."""

    def __init__(self, base_url: str, proxy: str | None, test: str, sent: list[SentRequest],
                 failures: list[str]) -> None:
        self.base_url = base_url.rstrip("/")
        self.proxy = proxy
        self.test = test
        self._sent = sent
        self._failures = failures
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Browser:
        # unsafe=True: keep cookies of an IP-address host (127.0.0.1), as browsers do.
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"User-Agent": USER_AGENT},
            timeout=aiohttp.ClientTimeout(total=TIMEOUT), proxy=self.proxy,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, method: str, target: str, *, expect: int, contains: Iterable[str] = (),
                   **options: Any) -> Answer:
        """Send one request (no redirect is followed) and check its status and body."""
        assert self._session is not None
        try:
            async with self._session.request(method, self.base_url + target, allow_redirects=False,
                                             **options) as resp:
                answer = Answer(resp.status, await resp.text(errors="replace"), dict(resp.headers))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._sent.append(SentRequest(method, target, 0))
            raise SuiteFailure(f"{method} {target}: no answer ({type(exc).__name__}: {exc})") from exc
        self._sent.append(SentRequest(method, target, answer.status))
        self.expect(answer.status == expect, f"{method} {target}: status {answer.status}, expected {expect}")
        for text in contains:
            self.expect(text in answer.text, f"{method} {target}: {text!r} not in the answer")
        return answer

    def expect(self, condition: bool, failure: str) -> None:
        """Record ``failure`` (for this test) unless ``condition`` holds."""
        if not condition:
            self._failures.append(f"{self.test}: {failure}")


Test = Callable[[Browser], Awaitable[None]]


# ---------------------------------------------------------------------- the tests (named so pytest never collects them)
async def visit_home(b: Browser) -> None:
    await b.send("GET", "/", expect=200, contains=["Welcome", "Sign in"])


async def view_product(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/products?id=1&view=full", expect=200, contains=["Widget", "$9.99"])


async def check_username(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/login-check", data={"username": "alice"}, expect=200,
                     contains=["This username is taken."])


async def search_orders(b: Browser) -> None:
    for prefix in ("", "/safe"):
        answer = await b.send("POST", f"{prefix}/api/orders/search", json={"customer": {"name": "alice"}},
                              expect=202, contains=['"accepted"'])
        b.expect(answer.headers.get("Content-Type", "").startswith("application/json"), "orders: not JSON")


async def use_account(b: Browser) -> None:
    login = await b.send("POST", "/login", data={"username": "alice", "password": "wonderland"}, expect=303)
    b.expect(login.headers.get("Location") == "/account", "login: not redirected to /account")
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/account", expect=200, contains=["Signed in as <strong>alice</strong>"])
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/preferences", expect=200, contains=["Interface language: English"])


async def query_tenant(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/api/tenant", headers={"X-Tenant": "acme"}, expect=200,
                     contains=['"plan": "gold"'])


async def view_profile(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/users/2/profile", expect=200, contains=["Bob Builder"])


async def call_me_api(b: Browser) -> None:
    answer = await b.send("POST", "/api/token", json={"username": "alice", "password": "wonderland"}, expect=200)
    token = _json_field(answer.text, "token")
    b.expect(bool(token), "token: no token in the answer")
    # Another user signs in too (recording's de-duplication keeps a sign-in per user): the record
    # holds a second identity's token (jwt's identity swap).
    await b.send("POST", "/api/token", json={"username": "bob", "password": "builder"}, expect=200)
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/api/me", headers={"Authorization": f"Bearer {token}"}, expect=200,
                     contains=['"username": "alice"'])


async def search_products(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/search?q=widget&page=1", expect=200,
                     contains=["<b>widget</b>", "<li>Widget Pro</li>"])


async def subscribe_newsletter(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/newsletter", data={"email": "alice@example.com"}, expect=200,
                     contains=['value="alice@example.com"'])


async def greet_visitor(b: Browser) -> None:
    await b.send("GET", "/greet?name=alice&lang=en", expect=200, contains=["var name = 'alice';"])
    await b.send("GET", "/safe/greet?name=alice&lang=en", expect=200, contains=['var name = "alice";'])


async def post_comments(b: Browser) -> None:
    for prefix in ("", "/safe"):
        posted = await b.send("POST", f"{prefix}/comments", data={"text": "Great shop!"}, expect=303)
        b.expect(posted.headers.get("Location") == f"{prefix}/comments", "comments: not redirected to the board")
        await b.send("GET", f"{prefix}/comments", expect=200, contains=["<p>Great shop!</p>"])


async def check_connectivity(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/tools/ping", data={"host": "127.0.0.1"}, expect=200,
                     contains=["<pre class=\"output\">reachable\n</pre>"])


async def read_documents(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/download?file=report.txt&disposition=inline", expect=200,
                     contains=["Quarterly report"])
        await b.send("GET", f"{prefix}/docs/readme.txt/raw", expect=200, contains=["Documents of the lunge demo"])


async def follow_redirect(b: Browser) -> None:
    for prefix in ("", "/safe"):
        answer = await b.send("GET", f"{prefix}/go?next=/home&src=nav", expect=302)
        b.expect(answer.headers.get("Location") == "/home", "go: not redirected to /home")


async def preview_exports(b: Browser) -> None:
    """Answers that echo their input raw but are not pages a browser renders (issue 18)."""
    answer = await b.send("GET", "/api/suggest?q=wid", expect=200, contains=['"query": "wid"'])
    b.expect(answer.headers.get("Content-Type", "").startswith("application/json"), "suggest: not JSON")
    await b.send("GET", "/api/suggest-xml?q=wid", expect=200, contains=["<query>wid</query>"])
    await b.send("GET", "/notes/preview?text=hello", expect=200, contains=["hello"])
    answer = await b.send("GET", "/export/search?q=widget", expect=200, contains=["<b>widget</b>"])
    b.expect(answer.headers.get("Content-Disposition", "").startswith("attachment"), "export: not an attachment")


async def write_review(b: Browser) -> None:
    for prefix in ("", "/safe"):
        answer = await b.send("POST", f"{prefix}/reviews", data={"product": "1", "text": "Great widget"}, expect=303)
        b.expect(answer.headers.get("Location") == "/products?id=1&view=full", "reviews: not redirected to the product")
    await b.send("GET", "/stock?item=1&warehouse=main", expect=200, contains=["Widget: in stock."])


async def look_up_directory(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/directory?uid=alice&fields=basic", expect=200, contains=["Alice Liddell"])


async def view_catalog(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/catalog/item?name=Widget&currency=USD", expect=200,
                     contains=["Widget: $9.99, 12 in stock"])
        await b.send("GET", f"{prefix}/report?title=Stock&format=text", expect=200, contains=["Stock", "Gadget: 3"])


async def use_member_api(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/api/members/lookup", json={"email": "alice@example.com"}, expect=200,
                     contains=['"plan": "gold"'])
        await b.send("GET", f"{prefix}/api/coupons?code=WELCOME10&currency=EUR", expect=200,
                     contains=['"discount": 10'])


async def use_lab(b: Browser) -> None:
    # The lab table exists only between the reset and the clean-up: a replay must run the reset first.
    await b.send("POST", "/lab/reset", expect=200, contains=['"reset": true'])
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/lab/notes?id=1&view=full", expect=200, contains=["Calibrate the widget press."])
    await b.send("DELETE", "/lab/notes", expect=200, contains=['"dropped": true'])


async def list_orders_v2(b: Browser) -> None:
    # The token lives 3 seconds and the logout revokes it: a replay needs a fresh one.
    answer = await b.send("POST", "/api/v2/session", json={"username": "alice", "password": "wonderland"},
                          expect=200)
    token = _json_field(answer.text, "access_token")
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/api/v2/orders?status=open&page=1", headers={"Authorization": f"Bearer {token}"},
                     expect=200, contains=['"orders"'])
    await b.send("POST", "/api/v2/logout", expect=200)


async def read_board_v3(b: Browser) -> None:
    # The key is replaced by the next login: a replay needs the key the login hands out now.
    credentials = {"username": "alice", "password": "wonderland"}
    answer = await b.send("POST", "/api/v3/keys", json=credentials, expect=200)
    key = _json_field(answer.text, "key")
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/api/v3/notes?tag=open&page=1", headers={"X-APIKEY": key}, expect=200,
                     contains=['"comments"'])
    await b.send("POST", "/api/v3/keys", json=credentials, expect=200)  # rotates the recorded key


async def send_feedback(b: Browser) -> None:
    # Each CSRF token works once: a replay needs a token fetched from the form again.
    for prefix in ("", "/safe"):
        form = await b.send("GET", f"{prefix}/feedback", expect=200, contains=['name="csrf_token"'])
        token = form.text.split('name="csrf_token" value="', 1)[-1].split('"', 1)[0]
        await b.send("POST", f"{prefix}/feedback", data={"subject": "delivery", "csrf_token": token}, expect=200,
                     contains=["Thanks for your feedback about delivery."])


async def change_password(b: Browser) -> None:
    # The two fields must be equal before the new password reaches the history check.
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/account/password",
                     data={"password": "Tr0ub4dor-and-3", "password_again": "Tr0ub4dor-and-3"}, expect=200,
                     contains=["Password accepted."])


GRAPHQL_OPERATIONS: tuple[tuple[str, str, dict[str, str], str], ...] = (
    ("Shop", "query Shop { shop { name } }", {}, '"lunge demo shop"'),
    ("Product", 'query Product { product(name: "Widget") { name price } }', {}, '"price": 9.99'),
    ("Orders", "query Orders($customer: String) { orders(customer: $customer) { total } }",
     {"customer": "alice"}, '"total": 19.98'),
)


async def query_graphql(b: Browser) -> None:
    # Three operations on one path with the same top-level keys: each is an endpoint of its own.
    for prefix in ("", "/safe"):
        for name, query, variables, shows in GRAPHQL_OPERATIONS:
            await b.send("POST", f"{prefix}/graphql", json={"query": query, "operationName": name,
                                                            "variables": variables}, expect=200, contains=[shows])


async def greet_by_name(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/greeting?name=alice&style=plain", expect=200,
                     contains=["Hello alice, welcome to the shop!"])


async def write_card(b: Browser) -> None:
    for prefix in ("", "/safe"):
        posted = await b.send("POST", f"{prefix}/cards", data={"message": "Happy birthday!"}, expect=303)
        b.expect(posted.headers.get("Location") == f"{prefix}/cards/preview", "cards: not redirected to the preview")
        await b.send("GET", f"{prefix}/cards/preview", expect=200, contains=["<p>Happy birthday!</p>"])


async def apply_discount(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/api/discount", json={"rule": "price * 0.9", "price": 20}, expect=200,
                     contains=['"total": "18.0"'])


async def save_stock_alert(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/hooks/alert", data={"condition": "stock < 5"}, expect=200,
                     contains=["Your alert is saved."])


async def read_template_help(b: Browser) -> None:
    await b.send("GET", "/help/templates?example=%7B%7B+customer.name+%7D%7D", expect=200,
                 contains=["<code>{{ customer.name }}</code>"])


async def view_report(b: Browser) -> None:
    await b.send("GET", "/reports/summary?formula=total", expect=200, contains=["1,234"])


async def choose_language(b: Browser) -> None:
    for prefix in ("", "/safe"):
        answer = await b.send("GET", f"{prefix}/language?lang=fr&from=menu", expect=200,
                              contains=["Interface language: French"])
        b.expect("lang=fr" in answer.headers.get("Set-Cookie", ""), "language: no lang cookie")


async def load_stock_widget(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/api/stock?callback=showStock&sku=w-1", expect=200,
                     contains=['/**/showStock({"sku": "w-1", "stock": 12});'])


async def follow_referral(b: Browser) -> None:
    answer = await b.send("GET", "/track?ref=newsletter", expect=200, contains=["You came from newsletter."])
    b.expect(answer.headers.get("X-Referral") == "newsletter", "track: no referral header")


async def read_notes(b: Browser) -> None:
    credentials = {"username": "alice", "password": "wonderland"}
    weak = await b.send("POST", "/api/notes/token", json=credentials, expect=200)
    strong = await b.send("POST", "/api/token", json=credentials, expect=200)
    for prefix, answer in (("", weak), ("/safe", strong)):
        token = _json_field(answer.text, "token")
        b.expect(bool(token), "notes: no token in the answer")
        await b.send("GET", f"{prefix}/api/notes", headers={"Authorization": f"Bearer {token}"}, expect=200,
                     contains=['"owner": "alice"'])


async def read_signed_notes(b: Browser) -> None:
    # Tokens whose header chooses the key: a kid naming a key file, and an RS256 token.
    credentials = {"username": "alice", "password": "wonderland"}
    for issuer, reader in (("/api/keyring/token", "/api/keyring/notes"), ("/api/rs/token", "/api/rs/notes")):
        answer = await b.send("POST", issuer, json=credentials, expect=200)
        token = _json_field(answer.text, "token")
        b.expect(bool(token), f"{issuer}: no token in the answer")
        for prefix in ("", "/safe"):
            await b.send("GET", f"{prefix}{reader}", headers={"Authorization": f"Bearer {token}"}, expect=200,
                         contains=['"owner": "alice"'])


async def use_wallet(b: Browser) -> None:
    await b.send("POST", "/wallet/login", data={"username": "alice", "password": "wonderland"}, expect=303)
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/wallet", expect=200, contains=["Wallet of <strong>alice</strong>"])
        await b.send("POST", f"{prefix}/wallet/transfer", data={"to": "bob", "amount": "5"}, expect=303)


async def open_vault(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/api/vault/login", json={"username": "alice", "password": "wonderland"},
                     expect=200, contains=['"status": "signed in"'])


async def update_profile(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("PUT", f"{prefix}/api/profile", json={"theme": "dark"}, expect=200,
                     contains=['"theme": "dark"', '"role": "customer"'])


async def view_board(b: Browser) -> None:
    await b.send("GET", "/board/enter", expect=303)
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/board", expect=200, contains=["Open orders: 3"])


async def preview_link(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/preview?url={b.base_url}/hooks/ping", expect=200,
                     contains=["pong"])


async def register_webhook(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/api/webhooks", json={"callback": b.base_url + "/hooks/ping"}, expect=202,
                     contains=['"queued"'])


async def import_order(b: Browser) -> None:
    document = "<?xml version=\"1.0\"?>\n<order><item>widget</item><quantity>2</quantity></order>"
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/api/orders/import", data=document,
                     headers={"Content-Type": "application/xml"}, expect=200, contains=["Imported 2 x widget"])


async def check_stock(b: Browser) -> None:
    for prefix in ("", "/safe"):
        await b.send("POST", f"{prefix}/api/stock", json={"sku": "W-100"}, expect=200, contains=['"in_stock": 12'])


async def view_cart(b: Browser) -> None:
    cart = "gAWVIgAAAAAAAAB9lIwFaXRlbXOUXZQojAZ3aWRnZXSUjAZnYWRnZXSUZXMu"  # pickle of {"items": [widget, gadget]}
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/cart", headers={"Cookie": f"cart={cart}"}, expect=200,
                     contains=["<li>widget</li>"])


async def work_in_team_as_admin(b: Browser) -> None:
    await b.send("POST", "/team/login", data={"username": "alice", "password": "wonderland"}, expect=303)
    await b.send("GET", "/team", expect=200, contains=["Welcome to the team space."])
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/team/docs/1", expect=200, contains=["Q3 budget draft"])
    await b.send("GET", "/team/notices/1", expect=200, contains=["Office closed"])
    for prefix in ("", "/safe"):
        await b.send("GET", f"{prefix}/team/admin/members", expect=200, contains=["bob@example.com"])


async def work_in_team_as_member(b: Browser) -> None:
    await b.send("POST", "/team/login", data={"username": "bob", "password": "builder"}, expect=303)
    await b.send("GET", "/team", expect=200, contains=["Welcome to the team space."])


def _json_field(text: str, name: str) -> str:
    try:
        value = json.loads(text).get(name)
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


TESTS: tuple[Test, ...] = (
    visit_home, view_product, check_username, search_orders, use_account, query_tenant,
    view_profile, call_me_api, search_products, subscribe_newsletter, greet_visitor, post_comments,
    check_connectivity, read_documents, follow_redirect, write_review, look_up_directory, view_catalog,
    use_member_api, preview_exports, use_lab, list_orders_v2, read_board_v3, send_feedback, change_password,
    query_graphql,
    greet_by_name, write_card, apply_discount, save_stock_alert, read_template_help, view_report,
    choose_language, load_stock_widget, follow_referral,
    read_notes, read_signed_notes, use_wallet, open_vault, update_profile, view_board,
    preview_link, register_webhook, import_order, check_stock, view_cart,
    work_in_team_as_admin, work_in_team_as_member,
)


async def run_suite(base_url: str, proxy: str | None = None) -> SuiteResult:
    """Run every test against the shop at ``base_url``, through ``proxy`` (``http://host:port``) when
    given. Tests run one after another, in a fixed order, so a recording is always the same."""
    sent: list[SentRequest] = []
    failures: list[str] = []
    started = time.monotonic()
    for test in TESTS:
        name = test.__name__
        try:
            async with Browser(base_url, proxy, name, sent, failures) as browser:
                await test(browser)
        except SuiteFailure as exc:
            failures.append(f"{name}: {exc}")
    elapsed = time.monotonic() - started
    logger.info("demo suite: %d requests, %d failures, %.2fs", len(sent), len(failures), elapsed)
    return SuiteResult(tuple(sent), tuple(failures), elapsed)
