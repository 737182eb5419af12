"""The signer protocol: who signs the leaves of a run.

A ``Signer`` is the choice a command makes (a new CA, the CA in a folder, a PKI
engine); the ``Plan`` holds it.  Under the output directory's lock, ``open``
returns the run's ``Signing``, whose hooks ``generate`` calls in this order:

1. ``open`` reads and checks what signs, before the run decides what to re-issue;
   ``replaces_ca`` then says whether ca.pem changes (every identity is then due),
   as far as is known before signing (an engine knows its CA only in ``settle``);
2. ``refuse``: what this signer cannot do with these leaves, before placement;
3. ``prepare``: its checks and copies once placement is known, before any key;
4. ``sign``: every leaf's key, request and certificate in the staging folder,
   bundles completed; returns the trust anchors that ca.pem copies hold;
5. ``settle``: what only the signature tells (an engine's CA).

A backend is one module of this package: a ``Signer`` subclass and its
``Signing``.  ``gone`` is the set of certificate files the run replaces or moves
away (issued, revoked, carried off): what stays must trust the new ca.pem.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Sequence

from ..certinfo import Certificate, parse_pem, read_certificates
from ..errors import Conflict, OutputError, listed
from ..files import read_limited, write_private
from ..identity import Identity, identities
from ..layout import CA_CERT, CA_KEY, CERT_MODE, KEY_MODE

if TYPE_CHECKING:
    from ..identity import Role
    from ..openssl import OpenSSL
    from ..plan import CASpec, LeafSpec, Placement, Plan, Progress
    from ..render import Templates
    from ..store import OutputDirectory


class SigningRun(NamedTuple):
    """What a run gives its signer: the tools, the locked directory, the plan."""

    openssl: OpenSSL
    store: OutputDirectory
    plan: Plan
    passphrase: bytes | None
    templates: Templates
    progress: Progress

    @property
    def out(self) -> Path:
        """The output directory, as the command named it."""
        return self.store.path


class Signing:
    """One run's signer, opened under the lock; the hooks do nothing by default."""

    replaces_ca = False  # whether the run puts another CA's ca.pem in place

    def __init__(self, run: SigningRun) -> None:
        self.run = run

    def refuse(self, leaves: Sequence[LeafSpec], gone: set[str]) -> None:
        """Refuse what this signer cannot do with ``leaves`` (before placement)."""

    def prepare(self, leaves: Sequence[LeafSpec], placement: Placement,
                gone: set[str]) -> None:
        """Checks and copies owed once placement is known, before any key is made."""

    def sign(self, leaves: Sequence[LeafSpec]) -> bytes:
        """Make and sign every leaf in the staging folder; returns the anchors' PEM."""
        raise NotImplementedError

    def settle(self, leaves: Sequence[LeafSpec], placement: Placement, gone: set[str],
               anchors: bytes) -> None:
        """What can be decided only once the leaves are signed."""


class Signer:
    """Who signs: the choice a command makes, held by the ``Plan``."""

    @property
    def new_ca(self) -> CASpec | None:
        """A CA this run makes (its files are placed with the leaves), if any."""
        return None

    @property
    def options(self) -> tuple[str, ...]:
        """The options that name this signer, for the commands a run prints."""
        return ()

    def options_for(self, role: Role) -> tuple[str, ...]:
        """The options that name this signer in a printed command that issues ``role``."""
        return self.options

    def open(self, run: SigningRun) -> Signing:
        raise NotImplementedError

    def other_ca(self, out: Path) -> bool:
        """Whether this signer's CA may differ from the one ``out`` holds (then
        ``renew --all --within`` cannot decide what is due without the lock)."""
        return False


# --- what signers from elsewhere share: the ca.pem they put beside the leaves -------------

def differs(store: OutputDirectory, ca_pem: bytes) -> bool:
    """Whether ``out`` holds a ca.pem other than ``ca_pem`` (unreadable counts as other)."""
    current = store.path / CA_CERT
    if not store.holds(CA_CERT):
        return False
    try:
        return current.is_symlink() or read_limited(current) != ca_pem
    except OutputError:
        return True


