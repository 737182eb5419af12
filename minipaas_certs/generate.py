"""``certs all``, ``ca``, ``server``, ``client`` and ``renew``: carry out a ``Plan``.

Read the CA once, generate in the staging folder, check, move into place.  Nothing
here prints or exits: progress goes to a callback, failures are ``CertsError``
subclasses, and each operation returns the paths it wrote.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, NamedTuple, Sequence

from . import clock
from .authority import read_ca_files
from .certinfo import Certificate, read_certificate, read_certificates
from .errors import CAProblem, InvalidInput, OutputError, listed, quote
from .identity import ROLES, Identity, certs_command, identities, kind_of, renew_every
from .layout import (
    CA_CERT,
    CA_KEY,
    CERT_MODE,
    CLIENT_P12,
    GITIGNORE,
    GITIGNORE_TEXT,
    REVOKED_FILE,
)
from .names import parse_san
from .openssl import OpenSSL, children_reaped
from .plan import (
    CannotKeep,
    CASpec,
    LeafLine,
    LeafSpec,
    Leaves,
    Plan,
    Progress,
    Request,
    Window,
    successor_ca,
)
from .render import SHIPPED, Templates
from .signers.base import Signer, SigningRun, carried_intermediates, move_out
from .store import OutputDirectory, remove_abandoned, shared_lock, unfinished

if TYPE_CHECKING:  # revoking loads only in the runs that use it
    from .revocations import Revocation


def generate(openssl: OpenSSL, out: Path, plan: Plan, *, passphrase: bytes | None = None,
             templates: Templates = SHIPPED, progress: Progress = lambda _: None
             ) -> Outcome:
    """Carry out ``plan`` in ``out``: a new CA and/or leaves signed by it.

    A new CA key is encrypted with ``passphrase`` if given; an existing encrypted
    one needs it.  What the plan re-issues or revokes is read under the lock, so
    no identity made meanwhile by another run is left behind.
    """
    return _generate(openssl, out, plan, passphrase, templates, progress)


class Outcome(NamedTuple):
    """What a run wrote, what ``plan.reissue`` re-issued, and whether entering the
    directory undid a crashed run's change (which changed files too)."""

    written: list[Path]
    reissued: list[Reissue]
    recovered: bool = False
    skipped: tuple[Skipped, ...] = ()
    skipped_to: Path | None = None  # the backup that holds the skipped ones (a new CA)
    revoked: tuple[Revocation, ...] = ()  # after a new CA: who was cut off
    redeploy: tuple[LeafSpec, ...] | None = None  # after a new CA with --reissue: its leaves

    @property
    def changed(self) -> bool:
        return bool(self.written) or self.recovered


