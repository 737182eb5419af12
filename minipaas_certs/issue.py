"""Making keys and certificates with openssl, and checking what it made.

Each function here works on files in a private staging folder; nothing in this
module decides where files end up (see ``actions``).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import render
from .certinfo import (
    OID_CLIENT_AUTH,
    OID_SERVER_AUTH,
    OID_SUBJECT_KEY_ID,
    Certificate,
    read_certificate,
)
from .errors import CAProblem, InvalidInput, OpenSSLFailed, OutputError
from .names import SubjectAltName
from .openssl import Argument, OpenSSL
from .parallel import run_all

KEY_SIZES = {"ecdsa": (256, 384), "rsa": (2048, 3072, 4096), "ed25519": (256,)}
DEFAULT_KEY_SIZE = {"ecdsa": 256, "rsa": 3072, "ed25519": 256}
_EC_CURVES = {256: "P-256", 384: "P-384"}
_PURPOSES = {"server": ("sslserver", OID_SERVER_AUTH), "client": ("sslclient", OID_CLIENT_AUTH)}
# openssl stamps notBefore with its own clock a moment after we look at ours.
_CLOCK_MARGIN = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class KeySpec:
    """A key algorithm and size, validated: ``ecdsa`` 256/384, ``rsa`` 2048+, ``ed25519``."""

    kind: str
    bits: int

    @classmethod
    def parse(cls, kind: str, bits: int | None = None) -> KeySpec:
        if kind not in KEY_SIZES:
            raise InvalidInput(f"unknown key type {kind!r}: use ecdsa, rsa or ed25519")
        if bits is None:
            bits = DEFAULT_KEY_SIZE[kind]
        if bits not in KEY_SIZES[kind]:
            allowed = ", ".join(map(str, KEY_SIZES[kind]))
            raise InvalidInput(f"--key-size {bits} is not valid for {kind} keys (use {allowed})")
        return cls(kind, bits)

    def __str__(self) -> str:
        if self.kind == "ecdsa":
            return f"ECDSA {_EC_CURVES[self.bits]}"
        return "Ed25519" if self.kind == "ed25519" else f"RSA {self.bits}"

    def genpkey_args(self) -> list[str]:
        """``genpkey`` options that generate this key (RSA keys, and encrypted ones)."""
        if self.kind == "rsa":
            return ["-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{self.bits}"]
        if self.kind == "ecdsa":
            return ["-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{_EC_CURVES[self.bits]}",
                    "-pkeyopt", "ec_param_enc:named_curve"]
        return ["-algorithm", "ED25519"]

    def newkey_args(self) -> list[str]:
        """``req`` options that generate this key (OpenSSL 1.1.1+, LibreSSL 3)."""
        if self.kind == "rsa":
            return ["-newkey", f"rsa:{self.bits}"]
        if self.kind == "ecdsa":
            return ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{_EC_CURVES[self.bits]}"]
        return ["-newkey", "ed25519"]


def digest_args(signer_key_type: str) -> list[str]:
    """Ed25519 signs without a separate digest; everything else signs with SHA-256."""
    return [] if signer_key_type == "ed25519" else ["-sha256"]


@dataclass(frozen=True)
class LeafSpec:
    """What a server or client certificate must contain, and where its pair is staged.

    A client with a ``bundle`` name is written as ``clients/<bundle>/{cert,key}.pem``,
    a ready DOCKER_CERT_PATH for that identity.
    """

    role: str  # "server" or "client"
    common_name: str
    key: KeySpec
    days: int
    sans: tuple[SubjectAltName, ...] = ()
    bundle: str | None = None

    def __post_init__(self) -> None:
        if self.role == "server" and not self.sans:
            raise InvalidInput("a server certificate needs at least one --san")

    @property
    def cert_file(self) -> str:
        return f"clients/{self.bundle}/cert.pem" if self.bundle else f"{self.role}-cert.pem"

    @property
    def key_file(self) -> str:
        return f"clients/{self.bundle}/key.pem" if self.bundle else f"{self.role}-key.pem"

    @property
    def config_file(self) -> str:
        return f"{self.role}-{self.bundle}.cnf" if self.bundle else f"{self.role}.cnf"

    def render_config(self) -> str:
        return render.render(
            f"{self.role}.cnf.j2",
            common_name=self.common_name,
            key_type=self.key.kind,
            dns_names=[san.value for san in self.sans if san.kind == "DNS"],
            ip_addresses=[san.value for san in self.sans if san.kind == "IP"],
        )


@dataclass(frozen=True)
class Authority:
    """A CA that can sign: its files and its parsed certificate."""

    cert_path: Path
    key_path: Path
    certificate: Certificate
    passphrase: bytes | None = None  # set when the key is encrypted

    @property
    def secrets(self) -> dict[str, bytes]:
        """What openssl needs to read the key: ``-passin`` through a pipe, if encrypted."""
        return {"-passin": self.passphrase} if self.passphrase else {}

    def check_can_sign_until(self, not_after: datetime.datetime) -> None:
        """Refuse to issue a leaf that would outlive the CA (Go then rejects it)."""
        if not_after <= self.certificate.not_after:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        days_left = int((self.certificate.not_after - now - _CLOCK_MARGIN).days)
        raise CAProblem(
            f"the CA in {self.cert_path} expires on {self.certificate.not_after:%Y-%m-%d}, "
            f"before the new certificate would; use --days {days_left} or less"
        )


def random_serial() -> str:
    """A random positive 127-bit serial: 126 random bits below a set top bit.

    Random serials need no ``ca.srl`` file, so parallel runs cannot collide; the
    set bit keeps every serial positive and at least 64 bits long.
    """
    value = int.from_bytes(os.urandom(16), "big") >> 2 | 1 << 126
    return f"0x{value:x}"


def leaf_end(days: int) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days) \
        + _CLOCK_MARGIN


def public_key_of(openssl: OpenSSL, key_path: Path,
                  secrets: dict[str, bytes] | None = None) -> bytes:
    """The DER SubjectPublicKeyInfo of a private key file, as openssl reads it."""
    return openssl.run(["pkey", "-in", key_path, "-pubout", "-outform", "DER"], secrets=secrets)


def check_key_matches(openssl: OpenSSL, key_path: Path, certificate: Certificate,
                      cert_path: Path, error: type = OutputError,
                      secrets: dict[str, bytes] | None = None) -> None:
    """Ask openssl for the key's public half and compare it with the certificate's."""
    try:
        public = public_key_of(openssl, key_path, secrets)
    except OpenSSLFailed as failure:
        if secrets:
            raise error(f"cannot decrypt {key_path}: wrong passphrase?") from None
        raise error(f"{key_path} is not a readable private key "
                    f"({failure.stderr.strip()[:200]})") from None
    if public != certificate.public_key_der:
        raise error(f"{key_path} does not match the certificate {cert_path}")


def is_encrypted(key_path: Path) -> bool:
    """PKCS#8 ``ENCRYPTED PRIVATE KEY`` or a traditional ``Proc-Type: 4,ENCRYPTED`` PEM."""
    with key_path.open("rb") as handle:
        return b"ENCRYPTED" in handle.read(4096)


