"""Structural views of a response, for endpoints whose text is unstable but whose structure is not:
the tag skeleton of an HTML page, and an order-independent projection of a JSON body (one
``path=value`` line per leaf, arrays as multisets) without the paths whose values vary.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from lunge.checks.dynamic import DYNAMIC_MARK, DYNAMIC_TOKENS
from lunge.checks.reflections import strip_reflections

_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w:-]*)([^>]*)>")
_CLASS_OR_ID = re.compile(r"""\b(class|id)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def skeleton(text: str) -> str:
    """The tag skeleton of an HTML text: one line per tag with its classes and id (sqlmap's
    structural tokens), text content left out.

    >>> skeleton('<div class="b a" id=x>hello <b>you</b></div>')
    '<div.a.b#x>\\n<b>\\n</b>\\n</div>'
    """
    return "\n".join(_tag_token(m) for m in _TAG.finditer(text))


def _tag_token(match: re.Match[str]) -> str:
    closing, name, attributes = match.groups()
    token = f"<{closing}{name.lower()}"
    for attr in _CLASS_OR_ID.finditer(attributes):
        value = attr.group(2) or attr.group(3) or attr.group(4) or ""
        if attr.group(1).lower() == "class":
            token += "".join(f".{c}" for c in sorted(value.split()))
        else:
            token += f"#{value}"
    return token + ">"


def parse_json(text: str | None) -> Any:
    if not text or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def project(document: Any, reflections: Sequence[str], excluded: frozenset[str], path: str = "$") -> list[str]:
    """One ``path=value`` line per leaf; list items share the path ``[]`` (order-independent)."""
    if isinstance(document, dict):
        if not document:
            return [f"{path}={{}}"]
        lines: list[str] = []
        for key, value in document.items():
            lines.extend(project(value, reflections, excluded, f"{path}.{key}"))
        return lines
    if isinstance(document, list):
        if not document:
            return [f"{path}=[]"]
        return [line for item in document for line in project(item, reflections, excluded, f"{path}[]")]
    if path in excluded:
        return []
    if isinstance(document, str):
        value = DYNAMIC_TOKENS.sub(DYNAMIC_MARK, strip_reflections(document, reflections))
        return [f"{path}={json.dumps(value)}"]
    return [f"{path}={json.dumps(document)}"]


def varying_paths(projections: list[list[str]]) -> frozenset[str]:
    """Leaf paths whose multiset of values is not the same in every projection."""
    per_sample: list[dict[str, Counter[str]]] = []
    for lines in projections:
        values: dict[str, Counter[str]] = {}
        for line in lines:
            path, _, value = line.partition("=")
            values.setdefault(path, Counter())[value] += 1
        per_sample.append(values)
    paths = {p for sample in per_sample for p in sample}
    return frozenset(p for p in paths if any(s.get(p) != per_sample[0].get(p) for s in per_sample[1:]))


__all__ = ["parse_json", "project", "skeleton", "varying_paths"]
