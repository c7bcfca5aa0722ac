"""A finding's evidence as the human reports show it: the curl line that reproduces the attack,
the response excerpt split around its proof, and secrets masked once more.

The store keeps the attack request with secrets already masked (the engine does it, leaving the
attacked value visible); :func:`masked` runs lunge's log filter over every other text a report
prints (response excerpts, controls, URLs), so a report never shows a credential the logs would hide.
"""

from __future__ import annotations

import shlex
from urllib.parse import urlsplit

from lunge.logs import mask_secrets
from lunge.store.models import Finding

# Headers curl computes itself; copying them would be wrong once the line is edited.
_CURL_SKIPS = frozenset({"content-length", "host", "connection", "transfer-encoding"})


def masked(text: str) -> str:
    """``text`` with credentials replaced by ``****`` (the log filter's rules)."""
    return mask_secrets(text)


def attack_url(finding: Finding) -> str:
    """Where the attack went: its origin (as sent, TEST_RUN_URI included) and request target."""
    proven_at = str(finding.details.get("proven_at") or "")
    _, _, sent_url = proven_at.partition(" ")
    origin = urlsplit(sent_url if "://" in sent_url else finding.url)
    first_line = finding.attack_request.split("\r\n", 1)[0].split("\n", 1)[0]
    parts = first_line.split(" ")
    target = parts[1] if len(parts) >= 2 and parts[1].startswith("/") else (origin.path or "/")
    return f"{origin.scheme}://{origin.netloc}{target}"


def curl_line(finding: Finding) -> str:
    """A curl command that sends the attack again (secrets stay masked as ``****``).

    ``--path-as-is`` keeps ``../`` in the path and ``-g`` keeps ``[]{}`` literal: both are
    payload characters that curl would otherwise rewrite.

    >>> f = Finding(1, 1, "sqli", "SQLi", "high", 89, "firm", "POST", "http://app/login", "POST_id_value", "1'",
    ...             "POST /login HTTP/1.1\\r\\nHost: app\\r\\nContent-Type: application/x-www-form-urlencoded\\r\\n"
    ...             "Content-Length: 4\\r\\n\\r\\nid=1'", 500, "", "", "", "fp")
    >>> print(curl_line(f))
    curl --path-as-is -g -X POST http://app/login -H 'Content-Type: application/x-www-form-urlencoded' \
--data-raw 'id=1'"'"''
    """
    head, _, body = finding.attack_request.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    method = lines[0].split(" ", 1)[0] or finding.method
    words = ["curl", "--path-as-is", "-g", "-X", method, shlex.quote(attack_url(finding))]
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if name.strip().lower() == "accept-encoding":
            words.append("--compressed")  # curl decodes what it asks for; the raw header would print bytes
        elif colon and name.strip().lower() not in _CURL_SKIPS:
            words += ["-H", shlex.quote(f"{name.strip()}: {value.strip()}")]
    if body:
        words += ["--data-raw", shlex.quote(body)]
    return " ".join(words)


def split_proof(excerpt: str, proof: str) -> tuple[str, str, str]:
    """``excerpt`` as (before, proof, after) around the proof's first occurrence, for highlighting;
    (excerpt, "", "") when the proof is not in it.

    >>> split_proof("a<b>c", "<b>")
    ('a', '<b>', 'c')
    """
    at = excerpt.find(proof) if proof else -1
    if at < 0:
        return excerpt, "", ""
    return excerpt[:at], proof, excerpt[at + len(proof):]
