"""Self-signed TLS certificates for node-to-node links, pinned by fingerprint."""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from facetrail.errors import InvalidInputError

VALID_DAYS = 825


def self_signed(
    name: str, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM) for `name`, valid for `hosts`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def check_certificate(pem: bytes, owner: str) -> None:
    """Refuse what is not a PEM X.509 certificate (naming whose it should be)."""
    try:
        x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise InvalidInputError(f"{owner}'s TLS certificate is not a PEM certificate") from None


def pinned_context(pem: bytes) -> ssl.SSLContext:
    """A client TLS context trusting only this one (self-signed) certificate."""
    context = ssl.create_default_context(cadata=pem.decode("ascii"))
    context.check_hostname = True
    return context


def certificate_fingerprint(pem: bytes) -> str:
    """SHA-256 hex of the certificate's DER encoding (what a partner pins)."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()
