"""Names and recorded data on the console, safely: a run name, a URL or a reflected payload may hold
control characters (ESC sequences recolour or clear a terminal, CR rewrites a line, LF forges one),
bidirectional overrides, or rich markup (``[/]`` would even crash the print).

:func:`shown` is for a value put into a line or a table cell: every control escaped with
:func:`lunge.logs.escape_controls` (the helper the logs and JSON documents use) and markup brackets
escaped. :class:`SafeConsole` is the net under it: whatever string it renders has its controls
escaped, line breaks aside (its callers lay lines out with them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from lunge.logs import escape_controls

if TYPE_CHECKING:
    from rich.console import HighlighterType, JustifyMethod, OverflowMethod
    from rich.style import Style
    from rich.text import Text


def shown(value: object) -> str:
    """``value`` as text for a rich line or cell: controls escaped, markup inert.

    >>> shown("[/]evil\\x1b[2J\\nname")
    '\\\\[/]evil\\\\u001b[2J\\\\nname'
    """
    return escape(escape_controls(str(value)))


class SafeConsole(Console):
    """A rich console whose every rendered string has its control characters escaped (but ``\\n``)."""

    def render_str(self, text: str, *, style: str | Style = "", justify: JustifyMethod | None = None,
                   overflow: OverflowMethod | None = None, emoji: bool | None = None, markup: bool | None = None,
                   highlight: bool | None = None, highlighter: HighlighterType | None = None) -> Text:
        return super().render_str(escape_controls(text, keep="\n"), style=style, justify=justify, overflow=overflow,
                                  emoji=emoji, markup=markup, highlight=highlight, highlighter=highlighter)
