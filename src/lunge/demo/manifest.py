"""What lunge should find in the demo shop, and what it must not.

One entry per (endpoint, point, check): the vulnerable endpoints with ``vulnerable: true`` and their
safe twins, under the check they twin, with ``vulnerable: false``. ``path`` is the path the
functional suite requests (no query string); ``point`` is the name lunge gives the value (FAST's
point grammar); ``check`` is the id of the lunge check that finds it. Every other point of every
request the suite sends gives nothing to any check. A scan of the suite's recording with the demo
policy (:data:`POLICY_PATH`) should report exactly the vulnerable entries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

POLICY_PATH = Path(__file__).with_name("policy.yaml")

CHECKS = ("sqli", "xss-reflected", "xss-stored", "cmdi", "path-traversal", "open-redirect", "nosqli", "ldapi",
          "xpathi", "xslti", "ssti", "code-injection", "crlf", "xss-jsonp", "jwt", "session-forgery", "csrf",
          "auth-bypass", "user-enumeration", "brute-force", "mass-assignment", "broken-access", "bola", "ssrf", "xxe",
          "deserialization")


@dataclass(frozen=True, slots=True)
class Entry:
    """One (endpoint, point, check) of the demo shop.

    ``technique`` says how the answer gives it away (for SQL injection: ``error``, ``boolean`` or
    ``time``); a twin keeps its vulnerable sibling's technique, as the attack it must resist.
    """

    method: str
    path: str
    point: str
    check: str
    vulnerable: bool
    technique: str
    description: str
    # What the replay must keep for the entry to be reachable (engine/keeper.py): "ordered-replay",
    # "session-refresh", "csrf-token", "linked-values", "operations", "value-flow"; "identities": the
    # users the record's sign-ins show (engine/identities.py).
    needs: tuple[str, ...] = ()


def _pair(method: str, path: str, point: str, check: str, technique: str, what: str, safe_path: str,
          safe_point: str, how: str, needs: tuple[str, ...] = ()) -> tuple[Entry, Entry]:
    return (Entry(method, path, point, check, True, technique, what, needs),
            Entry(method, safe_path, safe_point, check, False, technique, f"safe twin of {method} {path}: {how}",
                  needs))


def _stateful(method: str, path: str, point: str, check: str, technique: str, what: str, how: str,
              needs: tuple[str, ...]) -> tuple[Entry, Entry]:
    return (Entry(method, path, point, check, True, technique, what, needs),
            Entry(method, f"/safe{path}", point, check, False, technique,
                  f"safe twin of {method} {path}: {how}", needs))


_COOKIE = "HEADER_COOKIE_COOKIE_"

MANIFEST: tuple[Entry, ...] = (
    *_pair("GET", "/products", "GET_id_value", "sqli", "error",
           "numeric id pasted into SQL; the SQLite error is shown (500)",
           "/safe/products", "GET_id_value", "digits only, parametrised; anything else is a 400"),
    *_pair("POST", "/login-check", "POST_FORM_URLENCODED_username_value", "sqli", "boolean",
           "username pasted into a quoted SQL string; answers only taken/available, errors hidden",
           "/safe/login-check", "POST_FORM_URLENCODED_username_value", "parametrised"),
    *_pair("POST", "/api/orders/search", "POST_JSON_DOC_HASH_customer_HASH_name_value", "sqli", "time",
           "JSON field pasted into SQL; the answer is constant, only sleep() delays it",
           "/safe/api/orders/search", "POST_JSON_DOC_HASH_customer_HASH_name_value", "parametrised"),
    *_pair("GET", "/account", f"{_COOKIE}session_value", "sqli", "error",
           "session cookie pasted into SQL; the SQLite error is shown (500)",
           "/safe/account", f"{_COOKIE}session_value", "parametrised"),
    *_pair("GET", "/api/tenant", "HEADER_X-TENANT_value", "sqli", "boolean",
           "X-Tenant header pasted into SQL; found or 404, errors hidden",
           "/safe/api/tenant", "HEADER_X-TENANT_value", "parametrised"),
    *_pair("GET", "/users/2/profile", "PATH_1_value", "sqli", "error",
           "numeric path segment pasted into SQL; the SQLite error is shown inline (200)",
           "/safe/users/2/profile", "PATH_2_value", "digits only, parametrised; anything else is a 404"),
    *_pair("GET", "/preferences", f"{_COOKIE}prefs_BASE64_JSON_DOC_HASH_lang_value", "sqli", "boolean",
           "lang inside the base64-JSON prefs cookie pasted into SQL; supported or not, errors hidden",
           "/safe/preferences", f"{_COOKIE}prefs_BASE64_JSON_DOC_HASH_lang_value", "parametrised"),
    *_pair("GET", "/api/me", "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_sub_value", "sqli", "error",
           "sub claim of an unverified JWT pasted into SQL; the SQLite error is in the JSON (500)",
           "/safe/api/me", "HEADER_AUTHORIZATION_JWT_PAYLOAD_HASH_sub_value",
           "signature verified (a changed claim is a 401), parametrised"),
    *_pair("GET", "/search", "GET_q_value", "xss-reflected", "html-text",
           "search text echoed unescaped in HTML text",
           "/safe/search", "GET_q_value", "HTML-escaped"),
    *_pair("POST", "/newsletter", "POST_FORM_URLENCODED_email_value", "xss-reflected", "html-attribute",
           "e-mail echoed unescaped in a double-quoted value attribute",
           "/safe/newsletter", "POST_FORM_URLENCODED_email_value", "HTML-escaped, quotes included"),
    *_pair("GET", "/greet", "GET_name_value", "xss-reflected", "script-string",
           "name echoed unescaped in a single-quoted JavaScript string inside <script>",
           "/safe/greet", "GET_name_value", "JSON-encoded with <, > and & escaped"),
    *_pair("POST", "/comments", "POST_FORM_URLENCODED_text_value", "xss-stored", "html-text",
           "comment stored and shown unescaped on GET /comments",
           "/safe/comments", "POST_FORM_URLENCODED_text_value", "shown HTML-escaped on GET /safe/comments"),
    *_pair("POST", "/tools/ping", "POST_FORM_URLENCODED_host_value", "cmdi", "output",
           "host pasted into /bin/sh -c 'test -n <host> && echo reachable'; the output is shown",
           "/safe/tools/ping", "POST_FORM_URLENCODED_host_value", "IP or host name only, no shell"),
    *_pair("GET", "/download", "GET_file_value", "path-traversal", "read",
           "file name joined to the documents directory without normalisation",
           "/safe/download", "GET_file_value", "resolved and kept inside the documents directory"),
    *_pair("GET", "/docs/readme.txt/raw", "PATH_1_value", "path-traversal", "read",
           "path segment (percent-decoded) joined to the documents directory without normalisation",
           "/safe/docs/readme.txt/raw", "PATH_2_value", "resolved and kept inside the documents directory"),
    *_pair("GET", "/go", "GET_next_value", "open-redirect", "location",
           "302 to whatever next says",
           "/safe/go", "GET_next_value", "only paths on this site; anything else is a 400"),
    # Markup echoed raw where no browser runs it (issue 18): traps with no vulnerable sibling.
    Entry("GET", "/api/suggest", "GET_q_value", "xss-reflected", False, "content-type",
          "a trap, not a twin: text echoed raw in an application/json answer"),
    Entry("GET", "/api/suggest-xml", "GET_q_value", "xss-reflected", False, "content-type",
          "a trap, not a twin: text echoed raw in an application/xml answer (no XHTML namespace)"),
    Entry("GET", "/notes/preview", "GET_text_value", "xss-reflected", False, "content-type",
          "a trap, not a twin: text echoed raw in a text/plain answer with X-Content-Type-Options: nosniff"),
    Entry("GET", "/export/search", "GET_q_value", "xss-reflected", False, "content-type",
          "a trap, not a twin: text echoed raw in an HTML page served with Content-Disposition: attachment"),
    *_pair("POST", "/reviews", "POST_FORM_URLENCODED_text_value", "sqli", "status",
           "review text pasted into an INSERT's column list; stored (303) or a bare 500 without any message",
           "/safe/reviews", "POST_FORM_URLENCODED_text_value", "parametrised"),
    Entry("GET", "/stock", "GET_item_value", "sqli", False, "status",
          "a trap, not a twin: int() of any non-digit input is a bare 500; the lookup is parametrised"),
    *_pair("GET", "/directory", "GET_uid_value", "ldapi", "error",
           "uid pasted into an LDAP filter; the filter error is shown (500)",
           "/safe/directory", "GET_uid_value", "escaped for the filter (RFC 4515)"),
    *_pair("GET", "/catalog/item", "GET_name_value", "xpathi", "boolean",
           "name pasted into an XPath predicate (lxml); found or 404, errors hidden",
           "/safe/catalog/item", "GET_name_value", "bound as an XPath variable"),
    *_pair("GET", "/report", "GET_title_value", "xslti", "evaluation",
           "title pasted into an XSLT stylesheet (lxml); xsl:value-of runs",
           "/safe/report", "GET_title_value", "passed as a stylesheet parameter"),
    *_pair("POST", "/api/members/lookup", "POST_JSON_DOC_HASH_email_value", "nosqli", "operator",
           "JSON email passed to a MongoDB-style query as it is; an object becomes an operator",
           "/safe/api/members/lookup", "POST_JSON_DOC_HASH_email_value", "only a string is accepted"),
    *_pair("GET", "/api/coupons", "GET_code_value", "nosqli", "operator",
           "query parsed with qs brackets into a MongoDB-style query: code[$ne]= is an operator",
           "/safe/api/coupons", "GET_code_value", "the query is read without bracket parsing"),
    *_stateful("GET", "/lab/notes", "GET_id_value", "sqli", "error",
               "id pasted into SQL over a table that exists only after POST /lab/reset (dropped at the end)",
               "digits only, parametrised", ("ordered-replay",)),
    *_stateful("GET", "/api/v2/orders", "GET_status_value", "sqli", "error",
               "status pasted into SQL behind a 3-second bearer JWT that the suite's logout revoked",
               "parametrised", ("session-refresh", "value-flow")),
    *_stateful("GET", "/api/v3/notes", "GET_tag_value", "sqli", "error",
               "tag pasted into SQL behind an X-APIKEY that the next POST /api/v3/keys replaces",
               "parametrised", ("value-flow",)),
    *_stateful("POST", "/feedback", "POST_FORM_URLENCODED_subject_value", "xss-reflected", "html-text",
               "subject echoed unescaped, only with a one-use csrf_token fetched from GET /feedback",
               "HTML-escaped", ("csrf-token", "value-flow")),
    *_stateful("POST", "/account/password", "POST_FORM_URLENCODED_password_value", "sqli", "error",
               "new password pasted into SQL, only when password_again carries the same value",
               "parametrised", ("linked-values", "ordered-replay")),
    *_stateful("POST", "/graphql", "POST_JSON_DOC_HASH_query_GRAPHQL_FIELD_product_ARG_name_value", "sqli", "error",
               "inline GraphQL argument of the Product operation pasted into SQL; the error is in errors[] (200)",
               "parametrised", ("operations",)),
    *_pair("GET", "/greeting", "GET_name_value", "ssti", "render",
           "name pasted into the source of a (sandboxed) Jinja2 template",
           "/safe/greeting", "GET_name_value", "a fixed template; the name is passed as data"),
    *_pair("POST", "/cards", "POST_FORM_URLENCODED_message_value", "ssti", "second-order",
           "message kept in a signed cookie, rendered as Jinja2 source on the page the 303 leads to",
           "/safe/cards", "POST_FORM_URLENCODED_message_value", "the preview renders the message as data"),
    *_pair("POST", "/api/discount", "POST_JSON_DOC_HASH_rule_value", "code-injection", "output",
           "pricing rule evaluated with Python's eval; the total is shown",
           "/safe/api/discount", "POST_JSON_DOC_HASH_rule_value", "numbers, price and + - * / over the AST only"),
    *_pair("POST", "/hooks/alert", "POST_FORM_URLENCODED_condition_value", "code-injection", "time",
           "alert condition evaluated with Python's eval; the answer never changes, only a sleep delays it",
           "/safe/hooks/alert", "POST_FORM_URLENCODED_condition_value", "'stock <op> <number>' only, no eval"),
    *_pair("GET", "/language", "GET_lang_value", "crlf", "header",
           "language written raw (Latin-1 low bytes) into the Set-Cookie header",
           "/safe/language", "GET_lang_value", "known languages only; anything else is a 400"),
    *_pair("GET", "/api/stock", "GET_callback_value", "xss-jsonp", "callback",
           "JSONP callback written as the script's function name",
           "/safe/api/stock", "GET_callback_value", "callback must be a JavaScript name"),
    *_pair("GET", "/api/me", "HEADER_AUTHORIZATION_value", "jwt", "signature-not-verified",
           "the bearer JWT's claims are read without checking its signature",
           "/safe/api/me", "HEADER_AUTHORIZATION_value", "HS256 verified with a random 256-bit key; alg none refused"),
    *_pair("GET", "/api/notes", "HEADER_AUTHORIZATION_value", "jwt", "cracked-key",
           "bearer JWT verified, but signed with 'secret': cracked offline, re-signed tokens are accepted",
           "/safe/api/notes", "HEADER_AUTHORIZATION_value", "signed with a random 256-bit key"),
    *_pair("GET", "/api/keyring/notes", "HEADER_AUTHORIZATION_value", "jwt", "kid-path-traversal",
           "the key is read from the file the token's kid names: kid ../../../../dev/null makes it empty",
           "/safe/api/keyring/notes", "HEADER_AUTHORIZATION_value", "kid looked up in a fixed key table"),
    *_pair("GET", "/api/rs/notes", "HEADER_AUTHORIZATION_value", "jwt", "alg-confusion",
           "RS256 verified with the token's own alg: HS256 signed with the public PEM (from the JWKS) passes",
           "/safe/api/rs/notes", "HEADER_AUTHORIZATION_value", "RS256 only"),
    *_pair("GET", "/wallet", f"{_COOKIE}wallet_BASE64_JSON_DOC_HASH_uid_value", "session-forgery", "identity",
           "uid in the unsigned base64-JSON wallet cookie is trusted: uid 2 shows bob's wallet",
           "/safe/wallet", f"{_COOKIE}wallet_BASE64_JSON_DOC_HASH_uid_value",
           "the same cookie verified against its HMAC (wallet_sig) first"),
    *_pair("POST", "/wallet/transfer", "URI_value", "csrf", "cross-site",
           "form POST authenticated by a cookie without SameSite, no anti-CSRF token, no Origin check",
           "/safe/wallet/transfer", "URI_value", "a foreign Origin or Referer is refused (403)"),
    *_pair("POST", "/api/vault/login", "POST_JSON_DOC_HASH_password_value", "auth-bypass", "type-juggling",
           "JSON password compared loosely: true signs in as anyone",
           "/safe/api/vault/login", "POST_JSON_DOC_HASH_password_value", "a string, compared strictly"),
    *_pair("POST", "/api/vault/login", "POST_JSON_DOC_HASH_username_value", "user-enumeration", "status",
           "an unknown username is a 404 'no such user', a wrong password a 401",
           "/safe/api/vault/login", "POST_JSON_DOC_HASH_username_value", "one 401 answer for every failure"),
    *_pair("POST", "/api/vault/login", "POST_JSON_DOC_HASH_username_value", "brute-force", "no-limit",
           "20 wrong passwords in a row are refused alike, then the right one still signs in",
           "/safe/api/vault/login", "POST_JSON_DOC_HASH_username_value",
           "five failures in a row lock the account for 5 s: every attempt a 429 with Retry-After"),
    *_pair("PUT", "/api/profile", "URI_value", "mass-assignment", "answer",
           "every model field of the body is bound: an added role=admin comes back in the profile",
           "/safe/api/profile", "URI_value", "only theme is bound (an allow-list)"),
    *_pair("GET", "/board", f"{_COOKIE}is_admin_value", "broken-access", "role-flag",
           "the is_admin cookie decides whether the staff tools are shown: is_admin=1 shows them",
           "/safe/board", f"{_COOKIE}is_admin_value", "the cookie is never read"),
    # Two users of the team space (alice the admin, bob a member), each signed in by the suite.
    *_pair("GET", "/team/docs/1", "ACTION_NAME_value", "bola", "identity-swap",
           "alice's document served to bob, signed in, who names its id: no owner check",
           "/safe/team/docs/1", "ACTION_NAME_value", "another member's document is a 404", needs=("identities",)),
    Entry("GET", "/team/notices/1", "ACTION_NAME_value", "bola", False, "identity-swap",
          "a trap, not a twin: a public notice every user (and an anonymous visitor) may read", ("identities",)),
    *_pair("GET", "/team/admin/members", "URI_value", "broken-access", "identity-swap",
           "the admin's member list (with e-mails) served to bob, a member: no role check",
           "/safe/team/admin/members", "URI_value", "a 403 for anyone but the admin", needs=("identities",)),
    Entry("GET", "/team", "URI_value", "broken-access", False, "identity-swap",
          "a trap, not a twin: the team's front page, the same for every member (both users open it)",
          ("identities",)),
    *_pair("GET", "/preview", "GET_url_value", "ssrf", "full-read",
           "fetches any URL (file:// included) and shows the content",
           "/safe/preview", "GET_url_value",
           "only the shop's own origin; names are resolved first through a resolver that answers every name"),
    *_pair("POST", "/api/webhooks", "POST_JSON_DOC_HASH_callback_value", "ssrf", "blind",
           "answers 202 at once, calls the callback URL half a second later",
           "/safe/api/webhooks", "POST_JSON_DOC_HASH_callback_value", "calls only the shop's own origin"),
    *_pair("POST", "/api/orders/import", "POST_XML_XML_DTD_value", "xxe", "entity",
           "XML body parsed with external entities (files and URLs) resolved; the item is echoed",
           "/safe/api/orders/import", "POST_XML_XML_DTD_value",
           "entities, DTD loading and network off; still echoes the DOCTYPE it received"),
    *_pair("POST", "/api/stock", "POST_JSON_DOC_HASH_sku_value", "xxe", "xml-content-type",
           "a JSON API that also parses XML when sent as application/xml, with entities resolved",
           "/safe/api/stock", "POST_JSON_DOC_HASH_sku_value", "accepts XML too, with entities off"),
    *_pair("GET", "/cart", f"{_COOKIE}cart_value", "deserialization", "pickle",
           "base64 pickle cookie loaded with pickle.loads",
           "/safe/cart", f"{_COOKIE}cart_value", "an unpickler that refuses every global"),
)


def manifest() -> list[dict[str, Any]]:
    """The manifest as plain data (a new list each call), for ``lunge demo --manifest``."""
    return [{**asdict(entry), "needs": list(entry.needs)} for entry in MANIFEST]


def vulnerable() -> list[Entry]:
    """The entries a scan must report."""
    return [entry for entry in MANIFEST if entry.vulnerable]
