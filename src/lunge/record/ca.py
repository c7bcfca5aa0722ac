"""The certificate authority that signs the proxy's per-host certificates for HTTPS interception.

Either lunge generates one on first start (``<data_dir>/ca``, kept across runs so clients trust it
once) or the user supplies one (``LUNGE_CA_CERT``/``LUNGE_CA_KEY``, FAST's ``CA_CERT``/``CA_KEY``):
a root or intermediate CA as PEM files, validated here, then laid out as the *confdir* mitmproxy
expects (``mitmproxy-ca.pem`` holding the key and the certificate chain).

Clients download the certificate through the proxy (``http://lunge.ca/cert.pem`` or ``.der``), or
read it from the path ``lunge ca`` prints.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from mitmproxy.certs import CertStore
from mitmproxy.options import CONF_BASENAME

from lunge.errors import SettingError

logger = logging.getLogger(__name__)

CA_ORGANIZATION = "lunge"
CA_COMMON_NAME = "lunge CA"
KEY_SIZE = 2048
CA_FILE = f"{CONF_BASENAME}-ca.pem"  # key + certificate chain: what mitmproxy reads
CERT_FILE = f"{CONF_BASENAME}-ca-cert.pem"  # the certificate alone: what clients trust
DER_FILE = "lunge-ca-cert.der"


@dataclass(frozen=True, slots=True)
class CaFiles:
    """Where the CA lives and what it is."""

    confdir: Path  # handed to mitmproxy as its ``confdir``
    cert_pem: Path  # the certificate clients must trust (PEM)
    cert_der: Path  # the same certificate, DER
    key_pem: Path  # the private key (inside the confdir for a generated CA; the user's file if supplied)
    supplied: bool
    subject: str
    sha256: str  # fingerprint of the certificate, hex
    not_after: datetime.datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "cert_pem": str(self.cert_pem),
            "cert_der": str(self.cert_der),
            "key_pem": str(self.key_pem),
            "confdir": str(self.confdir),
            "supplied": self.supplied,
            "subject": self.subject,
            "sha256": self.sha256,
            "not_after": self.not_after.isoformat(),
        }


def prepare_ca(data_dir: Path, cert: Path | None = None, key: Path | None = None) -> CaFiles:
    """The CA to intercept with: the supplied one when ``cert`` and ``key`` are given (validated;
    SettingError naming LUNGE_CA_CERT or LUNGE_CA_KEY otherwise), else lunge's own, created in
    ``data_dir/ca`` if absent."""
    if cert is not None and key is not None:
        return supplied_ca(cert, key, data_dir / "ca-supplied")
    return generated_ca(data_dir / "ca")


# ---------------------------------------------------------------------- generated
def generated_ca(confdir: Path) -> CaFiles:
    """lunge's own CA in ``confdir``, created on first use.

    Creation happens in a temporary sibling directory that is then renamed into place, so two
    nodes starting at once on one data directory never see a half-written CA."""
    if not (confdir / CA_FILE).exists():
        _create_atomically(confdir)
    certificate = _read_certificates(confdir / CERT_FILE, "LUNGE_DATA_DIR")[0]
    der = confdir / DER_FILE
    if not der.exists():
        _write_private(der, certificate.public_bytes(serialization.Encoding.DER), mode=0o644)
    return _describe(confdir, confdir / CERT_FILE, der, confdir / CA_FILE, certificate, supplied=False)


def _create_atomically(confdir: Path) -> None:
    confdir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data directory: lunge's only
    staging = Path(tempfile.mkdtemp(prefix=".ca-", dir=confdir.parent))
    try:
        CertStore.create_store(staging, CONF_BASENAME, KEY_SIZE, organization=CA_ORGANIZATION, cn=CA_COMMON_NAME)
        if confdir.exists() and not any(confdir.iterdir()):
            confdir.rmdir()  # an empty directory left by a user: take its place
        try:
            staging.rename(confdir)
        except OSError:
            if not (confdir / CA_FILE).exists():
                raise  # not a lost race: a real failure
            logger.debug("another lunge created the CA in %s first", confdir)
            return
        logger.info("created a new CA in %s (clients must trust %s)", confdir, confdir / CERT_FILE)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------- supplied
def supplied_ca(cert: Path, key: Path, workdir: Path) -> CaFiles:
    """Validate a user's CA and lay it out as a mitmproxy confdir under ``workdir``."""
    chain = _read_certificates(cert, "LUNGE_CA_CERT")
    private_key = _read_key(key)
    _check_pair(chain[0], private_key, cert, key)
    fingerprint = chain[0].fingerprint(_sha256()).hex()
    confdir = workdir / fingerprint[:16]
    confdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_bytes = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
    certs_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    _write_private(confdir / CA_FILE, key_bytes + certs_pem, mode=0o600)
    _write_private(confdir / CERT_FILE, chain[0].public_bytes(serialization.Encoding.PEM), mode=0o644)
    _write_private(confdir / DER_FILE, chain[0].public_bytes(serialization.Encoding.DER), mode=0o644)
    return _describe(confdir, cert, confdir / DER_FILE, key, chain[0], supplied=True)


def _read_certificates(path: Path, variable: str) -> list[x509.Certificate]:
    allowed = "a readable PEM file holding the CA certificate (root or intermediate)"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SettingError(variable, str(path), f"{allowed}; cannot read it: {exc.strerror}") from exc
    try:
        return x509.load_pem_x509_certificates(raw)
    except ValueError as exc:
        raise SettingError(variable, str(path), f"{allowed}; no PEM certificate in it") from exc


def _read_key(path: Path) -> PrivateKeyTypes:
    allowed = "a readable, unencrypted PEM private key of the CA certificate"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SettingError("LUNGE_CA_KEY", str(path), f"{allowed}; cannot read it: {exc.strerror}") from exc
    try:
        return serialization.load_pem_private_key(raw, password=None)
    except TypeError as exc:
        raise SettingError("LUNGE_CA_KEY", str(path), f"{allowed}; this key is encrypted") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SettingError("LUNGE_CA_KEY", str(path), f"{allowed}; no PEM private key in it") from exc


def _check_pair(certificate: x509.Certificate, key: PrivateKeyTypes, cert_path: Path, key_path: Path) -> None:
    public = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(*public) != key.public_key().public_bytes(*public):
        raise SettingError("LUNGE_CA_KEY", str(key_path), f"the private key of the certificate in {cert_path}")
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise SettingError("LUNGE_CA_CERT", str(cert_path), "a CA certificate (basicConstraints CA:TRUE)")
    now = datetime.datetime.now(datetime.UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SettingError("LUNGE_CA_CERT", str(cert_path),
                           f"a certificate valid now (it is valid {certificate.not_valid_before_utc:%Y-%m-%d} "
                           f"to {certificate.not_valid_after_utc:%Y-%m-%d})")


# ---------------------------------------------------------------------- helpers
def _describe(confdir: Path, cert_pem: Path, cert_der: Path, key_pem: Path, certificate: x509.Certificate,
              *, supplied: bool) -> CaFiles:
    return CaFiles(
        confdir=confdir,
        cert_pem=cert_pem,
        cert_der=cert_der,
        key_pem=key_pem,
        supplied=supplied,
        subject=certificate.subject.rfc4514_string(),
        sha256=certificate.fingerprint(_sha256()).hex(),
        not_after=certificate.not_valid_after_utc,
    )


def _sha256() -> hashes.SHA256:
    return hashes.SHA256()


def _write_private(path: Path, data: bytes, *, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode``, replacing it atomically (readers never see half)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