def copy_ca(run: SigningRun, placement: Placement, ca_pem: bytes, origin: Path | str,
            replaced: bool) -> None:
    """A CA from elsewhere (``--ca-dir``, a PKI engine) gets its ca.pem beside the new
    files (the docker CLI needs it in DOCKER_CERT_PATH), staged, unless the folder
    already holds that very one.  One that is another CA's (``replaced``: what
    ``differs`` found) is replaced, and kept in a backup, only with --force, and
    never beside its key."""
    out = run.out
    if CA_CERT in placement.present:
        if not replaced:
            return
        if CA_KEY in placement.present:
            raise Conflict(f"{out} holds its own CA ({CA_KEY}), and {out / CA_CERT} is "
                           f"not {origin}'s: write these certificates into another --out")
        if not run.plan.force:
            raise Conflict(
                f"{out / CA_CERT} is a different CA certificate from {origin}; "
                "use --force to replace it (the old one is kept in a backup folder)")
        placement.keep.append(CA_CERT)
    placement.files[CA_CERT] = CERT_MODE
    run.store.stage(CA_CERT, ca_pem, CERT_MODE)


def refuse_left_behind(out: Path, gone: set[str], anchors_pem: bytes, origin: Path | str,
                       way: str) -> None:
    """A run that replaces ca.pem with another CA's leaves nothing the new one does not
    trust (it did: `renew --all --within --ca-dir NEW --force` left a mixed set);
    ``way`` says how to go on."""
    left = left_behind(out, gone, anchors_pem)
    if left:
        raise Conflict(f"{listed(left)} in {out} would be left with certificates that the "
                       f"new {CA_CERT} from {origin} does not trust: {way}")


def left_behind(out: Path, gone: set[str], anchors_pem: bytes) -> list[str]:
    """The certificates a run that replaces ca.pem would leave in ``out`` which the new
    ca.pem (``anchors_pem``) does not trust: none may remain after exit 0."""
    anchors = parse_pem(anchors_pem, out / CA_CERT)
    found = []
    for identity in identities(out):
        cert_file = identity.cert
        if cert_file in gone:
            continue
        try:
            chain = read_certificates(out / cert_file)
        except OutputError:
            chain = []
        if not chains_to(chain, anchors):
            found.append(identity.label)
    return found


def chains_to(chain: Sequence[Certificate], anchors: Sequence[Certificate]) -> bool:
    """Whether the leaf ``chain[0]`` leads to one of ``anchors`` through the CAs its
    file carries (by name and key id, as a path is built; the signatures were checked
    when it was issued)."""
    current, pool = (chain[0], chain[1:]) if chain else (None, ())
    for _ in range(len(pool) + 1):
        if current is None:
            return False
        if any(current.issued_by(anchor) for anchor in anchors):
            return True
        current = next((ca for ca in pool if current.issued_by(ca)), None)
    return False


def copy_into_bundles(store: OutputDirectory, leaves: Sequence[LeafSpec],
                      ca_pem: bytes) -> dict[Path, bytes | None]:
    """Each bundle gets its ca.pem; the default client pair its docker CLI names.
    Returns every staged file of these leaves, with the bytes of those written here
    (None: written by openssl)."""
    written: dict[Path, bytes | None] = {}
    for spec in leaves:
        cert, key = store.staged(spec.cert_file), store.staged(spec.key_file)
        written[cert] = written[key] = None
        if spec.bundle:
            write_private(cert.parent / CA_CERT, ca_pem, CERT_MODE)
            os.chmod(key, KEY_MODE)  # the certificate was placed with its mode
            written[cert.parent / CA_CERT] = ca_pem
        else:
            for source, copy in spec.identity.role.cli_copies.items():
                data = read_limited(store.staged(source))
                write_private(store.staged(copy), data, KEY_MODE)
                written[store.staged(copy)] = data
    return written


# --- a folder whose CA is kept elsewhere: what revoke and rotate-ca say to do instead ------

def carried_intermediates(out: Path) -> list[Certificate]:
    """The CAs the first leaf of ``out`` that carries any holds after itself: a folder
    signed by an intermediate (an organisation's, or an engine's) gets its chain in
    every leaf file, and its ca.pem is the root, which every peer then trusts."""
    for identity in identities(out):
        try:
            chain = read_certificates(out / identity.cert)
        except OutputError:
            continue
        if len(chain) > 1:
            return chain[1:]
    return []


def move_out(out: Path, cut_off: Sequence[Identity]) -> str:
    """``clients/ci, client-cert.pem, cert.pem ...``: what to move out of ``out`` by hand
    so that a re-issue of everything does not carry them over."""
    return ", ".join(str(out / name) for identity in cut_off for name in identity.owned
                     if os.path.lexists(out / name))
