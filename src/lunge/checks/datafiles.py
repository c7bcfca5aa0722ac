"""Loading the payload and signature tables shipped in ``lunge/checks/data/``.

Each table is YAML with named fields, validated against the frozen dataclasses its check declares
(pydantic validates straight into stdlib dataclasses, so the schema *is* the domain type; classes
marked with :func:`schema` refuse unknown fields, so a misspelt field is an error, not a silently
ignored row). A table that does not match its schema is a bug in lunge, raised as
:class:`~lunge.errors.CheckError` when the check module is imported, so the registry reports the
check as failed to load.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError

from lunge.errors import CheckError

_STRICT = ConfigDict(extra="forbid")


def schema[C](cls: type[C]) -> type[C]:
    """Mark a dataclass as (part of) a table's schema: fields not declared on it are refused."""
    cls.__pydantic_config__ = _STRICT  # type: ignore[attr-defined]
    return cls


# libyaml's loader where PyYAML was built with it: the checks' tables load about 10x faster.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> object:
    """``yaml.safe_load`` through libyaml where available."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader, C or Python


def load[T](name: str, table: type[T]) -> T:
    """The table ``data/<name>`` validated as ``table`` (a :func:`schema` dataclass)."""
    return parse(f"lunge/checks/data/{name}", _read(name), table)


def parse[T](where: str, text: str, table: type[T]) -> T:
    """YAML ``text`` validated as ``table``; ``where`` names it in the error.

    >>> parse("t.yaml", "{a: 1}", dict)
    {'a': 1}
    """
    try:
        document = safe_load(text)
        return TypeAdapter(table).validate_python(document)
    except yaml.YAMLError as exc:
        raise CheckError(f"{where}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CheckError(f"{where}: {problems}") from exc


def pattern(name: str, regex: str, flags: int = 0) -> re.Pattern[str]:
    """``regex`` from table ``data/<name>`` compiled; a bad expression is a :class:`CheckError`."""
    try:
        return re.compile(regex, flags)
    except re.error as exc:
        raise CheckError(f"lunge/checks/data/{name}: bad regular expression {regex!r}: {exc}") from exc


@cache
def _read(name: str) -> str:
    return files("lunge.checks").joinpath("data", name).read_text(encoding="utf-8")
