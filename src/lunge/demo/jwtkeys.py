"""JSON Web Tokens whose key the token itself chooses: a key id, and an algorithm.

- ``POST /api/keyring/token`` (JSON ``{"username", "password"}``): an HS256 token whose header names
  its key, ``"kid": "2024-main"``. ``GET /api/keyring/notes`` reads the key from the file the
  ``kid`` names inside the shop's ``keys`` directory, joined without normalisation: a ``kid`` of
  ``../../../../dev/null`` makes the key empty, and a token signed with the empty key verifies.
  Twin ``GET /safe/api/keyring/notes``: the ``kid`` is looked up in a fixed table.
- ``POST /api/rs/token``: an RS256 token; the shop publishes its public key as a JWK Set at
  ``GET /.well-known/jwks.json``. ``GET /api/rs/notes`` verifies with "the key" and the algorithm
  the token names: for ``HS256`` the key is the public key's PEM file, used as an HMAC secret
  (CVE-2015-9235's mistake), so anyone holding the public key signs tokens. Twin
  ``GET /safe/api/rs/notes``: RS256 only.

The RSA key is fixed (generated once for this demo; never use it elsewhere): RS256 is computed here
with ``pow`` over PKCS#1 v1.5 (RFC 8017 8.2), so the demo needs no cryptography package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from lunge.demo.auth import b64url, b64url_decode, bearer, sign_in_json
from lunge.demo.pages import json_response
from lunge.demo.state import Handler

KEYS_DIR = web.AppKey("jwt_keys", Path)
KID = "2024-main"
NOTES = {"alice": ["Rotate the signing keys"], "bob": ["Order more tea"]}

N = int(
    "ba49bb0ca511630cac684f8670aa19e5c63de5dd4721dfcd684befb70bd98cd213fd149a74148cfd1ec6372e4af1491e"
    "f962a8a7721c940946359e4e43f29452175ba7d976bfd73aa4878ac26413f1d79360094e6316a8a0a1b0a819c9b470b9"
    "5473ea9698f1b2161a9e10aa6a3f197fb414eebd33971e5721215033a304caf0b217e0c66a1417e6871c29c856a0feca"
    "3c1f7389d38b88c2f5a0f0f2c4e9483d0493cff5d3a1adf5e099dd7fd9d6711b8f755226b5ad69826c3ddecd97ce3e01"
    "83a22e7320f759ddcf60d93482da211698090bb4da02bcc7ddecb4cd169e70c56a2904086a53075d4d60441abae810e1"
    "72bd01cd2ab8fdf763c1868920a4206b", 16)
D = int(
    "2d93333d5d36fb3e1301f40ec68a7f0a7d6d104b0a078a0ae54ccaa9442f65a9d1b51570d21c62ffdc230f45f694c058"
    "6117d77e1bc74d1a55c07169e16abc09b7683790d6e2094472132d09f0d5065240de7a78607a9f27a95720512acd47d4"
    "b78a2266d4a530f6026e1052b8ea9610ed9c3f6a2f7075be483f2fb16a5d164ecfea2c0ca6d0282d080edde2baa53d3e"
    "1d797abce4302514789db188e58c162fc92d7aad791018d8887da4c4f7877e461afa1d8373cec8158927f7b8aa4702be"
    "d53e299d81a8a1390d6a439c528f09b1806fd060fd01ffcdff191b48a9ccf14c683b0b005cc1a6f4fbd08c765271cd88"
    "01f078e14f26f62d6286599690c44bb5", 16)
E = 65537
PUBLIC_PEM = (
    b"-----BEGIN PUBLIC KEY-----\n"
    b"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAukm7DKURYwysaE+GcKoZ\n"
    b"5cY95d1HId/NaEvvtwvZjNIT/RSadBSM/R7GNy5K8Uke+WKop3IclAlGNZ5OQ/KU\n"
    b"Uhdbp9l2v9c6pIeKwmQT8deTYAlOYxaooKGwqBnJtHC5VHPqlpjxshYanhCqaj8Z\n"
    b"f7QU7r0zlx5XISFQM6MEyvCyF+DGahQX5occKchWoP7KPB9zidOLiML1oPDyxOlI\n"
    b"PQSTz/XToa314Jndf9nWcRuPdVImta1pgmw93s2Xzj4Bg6IucyD3Wd3PYNk0gtoh\n"
    b"FpgJC7TaArzH3ey0zRaecMVqKQQIalMHXU1gRBq66BDhcr0BzSq4/fdjwYaJIKQg\n"
    b"awIDAQAB\n"
    b"-----END PUBLIC KEY-----\n"
)
_SHA256_INFO = bytes.fromhex("3031300d060960864801650304020105000420")  # DigestInfo prefix, RFC 8017 9.2
_SIZE = (N.bit_length() + 7) // 8


def write_keys(directory: Path) -> Path:
    """The key files (``directory/<kid>``), created once with a random 256-bit key."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / KID
    if not key.exists():
        key.write_text(secrets.token_hex(32))
    return directory


def _encode(document: dict[str, Any]) -> str:
    return b64url(json.dumps(document, separators=(",", ":")).encode())


