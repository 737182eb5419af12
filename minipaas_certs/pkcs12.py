"""``certs p12``: a client's certificate, its chain and its key as one PKCS#12 file.

Java (keytool, JSSE) and other clients that take a keystore rather than PEM
files get ``client.p12``: the leaf, the CAs above it up to the root that ca.pem
trusts, and the key.  Key and certificates are encrypted with AES-256-CBC
(PBES2, PBKDF2-HMAC-SHA256) under a SHA-256 MAC on every supported OpenSSL:
1.1.1's defaults (RC2-40, 3DES, a SHA-1 MAC) are refused by OpenSSL 3 without
``-legacy`` and by newer Java.  The password reaches openssl through a pipe.
Nothing here prints or exits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import clock
from .certinfo import Certificate, parse_pem
from .docker_config import client_commands
from .errors import CAProblem, Conflict, OutputError, listed
from .files import MAX_SMALL_BYTES, read_limited, write_private
from .identity import CLIENT, Identity, bundles
from .keys import is_encrypted, passin, passout, public_half
from .layout import (
    CERT_MODE,
    CLIENT_P12,
    DIR_MODE,
    GITIGNORE,
    GITIGNORE_TEXT,
    KEY_MODE,
    P12_PATTERN,
)
from .openssl import OpenSSL
from .plan import Progress
from .store import OutputDirectory, refuse_links
from .verify import VerifyFailed, verify_leaf

# Named on every version, as 1.1.1's defaults differ.  The iteration count stays
# OpenSSL's default (2048): 1.1.1's pkcs12 has no -iter, and the MAC, which checks
# the password, would keep 2048 whatever the encryption used.  A long random
# password is what protects the file.
ENCRYPTION = ("-keypbe", "AES-256-CBC", "-certpbe", "AES-256-CBC", "-macalg", "sha256")
_PRIVATE_KEY = (b"-----BEGIN PRIVATE KEY-----", b"-----END PRIVATE KEY-----")


def _issue(out: Path, pair: Identity) -> str:
    """The command(s) that issue the client pair (see ``client_commands``), in backticks."""
    return client_commands(out, pair.name)


def _renew(out: Path, pair: Identity) -> str:
    return f"`{pair.command(out, verb='renew')}`"


@dataclass(frozen=True)
class Contents:
    """What goes into the file: the leaf, the CAs above it (root last), the key."""

    leaf: Certificate
    above: tuple[Certificate, ...]
    key_pem: bytes
    friendly_name: str


def export(openssl: OpenSSL, out: Path, name: str | None, password: bytes, *,
           progress: Progress = lambda _: None) -> list[Path]:
    """Write ``client.p12`` for the default client pair of ``out`` (``name`` None) or
    for its bundle ``clients/NAME``, protected by ``password``; return the files
    written.

    The pair is checked first: a client certificate, valid now, that verifies
    against ca.pem, and a key that matches it.  The new file is read back with
    the password before it replaces an old one.
    """
    pair = Identity(CLIENT, name)
    target_name = pair.file(CLIENT_P12)
    refuse_links(out, [target_name])
    _refuse_missing_folder(out, pair)
    target = out / target_name
    if os.path.lexists(target) and not (target.is_symlink() or target.is_file()):
        raise Conflict(f"{target} exists and is not a file: move it away (the keystore "
                       "replaces only a file of that name)")
    openssl.version  # noqa: B018 - fail early if openssl is missing or too old; runs once
    with OutputDirectory(out) as store:
        try:
            contents = _read_pair(openssl, out, pair)
            work = store.staging / "work-p12"
            work.mkdir(mode=DIR_MODE)
            _verify(openssl, work, out, pair, contents)
            progress(f"Writing {out / target_name}: CN={contents.leaf.subject_cn}, its key "
                     f"and its chain up to CN={contents.above[-1].subject_cn}; AES-256-CBC, "
                     "SHA-256 MAC")
            data = _pkcs12(openssl, work, contents, password)
            _read_back(openssl, data, contents, password, out / target_name)
        finally:
            openssl.reap()
        store.stage(target_name, data, KEY_MODE)
        files = {target_name: KEY_MODE}
        _ignore_p12(store, files, progress)
        # A replaced client.p12 is not kept in a backup folder: it is derived from the
        # pair still in place, and a kept copy would be one more copy of the private
        # key on disk, under a password that may be the one being retired.
        written, _ = store.commit(files)
        return written


def _refuse_missing_folder(out: Path, pair: Identity) -> None:
    """Before the lock, which would create ``out``: say what is missing, change nothing."""
    folder = pair.directory(out)
    if folder.is_dir():
        return
    if pair.name and out.is_dir():
        present = listed(bundle.name for bundle in bundles(out, CLIENT))
        raise CAProblem(f"no client bundle {folder} (present: {present}): create it with "
                        f"{_issue(out, pair)}")
    raise CAProblem(f"no client pair in {out} (no such folder): create one with "
                    f"{_issue(out, pair)}")


def _read(out: Path, relative: str, pair: Identity) -> bytes:
    path = out / relative
    if not os.path.lexists(path):
        raise CAProblem(f"{path} is missing: create the pair with {_issue(out, pair)}")
    return read_limited(path, error=CAProblem)


def _read_pair(openssl: OpenSSL, out: Path, pair: Identity) -> Contents:
    """The pair and its chain, read once and checked: a client certificate valid now,
    a key in clear that matches it, a CA in ca.pem that issued the last of the chain."""
    cert_path, key_path, ca_path = out / pair.cert, out / pair.key, out / pair.ca
    cert_pem, key_pem, ca_pem = (_read(out, file, pair) for file in (pair.cert, pair.key,
                                                                       pair.ca))
    try:
        leaf, *intermediates = parse_pem(cert_pem, cert_path)
        anchors = parse_pem(ca_pem, ca_path)
    except OutputError as error:
        raise CAProblem(str(error)) from None
    if leaf.is_ca or CLIENT.eku_oid not in leaf.extended_key_usage:
        raise CAProblem(f"{cert_path} is not a client certificate (extendedKeyUsage "
                        f"clientAuth): issue one with {_issue(out, pair)}")
    if leaf.not_after <= clock.now():
        raise CAProblem(f"{cert_path} expired on {leaf.not_after:%Y-%m-%d}: renew it with "
                        f"{_renew(out, pair)}")
    if is_encrypted(key_pem):
        raise CAProblem(f"{key_path} is encrypted; the docker CLI and this tool use client "
                        f"keys in clear: issue a new pair with {_issue(out, pair)}")
    if public_half(openssl, key_pem, key_path, error=CAProblem) != leaf.public_key_der:
        raise CAProblem(f"{key_path} does not match the certificate {cert_path}: issue a "
                        f"new pair with {_issue(out, pair)}")
    top = intermediates[-1] if intermediates else leaf
    root = next((anchor for anchor in anchors if top.issued_by(anchor)), None)
    if root is None:
        raise CAProblem(f"{cert_path} was not issued by a CA in {ca_path} (a replaced CA?): "
                        f"renew it with {_renew(out, pair)}")
    return Contents(leaf, (*intermediates, root), key_pem, pair.name or leaf.subject_cn
                    or "client")


def _verify(openssl: OpenSSL, work: Path, out: Path, pair: Identity,
            contents: Contents) -> None:
    """``openssl verify`` with the client purpose, on the tool's copies: the chain in
    the file is one a server that trusts the root accepts."""
    *intermediates, root = contents.above
    write_private(work / "leaf.pem", contents.leaf.pem, CERT_MODE)
    write_private(work / "root.pem", root.pem, CERT_MODE)
    write_private(work / "above.pem", b"".join(cert.pem for cert in contents.above), CERT_MODE)
    write_private(work / "leaf-key.pem", contents.key_pem, KEY_MODE)
    untrusted = None
    if intermediates:
        untrusted = work / "intermediates.pem"
        write_private(untrusted, b"".join(cert.pem for cert in intermediates), CERT_MODE)
    try:
        verify_leaf(openssl, work / "root.pem", work / "leaf.pem", pair.role,
                    untrusted=untrusted)
    except VerifyFailed as failure:
        raise CAProblem(f"{out / pair.cert} does not verify against {out / pair.ca} as a "
                        f"client certificate ({failure.detail}): renew it with "
                        f"{_renew(out, pair)}") from None


def _pkcs12(openssl: OpenSSL, work: Path, contents: Contents, password: bytes) -> bytes:
    """The PKCS#12 bytes, on openssl's stdout: the file is created by the store, 0600
    from the start, never by openssl under the umask."""
    data = openssl.run(["pkcs12", "-export", "-in", work / "leaf.pem",
                        "-inkey", work / "leaf-key.pem", "-certfile", work / "above.pem",
                        "-name", contents.friendly_name, *ENCRYPTION],
                       secrets=passout(password))
    if not data:
        raise OutputError("openssl pkcs12 exited 0 but wrote nothing (is the disk full?)")
    return data


def _read_back(openssl: OpenSSL, data: bytes, contents: Contents, password: bytes,
               shown: Path) -> None:
    """Open the new file with the password (MAC and decryption) and compare what it
    holds with what was put in."""
    text = openssl.run(["pkcs12", "-nodes"], stdin=data, secrets=passin(password))
    certificates = parse_pem(text, shown)
    wanted = {cert.der for cert in (contents.leaf, *contents.above)}
    keys = _private_keys(text)
    if {cert.der for cert in certificates} != wanted or len(certificates) != len(wanted) \
            or len(keys) != 1 \
            or public_half(openssl, keys[0], shown) != contents.leaf.public_key_der:
        raise OutputError(f"openssl made {shown} wrongly: reading it back does not give "
                          "the certificate, its chain and its key")


def _private_keys(text: bytes) -> list[bytes]:
    """The unencrypted PKCS#8 blocks in openssl's PEM output."""
    keys, current = [], None
    for line in (line.strip() for line in text.splitlines()):
        if line == _PRIVATE_KEY[0]:
            current = [line]
        elif current is not None:
            current.append(line)
            if line == _PRIVATE_KEY[1]:
                keys.append(b"\n".join(current) + b"\n")
                current = None
    return keys


def _ignore_p12(store: OutputDirectory, files: dict[str, int],
                progress: Progress) -> None:
    """Keep client.p12 out of version control, like the keys: a new .gitignore, or
    ``*.p12`` added to the one this tool wrote before it knew of the file."""
    if store.write_new(GITIGNORE, GITIGNORE_TEXT, CERT_MODE):
        files[GITIGNORE] = CERT_MODE
        return
    path = store.path / GITIGNORE
    try:
        text = read_limited(path, MAX_SMALL_BYTES)
    except OutputError:
        text = b""
    pattern = P12_PATTERN.encode()
    lines = {line.strip() for line in text.splitlines()}
    if lines & {pattern, CLIENT_P12.encode(), b"*"}:
        return
    if text.startswith(GITIGNORE_TEXT.encode().split(b"\n", 1)[0]):
        store.stage(GITIGNORE, text.rstrip(b"\n") + b"\n" + pattern + b"\n", CERT_MODE)
        files[GITIGNORE] = CERT_MODE
        return
    progress(f"Warning: {path} does not ignore {P12_PATTERN}: add it, so that {CLIENT_P12} cannot "
             "reach version control")