class NewKey:
    """Where a new certificate's private key comes from.

    RSA keys (and encrypted ones) are made by ``genpkey`` in the background from
    the start, so that their generation, nearly all of the cost, overlaps the
    imports, the rendering and each other.  ECDSA and Ed25519 keys cost less
    than starting a process: ``req -newkey`` makes them in the signing call.
    ``genpkey`` writes PKCS#8 on every supported version; with a passphrase, as
    AES-256-CBC with PBKDF2 (``req -newkey`` would pick 3DES on OpenSSL 1.1.1).
    """

    def __init__(self, openssl: OpenSSL, path: Path, key: KeySpec,
                 passphrase: bytes | None = None) -> None:
        self.path, self.key = path, key
        self._running = None
        if key.kind == "rsa" or passphrase is not None:
            encrypt = ["-aes-256-cbc"] if passphrase else []
            self._running = openssl.start(
                ["genpkey", *key.genpkey_args(), *encrypt, "-out", path],
                secrets={"-pass": passphrase} if passphrase else None)

    def req_args(self) -> list[Argument]:
        """The ``req`` options that use (or make) the key."""
        if self._running is None:
            return [*self.key.newkey_args(), "-nodes", "-keyout", self.path]
        self._running.wait()
        if not self.path.is_file() or self.path.stat().st_size == 0:  # a full disk, say
            raise OutputError(f"openssl genpkey exited 0 but left {self.path.name} empty "
                              "(is the disk full?)")
        return ["-key", self.path]


