"""Making keys and certificates with openssl, and checking what it made.

Each function here works on files in a private staging folder; nothing in this
module decides where files end up (see ``generate``).
"""

from __future__ import annotations

import datetime
import functools
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Sequence

from .certinfo import (
    OID_CLIENT_AUTH,
    OID_SERVER_AUTH,
    OID_SUBJECT_KEY_ID,
    Certificate,
    parse_pem,
    public_key_of_private,
)
from .errors import CAProblem, CertsError, OpenSSLFailed, OutputError
from .files import read_limited, write_private
from .layout import CA_CERT, CA_KEY, CERT_MODE, DIR_MODE
from .openssl import Argument, OpenSSL, descriptor_budget, input_pipe
from .parallel import run_all
from .plan import (
    BACKDATE,
    CLOCK_MARGIN,
    DAY,
    EC_CURVES,
    HOUR,
    KeySpec,
    LeafSpec,
    as_option,
)
from .render import SHIPPED, Templates

_PURPOSES = {"server": ("sslserver", OID_SERVER_AUTH), "client": ("sslclient", OID_CLIENT_AUTH)}
# The CA key's passphrase protection: PBKDF2-HMAC-SHA256 with OWASP's 2023 count
# (OpenSSL's default is 2048, cheap to guess offline).
PBKDF2_ITERATIONS = 600_000
MIN_CA_RSA_BITS = 2048
# `openssl ca` needs a database; each certificate gets a throw-away one, so that
# the dates can be set (`req -x509` and `x509 -req` take only -days before 3.4).
def _signing_config(copy: bool = False) -> str:
    """The throw-away CA database's config.  ``copy``: the certificates take the
    extensions their requests carry, plus the CA's key identifier."""
    return f"""\
[ ca ]
default_ca = signing

[ signing ]
database        = index.txt
new_certs_dir   = .
serial          = serial
policy          = any_subject
unique_subject  = no
email_in_dn     = no
copy_extensions = {"copy" if copy else "none"}

[ any_subject ]
commonName = optional

[ signing_extensions ]
authorityKeyIdentifier = keyid, issuer
"""


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


def leaf_config(spec: LeafSpec, templates: Templates) -> str:
    """The OpenSSL config of a leaf, rendered from its role's template."""
    return templates.render(
        f"{spec.role}.cnf.j2",
        common_name=spec.common_name,
        key_type=spec.key.kind,
        dns_names=[san.value for san in spec.sans if san.kind == "DNS"],
        ip_addresses=[san.value for san in spec.sans if san.kind == "IP"],
    )


SIGNING = "signing"  # work folders in the staging folder
SIGNER_FILE, CHAIN_FILE = "signer.pem", "chain.pem"  # in the CA's snapshot


