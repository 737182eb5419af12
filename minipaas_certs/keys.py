"""Key recipes: the openssl options that make a key and pick its digest, passphrases
handed over through pipes, and the public half of a private key."""

from __future__ import annotations

from pathlib import Path

from .certinfo import Certificate, public_key_of_private
from .errors import CertsError, OpenSSLFailed, OutputError
from .files import read_limited
from .openssl import Argument, OpenSSL
from .plan import EC_CURVES, KeySpec

# The CA key's passphrase protection: PBKDF2-HMAC-SHA256 with OWASP's 2023 count
# (OpenSSL's default is 2048, cheap to guess offline).
PBKDF2_ITERATIONS = 600_000


def genpkey_args(key: KeySpec) -> list[str]:
    """``genpkey`` options that generate this key (RSA keys, and encrypted ones)."""
    if key.kind == "rsa":
        return ["-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{key.bits}"]
    if key.kind == "ecdsa":
        return ["-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{EC_CURVES[key.bits]}",
                "-pkeyopt", "ec_param_enc:named_curve"]
    return ["-algorithm", "ED25519"]


def newkey_args(key: KeySpec) -> list[str]:
    """``req`` options that generate this key (OpenSSL 1.1.1+, LibreSSL 3)."""
    if key.kind == "rsa":
        return ["-newkey", f"rsa:{key.bits}"]
    if key.kind == "ecdsa":
        return ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{EC_CURVES[key.bits]}"]
    return ["-newkey", "ed25519"]


def passin(passphrase: bytes | None) -> dict[str, bytes]:
    """The ``secrets`` that let openssl read an encrypted key: ``-passin`` through a pipe
    (see ``OpenSSL.start``), or nothing for a key in clear."""
    return {"-passin": passphrase} if passphrase else {}


def passout(passphrase: bytes) -> dict[str, bytes]:
    """The ``secrets`` that let openssl encrypt what it writes: ``-passout`` through a
    pipe."""
    return {"-passout": passphrase}


def digest_name(key_type: str, key_bits: int) -> str:
    """The digest a key signs with: SHA-384 for P-384, none for Ed25519, else SHA-256."""
    if key_type == "ed25519":
        return "null"
    return "sha384" if key_type == "ecdsa" and key_bits >= 384 else "sha256"


def digest_args(key_type: str, key_bits: int = 0) -> list[str]:
    """The ``req`` digest option for a key (Ed25519 takes none)."""
    digest = digest_name(key_type, key_bits)
    return [] if digest == "null" else [f"-{digest}"]


def public_key_of(openssl: OpenSSL, key_pem: bytes,
                  secrets: dict[str, bytes] | None = None) -> bytes:
    """The DER SubjectPublicKeyInfo of a private key, as openssl reads it.

    The key goes through stdin: openssl never opens a file the tool has not
    checked, and no copy of a key is written anywhere.
    """
    return openssl.run(["pkey", "-pubout", "-outform", "DER"], stdin=key_pem, secrets=secrets)


def check_key_matches(openssl: OpenSSL, key_path: Path, certificate: Certificate,
                      cert_path: Path, error: type = OutputError,
                      secrets: dict[str, bytes] | None = None,
                      shown_key: Path | None = None) -> None:
    """Ask openssl for the key's public half and compare it with the certificate's."""
    shown = shown_key or key_path
    try:
        public = public_key_of(openssl, read_limited(key_path, error=error), secrets)
    except OpenSSLFailed as failure:
        if secrets:
            raise error(f"cannot decrypt {shown}: wrong passphrase?") from None
        raise error(f"{shown} is not a readable private key "
                    f"({failure.stderr.strip()[:200]})") from None
    if public != certificate.public_key_der:
        raise error(f"{shown} does not match the certificate {cert_path}")


def is_encrypted(key_pem: bytes) -> bool:
    """PKCS#8 ``ENCRYPTED PRIVATE KEY`` or a traditional ``Proc-Type: 4,ENCRYPTED`` PEM."""
    return b"ENCRYPTED" in key_pem[:4096]


class NewKey:
    """Where a new certificate's private key comes from.

    RSA keys (and encrypted ones) are made by ``genpkey`` in the background from
    the start, so that their generation, nearly all of the cost, overlaps the
    imports, the rendering and each other.  ECDSA and Ed25519 keys cost less
    than starting a process: ``req -newkey`` makes them in the request call.
    An encrypted key never touches the disk in clear: ``genpkey`` hands it
    through a pipe to ``pkcs8``, which writes it as PKCS#8 with AES-256-CBC and
    ``PBKDF2_ITERATIONS`` rounds of PBKDF2-HMAC-SHA256, on every supported version.
    """

    def __init__(self, openssl: OpenSSL, path: Path, key: KeySpec,
                 passphrase: bytes | None = None) -> None:
        self.openssl, self.path, self.key, self.passphrase = openssl, path, key, passphrase
        self._running = None
        if passphrase is not None:
            self._running = openssl.start(["genpkey", *genpkey_args(key)])
        elif key.kind == "rsa":
            self._running = openssl.start(["genpkey", *genpkey_args(key), "-out", path])

    @property
    def secrets(self) -> dict[str, bytes]:
        return passin(self.passphrase)

    def req_args(self) -> list[Argument]:
        """The ``req`` options that use (or make) the key."""
        if self._running is None:
            return [*newkey_args(self.key), "-nodes", "-keyout", self.path]
        clear = self._running.wait()
        if self.passphrase is not None:
            self.openssl.run(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256",
                              "-iter", str(PBKDF2_ITERATIONS), "-out", self.path],
                             stdin=clear, secrets=passout(self.passphrase))
        check_not_empty(self.path)
        return ["-key", self.path]


def check_not_empty(path: Path) -> None:
    """On a full disk openssl was seen to exit 0 and leave an empty file."""
    if not path.is_file() or path.stat().st_size == 0:
        raise OutputError(f"openssl exited 0 but left {path.name} empty (is the disk full?)")


def public_key_of_file(openssl: OpenSSL, key_path: Path) -> bytes:
    """A new key's public half (see ``public_half``)."""
    return public_half(openssl, read_limited(key_path), key_path.name)


def public_half(openssl: OpenSSL, key_pem: bytes, shown: Path | str,
                 secrets: dict[str, bytes] | None = None,
                 error: type[CertsError] = OutputError) -> bytes:
    """A private key's public half: read from its PKCS#8 form where it is stored there
    (EC, RSA, in clear), else asked of openssl (Ed25519, encrypted keys)."""
    public = None if secrets else public_key_of_private(key_pem)
    if public is not None:
        return public
    try:
        return public_key_of(openssl, key_pem, secrets)
    except OpenSSLFailed as failure:
        if secrets:
            raise error(f"cannot decrypt {shown}: wrong passphrase?") from None
        raise error(f"{shown} is not a readable private key "
                    f"({failure.stderr.strip()[:200]})") from None
