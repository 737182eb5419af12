"""Certificates this tool did not make (other names, purposes, signers), for tests of
what the tool, `check` and `doctor` make of them."""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
from pathlib import Path

from conftest import SYSTEM_OPENSSL, load_cert
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _foreign_server(out: Path, dns: str | None = None,
                    usage: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.SERVER_AUTH,
                    key_usage: x509.KeyUsage | None = None, cn: str = "server",
                    forged: bool = False, sha1: bool = False) -> None:
    """A server pair signed by ``out``'s CA (not by the tool): one DNS SAN, or else
    IP:127.0.0.1, and an extendedKeyUsage of ``usage`` (None: no such extension), a
    keyUsage if given; ``forged``: the CA's names and key id, signed by another key."""
    ca = load_cert(out / "ca.pem")
    ca_key = load_pem_private_key((out / "ca-key.pem").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if sha1
                            else ca.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)] if dns else [
                   x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))  # type: ignore[arg-type]
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    signer = ec.generate_private_key(ec.SECP256R1()) if forged else ca_key
    # cryptography refuses to sign with SHA-1: self-signed here, openssl signs it again.
    cert = builder.sign(key if sha1 else signer, hashes.SHA256())  # type: ignore[arg-type]
    (out / "server-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if sha1:
        import subprocess

        from conftest import TOOL_OPENSSL

        subprocess.run([TOOL_OPENSSL, "x509", "-in", "server-cert.pem", "-CA", "ca.pem",
                        "-CAkey", "ca-key.pem", "-sha1", "-set_serial", "4711", "-days", "30",
                        "-out", "sha1.pem"], cwd=out, check=True, capture_output=True)
        (out / "sha1.pem").replace(out / "server-cert.pem")
    (out / "server-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (out / "server-key.pem").chmod(0o600)


def foreign_leaf(folder: Path, role: str, cn: str, curve: str, ca_cert: Path, ca_key: Path,
                 san: str = "") -> None:
    """A ``role`` certificate this tool did not make, signed by ``ca_cert``, in ``folder``
    (a bundle, under the file names of its kind; or the top level of --out)."""
    folder.mkdir(parents=True, exist_ok=True)
    bundle = folder.parent.name in ("clients", "servers")
    kind = {"clients": "client", "servers": "server"}.get(folder.parent.name, role)
    cert, key = (("server-cert.pem", "server-key.pem") if kind == "server"
                 else ("cert.pem", "key.pem") if bundle else ("client-cert.pem", "client-key.pem"))
    extra = ["-addext", f"subjectAltName={san}"] if san else []
    subprocess.run([SYSTEM_OPENSSL, "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                    f"ec_paramgen_curve:{curve}", "-nodes", "-keyout", str(folder / key),
                    "-out", str(folder / cert), "-CA", str(ca_cert), "-CAkey", str(ca_key),
                    "-subj", f"/CN={cn}", "-days", "200",
                    "-addext", f"extendedKeyUsage={role}Auth",
                    "-addext", "basicConstraints=critical,CA:FALSE", *extra],
                   check=True, capture_output=True)
    (folder / key).chmod(0o600)
    if bundle:
        (folder / "ca.pem").write_bytes(ca_cert.read_bytes())
