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

from .certinfo import Certificate
from .errors import OutputError
from .files import read_limited
from .identity import ROLES, Identity
from .layout import REVOKED_FILE, is_bundle_name

RECORD_VERSION = 1


@dataclass(frozen=True)
class Revocation:
    """One identity cut off: its bundle, the certificate it held, and when.  Its fields
    are the record's, as revoked.json holds them (the role by its name)."""

    role: str
    name: str
    common_name: str
    serial: str  # hexadecimal, as `openssl x509 -serial` and `certs show` print it
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
        """The bundle cut off (a record ``read`` accepts names a role and a bundle)."""
        return Identity(ROLES[self.role], self.name)

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
    if entry.role not in ROLES or not is_bundle_name(entry.name):
        raise ValueError(f"an entry names no bundle ({entry.role!r}, {entry.name!r})")
    for value in asdict(entry).values():
        if not (value.isascii() and value.isprintable()) or len(value) > 200:
            raise ValueError("an entry holds a value that is not plain text")


def render(entries: list[Revocation]) -> bytes:
    return (json.dumps({"version": RECORD_VERSION,
                        "revoked": [asdict(entry) for entry in entries]}, indent=2)
            + "\n").encode()