def _generate(openssl: OpenSSL, out: Path, plan: Plan, passphrase: bytes | None,
              templates: Templates, progress: Progress) -> Outcome:
    """``generate``, and ``renew_all`` once it has found something due."""
    openssl.version  # noqa: B018 - fail early if openssl is missing or too old; runs once
    with OutputDirectory(out) as store, children_reaped(openssl):
        for leftover in store.undone:
            progress(f"Undid the change of an interrupted run ({leftover.name}) in {out}")
        resolved = [_resolve(out, request, plan.force, plan.signer_options(request.role))
                    for request in plan.requests]
        asked = [spec for spec, _ in resolved]
        signer = plan.signer  # plan.py names only what it reads of a Signer
        if not isinstance(signer, Signer):
            raise TypeError(f"{signer!r} is no signers.base.Signer")
        signing = signer.open(SigningRun(openssl, store, plan, passphrase, templates,
                                         progress))
        reissues, skipped = _reissues(out, plan, signing.replaces_ca)
        if plan.reissue and plan.ca is None and not plan.leaves and not asked \
                and not reissues:
            return Outcome([], [], bool(store.undone), tuple(skipped))  # nothing was due
        leaves = (*plan.leaves, *asked, *(reissue.spec for reissue in reissues))
        revoked = _revocations(out, plan)
        # Before placement's own refusals: a linked bundle is named as such.
        store.refuse_links([*(spec.cert_file for spec in leaves),
                            *(name for bundle in plan.revoke for name in bundle.owned)])
        # What the run replaces or moves away: what stays must trust the new ca.pem.
        gone = {spec.cert_file for spec in leaves} | {bundle.cert for bundle in plan.revoke}
        gone.update(item.identity.cert for item in skipped)
        signing.refuse(leaves, gone)
        placement = plan.placement(leaves, out, store.snapshot)
        signing.prepare(leaves, placement, gone)
        for spec, rotated in resolved:  # once the signer is known fit: no line before an error
            if rotated:
                progress(f"Renewing {out / spec.cert_file} (CN={spec.common_name}" + (
                    f", SANs {', '.join(map(str, spec.sans))}" if spec.sans else "") + ")")
        progress(Leaves("Generating keys and certificates", len(leaves)))
        for spec in leaves:
            names = ", ".join(map(str, spec.sans))
            progress(LeafLine(f"Generating {spec.role} key ({spec.key}) and certificate for "
                              f"CN={spec.common_name}" + (f", SANs {names}" if names else "")))
        anchors = signing.sign(leaves)
        signing.settle(leaves, placement, gone, anchors)
        if store.write_new(GITIGNORE, GITIGNORE_TEXT, CERT_MODE):
            placement.files[GITIGNORE] = CERT_MODE
        if revoked:
            from .revocations import read as read_revocations
            from .revocations import render as render_revocations

            store.stage(REVOKED_FILE, render_revocations([*read_revocations(out), *revoked]),
                        CERT_MODE)
            placement.files[REVOKED_FILE] = CERT_MODE
        # What cannot be carried over to a new CA leaves with the old one, into the backup.
        carried_off = [name for item in skipped for name in item.names] \
            if signing.replaces_ca else []
        written, backup = store.commit(placement.files, placement.bundles,
                                       keep=placement.keep,
                                       archive=[*plan.archive(placement), *carried_off])
        if backup is not None:
            progress(f"Moved the previous {listed(store.existing_in(backup))} into {backup}")
        # After a new CA, a person must hear what was revoked and what to deploy.
        advised = plan.force and (plan.ca is not None or bool(plan.revoke))
        return Outcome(written, reissues, bool(store.undone), tuple(skipped),
                       backup if signing.replaces_ca else None,
                       tuple(revoked) if advised else (),
                       tuple(leaves) if advised and plan.reissue else None)


def _resolve(out: Path, request: Request, force: bool, signer: Sequence[str] = ()
             ) -> tuple[LeafSpec, bool]:
    """What ``request`` issues, read under the lock, and whether it rotates an identity
    that exists (keeping what the request does not name)."""
    path = out / request.cert_file
    if not os.path.lexists(path):
        return request.new(out), False
    try:
        current = read_certificate(path)
    except OutputError as error:
        if request.existing_only or not force:  # its names are unknown: say so, not guess
            raise CAProblem(f"{error}: its names cannot be kept; issue it anew as this "
                            "command names it (with --san for a server) with --force: `"
                            f"{_issue_command(out, request, signer)}`") from None
        return request.new(out), False  # it goes to the backup as it is
    if not request.identity.role.fits(current):
        if request.existing_only:
            raise CAProblem(f"{path} is not a {request.role} certificate; issue it again "
                            f"with `{_issue_command(out, request, signer)}`")
        try:  # the wrong certificate in this place: its names, where they fit this role
            return request.resolve(current, path, force=True), True
        except InvalidInput:
            return request.new(out), False
    try:
        return request.resolve(current, path, force), True
    except CannotKeep as error:
        raise InvalidInput(f"cannot renew {path} as it is: {error.reason}; name what to use "
                           "instead (--cn, --san, --key-type), or take the defaults for what "
                           f"cannot be kept: `{_issue_command(out, request, signer)}`"
                           ) from None


def _issue_command(out: Path, request: Request, signer: Sequence[str]) -> str:
    """The command that issues ``request``'s identity anew over what is there."""
    return request.identity.command(out, options=[*signer, "--force"])


class Reissue(NamedTuple):
    """An identity the directory holds, and what re-issuing it makes."""

    spec: LeafSpec
    current: Certificate


class Skipped(NamedTuple):
    """An identity a re-issue cannot carry over as it is (a CN, SAN or key this tool
    does not issue, another role's certificate, no certificate at all), and the
    command that issues it again under names this tool accepts."""

    identity: Identity
    reason: str
    command: str
    working: bool = True  # a valid certificate of its role, just not one this tool renews

    @property
    def label(self) -> str:
        return self.identity.label

    @property
    def names(self) -> list[str]:
        """What moves into the backup with it when the CA changes (it would not verify)."""
        return list(self.identity.owned)


