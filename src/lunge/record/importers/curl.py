"""A file of curl command lines (pasted from a browser's "Copy as cURL", a README or a script)
into baselines.

Commands are separated by line ends; a command goes on over a line that ends with a backslash
or while a quote is open (a JSON body written over several lines). Blank lines and ``#``
comments between commands are ignored. Errors name the line where the command starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from lunge.errors import MessageError
from lunge.http.curl import parse_curl_command
from lunge.record.importers.build import parse_base_url
from lunge.record.importers.doc import input_error
from lunge.record.importers.model import Imported, Item


def read_curl(text: str, source: str, *, base_url: str | None = None,
              variables: Mapping[str, str] | None = None) -> Iterator[Item]:
    """One request per curl command in ``text``; ``base_url`` rewrites their origin, ``variables``
    are unused. Raises InputFileError (``line 12``: what is wrong)."""
    base = parse_base_url(base_url)
    for line, command in split_commands(text):
        where = f"line {line}"
        try:
            parsed = parse_curl_command(command)
            request = parsed.request if base is None else base.move(parsed.request)
        except MessageError as exc:
            raise input_error(source, where, str(exc)) from exc
        yield Imported(request, None, "; ".join(parsed.notes), where)


def split_commands(text: str) -> Iterator[tuple[int, str]]:
    r"""(first line number, command text) for each command of a file.

    >>> list(split_commands("# login\ncurl -d 'a\n=1' x \\\n  -k\n\ncurl y\n"))
    [(2, "curl -d 'a\n=1' x \\\n  -k"), (6, 'curl y')]
    """
    lines = text.lstrip("\ufeff").splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        state: str | None = None
        while True:
            state, more = _scan(lines[i], state)
            if not more or i + 1 >= len(lines):
                break
            i += 1
        yield start + 1, "\n".join(lines[start : i + 1])
        i += 1


def _scan(line: str, state: str | None) -> tuple[str | None, bool]:
    """The quoting state at the end of ``line`` (None, or the open quote: ``'``, ``"``, ``$'``)
    and whether the command goes on to the next line."""
    i = 0
    word_start = True
    while i < len(line):
        ch = line[i]
        if state is None:
            if ch == "\\":
                if i == len(line) - 1:
                    return None, True
                i += 1
            elif ch == "#" and word_start:
                return None, False
            elif ch == "$" and line.startswith("$'", i):
                state = "$'"
                i += 1
            elif ch in ("'", '"'):
                state = ch
            word_start = ch in " \t"
        elif ch == "\\" and state != "'":
            i += 1
        elif ch == state[-1]:
            state = None
        i += 1
    return state, state is not None
