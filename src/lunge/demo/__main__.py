"""``python -m lunge.demo [serve] [--port N]`` serves the demo shop on 127.0.0.1 until interrupted;
``python -m lunge.demo suite URL [--proxy URL]`` runs the functional suite against it (exit 1 on a
failed expectation)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from lunge.demo.app import start
from lunge.demo.suite import run_suite

logger = logging.getLogger("lunge.demo")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lunge.demo",
                                     description="lunge's deliberately vulnerable demo shop")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="serve the shop on 127.0.0.1 (the default)")
    serve.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free port; default 8000)")
    serve.add_argument("--resolver", type=_address, default=None,
                       help="DNS server (HOST:PORT) that resolves names in URLs the shop fetches (default: none)")
    suite = commands.add_parser("suite", help="run the functional test suite against a running shop")
    suite.add_argument("url", help="the shop, e.g. http://127.0.0.1:8000")
    suite.add_argument("--proxy", help="send every request through this HTTP proxy, e.g. http://127.0.0.1:8080")
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv if argv is not None else sys.argv[1:])])
    return args


def _address(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


async def _serve(port: int, resolver: tuple[str, int] | None = None) -> None:
    server = await start(port, access_log=True, resolver=resolver)
    logger.info("serving the demo shop at %s (Ctrl-C stops it)", server.url)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


async def _suite(url: str, proxy: str | None) -> int:
    result = await run_suite(url, proxy)
    for failure in result.failures:
        logger.error("%s", failure)
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        if args.command == "suite":
            return asyncio.run(_suite(args.url, args.proxy))
        asyncio.run(_serve(args.port, args.resolver))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        logger.error("cannot serve on 127.0.0.1:%s: %s", args.port, exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