def _skipped(out: Path, plan: Plan, identity: Identity, reason: str,
             current: Certificate | None, replace: bool) -> Skipped:
    """``Skipped``, with the command that issues the identity again: its SANs that this
    tool accepts (a placeholder that fails until it is filled in if none), the defaults
    for the rest, and the signer this run used."""
    words = []
    if identity.role.needs_sans:
        sans = []
        for name in current.names if current else []:
            with contextlib.suppress(InvalidInput):
                sans.append(parse_san(name.split(":", 1)[1]).value)
        words += [f"--san {quote(san)}" for san in sans] or ["--san 'ITS ADDRESS'"]
    words += plan.signer_options(identity.role)
    words += ["--force"] if replace else []
    working = current is not None and identity.role.fits(current)
    return Skipped(identity, reason, identity.command(out, options=words), working)


def _reissues(out: Path, plan: Plan, replace_ca: bool = False
              ) -> tuple[list[Reissue], list[Skipped]]:
    """The identities ``plan.reissue`` re-issues: every leaf present (that is due) which
    the plan does not already issue or revoke, read as it is now; and those it cannot
    carry over as they are, which do not stop the others (an emergency revocation must
    not wait for a bundle another tool made).  ``replace_ca``: the run changes the CA
    (every identity is due, and a skipped one leaves with the old CA)."""
    if plan.others is None:
        return [], []
    taken = {spec.cert_file for spec in plan.leaves}
    taken.update(request.cert_file for request in plan.requests)
    taken.update(bundle.cert for bundle in plan.revoke)
    for pair in map(Identity, ROLES.values()):
        if pair.cert not in taken and os.path.lexists(out / pair.key) \
                and not os.path.lexists(out / pair.cert):
            raise CAProblem(f"{out / pair.cert} is missing, so its pair cannot be re-issued "
                            f"as it was: issue it with `{pair.command(out)}`, or move "
                            f"{pair.key} away")
    now = clock.now()
    found, skipped = [], []
    for identity in identities(out):
        cert_file, role = identity.cert, identity.role
        if cert_file in taken:
            continue
        try:
            current = read_certificate(out / cert_file)
        except OutputError:
            skipped.append(_skipped(out, plan, identity, "it holds no valid certificate",
                                    None, not replace_ca))
            continue
        if not (replace_ca or plan.others.is_due(current, now)):
            continue  # nor said to be skipped: a daily -q run that renews nothing is silent
        if not role.fits(current):
            skipped.append(_skipped(out, plan, identity, f"it holds a {kind_of(current)} "
                                    f"certificate, not a {role} one", current, not replace_ca))
        else:
            try:
                found.append(Reissue(plan.reissued(current, out / cert_file, identity),
                                     current))
            except InvalidInput as error:
                reason = error.reason if isinstance(error, CannotKeep) else str(error)
                skipped.append(_skipped(out, plan, identity, reason, current,
                                        not replace_ca))
    return found, skipped


def _revocations(out: Path, plan: Plan) -> list[Revocation]:
    """What ``plan.revoke`` cuts off, as the record will list it."""
    if not plan.revoke:
        return []
    from .revocations import Revocation
    from .revocations import read as read_revocations

    now = clock.now()
    found = []
    for bundle in plan.revoke:
        path = out / bundle.cert
        if bundle.name is None and not os.path.lexists(path):
            raise InvalidInput(f"no top-level {bundle.role} pair to revoke in {out} "
                               f"({bundle.cert} does not exist)")
        if bundle.name is not None and not os.path.lexists(bundle.directory(out)):
            from .revocations import no_bundle

            raise no_bundle(out, bundle.name, (bundle.role,))
        if not path.is_file():
            raise CAProblem(f"{path} is missing: revoking records the certificate it "
                            "cuts off; move the broken bundle away by hand instead")
        certificate = read_certificate(path)  # whatever its role: its key still gets in
        found.append(Revocation.of(bundle, certificate, now))
    if found:
        read_revocations(out)  # refuse a damaged record before anything is made
    return found


def _keystore_again(out: Path, name: str | None) -> str:
    """A client.p12 is made from a pair: a re-issued pair leaves it in the backup."""
    command = certs_command("p12", out=out, options=[f"--name {name}" if name else ""])
    return f"; where a {CLIENT_P12} was used, make it again with `{command}`"


