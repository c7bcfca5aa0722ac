"""Baseline sources: the recording proxy (mitmproxy as a library, with lunge's addon), the
importers (HAR, OpenAPI, Postman, curl) and the scope filters (allowed hosts, excluded extensions,
de-duplication).

The recording proxy, one module per concern: :mod:`.proxy` (mitmproxy in lunge's event loop,
forward or reverse mode), :mod:`.addon` (the addon: what becomes a baseline, the CA download, the
durability promise "answered ⇒ stored"), :mod:`.translate` (mitmproxy flows to lunge requests,
responses and baselines), :mod:`.scope` (``ALLOWED_HOSTS``, ``FILE_EXTENSIONS_TO_EXCLUDE``),
:mod:`.dedup`, :mod:`.ca` (the interception CA), :mod:`.stats` (what a session counted),
:mod:`.listen` (can the proxy listen there?) and :mod:`.compat` (mitmproxy workarounds). The
session around them (settings, signals, inactivity, closing the record) is
:mod:`lunge.node.recording`.

May import: ``http``, ``store``.
"""

from __future__ import annotations