class Authority(NamedTuple):
    """A CA that can sign: a snapshot of its files in the staging folder, read once.

    ``cert_path`` (a snapshot) and ``key_path`` (the key where it lies) are what openssl
    signs with; ``origin``
    is the folder it was read from (for messages); ``cert_pem`` is what the run
    copies beside the new files as ca.pem (the trust anchors: the root, or during
    a rollover both roots), so that signing, copying and checking all use the same
    CA even if its folder changes meanwhile.

    An intermediate CA signs with ``chain``: itself and the CAs above it up to,
    not including, the root.  Every leaf file carries it after the leaf, since a
    peer that trusts only the root needs it to build the path.
    """

    cert_path: Path
    key_path: Path
    certificate: Certificate
    passphrase: bytes | None = None  # set when the key is encrypted
    origin: Path | None = None
    cert_pem: bytes = b""
    chain: tuple[Certificate, ...] = ()
    anchors_path: Path | None = None  # cert_pem as a file, for `openssl verify -CAfile`
    root: Certificate | None = None  # the root above ``chain``
    valid_from: datetime.datetime | None = None  # a provisional CA's: the final one's start
    key_pem: bytes | None = None  # a CA read from a folder: its key, handed over by a pipe

    @property
    def starts(self) -> datetime.datetime:
        """When the CA's validity starts (no leaf it signs may start earlier)."""
        return self.valid_from or self.certificate.not_before

    @property
    def chain_pem(self) -> bytes:
        return b"".join(certificate.pem for certificate in self.chain)

    @property
    def trust_path(self) -> Path:
        return self.anchors_path or self.cert_path

    @property
    def chain_path(self) -> Path | None:
        """The intermediates as a file, for `openssl verify -untrusted` (None if none)."""
        return self.cert_path.with_name(CHAIN_FILE) if self.chain else None

    @property
    def secrets(self) -> dict[str, bytes]:
        """What openssl needs to read the key: ``-passin`` through a pipe, if encrypted."""
        return passin(self.passphrase)

    @property
    def shown_path(self) -> Path:
        return (self.origin / CA_CERT) if self.origin else self.cert_path

    def check_can_sign_until(self, not_after: datetime.datetime) -> None:
        """Refuse to issue a leaf that would outlive its CA or a CA above it (Go then
        rejects it)."""
        path = (self.certificate, *self.chain, *([self.root] if self.root else []))
        first = min(path, key=lambda cert: cert.not_after)
        if not_after <= first.not_after:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        left = first.not_after - now - CLOCK_MARGIN
        fits = left // DAY * DAY if left >= 2 * DAY else left // HOUR * HOUR
        shorter = f"use {as_option(fits)} or less" if left >= HOUR else "renew the CA first"
        raise CAProblem(
            f"the CA CN={first.subject_cn} in {self.shown_path} expires on "
            f"{first.not_after:%Y-%m-%d %H:%M} UTC, before the new certificate would; "
            + shorter)


def random_serial() -> str:
    """A random positive 127-bit serial, in hex: 126 random bits below a set top bit.

    Random serials need no shared serial file, so parallel runs cannot collide;
    the set bit keeps every serial positive, at least 64 bits long, and its hex
    form 32 digits (an even count, as openssl's serial file wants).
    """
    value = int.from_bytes(os.urandom(16), "big") >> 2 | 1 << 126
    return f"{value:032X}"


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
        _check_not_empty(self.path)
        return ["-key", self.path]


def _check_not_empty(path: Path) -> None:
    """On a full disk openssl was seen to exit 0 and leave an empty file."""
    if not path.is_file() or path.stat().st_size == 0:
        raise OutputError(f"openssl exited 0 but left {path.name} empty (is the disk full?)")


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")


def _make_work_folder(staging: Path, name: str) -> Path:
    folder = staging / name
    folder.mkdir(mode=DIR_MODE)
    return folder


CA_WORK, PROVISIONAL_CA = "work-ca", "ca-provisional.pem"  # in the staging folder


def start_ca(openssl: OpenSSL, staging: Path, common_name: str, key: KeySpec, days: int,
             passphrase: bytes | None = None, new_key: NewKey | None = None,
             templates: Templates = SHIPPED, requested: Callable[[], object] = lambda: None
             ) -> Authority:
    """A new CA's key (``new_key``, or a new one) and a provisional certificate, made by
    one ``req -x509``: an authority that can sign at once.

    The provisional certificate has the final one's name, key, serial and
    extensions, so a leaf it signs names the same issuer and key identifier (and
    serial, where a template asks for ``issuer`` in authorityKeyIdentifier, which
    ``ca -ss_cert`` copies from it); only its dates differ (``req`` cannot
    backdate before OpenSSL 3.4).  ``finish_ca`` makes ca.pem from
    it, with exact dates, while the leaves are signed: one openssl call less before
    a new set is checked.  Every leaf is then checked against that ca.pem.
    ``requested`` is called once its ``req`` runs.
    """
    new_key = new_key or NewKey(openssl, staging / CA_KEY, key, passphrase)
    work = _make_work_folder(staging, CA_WORK)
    config = work / "ca.cnf"
    write_private(config, templates.render("ca.cnf.j2", common_name=common_name).encode(), 0o600)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)  # as written
    provisional = staging / PROVISIONAL_CA
    running = openssl.start(["req", "-x509", "-new", *new_key.req_args(), "-config", config,
                             "-extensions", "extensions", "-days", str(days),
                             "-set_serial", f"0x{random_serial()}", "-out", provisional,
                             *digest_args(key.kind, key.bits)], secrets=new_key.secrets)
    requested()
    running.wait()
    cert_pem = read_limited(provisional)
    return Authority(provisional, new_key.path, parse_pem(cert_pem, provisional)[0], passphrase,
                     cert_pem=cert_pem, valid_from=now - BACKDATE)


