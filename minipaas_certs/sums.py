"""SHA256SUMS of a directory's public files, for carrying certificates across an air gap.

The file uses ``sha256sum``'s format, so ``sha256sum -c SHA256SUMS`` checks it as
well as ``minipaas certs verify-sums``.  Public files are the certificates (every
``*.pem`` but the keys) at the top and in ``clients/*/``; keys are left out.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

from .certinfo import Certificate, public_key_of_private, read_certificates, starts_later
from .errors import InvalidInput, OpenSSLFailed, OutputError
from .files import read_limited, write_private
from .identity import Role, certs_command, role_of
from .keys import public_key_of
from .layout import (
    BUNDLE_FOLDERS,
    CA_CERT,
    CA_KEY,
    CLI_CERT,
    CLI_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
    REVOKED_FILE,
    SERVER_CERT,
    SERVER_KEY,
    SUMS_FILE,
    is_public,
    public_files,
)
from .openssl import OpenSSL
from .plan import time_left
from .verify import VerifyFailed, verify_leaf

_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)\Z")


def render(digests: Mapping[str, str]) -> str:
    """The SHA256SUMS text for these files (name -> SHA-256 in hex), sorted by name."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))


class Mismatch(NamedTuple):
    """A file that SHA256SUMS does not vouch for."""

    file: str
    message: str


def verify(directory: Path, sums: Path | None = None) -> tuple[int, list[Mismatch]]:
    """Check every file SHA256SUMS lists, and that it lists every public file.

    ``sums``: the listing is that file (the sender's, carried apart), not the
    directory's own.  Returns how many files matched, and what did not.
    """
    if not directory.is_dir():  # a mistyped folder: not a SHA256SUMS to re-generate
        raise OutputError(f"{directory} is not a directory")
    path = sums or directory / SUMS_FILE
    if sums is None and not path.is_file():
        if not public_files(directory):  # nothing this tool wrote: nothing to re-generate
            return 0, [Mismatch(SUMS_FILE, f"missing, and {directory} holds no certificate: "
                                           "is it the folder you meant?")]
        return 0, [Mismatch(SUMS_FILE, f"missing: re-generate it with any `{certs_command()}` "
                                       "command that writes the directory")]
    listed, problems = _listing(path, sums is not None)
    label = str(sums) if sums else SUMS_FILE
    if listed is None:
        return 0, problems
    matched, found = _compare(directory, {name: (name, digest)
                                          for name, digest in listed.items()}, label)
    problems += found
    for name in public_files(directory):
        if name not in listed:
            problems.append(Mismatch(name, f"not listed in {label}"))
    return matched, problems


def _listing(path: Path, given: bool) -> tuple[dict[str, str] | None, list[Mismatch]]:
    """The names and SHA-256 a SHA256SUMS file lists, and its faulty lines; None when it
    cannot be read (``given``: named by --sums, a usage error then)."""
    label = str(path) if given else SUMS_FILE
    try:
        text = read_limited(path, error=InvalidInput if given else OutputError
                            ).decode("utf-8", "replace")
    except InvalidInput as error:
        raise InvalidInput(f"--sums: {error}") from None
    except OutputError as error:
        return None, [Mismatch(label, str(error))]
    listed: dict[str, str] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.match(line)
        if not match or not is_public(match.group(2)) or ".." in match.group(2).split("/"):
            problems.append(Mismatch(label, f"line {number} is not a checksum of a "
                                            "certificate file"))
            continue
        if match.group(2) in listed:
            if listed[match.group(2)] != match.group(1):  # sha256sum -c fails one of them
                problems.append(Mismatch(label, f"line {number} lists {match.group(2)} "
                                                "again, with another SHA-256"))
            continue
        listed[match.group(2)] = match.group(1)
    return listed, problems


def _compare(directory: Path, expected: Mapping[str, tuple[str, str]], label: str
             ) -> tuple[int, list[Mismatch]]:
    """Each file of ``directory`` named in ``expected`` (-> its name in the listing, its
    SHA-256) against that SHA-256: how many matched, and what did not."""
    matched, problems = 0, []
    for name, (listed_as, digest) in sorted(expected.items()):
        where = label if listed_as == name else f"{label} ({listed_as})"
        file = directory / name
        if not os.path.lexists(file):
            problems.append(Mismatch(name, f"listed in {where} but missing"))
            continue
        try:
            data = read_limited(file)
        except OutputError as error:
            problems.append(Mismatch(name, str(error)))
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            problems.append(Mismatch(name, f"its SHA-256 differs from {where}: changed "
                                           "or damaged since it was written"))
        else:
            matched += 1
    return matched, problems


# --- a bundle its receiver holds: servers/m1 copied to /etc/docker, clients/ci to a CI host

_PAIRS = ((SERVER_CERT, SERVER_KEY), (CLI_CERT, CLI_KEY), (CLIENT_CERT, CLIENT_KEY))


def received_pair(directory: Path) -> tuple[str, str] | None:
    """The certificate and key of a handed-over bundle in ``directory`` (one folder with
    ca.pem and a pair, no SHA256SUMS, no CA key, no bundles or revoked.json of its own),
    or None: a folder of the sender's.  A server pair beside a client pair is the
    sender's top level too, its CA elsewhere (no ca-key.pem) and its SHA256SUMS lost:
    no bundle holds both, and taken for one, a change to the other pair would pass."""
    if any(os.path.lexists(directory / name)
           for name in (SUMS_FILE, CA_KEY, REVOKED_FILE, *BUNDLE_FOLDERS)) \
            or not os.path.lexists(directory / CA_CERT):
        return None
    pairs = [pair for pair in _PAIRS if os.path.lexists(directory / pair[0])]
    if _PAIRS[0] in pairs and len(pairs) > 1:
        return None
    return next(iter(pairs), None)


