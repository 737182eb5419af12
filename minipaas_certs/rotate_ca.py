"""CA rollover without downtime: ``certs rotate-ca start`` and ``finish``.

Docker accepts several CA certificates in its CA file.  ``start`` makes a new CA
and turns ca.pem (and each bundle's copy, managers' included) into a bundle of the new and
the old CA, keeping the old CA as ca-old.pem / ca-old-key.pem; from then on
``certs server`` and ``certs client`` sign with the new CA, and peers holding
the bundle accept certificates from either.  ``finish`` drops the old CA from
the bundles and moves its files into a backup folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from .authority import create_ca, load_authority, read_ca
from .certinfo import pem_blocks
from .errors import CAProblem, CertsError, Conflict, InvalidInput, listed, quote
from .files import read_limited
from .identity import Identity, bundles, certs_command, renew_every
from .inventory import Rollover, inventory, rollover_state
from .layout import (
    CA_CERT,
    CA_KEY,
    CERT_MODE,
    KEY_MODE,
    OLD_CA_CERT,
    OLD_CA_KEY,
)
from .openssl import OpenSSL, children_reaped
from .plan import KeySpec, Progress, successor_cn
from .render import SHIPPED, Templates
from .signers.base import carried_intermediates
from .store import OutputDirectory, shared_lock


def _bundle_copies(out: Path) -> list[str]:
    """The bundles' ca.pem copies (clients' and managers'), which must follow ca.pem."""
    return [bundle.ca for bundle in bundles(out) if (out / bundle.ca).is_file()]


def start(openssl: OpenSSL, out: Path, *, common_name: str | None, key: KeySpec | None,
          days: int, passphrase: bytes | None = None, templates: Templates = SHIPPED,
          progress: Progress = lambda _: None) -> list[Path]:
    """Step 1: a new CA; ca.pem becomes the bundle [new, old]; the old CA is kept aside."""
    openssl.version  # noqa: B018 - fail early if openssl is missing or too old
    with OutputDirectory(out) as store, children_reaped(openssl):
        if os.path.lexists(out / OLD_CA_CERT):
            raise Conflict(f"a CA rollover is already in progress in {out}: finish it with "
                           f"`{certs_command('rotate-ca', 'finish', out=out)}`")
        store.refuse_links(_bundle_copies(out))
        if os.path.lexists(out / CA_CERT) and not os.path.lexists(out / CA_KEY):
            raise _kept_elsewhere(out)
        old_pem, old_key_pem = read_ca(store, out, elsewhere=False)  # it takes no --ca-dir
        old = load_authority(openssl, store.staging, out, old_pem, old_key_pem, passphrase,
                             replacing=True)
        if old.chain:
            here = renew_every(out=out)
            there = renew_every(out="FOLDER", options=[("--ca-dir", out)])
            raise CAProblem(f"{out / CA_CERT} holds an intermediate CA of your organisation: "
                            "its successor comes from the organisation; put it in place "
                            f"of this one ({CA_CERT} with its chain, {CA_KEY}), then "
                            f"`{here}` (and `{there}` for each folder it signs)")
        if len(pem_blocks(old_pem)) > 1:
            raise Conflict(f"{out / CA_CERT} already holds several CA certificates")
        name = common_name or successor_cn(old.certificate.subject_cn)
        if name == old.certificate.subject_cn:
            raise InvalidInput(f"--cn {quote(name)} is the current CA's name: ca.pem would hold "
                               "two CAs by one name, which no message or log could tell "
                               "apart; choose another (or leave --cn out for a dated one)")
        if key is None:
            try:
                key = KeySpec.parse(old.certificate.key_type, old.certificate.key_bits)
            except InvalidInput:
                raise InvalidInput(f"the old CA's key ({old.certificate.key_label}) is not one "
                                   "this tool makes: choose --key-type and --key-size") from None
        progress(f"Generating the new CA key ({key}) and certificate for CN={name}, "
                 f"valid {days} days")
        new = create_ca(openssl, store.staging, name, key, days, passphrase,
                        templates=templates)
        bundle = new.cert_pem + old_pem
        # create_ca wrote ca.pem alone; the bundle takes its place.
        os.unlink(store.staged(CA_CERT))
        store.stage(CA_CERT, bundle, CERT_MODE)
        store.stage(OLD_CA_CERT, old_pem, CERT_MODE)
        store.stage(OLD_CA_KEY, old_key_pem, KEY_MODE)
        files = {CA_CERT: CERT_MODE, CA_KEY: KEY_MODE, OLD_CA_CERT: CERT_MODE,
                 OLD_CA_KEY: KEY_MODE}
        for copy in _bundle_copies(out):
            store.stage(copy, bundle, CERT_MODE)
            files[copy] = CERT_MODE
        written, _ = store.commit(files)
        progress("ca.pem now trusts the new and the old CA: deploy it to every daemon and "
                 "client (restart dockerd), re-issue the server and client certificates "
                 "(they are signed by the new CA from now on), then run "
                 f"`{certs_command('rotate-ca', 'finish', out=out)}`")
        return written


