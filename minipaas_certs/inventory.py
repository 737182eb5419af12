"""Seeing a directory's certificates: what ``certs show`` lists, and a rollover's state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .certinfo import (
    Certificate,
    read_certificates,
)
from .errors import (
    OutputError,
)
from .identity import CLIENT, ROLES, bundles, kind_of
from .layout import (
    CA_CERT,
    OLD_CA_CERT,
)


@dataclass(frozen=True)
class Entry:
    """One certificate found in the directory."""

    file: str  # relative to the directory
    role: str
    certificate: Certificate
    chain: tuple[Certificate, ...] = ()  # the intermediates after a leaf in its file


def _read(directory: Path, name: str, unreadable: list[str] | None) -> list[Certificate]:
    path = directory / name
    if not os.path.exists(path):
        return []
    try:
        return read_certificates(path)
    except OutputError:
        if unreadable is None:
            raise
        unreadable.append(name)
        return []


def inventory(directory: Path, unreadable: list[str] | None = None) -> list[Entry]:
    """Every certificate in the directory and its bundles (managers', then clients'),
    in a fixed order.

    A file that holds no valid certificate raises OutputError, or, when a list is
    given as ``unreadable``, is named there and left out.
    """
    if not directory.is_dir():
        raise OutputError(f"{directory} is not a directory")
    entries = []
    cas = _read(directory, CA_CERT, unreadable)
    for index, cert in enumerate(cas):
        entries.append(Entry(CA_CERT, _ca_role(cert, index, cas), cert))
    for cert in _read(directory, OLD_CA_CERT, unreadable):
        entries.append(Entry(OLD_CA_CERT, "ca (old, kept aside)", cert))
    # The top-level certificates, the docker CLI's copy of the client's, then the bundles'.
    for name in (*(role.cert for role in ROLES.values()), CLIENT.cli_copies[CLIENT.cert],
                 *(bundle.cert for bundle in bundles(directory))):
        found = _read(directory, name, unreadable)
        if found:  # a leaf, then the intermediates its peers need
            entries.append(Entry(name, kind_of(found[0]), found[0], tuple(found[1:])))
    return entries


def _ca_role(cert: Certificate, index: int, cas: list[Certificate]) -> str:
    """A CA file holds the CA, a rollover's two roots, or an intermediate and its issuers."""
    if not cert.self_issued:
        return "ca (intermediate)"
    if any(other is not cert and other.issued_by(cert) for other in cas):
        return "ca (root)"
    return "ca" if index == 0 else "ca (old, in rollover)"


@dataclass(frozen=True)
class Rollover:
    """Where a CA rollover stands: the new CA, the old one, the leaves not yet moved."""

    new_ca: Certificate
    old_ca: Certificate
    old_leaves: list[str]


def rollover_state(directory: Path, entries: list[Entry] | None = None) -> Rollover | None:
    """The rollover in progress in ``directory``, if any (ca-old.pem is kept during one)."""
    entries = inventory(directory) if entries is None else entries
    old = [e.certificate for e in entries if e.file == OLD_CA_CERT]
    cas = [e.certificate for e in entries if e.file == CA_CERT]
    if not old or not cas:
        return None
    leaves = [e.file for e in entries if not e.certificate.is_ca
              and e.certificate.issued_by(old[0])]
    return Rollover(cas[0], old[0], leaves)


