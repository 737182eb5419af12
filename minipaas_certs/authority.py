"""A CA that can sign: made in this run (``start_ca``, ``finish_ca``) or loaded from a
folder (``load_authority``), and checked fit to sign what Go accepts.

Each function here works on files in a private staging folder; nothing in this
module decides where files end up (see ``generate``).
"""

from __future__ import annotations

import datetime
import os
import shutil
import stat
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from . import clock
from .certinfo import OID_SUBJECT_KEY_ID, Certificate, parse_pem
from .errors import CAProblem, Conflict, OutputError, quote
from .files import read_limited, write_private
from .identity import PROGRAM, certs_command
from .keys import (
    NewKey,
    check_key_matches,
    digest_args,
    digest_name,
    is_encrypted,
    passin,
    public_half,
)
from .layout import CA_CERT, CA_KEY, CERT_MODE, DIR_MODE
from .openssl import OpenSSL
from .plan import BACKDATE, CLOCK_MARGIN, DAY, HOUR, KeySpec, as_option
from .render import CA_TEMPLATE, SHIPPED, Templates
from .store import OutputDirectory, same_directory, unfinished
from .verify import verify_leaf

MIN_CA_RSA_BITS = 2048
# `openssl ca` needs a database; each certificate gets a throw-away one, so that
# the dates can be set (`req -x509` and `x509 -req` take only -days before 3.4).
def signing_config(copy: bool = False) -> str:
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
        now = clock.now()
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


def utc_time(moment: datetime.datetime) -> str:
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
    write_private(config, templates.render(CA_TEMPLATE, common_name=common_name).encode(), 0o600)
    now = clock.now().replace(microsecond=0)  # as written
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
    write_private(work / "signing.cnf", signing_config().encode(), 0o600)
    write_private(work / "index.txt", b"", 0o600)
    write_private(work / "serial", f"{made.serial:032X}\n".encode(), 0o600)  # the same
    not_before = provisional.starts
    openssl.run(["ca", "-batch", "-config", work / "signing.cnf", "-selfsign",
                 "-keyfile", provisional.key_path, "-cert", provisional.cert_path,
                 "-ss_cert", provisional.cert_path, "-out", cert_path,
                 "-extfile", work / "ca.cnf", "-extensions", "extensions",
                 "-startdate", utc_time(not_before),
                 "-enddate", utc_time(not_before + BACKDATE + datetime.timedelta(days=days)),
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


def read_ca(store: OutputDirectory, source: Path, *, elsewhere: bool = True
            ) -> tuple[bytes, bytes]:
    """ca.pem and ca-key.pem of ``source``, read once.

    When ``source`` is not the directory this run holds, they are read under a
    shared lock that ``store`` then keeps until the run ends: openssl reads the CA
    key where it lies (no copy of it is ever written), and no other run can
    replace it meanwhile.  A change that a crashed run left there is undone first
    (its CA files may be uncommitted ones, whose key the next run there would drop).
    ``elsewhere``: the command takes --ca-dir, which a missing CA's message then names.
    """
    if same_directory(source, store.path):
        return read_ca_files(source, elsewhere)
    store.share(source)
    if not unfinished(source):
        return read_ca_files(source)
    store.unshare(source)
    try:  # a journal seen under the shared lock is a crashed run's: no run is moving files
        with OutputDirectory(source):
            pass  # entering recovers, as any run on that directory would
    except Conflict:
        raise Conflict(f"another {PROGRAM} run is changing {source}; try again when "
                       "it ends") from None
    store.share(source)
    if unfinished(source):
        raise Conflict(f"{source} holds an unfinished change by a run that crashed "
                       "again; try again")
    return read_ca_files(source, elsewhere)


def read_ca_files(source: Path, elsewhere: bool = True) -> tuple[bytes, bytes]:
    """ca.pem and ca-key.pem of ``source``, or the CAProblem a run signing from them
    meets first (a --dry-run reads them, and no more, to refuse as that run would)."""
    cert_path, key_path = source / CA_CERT, source / CA_KEY
    missing = [path.name for path in (cert_path, key_path) if not os.path.lexists(path)]
    if len(missing) == 2:
        raise CAProblem(
            f"no CA in {source} ({CA_CERT} and {CA_KEY} are missing): create one with "
            f"`{certs_command('ca', out=source)}`"
            + (", or name its folder with --ca-dir" if elsewhere else "")
        )
    if missing:
        raise CAProblem(
            f"{source / missing[0]} is missing: signing needs both {CA_CERT} and {CA_KEY}; "
            "name the folder that holds both with --ca-dir"
        )
    _refuse_unprotected(key_path)
    return (read_limited(cert_path, error=CAProblem), read_limited(key_path, error=CAProblem))


def _refuse_unprotected(key_path: Path) -> None:
    """A CA key others can read is refused, as ssh refuses such a private key: signing
    with it would hide that it may have leaked."""
    try:
        info = os.stat(key_path)  # the file read, through a symlink
    except OSError:
        return  # reading it says what is wrong
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISREG(info.st_mode) and mode & 0o077:  # a device or FIFO: refused as such
        raise CAProblem(f"UNPROTECTED PRIVATE KEY FILE: {key_path} is open to others "
                        f"(mode {mode:04o}): run `chmod 600 {quote(key_path)}`")


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
                        f"a new CA with `{certs_command('rotate-ca', 'start')}`")
    if certificate.key_type in ("rsa", "rsa-pss") and certificate.key_bits < MIN_CA_RSA_BITS \
            and not replacing:
        raise CAProblem(f"{cert_path} has an RSA key of {certificate.key_bits} bits: a CA needs "
                        f"at least {MIN_CA_RSA_BITS}; make a new one with "
                        f"`{certs_command('rotate-ca', 'start', '--key-type', 'ecdsa')}`")
    _check_valid_now(certificate, cert_path)


def _check_valid_now(certificate: Certificate, cert_path: Path) -> None:
    now = clock.now()
    if certificate.not_after <= now:
        raise CAProblem(
            f"the CA CN={certificate.subject_cn} in {cert_path} expired on "
            f"{certificate.not_after:%Y-%m-%d}: create a new one with "
            f"`{certs_command('all', '--force')}`, or ask for a new one"
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