def _kept_elsewhere(out: Path) -> CertsError:
    """``rotate-ca start`` in a folder whose CA key is elsewhere: what rolls it over."""
    intermediates = carried_intermediates(out)
    if intermediates:
        renew = renew_every(out=out, options=["--ca-dir NEW_CA_FOLDER"])
        return CAProblem(
            f"{out} holds no {CA_KEY}, and its certificates come from the intermediate CA "
            f"CN={intermediates[0].subject_cn} of your organisation: its successor comes from "
            f"the organisation; put it in a new folder NEW_CA_FOLDER ({CA_CERT} with its "
            f"chain, {CA_KEY}), then `{renew}` (add --force if it is under another root, and "
            "deploy every file before the daemons restart)")
    from .vault import NEW_ROOT

    renew = renew_every(out=out, options=["--ca-dir CA_FOLDER", "--force"])
    renew_engine = renew_every(out=out, options=[
        "--vault-server-role ROLE", "--vault-client-role ROLE", "--force"])
    return CAProblem(
        f"{out} holds no {CA_KEY}: its CA is kept elsewhere. For a CA folder of this tool, "
        f"roll it over there (`{certs_command('rotate-ca', 'start', out='CA_FOLDER')}`), then "
        f"`{renew}`: this folder's ca.pem then trusts both CAs; after "
        f"`{certs_command('rotate-ca', 'finish', out='CA_FOLDER')}`, that renew again leaves "
        f"the new CA alone here. For a PKI engine, give it a new root ({NEW_ROOT}), then "
        f"`{renew_engine}`: ca.pem then holds the new root alone, so deploy every file "
        "before the daemons restart")


def finish(out: Path, *, force: bool = False,
           progress: Progress = lambda _: None) -> tuple[list[Path], list[str]]:
    """Step 3: ca.pem holds the new CA alone; the old CA's files go into a backup folder.

    With ``force``, what still comes from the old CA goes with it (a pair or bundle
    left beside the new ca.pem alone would be a set that does not verify); returns
    the files written and a warning for each identity carried off so.
    """
    with OutputDirectory(out) as store:
        state, carried, copies = _finishing(out, force)
        store.refuse_links([*copies, *carried])
        new_ca = pem_blocks(read_limited(out / CA_CERT))[0]
        files = {}
        for name in [CA_CERT, *copies]:
            store.stage(name, new_ca, CERT_MODE)
            files[name] = CERT_MODE
        written, backup = store.commit(files, archive=[OLD_CA_CERT, OLD_CA_KEY, *carried])
        progress(f"The old CA is archived in {backup}; deploy the new ca.pem to every daemon "
                 "and client (restart dockerd)")
        identities = dict.fromkeys(_identity(leaf) for leaf in state.old_leaves)
        warnings = [f"Warning: {identity.label} came from the old CA: it is in {backup} with "
                    "it, and stops working once the daemons restart with the new ca.pem; issue "
                    f"it again with `{_issue_again(out, identity)}`" for identity in identities]
        return written, warnings


def _finishing(out: Path, force: bool) -> tuple[Rollover, list[str], list[str]]:
    """What ``finish`` checks and changes, read only: the rollover, the names carried
    off with the old CA, and the bundles' ca.pem copies that follow ca.pem."""
    state = rollover_state(out, inventory(out))
    if state is None and os.path.lexists(out / CA_CERT) \
            and not os.path.lexists(out / CA_KEY):
        renew = renew_every(out=out,
                              options=["--ca-dir CA_FOLDER", "--force"])
        raise CAProblem(
            f"no CA rollover in progress in {out}: it holds no {CA_KEY}, its CA is kept "
            "elsewhere; a rollover starts where the CA is "
            f"(`{certs_command('rotate-ca', 'start', out='CA_FOLDER')}`), and once "
            f"`{certs_command('rotate-ca', 'finish', out='CA_FOLDER')}` is done, `{renew}` "
            "leaves the new CA alone here")
    if state is None:
        raise CAProblem(f"no CA rollover in progress in {out} (no {OLD_CA_CERT}); start "
                        f"one with `{certs_command('rotate-ca', 'start', out=out)}`")
    if state.old_leaves and not force:
        raise Conflict(
            f"{listed(state.old_leaves)} in {out} still come from the old CA and would "
            "stop working: re-issue them first "
            f"(`{renew_every(out=out)}`), or use --force to move them "
            "into the backup with the old CA"
        )
    carried = _carried_off(state.old_leaves)
    copies = [copy for copy in _bundle_copies(out)
              if not any(copy.startswith(f"{name}/") for name in carried)]
    return state, carried, copies


def would_finish(out: Path, force: bool = False) -> tuple[list[str], list[str], list[str]]:
    """``finish``, previewed under a shared lock: the names it rewrites, those it moves
    into a backup folder, and the identities carried off with the old CA."""
    with shared_lock(out):
        state, carried, copies = _finishing(out, force)
    identities = dict.fromkeys(_identity(leaf) for leaf in state.old_leaves)
    moved = [name for name in (OLD_CA_CERT, OLD_CA_KEY, *carried)
             if os.path.lexists(out / name)]
    return ([CA_CERT, *copies], moved,
            [identity.label for identity in identities])


def _identity(leaf: str) -> Identity:
    """The identity a certificate file stands for: its bundle, or its top-level pair
    (the docker CLI's copy counts as the client's)."""
    return Identity.holding(leaf)


def _carried_off(old_leaves: list[str]) -> list[str]:
    """The names that move into the backup with the old CA: a bundle whole, a top-level
    pair with its copies (and a client.p12 made of it)."""
    return list(dict.fromkeys(name for leaf in old_leaves for name in _identity(leaf).owned))


def _issue_again(out: Path, identity: Identity) -> str:
    addresses = ["--san 'ITS ADDRESS'"] if identity.role.needs_sans else []
    return identity.command(out, options=addresses)