def deployment(out: Path, leaves: Sequence[LeafSpec], summed: bool = False) -> list[str]:
    """Where each re-issued identity's files must go: a line each, or (``summed``) the
    top-level pairs' lines and one line per role for its bundles, naming them."""
    def line(spec: LeafSpec) -> str:
        return spec.identity.deployment + (_keystore_again(out, spec.bundle)
                                           if spec.role.keystore else "")

    if not summed:
        return [line(spec) for spec in leaves]
    lines = [line(spec) for spec in leaves if spec.bundle is None]
    for role in ROLES.values():
        names = [spec.bundle for spec in leaves if spec.bundle is not None and spec.role is role]
        if names:
            every = Identity(role, "NAME").deployment + (
                _keystore_again(out, "NAME") if role.keystore else "")
            lines.append(f"{every}; NAME: {listed(names)}")
    return lines


def renew(openssl: OpenSSL, out: Path, identity: Identity, *,
          extra_sans: Sequence[str] = (), lifetime: datetime.timedelta | None = None,
          key_kind: str | None = None, key_bits: int | None = None,
          signer: Signer, force: bool = False, passphrase: bytes | None = None,
          templates: Templates = SHIPPED, progress: Progress = lambda _: None) -> Outcome:
    """Re-issue a server or client pair (``identity``: top-level, or a bundle)
    with the current certificate's CN, SANs, key type and span.

    The values are read from the certificate itself, so a renewal keeps what the
    last issue had (see ``plan.renewal``); ``lifetime`` and ``key`` override.  The new
    pair replaces the old one in a single step; the old one goes into a backup
    folder.  ``force``: with a CA from another folder, replace a ca.pem in ``out``
    that is another CA's (it goes into a backup folder too).
    """
    request = Request(identity.role, identity.name, add_sans=tuple(extra_sans),
                      key_kind=key_kind, key_bits=key_bits, lifetime=lifetime,
                      existing_only=True)
    return generate(openssl, out, Plan.renewal(signer, request, force=force),
                    passphrase=passphrase, templates=templates, progress=progress)


def renew_all(openssl: OpenSSL, out: Path, *, lifetime: datetime.timedelta | None = None,
              within: Window | None = None, signer: Signer,
              force: bool = False, passphrase: bytes | None = None,
              templates: Templates = SHIPPED, progress: Progress = lambda _: None) -> Outcome:
    """Re-issue every leaf in ``out`` (top-level pairs, managers, clients) in one commit,
    each keeping its CN, SANs, key type and span (``lifetime`` overrides the span).

    ``within``: only those it finds due (None: every one).  When none is, nothing
    is written, nor locked exclusively: a daily timer changes no file (not even
    SHA256SUMS) until a renewal is due.
    """
    if not out.is_dir():  # as every command that needs a set made says it
        raise OutputError(f"{out} is not a directory: make a set there with "
                          f"`{certs_command('all', out=out)}`")
    if not identities(out):
        raise CAProblem(f"nothing to renew in {out}: it holds no server or client "
                        "certificate")
    plan = Plan.renew_all(signer, lifetime=lifetime, within=within, force=force)
    if within is not None and not signer.other_ca(out):
        with shared_lock(out):  # read as no other run is changing it, and change nothing
            reissues, skipped = _reissues(out, plan)
            if not unfinished(out) and not reissues:
                remove_abandoned(out)  # but what killed runs left: their keys
                return Outcome([], [], skipped=tuple(skipped))
    return _generate(openssl, out, plan, passphrase, templates, progress)


def revoke(openssl: OpenSSL, out: Path, cut_off: Sequence[Identity], *, ca_days: int,
           lifetime: datetime.timedelta | None = None, engine: Signer | None = None,
           passphrase: bytes | None = None, templates: Templates = SHIPPED,
           progress: Progress = lambda _: None) -> Outcome:
    """Cut the bundles ``cut_off`` off: a new CA of the old one's key type, every other
    identity re-issued from it, the old CA and the revoked bundles moved into a
    backup, the revocation recorded; one all-or-nothing commit.

    Docker daemons check no CRL: only a CA file that no longer holds the CA that
    signed a certificate stops it.  ``engine``: a PKI engine re-issues them instead,
    under a new root it was given (refused, before any key, if it still signs under
    the folder's).
    """
    recover(out, progress)
    if engine is not None:
        return generate(openssl, out, Plan.revocation(engine, cut_off, lifetime=lifetime),
                        passphrase=passphrase, templates=templates, progress=progress)
    from .signers.new_ca import NewCA

    plan = Plan.revocation(NewCA(successor_ca(_current_ca(out, cut_off), ca_days)), cut_off,
                           lifetime=lifetime)
    return generate(openssl, out, plan, passphrase=passphrase, templates=templates,
                    progress=progress)