def finish_ca(openssl: OpenSSL, provisional: Authority, days: int, check_key: bool = True,
              templates: Templates = SHIPPED) -> Authority:
    """The new CA's ca.pem: ``provisional`` signed again by its own key with exact dates
    (``openssl ca -selfsign``), from ``BACKDATE`` before the start for ``days``.

    ``check_key=False`` is for callers that sign leaves with the new key file and
    verify them against ca.pem, which proves the key file matches as well.
    """
    staging = provisional.cert_path.parent
    work, cert_path = staging / CA_WORK, staging / CA_CERT
    made = provisional.certificate
    write_private(work / "signing.cnf", _signing_config().encode(), 0o600)
    write_private(work / "index.txt", b"", 0o600)
    write_private(work / "serial", f"{made.serial:032X}\n".encode(), 0o600)  # the same
    not_before = provisional.starts
    openssl.run(["ca", "-batch", "-config", work / "signing.cnf", "-selfsign",
                 "-keyfile", provisional.key_path, "-cert", provisional.cert_path,
                 "-ss_cert", provisional.cert_path, "-out", cert_path,
                 "-extfile", work / "ca.cnf", "-extensions", "extensions",
                 "-startdate", _utc(not_before),
                 "-enddate", _utc(not_before + BACKDATE + datetime.timedelta(days=days)),
                 "-md", digest_name(made.key_type, made.key_bits), "-notext", "-preserveDN"],
                cwd=work, secrets=provisional.secrets)
    shutil.rmtree(work)  # the throw-away database is of no further use
    cert_pem = read_limited(cert_path)
    certificate = parse_pem(cert_pem, cert_path)[0]
    if not (certificate.is_ca and "keyCertSign" in certificate.key_usage):
        raise OutputError(f"openssl made {cert_path} without CA:TRUE and keyCertSign"
                          + templates.blame())
    if (certificate.subject_der, certificate.subject_key_id, certificate.public_key_der,
            certificate.serial) != (made.subject_der, made.subject_key_id,
                                    made.public_key_der, made.serial):
        raise OutputError(f"openssl made {cert_path} with another name, key or serial than "
                          "the certificate it re-signed" + templates.blame())
    if check_key:  # no leaf will be verified against it: it must verify as its own anchor
        check_key_matches(openssl, provisional.key_path, certificate, cert_path,
                          secrets=provisional.secrets)
        _verify_anchor(openssl, cert_path, templates)
    return Authority(cert_path, provisional.key_path, certificate, provisional.passphrase,
                     cert_pem=cert_pem)


def _verify_anchor(openssl: OpenSSL, cert_path: Path, templates: Templates) -> None:
    """A new CA must verify against itself: its name, key identifiers and extensions
    as a peer building a path to it reads them."""
    verify_leaf(openssl, cert_path, cert_path, None, hint=templates.blame())


def create_ca(openssl: OpenSSL, staging: Path, common_name: str, key: KeySpec,
              days: int, passphrase: bytes | None = None, check_key: bool = True,
              new_key: NewKey | None = None, templates: Templates = SHIPPED) -> Authority:
    """Make a self-signed CA from its key (``new_key``, or a new one) and check it:
    ``start_ca``, then ``finish_ca``."""
    provisional = start_ca(openssl, staging, common_name, key, days, passphrase, new_key,
                           templates)
    return finish_ca(openssl, provisional, days, check_key, templates)


class LeafRequest(NamedTuple):
    """A leaf's key and signing request, made before its CA is needed."""

    spec: LeafSpec
    cert_path: Path
    key_path: Path
    request: bytes  # PEM


