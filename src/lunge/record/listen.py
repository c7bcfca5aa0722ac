"""Can the proxy listen where it is told to? Checked before anything is created, so a port in use
or a wrong address is one SettingError line (exit 2) and leaves no test record behind.

Kept apart from :mod:`lunge.record.proxy` so the check costs no mitmproxy import.
"""

from __future__ import annotations

import errno
import socket

from lunge.errors import SettingError


def check_listen(bind: str, port: int) -> None:
    """Fail early, with the setting to blame, when ``bind:port`` cannot be listened on.

    The probe binds the way asyncio's server does (SO_REUSEADDR), so a port in TIME_WAIT passes and
    only a port another process listens on fails."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(bind or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise SettingError("LUNGE_PROXY_BIND", bind, "an IP address or host name of this machine") from exc
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise listen_error(bind, port, exc) from exc


def listen_error(bind: str, port: int, error: BaseException | None) -> SettingError:
    """The SettingError for a failed listen on ``bind:port``; the errno says which setting to blame."""
    code = getattr(error, "errno", None)
    if code == errno.EADDRINUSE:
        return SettingError("PROXY_PORT", port, f"a free TCP port (something already listens on {bind}:{port})")
    if code in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return SettingError("LUNGE_PROXY_BIND", bind, "an IP address of this machine")
    if code == errno.EACCES:
        return SettingError("PROXY_PORT", port, "a port this user may listen on (1024-65535 without privileges)")
    return SettingError("PROXY_PORT", port, f"a port the proxy can listen on ({error})")
