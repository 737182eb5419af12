"""The record of revoked identities: ``revoked.json`` in the output directory.

No Docker daemon checks a CRL, so revocation is a new CA (see ``generate``); this
record keeps what the backups alone would not say at a glance: who was cut off,
which certificate they held, and when.  It is plain JSON, written by the same
journaled commit as the certificates, and listed in SHA256SUMS.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .certinfo import Certificate, read_certificate
from .errors import InvalidInput, OutputError, listed, quote
from .files import read_limited
from .identity import CLIENT, ROLES, Identity, Role, bundles, certs_command
from .layout import REVOKED_FILE, is_bundle_name

RECORD_VERSION = 1


@dataclass(frozen=True)
class Revocation:
    """One identity cut off: its bundle, the certificate it held, and when.  Its fields
    are the record's, as revoked.json holds them (the role by its name)."""

    role: str
    name: str
    common_name: str
    serial: str  # hexadecimal, lower case, as `certs show` prints it (openssl: upper case)
    sha256: str
    issuer: str
    not_after: str  # ISO 8601: until when it would have been valid
    revoked_at: str

    @classmethod
    def of(cls, bundle: Identity, certificate: Certificate,
           now: datetime.datetime) -> Revocation:
        return cls(bundle.role.name, bundle.name or "", certificate.subject_cn or "",
                   f"{certificate.serial:x}", certificate.fingerprint,
                   certificate.issuer_cn or "", certificate.not_after.isoformat(),
                   now.replace(microsecond=0).isoformat())

    @property
    def identity(self) -> Identity:
        """The bundle cut off, or (no name) the role's top-level pair (a record ``read``
        accepts names a role, and a bundle or none)."""
        return Identity(ROLES[self.role], self.name or None)

    def line(self) -> str:
        return (f"{self.identity.label}  CN={self.common_name}  serial "
                f"{self.serial}  issuer CN={self.issuer}  revoked {self.revoked_at}")


def read(directory: Path) -> list[Revocation]:
    """The revocations recorded in ``directory`` (none if it has no record).

    A record that is not one this tool wrote is an error, never silently
    replaced: it is an audit trail.
    """
    path = directory / REVOKED_FILE
    if not os.path.lexists(path):
        return []
    try:
        content = json.loads(read_limited(path))
        if content.get("version") != RECORD_VERSION:
            raise ValueError("unknown version")
        entries = [Revocation(**{key: str(value) for key, value in item.items()})
                   for item in content["revoked"]]
        for entry in entries:
            _check(entry)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise OutputError(f"{path} is not a revocation record this tool wrote ({error}): "
                          "restore it from a backup, or move it away to start a new one"
                          ) from None
    return entries


def _check(entry: Revocation) -> None:
    """Only what the tool writes: a record is printed, so nothing in it may be hostile."""
    if entry.role not in ROLES or not (entry.name == "" or is_bundle_name(entry.name)):
        raise ValueError(f"an entry names no bundle ({entry.role!r}, {entry.name!r})")
    for value in asdict(entry).values():
        if not (value.isascii() and value.isprintable()) or len(value) > 200:
            raise ValueError("an entry holds a value that is not plain text")


def render(entries: list[Revocation]) -> bytes:
    return (json.dumps({"version": RECORD_VERSION,
                        "revoked": [asdict(entry) for entry in entries]}, indent=2)
            + "\n").encode()


def named(out: Path, name: str) -> Identity:
    """The bundle ``revoke --name NAME`` names: clients/NAME or servers/NAME, whichever
    ``out`` holds; both is ambiguous (the explicit --client and --server say which)."""
    found = [Identity(role, name) for role in ROLES.values()
             if Identity(role, name).directory(out).is_dir()]
    if len(found) > 1:
        raise InvalidInput(f"{' and '.join(b.label for b in found)} both exist in {out}: say "
                           f"which to revoke with {' or '.join(b.option for b in found)}")
    if not found:
        raise no_bundle(out, name, tuple(ROLES.values()))
    return found[0]


def no_bundle(out: Path, name: str, roles: tuple[Role, ...]) -> InvalidInput:
    """The refusal of a revocation of ``name`` (a bundle of ``roles``) that ``out`` lacks:
    what is there, the explicit option of another role's bundle of that name, and what
    happens to a top-level pair the name may have meant."""
    wanted = [Identity(role, name) for role in roles]
    present = listed(b.label for role in roles for b in bundles(out, role))
    text = f"no bundle {' or '.join(str(b.directory(out)) for b in wanted)} to revoke " \
           f"(present: {present})"
    other = [Identity(role, name) for role in ROLES.values() if role not in roles
             and Identity(role, name).directory(out).is_dir()]
    if other:
        return InvalidInput(f"{text}; did you mean {other[0].option}?")
    for pair in map(Identity, roles):
        cert = out / pair.cert
        try:
            meant = name in (pair.role.name, read_certificate(cert).subject_cn)
        except OutputError:
            meant = name == pair.role.name and os.path.lexists(cert)
        if not meant or not os.path.lexists(cert):
            continue
        if pair.role.pair_revocable:
            return InvalidInput(f"{text}; the top-level client pair ({pair.cert}) is revoked "
                                f"with {pair.option}")
        replace = certs_command("ca", out=out, options=["--force", "--reissue"])
        return InvalidInput(f"{text}; the top-level server pair ({pair.cert}) is not "
                            "revoked but re-issued, with a new key, by every revoke; to "
                            "stop its current certificate being trusted with nothing cut "
                            f"off, replace the CA: `{replace}`")
    return InvalidInput(text)


def verdict(out: Path, name: str | None) -> str | None:
    """What to say of the client bundle ``name`` (None: the top-level client pair) when
    its files are gone and revoked.json records its revocation (they went into a backup
    folder with it); None when it records none (or cannot be read)."""
    identity = Identity(CLIENT, name)
    try:
        entries = [e for e in read(out) if e.identity == identity]
    except OutputError:
        return None
    if not entries:
        return None
    entry = entries[-1]  # re-created and revoked again: the latest
    try:
        moment = datetime.datetime.fromisoformat(entry.revoked_at)
        when = (f"{moment.astimezone(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
                if moment.tzinfo else entry.revoked_at)
    except ValueError:
        when = entry.revoked_at
    record = f"CN={entry.common_name}, serial {entry.serial}, recorded in " \
             f"{quote(out / REVOKED_FILE)}"
    if name is None:
        return (f"the top-level client pair of {out} ({identity.cert}) was revoked on {when} "
                f"({record}): give --name NAME for a client bundle, or issue a new pair "
                f"with `{identity.command(out)}`")
    return (f"{identity.folder} was revoked on {when} ({record}): its bundle is in a backup "
            "folder, and daemons running with the new CA refuse it; if it needs access "
            f"again, give it a new identity with `{identity.command(out)}`")
