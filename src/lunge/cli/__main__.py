"""``python -m lunge.cli``: the same as the ``lunge`` command."""

from lunge.cli import _entry

_entry()