def create_ca(openssl: OpenSSL, staging: Path, common_name: str, key: KeySpec,
              days: int, passphrase: bytes | None = None, check_key: bool = True,
              new_key: NewKey | None = None) -> Authority:
    """Make a self-signed CA from its key (``new_key``, or a new one) and check it.

    ``check_key=False`` is for callers that sign leaves with the new key file and
    verify them against ca.pem, which proves the key file matches as well.
    """
    cert_path = staging / "ca.pem"
    new_key = new_key or NewKey(openssl, staging / "ca-key.pem", key, passphrase)
    config = staging / "ca.cnf"
    config.write_text(render.render("ca.cnf.j2", common_name=common_name))
    secrets = {"-passin": passphrase} if passphrase else {}
    openssl.run(["req", "-x509", "-new", *new_key.req_args(), "-out", cert_path,
                 "-config", config, "-extensions", "extensions", "-days", str(days),
                 "-set_serial", random_serial(), *digest_args(key.kind)], secrets=secrets)
    certificate = read_certificate(cert_path)
    if not (certificate.is_ca and "keyCertSign" in certificate.key_usage):
        raise OutputError(f"openssl made {cert_path} without CA:TRUE and keyCertSign"
                          + render.blame())
    if check_key:
        check_key_matches(openssl, new_key.path, certificate, cert_path, secrets=secrets)
    return Authority(cert_path, new_key.path, certificate, passphrase)


def issue_leaf(openssl: OpenSSL, staging: Path, authority: Callable[[], Authority],
               spec: LeafSpec) -> Certificate:
    """Generate a key and a certificate signed by ``authority()``, then check both.

    An RSA key is started before ``authority()`` is asked for, so that it is
    generated while a new CA is still being made.
    """
    cert_path, key_path = staging / spec.cert_file, staging / spec.key_file
    cert_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    new_key = NewKey(openssl, key_path, spec.key)
    config = staging / spec.config_file
    config.write_text(spec.render_config())
    signer = authority()
    signing: list[Argument] = [
        "-CA", signer.cert_path, "-CAkey", signer.key_path,
        "-set_serial", random_serial(), "-days", str(spec.days),
        *digest_args(signer.certificate.key_type),
    ]
    own_key: list[Argument] = [*new_key.req_args(), "-config", config]
    if openssl.version.signs_in_req:
        openssl.run(["req", "-x509", "-new", *own_key, "-out", cert_path,
                     "-extensions", "extensions", *signing], secrets=signer.secrets)
    else:  # portable path: the request goes through a pipe, never onto disk
        request = openssl.run(["req", "-new", *own_key, *digest_args(spec.key.kind)])
        openssl.run(["x509", "-req", "-out", cert_path,
                     "-extfile", config, "-extensions", "extensions", *signing],
                    stdin=request, secrets=signer.secrets)
    certificate = read_certificate(cert_path)
    check_issued(certificate, spec, cert_path)
    run_all([lambda: check_key_matches(openssl, key_path, certificate, cert_path),
             lambda: verify_leaf(openssl, signer.cert_path, cert_path, spec.role)], 2)
    return certificate