def recover(out: Path, progress: Progress = lambda _: None) -> None:
    """Undo a change a crashed run left in ``out``, as entering a run does, for what a
    command reads before its run: revoke's CA and bundles, read half-moved, would say
    the CA is kept elsewhere or there is no such bundle."""
    if unfinished(out):
        with OutputDirectory(out) as store:
            for leftover in store.undone:
                progress(f"Undid the change of an interrupted run ({leftover.name}) in {out}")


def _current_ca(out: Path, cut_off: Sequence[Identity]) -> Certificate:
    """The CA a revocation replaces: the first certificate of ca.pem beside its key.  A
    CA this run cannot replace is refused up front, saying what cuts them off instead."""
    if not os.path.lexists(out / CA_CERT) and not os.path.lexists(out / CA_KEY):
        raise CAProblem(f"no CA in {out} ({CA_CERT} and {CA_KEY} are missing): it holds "
                        "no set to revoke from")
    if not os.path.lexists(out / CA_KEY):
        intermediates = carried_intermediates(out)
        if intermediates:
            raise _under_a_trusted_root(out, cut_off, intermediates[0], key_here=False)
        from .vault import NEW_ROOT

        renew_from = renew_every(out=out,
                                   options=["--ca-dir CA_FOLDER", "--force"])
        revoke_engine = certs_command("revoke", out=out, options=[
            *(identity.option for identity in cut_off), "--vault-server-role ROLE",
            "--vault-client-role ROLE"])
        raise CAProblem(
            f"{out} holds no {CA_KEY}: its certificates come from a CA kept elsewhere, and "
            "as dockerd checks no CRL, revoking means a new CA in every ca.pem: "
            "for a PKI engine, give it a new root "
            f"({NEW_ROOT}), then `{revoke_engine}`; for a CA folder of this tool, by hand: "
            f"move {move_out(out, cut_off) or 'what you revoke'} out of {out}, then "
            f"`{certs_command('ca', out='CA_FOLDER', options=['--force'])}` and `{renew_from}` "
            "(and that renew for each folder it signs)")
    try:
        certificates = read_certificates(out / CA_CERT)
    except OutputError as error:
        raise CAProblem(str(error)) from None
    if not all(certificate.self_issued for certificate in certificates):
        intermediate = next(cert for cert in certificates if not cert.self_issued)
        raise _under_a_trusted_root(out, cut_off, intermediate, key_here=True)
    return certificates[0]


def _under_a_trusted_root(out: Path, cut_off: Sequence[Identity], intermediate: Certificate,
                          key_here: bool) -> CAProblem:
    """Certificates of an intermediate (an organisation's) cannot be cut off while the
    daemons trust its root: a new intermediate's ca.pem is that same root."""
    until = []
    for identity in cut_off:
        with contextlib.suppress(OutputError):
            ends = read_certificate(out / identity.cert).not_after
            until.append(f"{identity.label} until {ends:%Y-%m-%d %H:%M} UTC")
    if key_here:
        way = (f"in place of this one ({CA_CERT} with its chain, {CA_KEY}), then "
               f"`{renew_every(out=out)}`")
    else:
        renew = renew_every(out=out,
                              options=["--ca-dir NEW_CA_FOLDER", "--force"])
        way = (f"in a new folder NEW_CA_FOLDER ({CA_CERT} with its chain, {CA_KEY}), then "
               f"`{renew}`")
    return CAProblem(
        f"{out}'s certificates come from the intermediate CA CN={intermediate.subject_cn}, "
        "whose root every daemon trusts: no revocation cuts a certificate off while they "
        "trust that root (dockerd checks no CRL, and whatever intermediate signs next, "
        f"ca.pem stays the root), so it stays valid until it expires "
        f"({'; '.join(until) or '`' + certs_command('show', out=out) + '` gives the date'}). "
        f"To cut it off sooner, move {move_out(out, cut_off) or 'it'} out of {out} and put "
        f"an intermediate under another root from your organisation {way}")


# --- --dry-run: the plan resolved as a real run resolves it, shown, not carried out -------