# A request cannot name its issuer: the key identifier of the CA is added at signing,
# and every other extension of the template travels in the request.
_ISSUER_BOUND = re.compile(r"(?m)^[ \t]*authorityKeyIdentifier[ \t]*=.*\n?")


def request_leaf(openssl: OpenSSL, staging: Path, spec: LeafSpec,
                 templates: Templates = SHIPPED, after: Callable[[], object] = lambda: None
                 ) -> LeafRequest:
    """Make a leaf's key and a request carrying its template's extensions (one
    ``req`` process for ECDSA and Ed25519 keys).

    The config goes in on stdin and the request comes back on stdout: of the
    files, only the key is written (creating files is a good part of a leaf's
    cost when a run makes hundreds).  ``after`` is waited for once the key is
    under way, before the config is rendered (see ``start_ca``'s ``requested``).
    """
    cert_path, key_path = staging / spec.cert_file, staging / spec.key_file
    if spec.bundle:
        for folder in (cert_path.parent.parent, cert_path.parent):
            if not folder.is_dir():
                folder.mkdir(mode=DIR_MODE, exist_ok=True)
    new_key = NewKey(openssl, key_path, spec.key)
    after()
    config = _ISSUER_BOUND.sub("", leaf_config(spec, templates)).encode()
    request = openssl.run(["req", "-new", *new_key.req_args(), "-config", "/dev/stdin",
                           "-reqexts", "extensions",
                           *digest_args(spec.key.kind, spec.key.bits)], stdin=config)
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in request:
        raise OutputError(f"openssl exited 0 but wrote no request for {key_path.name}")
    _check_not_empty(key_path)
    return LeafRequest(spec, cert_path, key_path, request)


def sign_leaves(openssl: OpenSSL, staging: Path, signer: Authority,
                requests: Sequence[LeafRequest], templates: Templates = SHIPPED,
                batch: int = 0, trust: Callable[[], Authority] | None = None
                ) -> list[Certificate]:
    """Sign every request with ``signer``, then check what openssl made.

    One ``openssl ca`` call signs all the leaves of one validity, with exact dates
    and random serials; each certificate goes to the leaf whose key it holds.
    Then each is compared with what was asked, and all of one role are checked
    by one ``openssl verify -x509_strict -purpose`` call.  A leaf starts
    ``BACKDATE`` before now, but never before its CA.  ``batch`` numbers the call
    when several sign parts of one run.  ``trust`` gives the CA the leaves are
    checked against, when ``signer`` is a provisional one (see ``start_ca``).
    """
    work = staging / f"{SIGNING}-{batch}"
    work.mkdir(mode=DIR_MODE)
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = max(now - BACKDATE, signer.starts)
    groups: dict[datetime.timedelta, list[LeafRequest]] = {}
    for request in requests:
        groups.setdefault(request.spec.lifetime, []).append(request)
    keys = run_all([functools.partial(_public_key_of_file, openssl, r.key_path)
                    for r in requests], 2)
    owner = dict(zip(keys, requests))
    if len(owner) != len(requests):
        raise OutputError("openssl made the same key twice")
    size = descriptor_budget((os.cpu_count() or 1) + 1)  # each request is a descriptor
    calls = [(lifetime, group[start:start + size]) for lifetime, group in sorted(groups.items())
             for start in range(0, len(group), size)]
    issued: dict[Path, Certificate] = {}
    made: dict[Path, Path] = {}  # the file openssl wrote, when it holds just the leaf
    for index, (lifetime, group) in enumerate(calls):
        folder = work / str(index)
        folder.mkdir(mode=DIR_MODE)
        write_private(folder / "signing.cnf", _signing_config(copy=True).encode(), 0o600)
        write_private(folder / "index.txt", b"", 0o600)
        write_private(folder / "serial", random_serial().encode() + b"\n", 0o600)
        digest = digest_name(signer.certificate.key_type, signer.certificate.key_bits)
        with _request_inputs(folder, group) as (inputs, inherit), \
                _signing_key(signer) as (keyfile, key_inherit):
            openssl.run(["ca", "-batch", "-config", folder / "signing.cnf",
                         "-cert", signer.cert_path, "-keyfile", keyfile,
                         "-outdir", folder, "-extensions", "signing_extensions",
                         "-startdate", _utc(not_before), "-enddate", _utc(now + lifetime),
                         "-md", digest, "-notext", "-preserveDN", "-rand_serial",
                         "-infiles", *inputs],
                        cwd=folder, secrets=signer.secrets, inherit=[*inherit, *key_inherit])
        for path in folder.glob("*.pem"):
            pem = read_limited(path)
            certificate = parse_pem(pem, path)[0]
            signed = owner.get(certificate.public_key_der)
            if signed is None or signed not in group:
                raise OutputError(f"openssl signed a certificate for no key it was asked for "
                                  f"({path.name})")
            issued[signed.cert_path] = certificate
            if pem == certificate.pem:
                made[signed.cert_path] = path
    authority = trust() if trust is not None else signer
    for cert_path, certificate in issued.items():
        # As Go finds a leaf's CA: by the exact bytes of its name, and its key identifier.
        if not certificate.issued_by(authority.certificate):
            raise OutputError(f"openssl made {cert_path.name} with an issuer name or key "
                              f"identifier other than {CA_CERT}'s" + templates.blame())
    _place_and_check(openssl, requests, issued, authority.chain_pem, authority.trust_path,
                     authority.chain_path, templates, made)
    shutil.rmtree(work)
    return [issued[r.cert_path] for r in requests]


