"""A CA made in this run (``certs all``, ``certs ca``, ``revoke``): its key and
certificate are placed with the leaves it signs, in one commit.

It signs as soon as its key exists, with a provisional certificate, while its
ca.pem is made with exact dates (see ``authority.start_ca``)."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..authority import finish_ca, start_ca
from ..certinfo import read_certificates
from ..errors import CAProblem, Conflict, OpenSSLFailed, OutputError, listed
from ..files import read_limited
from ..identity import identities
from ..keys import NewKey, is_encrypted, passin, public_key_of
from ..layout import BACKUP_PREFIX, CA_CERT, CA_KEY, OLD_CA_CERT
from ..plan import successor_cn, unstamped
from .base import Signer, Signing, SigningRun
from .local import sign_locally

if TYPE_CHECKING:
    from ..openssl import OpenSSL
    from ..plan import CASpec, LeafSpec, Placement


class NewCA(Signer):
    """A new CA of ``spec``."""

    def __init__(self, spec: CASpec) -> None:
        self.spec = spec

    @property
    def new_ca(self) -> CASpec:
        return self.spec

    def open(self, run: SigningRun) -> Signing:
        return _NewCASigning(run, self.spec)


class _NewCASigning(Signing):
    replaces_ca = True  # nothing may be left behind that the new ca.pem would not trust

    def __init__(self, run: SigningRun, spec: CASpec) -> None:
        super().__init__(run)
        self.spec = spec  # the CN stamped in ``prepare`` if another CA of the folder has it

    def refuse(self, leaves: Sequence[LeafSpec], gone: set[str]) -> None:
        # Before placement's own refusal: one way on that works.
        _refuse_orphans(self.run, gone, self.run.store.holds(CA_CERT))

    def prepare(self, leaves: Sequence[LeafSpec], placement: Placement,
                gone: set[str]) -> None:
        run = self.run
        if run.plan.reissue:
            _check_old_passphrase(run.openssl, run.out, run.passphrase)
        self.spec = self.spec._replace(common_name=distinct_ca_name(run.out,
                                                                     self.spec.common_name))
        spec = self.spec
        run.progress(f"Generating CA key ({spec.key}"
                     f"{', AES-256 encrypted' if run.passphrase else ''}) and certificate "
                     f"for CN={spec.common_name}, valid {spec.days} days")
        ca_key = NewKey(run.openssl, run.store.staged(CA_KEY), spec.key, run.passphrase)
        self.ca_requested = threading.Event()  # set once the CA's request runs
        self.provide = functools.partial(start_ca, run.openssl, run.store.staging,
                                         spec.common_name, spec.key, spec.days,
                                         run.passphrase, ca_key, run.templates,
                                         self.ca_requested.set)
        self.finish = functools.partial(finish_ca, run.openssl, days=spec.days,
                                        check_key=not leaves, templates=run.templates)

    def sign(self, leaves: Sequence[LeafSpec]) -> bytes:
        return sign_locally(self.run, self.provide, leaves, finish=self.finish,
                            ca_requested=self.ca_requested)


def _refuse_orphans(run: SigningRun, issued: set[str], holds_ca: bool) -> None:
    refuse_orphans(run.out, run.plan.force, issued, holds_ca)


def refuse_orphans(out: Path, force: bool, issued: set[str], holds_ca: bool) -> None:
    """A new CA never leaves certificates of the previous one beside its ca.pem."""
    orphans = [identity.label for identity in identities(out) if identity.cert not in issued]
    if orphans:
        again = "--reissue" if force or not holds_ca else "--force --reissue"
        raise Conflict(
            f"{listed(orphans)} in {out} hold certificates of the previous CA, which the "
            f"new ca.pem would not trust: add {again} to re-issue them from the new CA in "
            f"the same step (each keeps its names), or move them out of {out} first")


def distinct_ca_name(out: Path, name: str) -> str:
    """``name``, or when a CA in ``out`` already bears it (the one a new CA replaces,
    or the old one of a rollover), that name stamped as a successor's: two CAs never
    share a name in messages, in Go's errors, or in a daemon's CA file."""
    current: list[str] = []
    for file in (CA_CERT, OLD_CA_CERT, *(str(path.relative_to(out))
                                         for path in out.glob(f"{BACKUP_PREFIX}*/{CA_CERT}"))):
        with contextlib.suppress(OutputError, OSError):
            current += [cert.subject_cn or "" for cert in read_certificates(out / file)]
    # Of the same line (one name, stamped or not): the latest stamp, and one later.
    same = sorted((cn for cn in current if unstamped(cn) == unstamped(name)),
                  key=lambda cn: (cn != unstamped(cn), cn))
    return successor_cn(same[-1]) if same else name


def _check_old_passphrase(openssl: OpenSSL, out: Path, passphrase: bytes | None) -> None:
    """A new CA that carries on the old one's identities takes its protection: an
    encrypted old key needs its passphrase, which then encrypts the new key (a typo
    would lock the new CA away)."""
    key = out / CA_KEY
    if not os.path.lexists(key):
        return
    key_pem = read_limited(key, error=CAProblem)
    if not is_encrypted(key_pem):
        return
    if passphrase is None:  # exit 5, as every command that finds the CA key locked
        raise CAProblem(
            f"{key} is encrypted: give its passphrase with --ca-passphrase-file (or "
            "MINIPAAS_CA_PASSPHRASE) so that the new CA key is encrypted with it too")
    try:
        public_key_of(openssl, key_pem, passin(passphrase))
    except OpenSSLFailed:
        raise CAProblem(f"cannot decrypt {key} with the passphrase given: the new CA key "
                        "would be encrypted with a passphrase that is not the CA's") from None
