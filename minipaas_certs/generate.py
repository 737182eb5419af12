"""``certs all``, ``ca``, ``server``, ``client`` and ``renew``: carry out a ``Plan``.

Read the CA once, generate in the staging folder, check, move into place.  Nothing
here prints or exits: progress goes to a callback, failures are ``CertsError``
subclasses, and each operation returns the paths it wrote.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence

from . import clock
from .authority import Authority, finish_ca, load_authority, read_ca, start_ca
from .certinfo import Certificate, parse_pem, read_certificate, read_certificates
from .errors import CAProblem, Conflict, InvalidInput, OpenSSLFailed, OutputError, quote
from .files import read_limited, write_private
from .keys import NewKey, is_encrypted, passin, public_key_of
from .layout import (
    BACKUP_PREFIX,
    BUNDLE_FILES,
    CA_CERT,
    CA_KEY,
    CERT_MODE,
    CLIENT_P12,
    DOCKER_CLI_COPIES,
    GITIGNORE,
    GITIGNORE_TEXT,
    KEY_MODE,
    OLD_CA_CERT,
    REVOKED_FILE,
    SERVER_BUNDLE_FILES,
    TOP_LEVEL_PAIRS,
    Bundle,
    bundles,
    identities,
    pair_files,
)
from .names import parse_san
from .openssl import OpenSSL, children_reaped
from .parallel import Deferred, run_all
from .plan import (
    HOUR,
    CannotKeep,
    LeafSpec,
    Placement,
    Plan,
    Progress,
    Request,
    describe,
    leaf_end,
    revocation,
    successor_cn,
    unstamped,
)
from .render import SHIPPED, Templates
from .signing import LeafRequest, request_leaf, sign_leaves, sign_with_engine
from .store import (
    OutputDirectory,
    remove_abandoned,
    same_directory,
    shared_lock,
    unfinished,
)

if TYPE_CHECKING:  # revoking and PKI engines load only in the runs that use them
    from .revocations import Revocation
    from .vault import Engine


_PIPELINE_FROM = 16  # leaves


def _workers(leaves: Sequence[LeafSpec]) -> int:
    # One more than the cores for RSA keys (three keys on two cores finish in about
    # 1.5 key times instead of 2) and for a few leaves beside a new CA.  Many cheap
    # keys: one per core, as each request is then mostly process start-up (54 ECDSA
    # requests on two cores: 220 ms on two threads, 255 ms on three).
    cores = os.cpu_count() or 1
    few = len(leaves) <= cores
    return cores + 1 if few or any(spec.key.kind == "rsa" for spec in leaves) else cores


def _batch_sizes(count: int) -> list[int]:
    """How many leaves each ``openssl ca`` call signs: many leaves in parts of half
    what is left, so that each part is signed and checked while the next ones' keys
    are made, and the last, which nothing overlaps, is small (200 leaves: 100, 50,
    25, 13, 12)."""
    sizes = []
    while count >= _PIPELINE_FROM:
        sizes.append((count + 1) // 2)
        count -= sizes[-1]
    return [*sizes, count] if count else sizes


def _make_all(openssl: OpenSSL, store: OutputDirectory,
              provide: Callable[[], Authority] | None, leaves: Sequence[LeafSpec],
              templates: Templates, progress: Progress, engine: Engine | None = None,
              finish: Callable[[Authority], Authority] | None = None,
              ca_requested: threading.Event | None = None) -> bytes:
    """Provide the authority and issue the leaves.

    The leaves' keys and requests are made while the CA is made (or loaded and
    checked): CPU-bound work in openssl children, run on ``_workers`` threads.
    Then one ``openssl ca`` call signs them all (see ``signing.sign_leaves``).  A new
    CA is ``provide``d as a provisional one (``authority.start_ca``), which signs
    while ``finish`` makes its ca.pem; its request is on the way to every
    signature, so the leaves render their configs (and compete for the
    interpreter) once ``ca_requested`` is set.
    """
    signer: Deferred[Authority] = Deferred()
    authority: Deferred[Authority] = Deferred() if finish is not None else signer
    for spec in leaves:
        names = ", ".join(map(str, spec.sans))
        progress(f"Generating {spec.role} key ({spec.key}) and certificate for "
                 f"CN={spec.common_name}" + (f", SANs {names}" if names else ""))

    def stop_children(interrupt: BaseException) -> None:
        openssl.cancel(getattr(interrupt, "signal_number", signal.SIGINT))

    gate = ca_requested or threading.Event()

    def make_ca() -> None:
        assert provide is not None
        try:
            signer.provide(provide)
        finally:
            gate.set()  # a CA that failed before its request lets the leaves fail too
        if finish is not None:  # ca.pem, while the leaves are signed by the provisional CA
            authority.provide(lambda: finish(signer.get()))

    sizes = _batch_sizes(len(leaves))

    def sign(batch: int, parts: list[Deferred[LeafRequest]]) -> None:
        requests = [part.get() for part in parts]
        sign_leaves(openssl, store.staging, signer.get(), requests, templates, batch,
                    trust=authority.get)
        written = _copy_into_bundles(store, [r.spec for r in requests],
                                     authority.get().cert_pem)
        if batch < len(sizes) - 1:  # while later parts' keys are made: less left to commit
            store.sync(written)

    if engine is not None:  # the engine signs once every key and request is made
        requests = run_all([functools.partial(request_leaf, openssl, store.staging, spec,
                                              templates) for spec in leaves],
                           _workers(leaves), on_interrupt=stop_children)
        ca_pem = sign_with_engine(openssl, store.staging, engine, requests, templates)
        _copy_into_bundles(store, leaves, ca_pem)
        return ca_pem
    assert provide is not None
    making: list[Callable[[], object]] = [make_ca]
    signing: list[Callable[[], object]] = []
    requested: list[Deferred[LeafRequest]] = []
    for batch, size in enumerate(sizes):
        parts: list[Deferred[LeafRequest]] = [Deferred() for _ in range(size)]
        making += [functools.partial(part.provide, functools.partial(
            request_leaf, openssl, store.staging, spec, templates, gate.wait))
            for part, spec in zip(parts, leaves[len(requested):])]
        signing.append(functools.partial(sign, batch, parts))
        requested += parts
    failed = threading.Event()

    def make() -> None:
        try:
            run_all(making, _workers(leaves), failed=failed)
        except BaseException as error:  # the signing thread may wait for one never made
            for part in requested:
                part.fail(error)
            raise

    # The keys and requests on their workers; each part signed, checked and completed
    # on a thread of its own as soon as its requests are made, so that no worker
    # waits for a signature while requests remain.
    both: list[Callable[[], object]] = [make, functools.partial(run_all, signing, 1,
                                                                failed=failed)]
    run_all(both, 2, on_interrupt=stop_children)
    return authority.get().cert_pem


def _copy_into_bundles(store: OutputDirectory, leaves: Sequence[LeafSpec],
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
        elif spec.role == "client":
            for source, copy in DOCKER_CLI_COPIES.items():
                data = read_limited(store.staged(source))
                write_private(store.staged(copy), data, KEY_MODE)
                written[store.staged(copy)] = data
    return written


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
    advice: tuple[str, ...] = ()  # after a new CA: what was revoked, what to deploy

    @property
    def changed(self) -> bool:
        return bool(self.written) or self.recovered

    def deployment(self, out: Path) -> list[str]:
        return deployment(out, [reissue.spec for reissue in self.reissued])

    def warnings(self) -> list[str]:
        """One line for each identity the run could not carry over, with what to do."""
        lines = []
        for item in self.skipped:
            if self.skipped_to is not None:
                fate = (f"could not be carried over to the new CA ({item.reason}): it is in "
                        f"{self.skipped_to} and stops working once the daemons restart with "
                        "the new files")
            elif item.working:
                fate = f"was not renewed ({item.reason}): it works until it expires"
            else:
                fate = f"was not renewed ({item.reason}): it does not work as it is"
            lines.append(f"Warning: {item.label} {fate}; issue it again under names this "
                         f"tool accepts: `{item.command}`")
        return lines


def _generate(openssl: OpenSSL, out: Path, plan: Plan, passphrase: bytes | None,
              templates: Templates, progress: Progress) -> Outcome:
    """``generate``, which also says what ``plan.reissue`` re-issued."""
    openssl.version  # noqa: B018 - fail early if openssl is missing or too old; runs once
    ca = plan.ca
    with OutputDirectory(out) as store, children_reaped(openssl):
        for leftover in store.undone:
            progress(f"Undid the change of an interrupted run ({leftover.name}) in {out}")
        resolved = [_resolve(out, request, plan.force, plan.signer_options())
                    for request in plan.requests]
        asked = [spec for spec, _ in resolved]
        loaded: Authority | None = None
        replace_ca = ca is not None  # whether ca.pem changes: nothing may be left behind
        if plan.engine is None and ca is None:  # a CA from files: read and checked first
            source = plan.ca_dir or out
            cert_pem, key_pem = read_ca(store, source)
            loaded = load_authority(openssl, store.staging, source, cert_pem, key_pem,
                                    passphrase)
            replace_ca = not same_directory(source, out) and _differs(store, loaded.cert_pem)
            if replace_ca and plan.force and plan.reissue and plan.due_within is not None:
                progress(f"{source / CA_CERT} is not the CA of {out / CA_CERT}: every "
                         "certificate is re-issued from it, not only those due")
        reissues, skipped = _reissues(out, plan, replace_ca)
        if plan.reissue and ca is None and not plan.leaves and not asked and not reissues:
            return Outcome([], [], bool(store.undone), tuple(skipped))  # nothing was due
        leaves = (*plan.leaves, *asked, *(reissue.spec for reissue in reissues))
        revoked = _revocations(out, plan)
        # Before placement's own refusals: a linked bundle is named as such.
        store.refuse_links([*(spec.cert_file for spec in leaves),
                            *(bundle.folder for bundle in plan.revoke)])
        if ca is not None:  # before placement's own refusal: one way on that works
            _refuse_orphans(out, plan, leaves, skipped, store.holds(CA_CERT))
        placement = plan.placement(leaves, out, store.holds)

        def announce() -> None:  # once the signer is known fit: no line before an error
            for spec, rotated in resolved:
                if rotated:
                    progress(f"Renewing {out / spec.cert_file} (CN={spec.common_name}" + (
                        f", SANs {', '.join(map(str, spec.sans))}" if spec.sans else "") + ")")
        provide: Callable[[], Authority]
        finish: Callable[[Authority], Authority] | None = None  # a new CA's ca.pem
        ca_requested: threading.Event | None = None  # set once a new CA's request runs
        if plan.engine is not None:
            if plan.engine.in_clear:
                progress(f"Warning: {plan.engine.address} is plain HTTP: the token crosses "
                         "the network in clear; use https:// (and --vault-cacert)")
            announce()
            anchors = _make_all(openssl, store, None, leaves, templates, progress, plan.engine)
            origin = f"the PKI engine at {plan.engine.address}"
            replace_ca = _differs(store, anchors)
            _refuse_left_behind(out, leaves, plan, skipped, anchors, origin)
            _copy_ca(store, plan, placement, anchors, origin, replace_ca)
        elif loaded is not None:
            source = plan.ca_dir or out
            if not same_directory(source, out):  # what is left behind, before --force
                _refuse_left_behind(out, leaves, plan, skipped, loaded.cert_pem,
                                    source / CA_CERT)
                _copy_ca(store, plan, placement, loaded.cert_pem, source / CA_CERT, replace_ca)
            if passphrase is not None and loaded.passphrase is None:
                progress(f"Note: {source / CA_KEY} is not encrypted; the passphrase "
                         "was not needed")
            for spec in leaves:
                loaded.check_can_sign_until(leaf_end(spec.lifetime))
            authority = loaded

            def provide() -> Authority:
                return authority
        else:
            assert ca is not None
            if plan.reissue:
                _check_old_passphrase(openssl, out, passphrase)
            ca = ca._replace(common_name=_distinct_ca_name(out, ca.common_name))
            progress(f"Generating CA key ({ca.key}{', AES-256 encrypted' if passphrase else ''})"
                     f" and certificate for CN={ca.common_name}, valid {ca.days} days")
            ca_key = NewKey(openssl, store.staged(CA_KEY), ca.key, passphrase)
            ca_requested = threading.Event()
            provide = functools.partial(start_ca, openssl, store.staging, ca.common_name,
                                        ca.key, ca.days, passphrase, ca_key, templates,
                                        ca_requested.set)
            finish = functools.partial(finish_ca, openssl, days=ca.days,
                                       check_key=not leaves, templates=templates)
        if plan.engine is None:
            announce()
            _make_all(openssl, store, provide, leaves, templates, progress, finish=finish,
                      ca_requested=ca_requested)
        if store.write_new(GITIGNORE, GITIGNORE_TEXT, CERT_MODE):
            placement.files[GITIGNORE] = CERT_MODE
        if revoked:
            from .revocations import read as read_revocations
            from .revocations import render as render_revocations

            store.stage(REVOKED_FILE, render_revocations([*read_revocations(out), *revoked]),
                        CERT_MODE)
            placement.files[REVOKED_FILE] = CERT_MODE
        # What cannot be carried over to a new CA leaves with the old one, into the backup.
        carried_off = [name for item in skipped for name in item.names] if replace_ca else []
        written, backup = store.commit(placement.files, placement.bundles,
                                       keep=placement.keep,
                                       archive=[*plan.archive(placement), *carried_off])
        if backup is not None:
            progress(f"Moved the previous {', '.join(store.existing_in(backup))} into {backup}")
        advice = _new_ca_advice(out, plan, leaves, revoked) \
            if ca is not None and plan.force else []
        return Outcome(written, reissues, bool(store.undone), tuple(skipped),
                       backup if replace_ca else None, tuple(advice))


def _distinct_ca_name(out: Path, name: str) -> str:
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


def _differs(store: OutputDirectory, ca_pem: bytes) -> bool:
    """Whether ``out`` holds a ca.pem other than ``ca_pem`` (unreadable counts as other)."""
    current = store.path / CA_CERT
    if not store.holds(CA_CERT):
        return False
    try:
        return current.is_symlink() or read_limited(current) != ca_pem
    except OutputError:
        return True


def _refuse_orphans(out: Path, plan: Plan, leaves: Sequence[LeafSpec],
                    skipped: Sequence[Skipped], holds_ca: bool) -> None:
    """A new CA never leaves certificates of the previous one beside its ca.pem."""
    issued = {spec.cert_file for spec in leaves} | {bundle.cert for bundle in plan.revoke}
    issued.update(pair_files(item.role, item.bundle)[0] for item in skipped)
    orphans = [Bundle(role, name).folder if name else pair_files(role)[0]
               for role, name in identities(out) if pair_files(role, name)[0] not in issued]
    if orphans:
        again = "--reissue" if plan.force or not holds_ca else "--force --reissue"
        raise Conflict(
            f"{', '.join(orphans)} in {out} hold certificates of the previous CA, which the "
            f"new ca.pem would not trust: add {again} to re-issue them from the new CA in "
            f"the same step (each keeps its names), or move them out of {out} first")


def _refuse_left_behind(out: Path, leaves: Sequence[LeafSpec], plan: Plan,
                        skipped: Sequence[Skipped], anchors_pem: bytes,
                        origin: Path | str) -> None:
    """A run that replaces ca.pem with another CA's leaves nothing the new one does not
    trust (it did: `renew --all --within --ca-dir NEW --force` left a mixed set)."""
    left = _left_behind(out, leaves, plan.revoke, skipped, anchors_pem)
    if not left:
        return
    if plan.ca_dir is not None:
        again = f"minipaas certs renew --all --out {quote(out)} --ca-dir {quote(plan.ca_dir)}"
        way = f"re-issue every certificate from it in one step with `{again} --force`"
    else:  # one role signs servers or clients: a folder cannot move over piece by piece
        way = "write the engine's certificates into a new --out instead"
    raise Conflict(f"{', '.join(left)} in {out} would be left with certificates that the "
                   f"new {CA_CERT} from {origin} does not trust: {way}")


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
    if current.role != request.role:
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
    return " ".join([f"minipaas certs {request.role} --out {quote(out)}",
                     *([f"--name {request.bundle}"] if request.bundle else []), *signer,
                     "--force"])


class Reissue(NamedTuple):
    """An identity the directory holds, and what re-issuing it makes."""

    spec: LeafSpec
    current: Certificate

    def as_json(self) -> dict[str, object]:
        return {"file": self.spec.cert_file, "role": self.spec.role,
                "bundle": self.spec.bundle, "common_name": self.spec.common_name,
                "previous_not_after": self.current.not_after.isoformat(),
                "validity": describe(self.spec.lifetime),
                "validity_hours": self.spec.lifetime // HOUR}


class Skipped(NamedTuple):
    """An identity a re-issue cannot carry over as it is (a CN, SAN or key this tool
    does not issue, another role's certificate, no certificate at all), and the
    command that issues it again under names this tool accepts."""

    role: str
    bundle: str | None
    reason: str
    command: str
    working: bool = True  # a valid certificate of its role, just not one this tool renews

    @property
    def label(self) -> str:
        return Bundle(self.role, self.bundle).folder if self.bundle else pair_files(self.role)[0]

    @property
    def names(self) -> list[str]:
        """What moves into the backup with it when the CA changes (it would not verify)."""
        if self.bundle:
            return [Bundle(self.role, self.bundle).folder]
        files = list(pair_files(self.role))
        return [*files, *DOCKER_CLI_COPIES.values(), CLIENT_P12] if self.role == "client" \
            else files

    def as_json(self) -> dict[str, object]:
        return {"file": pair_files(self.role, self.bundle)[0], "role": self.role,
                "bundle": self.bundle, "reason": self.reason, "command": self.command}


def _skipped(out: Path, plan: Plan, role: str, bundle: str | None, reason: str,
             current: Certificate | None, replace: bool) -> Skipped:
    """``Skipped``, with the command that issues the identity again: its SANs that this
    tool accepts (a placeholder that fails until it is filled in if none), the defaults
    for the rest, and the signer this run used."""
    words = [f"minipaas certs {role} --out {quote(out)}"]
    words += [f"--name {bundle}"] if bundle else []
    if role == "server":
        sans = []
        for name in current.names if current else []:
            with contextlib.suppress(InvalidInput):
                sans.append(parse_san(name.split(":", 1)[1]).value)
        words += [f"--san {quote(san)}" for san in sans] or ["--san 'ITS ADDRESS'"]
    words += plan.signer_options()
    words += ["--force"] if replace else []
    working = current is not None and current.role == role
    return Skipped(role, bundle, reason, " ".join(words), working)


def _reissues(out: Path, plan: Plan, replace_ca: bool = False
              ) -> tuple[list[Reissue], list[Skipped]]:
    """The identities ``plan.reissue`` re-issues: every leaf present (that is due) which
    the plan does not already issue or revoke, read as it is now; and those it cannot
    carry over as they are, which do not stop the others (an emergency revocation must
    not wait for a bundle another tool made).  ``replace_ca``: the run changes the CA
    (every identity is due, and a skipped one leaves with the old CA)."""
    if not plan.reissue:
        return [], []
    taken = {spec.cert_file for spec in plan.leaves}
    taken.update(request.cert_file for request in plan.requests)
    taken.update(bundle.cert for bundle in plan.revoke)
    for cert_file, key_file, role in TOP_LEVEL_PAIRS[:2]:
        if cert_file not in taken and os.path.lexists(out / key_file) \
                and not os.path.lexists(out / cert_file):
            raise CAProblem(f"{out / cert_file} is missing, so its pair cannot be re-issued "
                            f"as it was: issue it with `minipaas certs {role} --out "
                            f"{quote(out)}`, or move {key_file} away")
    now = clock.now()
    found, skipped = [], []
    for role, bundle in identities(out):
        cert_file = pair_files(role, bundle)[0]
        if cert_file in taken:
            continue
        try:
            current = read_certificate(out / cert_file)
        except OutputError:
            skipped.append(_skipped(out, plan, role, bundle, "it holds no valid certificate",
                                    None, not replace_ca))
            continue
        if current.role != role:
            skipped.append(_skipped(out, plan, role, bundle, f"it holds a {current.role} "
                                    f"certificate, not a {role} one", current, not replace_ca))
        elif replace_ca or plan.is_due(current, now):
            try:
                found.append(Reissue(plan.reissued(current, out / cert_file, role, bundle),
                                     current))
            except InvalidInput as error:
                reason = error.reason if isinstance(error, CannotKeep) else str(error)
                skipped.append(_skipped(out, plan, role, bundle, reason, current,
                                        not replace_ca))
    return found, skipped


def _left_behind(out: Path, leaves: Sequence[LeafSpec], revoked: Sequence[Bundle],
                 skipped: Sequence[Skipped], anchors_pem: bytes) -> list[str]:
    """The certificates a run that replaces ca.pem would leave in ``out`` which the new
    ca.pem (``anchors_pem``) does not trust: none may remain after exit 0."""
    anchors = parse_pem(anchors_pem, out / CA_CERT)
    gone = {spec.cert_file for spec in leaves} | {bundle.cert for bundle in revoked}
    gone.update(pair_files(item.role, item.bundle)[0] for item in skipped)
    found = []
    for role, bundle in identities(out):
        cert_file = pair_files(role, bundle)[0]
        if cert_file in gone:
            continue
        try:
            chain = read_certificates(out / cert_file)
        except OutputError:
            chain = []
        if not _chains_to(chain, anchors):
            found.append(Bundle(role, bundle).folder if bundle else cert_file)
    return found


def _chains_to(chain: Sequence[Certificate], anchors: Sequence[Certificate]) -> bool:
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
        if not os.path.lexists(out / bundle.folder):
            present = ", ".join(b.folder for b in bundles(out, bundle.role)) or "none"
            other = Bundle("server" if bundle.role == "client" else "client", bundle.name)
            hint = f"; did you mean {other.option}?" if os.path.isdir(out / other.folder) else ""
            raise InvalidInput(f"no bundle {out / bundle.folder} to revoke (present: "
                               f"{present}){hint}")
        if not path.is_file():
            raise CAProblem(f"{path} is missing: revoking records the certificate it "
                            "cuts off; move the broken bundle away by hand instead")
        certificate = read_certificate(path)  # whatever its role: its key still gets in
        found.append(Revocation.of(bundle, certificate, now))
    if found:
        read_revocations(out)  # refuse a damaged record before anything is made
    return found


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


def _new_ca_advice(out: Path, plan: Plan, leaves: Sequence[LeafSpec],
                   revoked: Sequence[Revocation]) -> list[str]:
    """After a new CA: what was revoked, and what to deploy (said even with -q: a person
    must copy the files and restart the daemons)."""
    lines = [f"Revoked {entry.line()}" for entry in revoked]
    if plan.reissue:
        lines.append("Deploy the new files: until a daemon restarts with them it trusts the "
                     "previous CA, and once it does, only the new one:")
        lines += [f"  {line}" for line in deployment(out, leaves)]
    return lines


def _keystore_again(out: Path, name: str | None) -> str:
    """A client.p12 is made from a pair: a re-issued pair leaves it in the backup."""
    command = f"minipaas certs p12 --out {quote(out)}" + (f" --name {name}" if name else "")
    return f"; where a {CLIENT_P12} was used, make it again with `{command}`"


def deployment(out: Path, leaves: Sequence[LeafSpec]) -> list[str]:
    """Where each re-issued identity's files must go."""
    lines = []
    for spec in leaves:
        place = spec.place
        if spec.role == "server":
            files = ", ".join(place.files if place else SERVER_BUNDLE_FILES)
            who = f"manager {place.name}" if place else "the daemon of the top-level pair"
            lines.append(f"{who}: {files} into its /etc/docker, then restart dockerd")
        elif place:
            lines.append(f"client {place.name}: the folder {place.folder} "
                         f"(its DOCKER_CERT_PATH){_keystore_again(out, place.name)}")
        else:
            lines.append(f"the default client: {', '.join(BUNDLE_FILES)}"
                         f"{_keystore_again(out, None)}")
    return lines


def _copy_ca(store: OutputDirectory, plan: Plan, placement: Placement, ca_pem: bytes,
             origin: Path | str, differs: bool) -> None:
    """Stage ``ca_pem`` as ca.pem if the plan puts a copy beside the new files;
    ``differs``: what ``_differs`` found of the ca.pem there."""
    if plan.place_ca_copy(placement, store.path, origin, not differs, store.holds):
        store.stage(CA_CERT, ca_pem, CERT_MODE)


def renew(openssl: OpenSSL, out: Path, role: str, *, name: str | None = None,
          extra_sans: Sequence[str] = (), lifetime: datetime.timedelta | None = None,
          key_kind: str | None = None, key_bits: int | None = None,
          ca_dir: Path | None = None, force: bool = False, passphrase: bytes | None = None,
          templates: Templates = SHIPPED, progress: Progress = lambda _: None,
          engine: Engine | None = None) -> Outcome:
    """Re-issue a server or client pair (top-level, or the bundle ``name`` of that role)
    with the current certificate's CN, SANs, key type and span.

    The values are read from the certificate itself, so a renewal keeps what the
    last issue had (see ``plan.renewal``); ``lifetime`` and ``key`` override.  The new
    pair replaces the old one in a single step; the old one goes into a backup
    folder.  ``force``: with ``ca_dir``, replace a ca.pem in ``out`` that is another
    CA's (it goes into a backup folder too).
    """
    request = Request(role, name, add_sans=tuple(extra_sans), key_kind=key_kind,
                      key_bits=key_bits, lifetime=lifetime, existing_only=True)
    return generate(openssl, out, Plan(requests=(request,), ca_dir=ca_dir, force=force,
                                       renewing=True, engine=engine),
                    passphrase=passphrase, templates=templates, progress=progress)


def renew_all(openssl: OpenSSL, out: Path, *, lifetime: datetime.timedelta | None = None,
              within: datetime.timedelta | None = None, ca_dir: Path | None = None,
              force: bool = False, passphrase: bytes | None = None,
              templates: Templates = SHIPPED, progress: Progress = lambda _: None,
              engine: Engine | None = None) -> Outcome:
    """Re-issue every leaf in ``out`` (top-level pairs, managers, clients) in one commit,
    each keeping its CN, SANs, key type and span (``lifetime`` overrides the span).

    ``within``: only those that expire within that time.  When none does, nothing
    is written, nor locked exclusively: a daily timer changes no file (not even
    SHA256SUMS) until a renewal is due.
    """
    if not out.is_dir():
        raise CAProblem(f"nothing to renew: {out} is not a directory")
    if not identities(out):
        raise CAProblem(f"nothing to renew in {out}: it holds no server or client "
                        "certificate")
    plan = Plan(ca_dir=ca_dir, force=force, renewing=True, reissue=True,
                reissue_lifetime=lifetime, due_within=within, engine=engine)
    if within is not None and (ca_dir is None or not _other_ca(out, ca_dir)):
        with shared_lock(out):  # read as no other run is changing it, and change nothing
            reissues, skipped = _reissues(out, plan)
            if not unfinished(out) and not reissues:
                remove_abandoned(out)  # but what killed runs left: their keys
                return Outcome([], [], skipped=tuple(skipped))
    return _generate(openssl, out, plan, passphrase, templates, progress)


def _other_ca(out: Path, ca_dir: Path) -> bool:
    """Whether the roots of ``ca_dir``'s ca.pem differ from those of ``out``'s (what a
    signing from it copies into ``out``); unreadable counts as different, and the run
    then reads it properly."""
    try:
        theirs = parse_pem(read_limited(ca_dir / CA_CERT), ca_dir / CA_CERT)
        ours = parse_pem(read_limited(out / CA_CERT), out / CA_CERT)
    except (OutputError, OSError):
        return True
    roots = [cert for cert in theirs if cert.self_issued] \
        if not all(cert.self_issued for cert in theirs) else theirs
    return {cert.der for cert in roots} != {cert.der for cert in ours}


def revoke(openssl: OpenSSL, out: Path, cut_off: Sequence[Bundle], *, ca_days: int,
           lifetime: datetime.timedelta | None = None, passphrase: bytes | None = None,
           templates: Templates = SHIPPED, progress: Progress = lambda _: None) -> Outcome:
    """Cut the bundles ``cut_off`` off: a new CA of the old one's key type, every other
    identity re-issued from it, the old CA and the revoked bundles moved into a
    backup, the revocation recorded; one all-or-nothing commit.

    Docker daemons check no CRL: only a CA file that no longer holds the CA that
    signed a certificate stops it.
    """
    plan = revocation(_current_ca(out), cut_off, ca_days, lifetime)
    return generate(openssl, out, plan, passphrase=passphrase, templates=templates,
                    progress=progress)


def _current_ca(out: Path) -> Certificate:
    """The CA a revocation replaces: the first certificate of ca.pem beside its key."""
    if not os.path.lexists(out / CA_KEY):
        raise CAProblem(f"{out} holds no {CA_KEY}: revoke in the folder that holds the CA "
                        "(its --ca-dir), where the new CA must be made")
    try:
        certificates = read_certificates(out / CA_CERT)
    except OutputError as error:
        raise CAProblem(str(error)) from None
    if not all(certificate.self_issued for certificate in certificates):
        raise CAProblem(f"{out / CA_CERT} holds an intermediate CA: revoking makes a new CA, "
                        "and a new intermediate comes from your organisation; put it in place "
                        f"(ca.pem and ca-key.pem), then `minipaas certs renew --all --out "
                        f"{quote(out)}` for each folder it signs")
    return certificates[0]
