"""Where the command line writes: the consoles (stdout, stderr) and the one JSON document of a
``--json`` command."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from lunge.logs import escape_controls
from lunge.node.display import SafeConsole

# CI logs are not terminals: rich would wrap tables at 80 columns there.
# Safe: names and recorded data never reach the terminal with their control characters.
console = SafeConsole(width=None if sys.stdout.isatty() else 160)
err_console = SafeConsole(stderr=True, width=None if sys.stderr.isatty() else 160)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]


def print_json(document: Any) -> None:
    """The single JSON document of a ``--json`` command, on stdout."""
    # Controls and bidirectional overrides as JSON escapes: the same values, none raw in a terminal.
    sys.stdout.write(escape_controls(json.dumps(document, indent=2, default=str, ensure_ascii=False), keep="\n") + "\n")


__all__ = ["JsonFlag", "console", "err_console", "print_json"]
