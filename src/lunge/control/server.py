"""``lunge serve``: open (and migrate) the database, then run the API on uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import logging

import uvicorn

from lunge.control.app import create_app
from lunge.control.config import ControlConfig
from lunge.control.context import Verdict, open_control

logger = logging.getLogger(__name__)


def serve(config: ControlConfig, verdict: Verdict | None = None) -> None:
    """Serve until stopped. Migrations run first, so a new lunge upgrades the schema on start.
    ``verdict``: how a run tested in shards ends (the engine's rule), for brokering shards."""
    control = open_control(config, verdict)
    if not config.admin_token:
        logger.info("no LUNGE_ADMIN_TOKEN: the admin API is off; create tokens with lunge token create")
    logger.info("lunge control plane on http://%s:%d/v1 (docs: /v1/docs), database %s",
                config.bind, config.port, control.store.db.label)
    app = create_app(control, close_on_shutdown=True)
    uvicorn.run(app, host=config.bind, port=config.port, log_level="warning", access_log=False,
                server_header=False, proxy_headers=False)
