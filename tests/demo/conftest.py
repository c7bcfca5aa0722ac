"""Fixtures of the demo tests: the shop on a loopback port (in a thread of its own, so any test's
event loop can talk to it) and a recording of the functional suite against it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lunge.demo import SuiteResult, ThreadedDemoServer, run_suite, start_in_thread
from lunge.demo.manifest import Entry
from lunge.http import Request, parse
from tests.demo.wire import RecordingProxy
from tests.fixtures.servers import wait_for_port


@dataclass(frozen=True, slots=True)
class Recording:
    """The suite's result and the requests the recording proxy saw, in order."""

    result: SuiteResult
    requests: tuple[Request, ...]

    def baseline(self, method: str, path: str) -> Request:
        """The first recorded request with this method and path (the query string left out)."""
        for request in self.requests:
            if request.method == method and request.path == path:
                return request
        raise LookupError(f"the suite sent no {method} {path}")

    def of(self, entry: Entry) -> Request:
        """The first recorded request of the entry's endpoint that has its point (one URL may
        carry many operations: a GraphQL endpoint)."""
        for request in self.requests:
            if request.method == entry.method and request.path == entry.path and parse(request).get(entry.point):
                return request
        return self.baseline(entry.method, entry.path)


@pytest.fixture(scope="module")
def shop() -> Iterator[ThreadedDemoServer]:
    """The demo shop on a free port of 127.0.0.1, ready."""
    with start_in_thread() as server:
        wait_for_port(server.port)
        yield server


def record(url: str) -> Recording:
    async def main() -> Recording:
        async with RecordingProxy() as proxy:
            result = await run_suite(url, proxy=proxy.url)
        return Recording(result, tuple(proxy.requests))

    return asyncio.run(main())


@pytest.fixture(scope="module")
def recording(shop: ThreadedDemoServer) -> Recording:
    """The functional suite, run once through a recording proxy."""
    return record(shop.url)
