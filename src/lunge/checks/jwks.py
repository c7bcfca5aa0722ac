"""RSA public keys an application publishes (a JWK Set, a PEM block), in the forms it may use them.

The ``jwt`` check's algorithm confusion (RS256 → HS256, CVE-2015-9235 and its kin; jwt_tool's
``-X k``, PortSwigger's "algorithm confusion" labs) signs an HS256 token with the *bytes of the
public key file* as the HMAC secret: a library that verifies with "the key" and the token's own
``alg`` then accepts it. Which bytes the server holds is not known, so both common PEM
serialisations are tried: X.509 SubjectPublicKeyInfo (``BEGIN PUBLIC KEY``, what OpenSSL and most
libraries write) and PKCS#1 (``BEGIN RSA PUBLIC KEY``), each with its trailing newline.

Only the standard library: the DER of an RSA public key is two integers in two sequences
(RFC 8017 A.1.1, RFC 5280 4.1.2.7), small enough to encode and read here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

_RSA_OID = bytes.fromhex("06092a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption
_NULL = b"\x05\x00"
_PEM = re.compile(r"-----BEGIN (RSA )?PUBLIC KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1?PUBLIC KEY-----")
# JWK Set documents and OpenID provider metadata live here (RFC 8414, OpenID Connect Discovery 1.0).
JWKS_PATHS = ("/.well-known/jwks.json", "/jwks.json")
OPENID_CONFIGURATION = "/.well-known/openid-configuration"


@dataclass(frozen=True, slots=True)
class RsaKey:
    """An RSA public key: modulus ``n`` and exponent ``e``."""

    n: int
    e: int

    def pkcs1_der(self) -> bytes:
        return _tlv(0x30, _integer(self.n) + _integer(self.e))

    def spki_der(self) -> bytes:
        algorithm = _tlv(0x30, _RSA_OID + _NULL)
        return _tlv(0x30, algorithm + _tlv(0x03, b"\x00" + self.pkcs1_der()))

    def pems(self) -> tuple[tuple[str, bytes], ...]:
        """(name, file bytes) of the serialisations a server may hold.

        >>> [name for name, _ in RsaKey(65537, 3).pems()]
        ['spki-pem', 'pkcs1-pem']
        """
        return (("spki-pem", _pem("PUBLIC KEY", self.spki_der())),
                ("pkcs1-pem", _pem("RSA PUBLIC KEY", self.pkcs1_der())))


def _pem(label: str, der: bytes) -> bytes:
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""]).encode("ascii")


def _integer(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")  # a leading 0 keeps it positive
    return _tlv(0x02, body)


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes((tag, size)) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + body


def _read(der: bytes, at: int = 0) -> tuple[int, bytes, int]:
    """(tag, body, end) of the DER element starting at ``at``; ValueError when it does not fit."""
    if at + 2 > len(der):
        raise ValueError("truncated")
    tag, size, at = der[at], der[at + 1], at + 2
    if size & 0x80:
        count = size & 0x7F
        if count == 0 or at + count > len(der):
            raise ValueError("bad length")
        size, at = int.from_bytes(der[at:at + count], "big"), at + count
    if at + size > len(der):
        raise ValueError("truncated")
    return tag, der[at:at + size], at + size


def _elements(body: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at < len(body):
        tag, inner, at = _read(body, at)
        out.append((tag, inner))
    return out


def from_der(der: bytes) -> RsaKey | None:
    """The key of a PKCS#1 or SubjectPublicKeyInfo DER document, else None."""
    try:
        tag, body, _ = _read(der)
        parts = _elements(body) if tag == 0x30 else []
        if [t for t, _ in parts] == [0x02, 0x02]:
            return RsaKey(int.from_bytes(parts[0][1], "big"), int.from_bytes(parts[1][1], "big"))
        if [t for t, _ in parts] == [0x30, 0x03] and parts[0][1].startswith(_RSA_OID) and parts[1][1][:1] == b"\0":
            return from_der(parts[1][1][1:])
    except ValueError:
        return None
    return None


def from_pem_text(text: str) -> list[RsaKey]:
    """The RSA public keys of the PEM blocks in ``text`` (a page or a JSON string may carry one)."""
    keys = []
    for match in _PEM.finditer(text.replace("\\n", "\n")):
        try:
            der = base64.b64decode("".join(match.group(2).split()), validate=True)
        except binascii.Error:
            continue
        key = from_der(der)
        if key is not None and key not in keys:
            keys.append(key)
    return keys


def _uint(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big") if raw else None


def from_jwks(text: str) -> list[RsaKey]:
    """The RSA keys (``kty: RSA``) of a JWK Set document, or of a single JWK (RFC 7517, 7518 6.3.1).

    >>> from_jwks('{"keys": [{"kty": "RSA", "n": "AQAB", "e": "Aw"}, {"kty": "EC"}]}')
    [RsaKey(n=65537, e=3)]
    """
    try:
        document = json.loads(text)
    except ValueError:
        return []
    jwks = document.get("keys", [document]) if isinstance(document, dict) else []
    keys = []
    for jwk in jwks if isinstance(jwks, list) else []:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA":
            continue
        n, e = _uint(jwk.get("n")), _uint(jwk.get("e"))
        if n is not None and e is not None and RsaKey(n, e) not in keys:
            keys.append(RsaKey(n, e))
    return keys


def jwks_uri(text: str) -> str | None:
    """The ``jwks_uri`` of an OpenID provider's metadata document, else None."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    uri = document.get("jwks_uri") if isinstance(document, dict) else None
    return uri if isinstance(uri, str) and uri else None