@contextmanager
def _request_inputs(folder: Path, requests: Sequence[LeafRequest]
                    ) -> Iterator[tuple[list[Argument], list[int]]]:
    """The ``-infiles`` arguments for ``requests`` and the descriptors behind them:
    each request in a pipe (``/dev/fd/N``), or, larger than a pipe holds, in a file
    in ``folder``."""
    inputs: list[Argument] = []
    inherit: list[int] = []
    try:
        for number, request in enumerate(requests):
            descriptor = input_pipe(request.request)
            if descriptor is None:
                spilled = folder / f"request-{number}.csr"
                write_private(spilled, request.request, 0o600)
                inputs.append(spilled)
            else:
                inherit.append(descriptor)
                inputs.append(f"/dev/fd/{descriptor}")
        yield inputs, inherit
    finally:
        for descriptor in inherit:
            os.close(descriptor)


@contextmanager
def _signing_key(signer: Authority) -> Iterator[tuple[Argument, list[int]]]:
    """The ``-keyfile`` argument for ``signer`` and the descriptor behind it: a CA read
    from a folder hands its key over through a pipe (``/dev/fd/N``); a CA made in this
    run signs with its key in the staging folder."""
    descriptor = input_pipe(signer.key_pem) if signer.key_pem is not None else None
    if descriptor is None:
        if signer.key_pem is not None:
            raise OutputError(f"{signer.key_path} is too large to be a private key")
        yield signer.key_path, []
        return
    try:
        yield f"/dev/fd/{descriptor}", [descriptor]
    finally:
        os.close(descriptor)


def _place_and_check(openssl: OpenSSL, requests: Sequence[LeafRequest],
                     issued: dict[Path, Certificate], chain_pem: bytes, trust_path: Path,
                     chain_path: Path | None, templates: Templates,
                     made: dict[Path, Path] | None = None) -> None:
    """Write each leaf with the intermediates a peer trusting only the root needs,
    compare it with what was asked, and verify all of one role in one call (the two
    roles at once).  ``made``: files openssl wrote that hold exactly a leaf, renamed
    into place rather than copied when there are no intermediates."""
    for request in requests:
        if request.cert_path not in issued:
            raise OutputError(f"no certificate was signed for {request.key_path.name}, or "
                              "one that does not match it" + templates.blame())
        source = (made or {}).get(request.cert_path)
        if source is not None and not chain_pem:
            os.chmod(source, CERT_MODE)
            os.rename(source, request.cert_path)
        else:
            write_private(request.cert_path, issued[request.cert_path].pem + chain_pem,
                          CERT_MODE)
        check_issued(issued[request.cert_path], request.spec, request.cert_path,
                     templates.blame())
    by_role = {role: [r.cert_path for r in requests if r.spec.role == role]
               for role in ("server", "client")}
    run_all([functools.partial(verify_leaves, openssl, trust_path, paths, role,
                               hint=templates.blame(), untrusted=chain_path)
             for role, paths in by_role.items() if paths], 2)  # the roles side by side