class Preview(NamedTuple):
    """What a run of a plan would issue, move into a backup and ask to redeploy, read
    under a shared lock: no key is made, nothing is signed, no file is written."""

    issue: tuple[LeafSpec, ...]
    moved: tuple[str, ...]  # names in ``out`` that a real run moves into a backup folder
    skipped: tuple[Skipped, ...] = ()
    undo: tuple[str, ...] = ()  # interrupted runs' changes a real run undoes first
    ca: CASpec | None = None  # the new CA, named as the run would name it
    revoked: tuple[Revocation, ...] = ()


def preview(out: Path, plan: Plan) -> Preview:
    """What ``generate(out, plan)`` would do, by the same resolution of its requests and
    re-issues; what only signing learns (the CA's key, passphrase, dates, an engine's
    answer) is not checked."""
    from .signers.ca_files import CAFiles

    with shared_lock(out):
        undo = tuple(leftover.name for leftover in unfinished(out))
        if isinstance(plan.signer, CAFiles):  # what a real run refuses first: no CA
            read_ca_files(plan.signer.folder or out)
        resolved = [_resolve(out, request, plan.force, plan.signer_options(request.role))
                    for request in plan.requests]
        replaces_ca = plan.ca is not None or bool(plan.revoke)  # an engine's: a new root
        reissues, skipped = _reissues(out, plan, replaces_ca)
        leaves = (*plan.leaves, *(spec for spec, _ in resolved),
                  *(reissue.spec for reissue in reissues))
        revoked = _revocations(out, plan)

        def snapshot(names: Iterable[str]) -> frozenset[str]:  # as store.snapshot
            return frozenset(name for name in names if os.path.lexists(out / name))

        if plan.ca is not None:  # the new CA's own refusal, before placement's
            from .signers.new_ca import refuse_orphans

            gone = {spec.cert_file for spec in leaves} | {b.cert for b in plan.revoke}
            gone.update(item.identity.cert for item in skipped)
            refuse_orphans(out, plan.force, gone, os.path.lexists(out / CA_CERT))
        placement = plan.placement(leaves, out, snapshot)  # its refusals too
        carried_off = [name for item in skipped for name in item.names] \
            if replaces_ca else []
        moved = tuple(dict.fromkeys(
            name for name in (*placement.keep, *plan.archive(placement), *carried_off)
            if os.path.lexists(out / name)))
        ca = plan.ca
        if ca is not None:
            from .signers.new_ca import distinct_ca_name

            ca = ca._replace(common_name=distinct_ca_name(out, ca.common_name))
    return Preview(leaves, moved, tuple(skipped), undo, ca, tuple(revoked))


def preview_revoke(out: Path, cut_off: Sequence[Identity], *, ca_days: int,
                   lifetime: datetime.timedelta | None = None, engine: Signer | None = None
                   ) -> Preview:
    """``revoke``'s plan, previewed, after the refusals it makes up front (a CA it
    cannot replace).  An interrupted run's change is not undone first: named only."""
    if engine is not None:
        return preview(out, Plan.revocation(engine, cut_off, lifetime=lifetime))
    from .signers.new_ca import NewCA

    with shared_lock(out):
        current = _current_ca(out, cut_off)
    return preview(out, Plan.revocation(NewCA(successor_ca(current, ca_days)), cut_off,
                                        lifetime=lifetime))


def preview_renew(out: Path, identity: Identity, *, extra_sans: Sequence[str] = (),
                  lifetime: datetime.timedelta | None = None, key_kind: str | None = None,
                  key_bits: int | None = None, signer: Signer, force: bool = False
                  ) -> Preview:
    """``renew``'s plan, previewed."""
    request = Request(identity.role, identity.name, add_sans=tuple(extra_sans),
                      key_kind=key_kind, key_bits=key_bits, lifetime=lifetime,
                      existing_only=True)
    return preview(out, Plan.renewal(signer, request, force=force))


def preview_renew_all(out: Path, *, lifetime: datetime.timedelta | None = None,
                      within: Window | None = None, signer: Signer, force: bool = False
                      ) -> Preview:
    """``renew --all``'s plan, previewed, after the refusals it makes up front."""
    if not out.is_dir():
        raise OutputError(f"{out} is not a directory: make a set there with "
                          f"`{certs_command('all', out=out)}`")
    if not identities(out):
        raise CAProblem(f"nothing to renew in {out}: it holds no server or client "
                        "certificate")
    return preview(out, Plan.renew_all(signer, lifetime=lifetime, within=within, force=force))