class Received(NamedTuple):
    """What verify-sums found in a handed-over bundle."""

    checked: list[str]  # what held, in words
    problems: list[Mismatch]
    bundle: str | None  # its folder in the sender's listing (``--sums``), if found
    matched: int


def verify_received(openssl: OpenSSL, directory: Path, pair: tuple[str, str],
                    sums: Path | None, now: datetime.datetime) -> Received:
    """What a receiver can check without the sender's SHA256SUMS (the key matches the
    certificate, which verifies against ca.pem for its role's purpose and is within its
    dates), and with it (``sums``) that each file is the one the sender wrote."""
    cert_name, key_name = pair
    checked, problems = _pair_checks(openssl, directory, cert_name, key_name, now)
    if sums is None:
        return Received(checked, problems, None, 0)
    listed, faults = _listing(sums, True)
    problems += faults
    bundle = _bundle_of(directory / cert_name, cert_name, listed or {})
    if bundle is None:
        problems.append(Mismatch(cert_name, f"its SHA-256 is listed nowhere in {sums}: "
                                            "changed or damaged since it was written, or "
                                            "that is another folder's SHA256SUMS"))
        return Received(checked, problems, None, 0)
    prefix = f"{bundle}/" if bundle else ""
    expected = {name[len(prefix):]: (name, digest) for name, digest in (listed or {}).items()
                if name.startswith(prefix) and "/" not in name[len(prefix):]}
    if not bundle:  # the sender's top-level pair: only the files handed over
        expected = {name: value for name, value in expected.items()
                    if os.path.lexists(directory / name)}
    matched, found = _compare(directory, expected, str(sums))
    problems += found
    problems += [Mismatch(name, f"not listed for {bundle or 'the top level'} in {sums}")
                 for name in public_files(directory) if name not in expected]
    return Received(checked, problems, bundle, matched)


def _bundle_of(cert_path: Path, cert_name: str, listed: Mapping[str, str]) -> str | None:
    """The folder (``servers/m1``; "" for the top level) whose certificate in the listing
    is this one, by its SHA-256; None if none is."""
    try:
        digest = hashlib.sha256(read_limited(cert_path)).hexdigest()
    except OutputError:
        return None
    names = sorted(name for name, value in listed.items() if value == digest)
    # A bundle names its certificate cert.pem or server-cert.pem; the top-level client
    # pair is listed as client-cert.pem and its copy cert.pem.
    return next((name.rpartition("/")[0] for name in names
                 if name.rpartition("/")[2] == cert_name), None)


def _pair_checks(openssl: OpenSSL, directory: Path, cert_name: str, key_name: str,
                 now: datetime.datetime) -> tuple[list[str], list[Mismatch]]:
    checked: list[str] = []
    problems: list[Mismatch] = []
    try:
        found = read_certificates(directory / cert_name)
    except OutputError as error:
        return checked, [Mismatch(cert_name, str(error))]
    leaf, chain = found[0], found[1:]
    role = role_of(leaf)
    try:
        key_pem = read_limited(directory / key_name)
        public = public_key_of_private(key_pem) or public_key_of(openssl, key_pem)
    except (OutputError, OpenSSLFailed):
        problems.append(Mismatch(key_name, "missing, or not a readable private key"))
    else:
        if public == leaf.public_key_der:
            checked.append(f"{key_name} matches {cert_name}")
        else:
            problems.append(Mismatch(key_name, f"does not match {cert_name}"))
    if role is None:
        problems.append(Mismatch(cert_name, "neither a server nor a client certificate"))
    else:
        try:
            _verify(openssl, directory, leaf, chain, role)
        except VerifyFailed as failure:
            problems.append(Mismatch(cert_name, f"does not verify as a {role} certificate "
                                                f"against {CA_CERT} ({failure.detail})"))
        except OutputError as error:
            problems.append(Mismatch(CA_CERT, str(error)))
        else:
            checked.append(f"{cert_name} verifies as a {role} certificate against {CA_CERT}")
    later = starts_later(leaf, now)
    if leaf.not_after <= now:
        problems.append(Mismatch(cert_name, f"expired on {leaf.not_after:%Y-%m-%d %H:%M} UTC"))
    elif later:
        problems.append(Mismatch(cert_name, f"not yet valid: {later}"))
    else:
        checked.append(f"{cert_name} is valid until {leaf.not_after:%Y-%m-%d %H:%M} UTC "
                       f"({time_left(leaf.not_after - now)} left)")
    return checked, problems


def _verify(openssl: OpenSSL, directory: Path, leaf: Certificate,
            chain: Sequence[Certificate], role: Role) -> None:
    """``verify_leaf`` of a leaf read here, against a copy of ca.pem read here (openssl
    opens no file of the folder by name), dates left out (reported apart)."""
    import tempfile

    ca_pem = b"".join(ca.pem for ca in read_certificates(directory / CA_CERT))
    with tempfile.TemporaryDirectory(prefix="minipaas-sums-") as work:
        ca_copy, untrusted = Path(work) / CA_CERT, Path(work) / "chain.pem"
        write_private(ca_copy, ca_pem, 0o600)
        if chain:
            write_private(untrusted, b"".join(link.pem for link in chain), 0o600)
        verify_leaf(openssl, ca_copy, leaf.pem, role, check_time=False,
                    untrusted=untrusted if chain else None)
