"""The interception CA: generated once and reused, or supplied and validated."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mitmproxy.certs import CertStore

from lunge.errors import SettingError
from lunge.record.ca import CA_FILE, generated_ca, prepare_ca, supplied_ca
from tests.record.targets import make_certificate


def test_generated_ca_is_created_once_and_reused(tmp_path):
    first = prepare_ca(tmp_path)
    second = prepare_ca(tmp_path)
    assert first == second and not first.supplied
    assert first.confdir == tmp_path / "ca" and first.subject == "O=lunge,CN=lunge CA"
    certificate = x509.load_pem_x509_certificate(first.cert_pem.read_bytes())
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert x509.load_der_x509_certificate(first.cert_der.read_bytes()) == certificate
    assert stat.S_IMODE((first.confdir / CA_FILE).stat().st_mode) & 0o077 == 0  # the key is private
    assert b"PRIVATE KEY" not in first.cert_pem.read_bytes()


def test_concurrent_creation_yields_one_ca(tmp_path):
    results = []

    def create() -> None:
        results.append(generated_ca(tmp_path / "ca"))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.sha256 for r in results}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca"]  # no staging directory left behind


def test_supplied_ca_becomes_a_mitmproxy_confdir(tmp_path):
    cert, key = make_certificate(tmp_path / "mine", ca=True, name="my-ca")
    files = prepare_ca(tmp_path / "data", cert, key)
    assert files.supplied and files.cert_pem == cert and files.key_pem == key
    assert files.subject == "CN=my-ca"
    store = CertStore.from_store(files.confdir, "mitmproxy", 2048)  # what mitmproxy will load
    assert store.default_ca.cn == "my-ca"
    leaf = store.get_cert("app.test", [])
    assert leaf.cert.issuer == [("CN", "my-ca")]
    assert supplied_ca(cert, key, tmp_path / "data" / "ca-supplied") == files  # stable across starts


@pytest.mark.parametrize("problem", ["missing cert", "missing key", "not pem", "other key", "not a ca", "expired",
                                     "encrypted key"])
def test_bad_supplied_ca_is_one_setting_error(tmp_path, problem):
    cert, key = make_certificate(tmp_path / "mine", ca=True, name="my-ca")
    if problem == "missing cert":
        cert = tmp_path / "nope.pem"
    elif problem == "missing key":
        key = tmp_path / "nope.key"
    elif problem == "not pem":
        cert.write_text("hello")
    elif problem == "other key":
        key = make_certificate(tmp_path / "other", ca=True, name="other")[1]
    elif problem == "not a ca":
        cert, key = make_certificate(tmp_path / "leaf", ca=False)
    elif problem == "expired":
        cert, key = make_certificate(tmp_path / "old", ca=True, valid_days=-1)
    elif problem == "encrypted key":
        private = serialization.load_pem_private_key(key.read_bytes(), None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(SettingError) as error:
        prepare_ca(tmp_path / "data", cert, key)
    assert error.value.name in ("LUNGE_CA_CERT", "LUNGE_CA_KEY")
    assert "\n" not in str(error.value)
    expected = key if error.value.name == "LUNGE_CA_KEY" else cert
    assert error.value.value == str(expected)


def test_lunge_ca_prints_where_the_ca_is_creating_it(tmp_path, capsys):
    from lunge.cli import main

    code = main(["ca", "--json", "--data-dir", str(tmp_path)])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["supplied"] is False
    assert Path(document["cert_pem"]).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert Path(document["cert_der"]).exists() and document["confdir"] == str(tmp_path / "ca")
    code = main(["ca", "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and document["cert_pem"] in out and document["sha256"] in out