def _public_key_of_file(openssl: OpenSSL, key_path: Path) -> bytes:
    """A new key's public half (see ``public_half``)."""
    return public_half(openssl, read_limited(key_path), key_path.name)


def issue_leaf(openssl: OpenSSL, staging: Path, authority: Callable[[], Authority],
               spec: LeafSpec, templates: Templates = SHIPPED) -> Certificate:
    """One leaf: its request, then its signature by ``authority()`` and the checks."""
    request = request_leaf(openssl, staging, spec, templates)
    return sign_leaves(openssl, staging, authority(), [request], templates)[0]


def check_issued(certificate: Certificate, spec: LeafSpec, cert_path: Path,
                 hint: str = "") -> None:
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
        raise OutputError(f"openssl made {cert_path} wrongly: {'; '.join(problems)}" + hint)


class VerifyFailed(OutputError):
    """A certificate failed ``openssl verify -x509_strict`` with its purpose."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def verify_leaves(openssl: OpenSSL, ca_path: Path, paths: Sequence[Path], role: str,
                  hint: str = "", untrusted: Path | None = None) -> None:
    """``verify_leaf`` for many certificates of one role, in one openssl call; on a
    failure, each is verified alone so that the message names the one at fault."""
    failed = unverified(openssl, ca_path, paths, role, untrusted)
    for path in failed:
        verify_leaf(openssl, ca_path, path, role, hint=hint, untrusted=untrusted)
    if failed:
        raise OutputError(f"`openssl verify` failed on the certificates of {ca_path.name}"
                          + hint)


def unverified(openssl: OpenSSL, ca_path: Path, paths: Sequence[Path], role: str,
               untrusted: Path | None = None, check_time: bool = True,
               inherit: Sequence[int] = ()) -> list[Path]:
    """The certificates among ``paths`` that one ``openssl verify -x509_strict`` call
    (with the role's purpose) does not report OK: a process for all, not one each.
    ``inherit``: the descriptors behind ``/dev/fd/N`` paths."""
    purpose = _PURPOSES[role][0]
    try:
        output = openssl.run(["verify", "-x509_strict", "-purpose", purpose,
                              *([] if check_time else ["-no_check_time"]), "-CAfile", ca_path,
                              *_untrusted(untrusted), *paths], inherit=inherit)
    except OpenSSLFailed as failure:  # one failed: its stdout still names those that passed
        output = failure.stdout
    # Matched as bytes, whole lines: the folder's name may hold a newline or bytes that
    # are not UTF-8.
    said = b"\n" + output
    return [path for path in paths if b"\n" + os.fsencode(path) + b": OK\n" not in said]


def _untrusted(path: Path | None) -> list[Argument]:
    """The intermediates openssl may use to build a path, never as trust anchors."""
    return ["-untrusted", path] if path else []


def verify_leaf(openssl: OpenSSL, ca_path: Path, cert: Path | bytes, role: str | None,
                check_time: bool = True, hint: str = "", untrusted: Path | None = None) -> None:
    """``openssl verify -x509_strict`` with the leaf's TLS purpose against the CA
    (``role`` None: no purpose, as for a CA against itself).

    ``cert`` is a file, or PEM bytes given on stdin.  ``check_time=False`` leaves
    dates out, for callers that report them separately.
    """
    purpose = ["-purpose", _PURPOSES[role][0]] if role else []
    shown = cert.name if isinstance(cert, Path) else "the certificate"
    try:
        output = openssl.run(["verify", "-x509_strict", *purpose,
                              *([] if check_time else ["-no_check_time"]),
                              "-CAfile", ca_path, *_untrusted(untrusted),
                              *([cert] if isinstance(cert, Path) else [])],
                             stdin=cert if isinstance(cert, bytes) else None)
        reason = "" if output.rstrip().endswith(b": OK") else output.decode("utf-8", "replace")
    except OpenSSLFailed as failure:
        reason = failure.stderr
    if reason:
        detail = next((line for line in reason.splitlines() if line.startswith("error ")),
                      reason.strip()[:200])
        command = " ".join(["openssl verify -x509_strict", *purpose])
        raise VerifyFailed(f"{shown} fails `{command}` against {ca_path.name}: {detail}{hint}",
                           detail)


def load_authority(openssl: OpenSSL, staging: Path, origin: Path, cert_pem: bytes,
                   key_pem: bytes, passphrase: bytes | None = None, *,
                   replacing: bool = False) -> Authority:
    """The CA read from ``origin`` (its bytes, read once) and checked fit to sign; its
    certificates are copied into ``staging/signer/`` for openssl, never its key.

    ca.pem holds the signing CA, or an organisation's intermediate with the CAs
    above it up to the root, in any order: the certificate that matches ca-key.pem
    signs, its issuers are found by name and key id.  What leaves carry is the
    chain without the root; what ca.pem copies hold is the roots (see ``Authority``).

    Fit: a CA certificate with keyCertSign and a subjectKeyIdentifier, valid now,
    not signed with SHA-1 or MD5, an RSA key of at least 2048 bits, and a key that
    matches it; the CAs above it valid now.  An encrypted CA key needs
    ``passphrase``; an unencrypted one ignores it.  ``replacing``: the CA is read only
    to be replaced (rotate-ca start), so a weak signature or RSA key does not stop it.
    """
    cert_path, key_path = origin / CA_CERT, origin / CA_KEY
    try:
        certificates = parse_pem(cert_pem, cert_path)
    except OutputError as error:
        raise CAProblem(str(error)) from None
    encrypted = is_encrypted(key_pem)
    if encrypted and passphrase is None:
        raise CAProblem(
            f"{key_path} is encrypted: give its passphrase with --ca-passphrase-file FILE "
            "or the MINIPAAS_CA_PASSPHRASE environment variable"
        )
    snapshot = staging / "signer"
    snapshot.mkdir(mode=DIR_MODE)
    secrets = passin(passphrase if encrypted else None)
    public = public_half(openssl, key_pem, key_path, secrets, CAProblem)
    matching = [cert for cert in certificates if cert.public_key_der == public]
    if not matching:
        raise CAProblem(f"{key_path} does not match the certificate {cert_path}"
                        if len(certificates) == 1 else
                        f"{key_path} matches none of the {len(certificates)} certificates "
                        f"in {cert_path}")
    certificate = matching[0]
    _check_fit(certificate, cert_path, replacing)
    chain, root = _path_to_root(certificate, certificates, cert_path)
    # With an intermediate, the trust anchor is its root alone: another root in the
    # file would widen what every daemon and client accepts.
    anchors = [root] if root else [cert for cert in certificates if cert.self_issued]
    strangers = [cert for cert in certificates if cert.der not in
                 {c.der for c in (certificate, *chain, *anchors)}]
    if strangers and chain:
        raise CAProblem(f"{cert_path} holds CN={strangers[0].subject_cn}, which is not on "
                        f"the path from CN={certificate.subject_cn} to its root: keep only "
                        "that path in it")
    if strangers:
        raise CAProblem(f"{cert_path} holds CN={strangers[0].subject_cn}, which is neither on "
                        f"the path from CN={certificate.subject_cn} to its root nor a root")
    anchors_pem = b"".join(cert.pem for cert in anchors) if chain else cert_pem
    write_private(snapshot / SIGNER_FILE, certificate.pem, CERT_MODE)
    write_private(snapshot / CA_CERT, anchors_pem, CERT_MODE)
    # openssl gets the key's bytes checked here through a pipe, never a copy on disk: a
    # copy in the staging folder would outlive a killed run inside --out (an
    # organisation's key among the files handed out), and the file itself could be
    # swapped between this check and openssl's read.
    authority = Authority(snapshot / SIGNER_FILE, key_path, certificate,
                          passphrase if encrypted else None, origin, anchors_pem,
                          tuple(chain), snapshot / CA_CERT, root, key_pem=key_pem)
    if chain:
        write_private(snapshot / CHAIN_FILE, authority.chain_pem, CERT_MODE)
    return authority


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


def _check_fit(certificate: Certificate, cert_path: Path, replacing: bool = False) -> None:
    """A certificate fit to sign what Go (dockerd, the docker CLI) will accept; only its
    shape and dates when ``replacing`` it: rotate-ca start is the way out of a weak CA."""
    if not certificate.is_ca or "keyCertSign" not in certificate.key_usage:
        raise CAProblem(f"{cert_path} is not a CA certificate (CA:TRUE and keyCertSign)")
    if OID_SUBJECT_KEY_ID not in certificate.extensions:
        raise CAProblem(
            f"{cert_path} has no subjectKeyIdentifier: strict X.509 checks (OpenSSL "
            "-x509_strict, Python 3.13, docker-py) reject what it signs"
        )
    if certificate.weak_signature and not replacing:
        # Go never checks a root's own signature, but does check what a root signs.
        why = ("Go (dockerd, the docker CLI) accepts it as a root, but this tool does not "
               "sign with it" if certificate.self_issued else
               "which Go (dockerd, the docker CLI) rejects")
        raise CAProblem(f"{cert_path} is signed with {certificate.weak_signature}, {why}: make "
                        "a new CA with `minipaas certs rotate-ca start`")
    if certificate.key_type in ("rsa", "rsa-pss") and certificate.key_bits < MIN_CA_RSA_BITS \
            and not replacing:
        raise CAProblem(f"{cert_path} has an RSA key of {certificate.key_bits} bits: a CA needs "
                        f"at least {MIN_CA_RSA_BITS}; make a new one with "
                        "`minipaas certs rotate-ca start --key-type ecdsa`")
    _check_valid_now(certificate, cert_path)


def _check_valid_now(certificate: Certificate, cert_path: Path) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    if certificate.not_after <= now:
        raise CAProblem(
            f"the CA CN={certificate.subject_cn} in {cert_path} expired on "
            f"{certificate.not_after:%Y-%m-%d}: create a new one with `minipaas certs all "
            "--force`, or ask for a new one"
        )
    if certificate.not_before > now:
        raise CAProblem(f"the CA CN={certificate.subject_cn} in {cert_path} is valid only from "
                        f"{certificate.not_before:%Y-%m-%d %H:%M} UTC: is a clock wrong?")


def _path_to_root(signer: Certificate, certificates: Sequence[Certificate], cert_path: Path
                  ) -> tuple[list[Certificate], Certificate | None]:
    """The intermediates from ``signer`` (included) up to its root (excluded), and the
    root; ([], None) when the signer is itself a root."""
    chain, current = [], signer
    while not current.self_issued:
        chain.append(current)
        issuer = next((cert for cert in certificates
                       if cert is not current and current.issued_by(cert)), None)
        if issuer is None:
            raise CAProblem(
                f"{cert_path} holds CN={current.subject_cn} but not its issuer "
                f"({current.issuer}): put the CAs above it up to the root into {CA_CERT}, "
                f"in any order (for example `cat intermediate.pem root.pem > {CA_CERT}`)")
        if issuer in chain or len(chain) > len(certificates):
            raise CAProblem(f"{cert_path} holds a loop of CAs issuing each other")
        if not issuer.is_ca or "keyCertSign" not in issuer.key_usage:
            raise CAProblem(f"CN={issuer.subject_cn} in {cert_path} is not a CA certificate")
        _check_valid_now(issuer, cert_path)
        current = issuer
    return chain, (current if chain else None)