def check_issued(certificate: Certificate, spec: LeafSpec, cert_path: Path) -> None:
    """Compare what openssl issued with what was asked: names, CA flag, purpose."""
    asked_dns = {san.value for san in spec.sans if san.kind == "DNS"}
    asked_ip = {san.value for san in spec.sans if san.kind == "IP"}
    problems = []
    if set(certificate.dns_names) != asked_dns or set(certificate.ip_addresses) != asked_ip:
        problems.append("its subjectAltName differs from the names asked")
    if certificate.is_ca:
        problems.append("it is a CA")
    if certificate.extended_key_usage != (_PURPOSES[spec.role][1],):
        problems.append(f"its extendedKeyUsage is not {spec.role} authentication only")
    if certificate.subject_cn != spec.common_name:
        problems.append("its common name differs from the one asked")
    if problems:
        raise OutputError(f"openssl made {cert_path} wrongly: {'; '.join(problems)}"
                          + render.blame())


class VerifyFailed(OutputError):
    """A certificate failed ``openssl verify -x509_strict`` with its purpose."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def verify_leaf(openssl: OpenSSL, ca_path: Path, cert_path: Path, role: str,
                check_time: bool = True) -> None:
    """``openssl verify -x509_strict`` with the leaf's TLS purpose against the CA.

    ``check_time=False`` leaves dates out, for callers that report them separately.
    """
    purpose = _PURPOSES[role][0]
    try:
        output = openssl.run(["verify", "-x509_strict", "-purpose", purpose,
                              *([] if check_time else ["-no_check_time"]),
                              "-CAfile", ca_path, cert_path])
        reason = "" if output.rstrip().endswith(b": OK") else output.decode("utf-8", "replace")
    except OpenSSLFailed as failure:
        reason = failure.stderr
    if reason:
        detail = next((line for line in reason.splitlines() if line.startswith("error ")),
                      reason.strip()[:200])
        raise VerifyFailed(f"{cert_path.name} fails `openssl verify -x509_strict -purpose "
                           f"{purpose}` against {ca_path.name}: {detail}{render.blame()}",
                           detail)


def load_authority(openssl: OpenSSL, ca_dir: Path,
                   passphrase: bytes | None = None) -> Authority:
    """The CA in ``ca_dir``, checked fit to sign: a CA, unexpired, its key matching.

    An encrypted CA key needs ``passphrase``; an unencrypted one ignores it.
    """
    cert_path, key_path = ca_dir / "ca.pem", ca_dir / "ca-key.pem"
    missing = [path.name for path in (cert_path, key_path) if not path.is_file()]
    if len(missing) == 2:
        raise CAProblem(
            f"no CA in {ca_dir} (ca.pem and ca-key.pem are missing): create one with "
            f"`minipaas certs ca --out {ca_dir}`, or name its folder with --ca-dir"
        )
    if missing:
        raise CAProblem(
            f"{ca_dir / missing[0]} is missing: signing needs both ca.pem and ca-key.pem; "
            "name the folder that holds both with --ca-dir"
        )
    try:
        certificate = read_certificate(cert_path)
    except OutputError as error:
        raise CAProblem(str(error)) from None
    if not certificate.is_ca or "keyCertSign" not in certificate.key_usage:
        raise CAProblem(f"{cert_path} is not a CA certificate (CA:TRUE and keyCertSign)")
    if OID_SUBJECT_KEY_ID not in certificate.extensions:
        raise CAProblem(
            f"{cert_path} has no subjectKeyIdentifier: strict X.509 checks (OpenSSL "
            "-x509_strict, Python 3.13, docker-py) reject what it signs"
        )
    if certificate.not_after <= datetime.datetime.now(datetime.timezone.utc):
        raise CAProblem(
            f"the CA in {cert_path} expired on {certificate.not_after:%Y-%m-%d}: "
            "create a new one with `minipaas certs all --force`"
        )
    encrypted = is_encrypted(key_path)
    if encrypted and passphrase is None:
        raise CAProblem(
            f"{key_path} is encrypted: give its passphrase with --ca-passphrase-file FILE "
            "or the MINIPAAS_CA_PASSPHRASE environment variable"
        )
    authority = Authority(cert_path, key_path, certificate, passphrase if encrypted else None)
    check_key_matches(openssl, key_path, certificate, cert_path, error=CAProblem,
                      secrets=authority.secrets)
    return authority