def _decode(part: str) -> dict[str, Any] | None:
    try:
        value = json.loads(b64url_decode(part))
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _padded(signing_input: bytes) -> int:
    digest = _SHA256_INFO + hashlib.sha256(signing_input).digest()
    return int.from_bytes(b"\x00\x01" + b"\xff" * (_SIZE - 3 - len(digest)) + b"\x00" + digest, "big")


def rs256_sign(claims: dict[str, Any]) -> str:
    """An RS256 token carrying ``claims``, signed with the demo's private key."""
    head, body = _encode({"alg": "RS256", "typ": "JWT"}), _encode(claims)
    signature = pow(_padded(f"{head}.{body}".encode()), D, N).to_bytes(_SIZE, "big")
    return f"{head}.{body}.{b64url(signature)}"


def _rs256_valid(signing_input: bytes, signature: bytes) -> bool:
    if len(signature) != _SIZE:
        return False
    return pow(int.from_bytes(signature, "big"), E, N) == _padded(signing_input)


def _hs256(key: bytes, signing_input: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def _parts(request: web.Request) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes] | None:
    """(header, claims, signing input, signature) of the request's bearer token."""
    token = bearer(request.headers.get("Authorization"))
    parts = token.split(".") if token else []
    if len(parts) != 3:
        return None
    header, claims = _decode(parts[0]), _decode(parts[1])
    try:
        signature = b64url_decode(parts[2]) if parts[2] else b""
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    except (ValueError, UnicodeEncodeError):
        return None
    if header is None or claims is None:
        return None
    return header, claims, signing_input, signature


def _notes(claims: dict[str, Any] | None) -> web.StreamResponse:
    sub = claims.get("sub") if claims else None
    if not isinstance(sub, str) or sub not in NOTES:
        return json_response({"error": "invalid token"}, 401)
    return json_response({"owner": sub, "notes": NOTES[sub]})


async def _credentials(request: web.Request) -> str | None:
    user = await sign_in_json(request)
    return user[1] if user else None


async def keyring_token(request: web.Request) -> web.StreamResponse:
    """``POST /api/keyring/token``: an HS256 token with ``kid``, signed with that key file's content."""
    user = await _credentials(request)
    if user is None:
        return json_response({"error": "wrong username or password"}, 401)
    key = (request.app[KEYS_DIR] / KID).read_bytes()
    head, body = _encode({"alg": "HS256", "typ": "JWT", "kid": KID}), _encode({"sub": user})
    token = f"{head}.{body}.{b64url(_hs256(key, f'{head}.{body}'.encode()))}"
    return json_response({"token": token, "token_type": "Bearer"})


def keyring_notes(by_path: bool) -> Handler:
    """``GET /api/keyring/notes``: the notes of a token verified with the key its ``kid`` names; the
    vulnerable flavour reads ``keys/<kid>`` as a path, the twin a fixed table."""

    async def handler(request: web.Request) -> web.StreamResponse:
        parts = _parts(request)
        if parts is None or parts[0].get("alg") != "HS256":
            return _notes(None)
        header, claims, signing_input, signature = parts
        kid = str(header.get("kid", ""))
        directory = request.app[KEYS_DIR]
        table = {KID: (directory / KID).read_bytes()}
        key = _read(directory / kid) if by_path else table.get(kid)  # the mistake: kid as a path
        if key is None or not hmac.compare_digest(_hs256(key, signing_input), signature):
            return _notes(None)
        return _notes(claims)

    return handler


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (OSError, ValueError):  # no such file, a directory, a NUL in the name
        return None


async def jwks(request: web.Request) -> web.StreamResponse:
    """``GET /.well-known/jwks.json``: the RS256 public key (RFC 7517)."""
    n = base64.urlsafe_b64encode(N.to_bytes(_SIZE, "big")).decode().rstrip("=")
    return json_response({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "rs-1", "n": n,
                                    "e": "AQAB"}]})


async def rs_token(request: web.Request) -> web.StreamResponse:
    """``POST /api/rs/token``: an RS256 token."""
    user = await _credentials(request)
    if user is None:
        return json_response({"error": "wrong username or password"}, 401)
    return json_response({"token": rs256_sign({"sub": user}), "token_type": "Bearer"})


def rs_notes(pinned: bool) -> Handler:
    """``GET /api/rs/notes``: the notes of an RS256 token; unpinned, an HS256 token is checked with
    the public key's PEM as the HMAC secret (the mistake)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        parts = _parts(request)
        if parts is None:
            return _notes(None)
        header, claims, signing_input, signature = parts
        alg = header.get("alg")
        if alg == "RS256" and _rs256_valid(signing_input, signature):
            return _notes(claims)
        if alg == "HS256" and not pinned and hmac.compare_digest(_hs256(PUBLIC_PEM, signing_input), signature):
            return _notes(claims)
        return _notes(None)

    return handler


def routes() -> list[web.RouteDef]:
    """The key-choosing token endpoints and their twins."""
    return [
        web.post("/api/keyring/token", keyring_token),
        web.get("/api/keyring/notes", keyring_notes(by_path=True)),
        web.get("/safe/api/keyring/notes", keyring_notes(by_path=False)),
        web.get("/.well-known/jwks.json", jwks),
        web.post("/api/rs/token", rs_token),
        web.get("/api/rs/notes", rs_notes(pinned=False)),
        web.get("/safe/api/rs/notes", rs_notes(pinned=True)),
    ]
