"""TLS with a client certificate (mutual TLS) against a real nats-server.

The CA, server and client certificates are made here with ``cryptography``; the server
is started with ``verify: true``, so a client without a certificate is refused.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rcstream.exceptions import ConfigurationError
from rcstream.fleet.connect import NatsOptions, connect
from rcstream.fleet.errors import NatsUnavailable
from rcstream.fleet.server import NatsServer


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    san: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        import ipaddress

        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san))]),
            critical=False,
        )
    return builder.sign(signer, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


async def test_mutual_tls(tmp_path: Path, nats_binary: str) -> None:
    ca_key, srv_key, cli_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("test-ca", ca_key, "test-ca", ca_key, ca=True)
    _write(tmp_path / "ca", ca, ca_key)
    _write(tmp_path / "server", _cert("nats", srv_key, "test-ca", ca_key, san="127.0.0.1"), srv_key)
    _write(tmp_path / "client", _cert("bridge", cli_key, "test-ca", ca_key), cli_key)
    conf = tmp_path / "tls.conf"
    conf.write_text(
        "tls {\n"
        f'  cert_file: "{tmp_path / "server.crt"}"\n'
        f'  key_file: "{tmp_path / "server.key"}"\n'
        f'  ca_file: "{tmp_path / "ca.crt"}"\n'
        "  verify: true\n}\n"
    )
    async with NatsServer(store_dir=tmp_path / "srv", config_file=conf, jetstream=False) as srv:
        port = srv.port
        env = {
            "RCSTREAM_NATS_TLS_CA": str(tmp_path / "ca.crt"),
            "RCSTREAM_NATS_TLS_CERT": str(tmp_path / "client.crt"),
            "RCSTREAM_NATS_TLS_KEY": str(tmp_path / "client.key"),
        }
        url = f"tls://127.0.0.1:{port}"
        nc = await connect(NatsOptions.from_env(url, env))
        try:
            await nc.flush()
            assert nc.is_connected
        finally:
            await nc.close()
        # without the client certificate the server refuses
        no_cert = NatsOptions.from_env(url, {"RCSTREAM_NATS_TLS_CA": env["RCSTREAM_NATS_TLS_CA"]})
        with pytest.raises(NatsUnavailable, match="Could not connect"):
            await connect(no_cert, initial_attempts=1)


async def test_token_from_a_file_and_never_in_the_url(tmp_path: Path, nats_binary: str) -> None:
    conf = tmp_path / "token.conf"
    conf.write_text('authorization {\n  token: "t0ken-s3cret"\n}\n')
    async with NatsServer(store_dir=tmp_path / "srv", config_file=conf, jetstream=False) as srv:
        url = f"nats://127.0.0.1:{srv.port}"
        with pytest.raises(ConfigurationError, match="RCSTREAM_NATS_TOKEN_FILE") as refused:
            NatsOptions.from_env(f"nats://t0ken-s3cret@127.0.0.1:{srv.port}", {})
        assert "t0ken-s3cret" not in str(refused.value)
        with pytest.raises(ConfigurationError):
            NatsOptions.from_env(f"nats://me@127.0.0.1:{srv.port}", {})  # a user alone too
        (tmp_path / "token").write_text("t0ken-s3cret\n")
        opts = NatsOptions.from_env(url, {"RCSTREAM_NATS_TOKEN_FILE": str(tmp_path / "token")})
        assert "t0ken-s3cret" not in repr(opts) and "token" in opts.describe()
        nc = await connect(opts)
        try:
            await nc.flush()
            assert nc.is_connected
        finally:
            await nc.close()
        with pytest.raises(NatsUnavailable, match="Could not connect"):  # the server needs it
            await connect(NatsOptions.from_env(url, {}), initial_attempts=1)
