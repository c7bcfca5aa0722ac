"""``lunge node`` in API mode (``LUNGE_API_URL`` set, no ``CI_MODE``): register with the control
plane, take the runs ordered for this token (and BUILD_ID), test each run's record against the
shared database (``LUNGE_DB``, the control plane's) or, without ``LUNGE_DB``, through the remote
store (:mod:`lunge.store.remote`), and honour an interrupt ordered through the API.

The control plane hands out each run once (compare-and-set in the store); the node heartbeats
every few seconds while testing and learns there whether the run was interrupted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Mapping
from typing import Any

from lunge import aio
from lunge.checks import load
from lunge.engine.runner import Events, RunConfig, RunEngine
from lunge.errors import ConfigError, LungeError
from lunge.node.apiclient import ApiClient
from lunge.node.settings import TestingSettings, api_settings, store_settings, testing_settings
from lunge.policy import BUILTIN, TestPolicy, parse_policy
from lunge.store import open_store
from lunge.store.models import TestRun

logger = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
MAX_BACKOFF_S = 30.0


def run_api_node(flags: Mapping[str, Any] | None = None, *, once: bool = False, poll_s: float = 2.0) -> int:
    """Serve runs until stopped (SIGINT), or, with ``once``, test the first run waiting (none: exit 0).
    Returns the exit code of the last run tested (0 when none)."""
    flags = dict(flags or {})
    api = ApiClient(api_settings(flags))
    settings = testing_settings(flags)
    store_url = store_settings(flags).url
    node = api.call("POST", "/v1/nodes", {"name": socket.gethostname(), "build_id": settings.build_id})
    logger.info("node %s registered with %s%s; waiting for test runs", node["id"], api.base,
                f" for BUILD_ID {settings.build_id}" if settings.build_id else "")
    code, backoff = 0, poll_s
    while True:
        try:
            claimed = api.call("POST", f"/v1/nodes/{node['id']}/claim")
        except ConfigError:
            raise  # refused (token revoked, node gone): waiting will not fix it
        except LungeError as exc:  # the control plane is down or restarting: wait longer each time
            if once:
                raise
            logger.warning("%s; trying again in %.0f s", exc, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        backoff = poll_s
        if claimed:
            code = _test(api, node["id"], int(claimed["id"]), store_url, settings)
            api.call("POST", f"/v1/nodes/{node['id']}/heartbeat", {"state": "idle"})
        if once:
            return code
        if not claimed:
            time.sleep(poll_s)


def _test(api: ApiClient, node_id: int, run_id: int, store_url: str, settings: TestingSettings) -> int:
    store = open_store(store_url)
    try:
        run = store.get_run(run_id)
        if run.state.finished:  # interrupted through the API between the claim and now
            logger.info("TestRun#%s was %s before testing started", run.label, run.state.value)
            return 1
        logger.info("TestRun#%s taken: testing record rec_%04d", run.label, run.record_id)
        registry = load()
        policy = _policy(api, run, set(registry.checks) | registry.kinds)
        order = run.stats.get("order") or {}
        config = RunConfig(policy=policy, checks=tuple(registry.select(policy.checks)), workers=settings.workers,
                           rps=order.get("rps"), target=run.target, verify_tls=settings.verify_tls,
                           stop_on_first_fail=bool(order.get("stop_on_first_fail")))
        engine = RunEngine(store, run, config, Events())
        final = aio.run(_watched(engine, api, node_id, run_id))
        logger.info("TestRun#%s %s: %d findings", final.label, final.state.value, final.findings_count)
        return 0 if final.state.value == "passed" else 1
    finally:
        store.close()


def _policy(api: ApiClient, run: TestRun, known: set[str]) -> TestPolicy:
    """The run's policy: the project's stored one (fetched from the API), else the built-in of its name."""
    policy_id = (run.stats.get("order") or {}).get("policy_id")
    if policy_id is None:
        return BUILTIN.get(run.policy_name, BUILTIN["default"])
    stored = api.call("GET", f"/v1/test_policy/{policy_id}")
    return parse_policy(stored["source"], f"policy {policy_id}", known)


async def _watched(engine: RunEngine, api: ApiClient, node_id: int, run_id: int) -> TestRun:
    """Run the engine while heartbeating; an interrupt ordered through the API stops it."""

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                answer = await asyncio.to_thread(api.call, "POST", f"/v1/nodes/{node_id}/heartbeat",
                                                 {"state": "testing", "run_id": run_id})
            except LungeError as exc:  # the control plane is down: keep testing, try again
                logger.warning("heartbeat failed: %s", exc)
                continue
            if answer.get("run_state") == "interrupted":
                logger.info("TestRun#run_%04d interrupted through the control plane", run_id)
                engine.interrupt()
                return

    async with asyncio.TaskGroup() as group:
        beating = group.create_task(heartbeat())
        try:
            return await engine.execute()
        finally:
            beating.cancel()
