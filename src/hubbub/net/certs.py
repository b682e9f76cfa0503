"""Self-signed TLS certificates for local use, and the ``hubbub gen-cert`` command.

A self-signed certificate lets a test network or a laptop speak TLS (``tls = true``) without a
certificate authority. Clients must be told to trust it (or not to verify): it is not a
replacement for a real certificate on a public server.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["configure_parser", "make_self_signed", "run"]

DEFAULT_DAYS = 365
"""How long a generated certificate is valid."""


def make_self_signed(
    cert_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    hostnames: Sequence[str],
    days: int = DEFAULT_DAYS,
) -> None:
    """Write a new ECDSA P-256 key and a self-signed certificate for ``hostnames``.

    Each hostname becomes a subject alternative name (an IP address as an IP entry, anything
    else as a DNS name); the first one is also the common name. The key file is created
    readable by its owner only. Raises ``ValueError`` for an empty ``hostnames`` or a
    non-positive ``days``, and ``OSError`` if a file cannot be written.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not hostnames:
        raise ValueError("at least one hostname is needed")
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hubbub self-signed"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(Path(key_path), key_pem)
    Path(cert_path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read, replacing any old file."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``hubbub gen-cert``."""
    p.add_argument("--cert", default="cert.pem", metavar="FILE", help="certificate file to write")
    p.add_argument("--key", default="key.pem", metavar="FILE", help="private key file to write")
    p.add_argument(
        "--host",
        action="append",
        metavar="NAME",
        help="host name or IP address the certificate is for; repeatable "
        "(default: localhost, 127.0.0.1 and ::1)",
    )
    p.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of validity")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def run(args: argparse.Namespace) -> int:
    """``hubbub gen-cert``: write a key and a self-signed certificate; 0 on success."""
    cert, key = Path(args.cert), Path(args.key)
    hosts: list[str] = args.host or ["localhost", "127.0.0.1", "::1"]
    if not args.force:
        existing = [str(p) for p in (cert, key) if p.exists()]
        if existing:
            print(
                f"hubbub gen-cert: {', '.join(existing)} already exists (use --force to replace)",
                file=sys.stderr,
            )
            return 1
    try:
        make_self_signed(cert, key, hosts, days=args.days)
    except ImportError:
        print(
            "hubbub gen-cert: the 'cryptography' package is needed (pip install cryptography)",
            file=sys.stderr,
        )
        return 1
    except (ValueError, OSError) as exc:
        print(f"hubbub gen-cert: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {cert} and {key} (self-signed for {', '.join(hosts)}, {args.days} days)")
    print("use them in a listener: tls = true, cert = ..., key = ...")
    return 0
