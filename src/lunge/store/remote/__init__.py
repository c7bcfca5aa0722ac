"""The remote store: the store interface over the control plane's HTTP API, with a local spool.

A node configured with ``LUNGE_API_URL`` and ``LUNGE_API_TOKEN`` and no ``LUNGE_DB`` keeps its
records, runs and findings in the control plane through :class:`RemoteStore`; code above the
store cannot tell. Its URL, as :func:`lunge.store.open_store` takes it, is
``lunge+http://lunge:TOKEN@HOST:PORT[/PREFIX]?spool=DIR`` (``lunge+https`` likewise): the settings
build it (:func:`lunge.node.settings.store_settings`), and it is never shown with its token.

May import: :mod:`lunge.http`, :mod:`lunge.store.models`, :mod:`lunge.errors`.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from lunge.errors import StoreUnavailableError
from lunge.store.remote.http import Client, Rejected, Unreachable
from lunge.store.remote.store import RemoteStore

__all__ = ["RemoteStore", "is_remote_url", "open_remote", "remote_url"]

SCHEMES = ("lunge+http", "lunge+https")


def is_remote_url(url: str) -> bool:
    return url.split("://", 1)[0] in SCHEMES


def remote_url(api_url: str, token: str, spool: Path) -> str:
    """The store URL of a control plane at ``api_url`` reached with ``token``, spooling in ``spool``."""
    parts = urllib.parse.urlsplit(api_url)
    credentials = "lunge:" + urllib.parse.quote(token, safe="")
    query = urllib.parse.urlencode({"spool": str(spool)})
    return urllib.parse.urlunsplit((f"lunge+{parts.scheme}", f"{credentials}@{parts.netloc}", parts.path, query, ""))


def open_remote(url: str) -> RemoteStore:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.removeprefix("lunge+")
    token = urllib.parse.unquote(parts.password or "")
    host = parts.netloc.rpartition("@")[2]
    query = urllib.parse.parse_qs(parts.query)
    spool = Path(query.get("spool", ["spool"])[0])
    patience = float(query.get("patience", ["120"])[0])
    base = f"{scheme}://{host}{parts.path}"
    _check_token(base, token)
    return RemoteStore(base, token, spool, patience=patience)


def _check_token(base: str, token: str) -> None:
    """A token the control plane refuses is bad input, said at start (exit 2), not after minutes of
    retrying. An unreachable control plane is not: the node records into its spool meanwhile."""
    client = Client(base, token, timeout=10)
    try:
        client.call("GET", "/v1/store/records", query={"limit": 1})
    except Rejected as exc:
        raise StoreUnavailableError(f"LUNGE_API_URL: {client.label} refused the store's requests ({exc}); "
                                    "is it a lunge control plane, and LUNGE_API_TOKEN a project token?") from exc
    except Unreachable as exc:
        if exc.status == 401:
            raise StoreUnavailableError(f"LUNGE_API_TOKEN: {client.label} does not know this token "
                                        "(revoked, or another control plane's); lunge token create makes one") from exc
    finally:
        client.drop()
