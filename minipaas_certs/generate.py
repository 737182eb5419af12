"""``certs all``, ``ca``, ``server``, ``client`` and ``renew``: carry out a ``Plan``.

Read the CA once, generate in the staging folder, check, move into place.  Nothing
here prints or exits: progress goes to a callback, failures are ``CertsError``
subclasses, and each operation returns the paths it wrote.
"""

from __future__ import annotations

import functools
import os
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .certinfo import read_certificate
from .errors import CAProblem, Conflict, OutputError, quote
from .files import read_limited, write_private
from .issue import Authority, NewKey, create_ca, issue_leaf, load_authority
from .layout import (
    CA_CERT,
    CA_KEY,
    CERT_MODE,
    DOCKER_CLI_COPIES,
    GITIGNORE,
    GITIGNORE_TEXT,
    KEY_MODE,
    LEAF_FILES,
    STAGING_PREFIX,
    pair_files,
)
from .openssl import OpenSSL
from .parallel import Deferred, run_all
from .plan import (
    KeySpec,
    LeafSpec,
    Placement,
    Plan,
    Progress,
    check_renewal,
    leaf_end,
    renewal,
)
from .render import SHIPPED, Templates
from .store import JOURNAL, OutputDirectory, same_directory, shared_lock


@contextmanager
def children_reaped(openssl: OpenSSL) -> Iterator[None]:
    """No openssl child outlives the block (it writes into the staging folder)."""
    try:
        yield
    finally:
        openssl.reap()


def read_ca(store: OutputDirectory, source: Path) -> tuple[bytes, bytes]:
    """ca.pem and ca-key.pem of ``source``, read once.

    When ``source`` is not the directory this run holds, they are read under a
    shared lock; a change that a crashed run left there is undone first (its CA
    files may be uncommitted ones, whose key the next run there would drop).
    """
    if same_directory(source, store.path):
        return _read_ca_files(source)
    with shared_lock(source):
        if not _unfinished(source):
            return _read_ca_files(source)
    try:  # a journal seen under the shared lock is a crashed run's: no run is moving files
        with OutputDirectory(source):
            pass  # entering recovers, as any run on that directory would
    except Conflict:
        raise Conflict(f"another minipaas certs run is changing {source}; try again when "
                       "it ends") from None
    with shared_lock(source):
        if _unfinished(source):
            raise Conflict(f"{source} holds an unfinished change by a run that crashed "
                           "again; try again")
        return _read_ca_files(source)


def _read_ca_files(source: Path) -> tuple[bytes, bytes]:
    cert_path, key_path = source / CA_CERT, source / CA_KEY
    missing = [path.name for path in (cert_path, key_path) if not os.path.lexists(path)]
    if len(missing) == 2:
        raise CAProblem(
            f"no CA in {source} ({CA_CERT} and {CA_KEY} are missing): create one with "
            f"`minipaas certs ca --out {quote(source)}`, or name its folder with --ca-dir"
        )
    if missing:
        raise CAProblem(
            f"{source / missing[0]} is missing: signing needs both {CA_CERT} and {CA_KEY}; "
            "name the folder that holds both with --ca-dir"
        )
    return (read_limited(cert_path, error=CAProblem), read_limited(key_path, error=CAProblem))


def _unfinished(folder: Path) -> bool:
    """Whether a crashed run left a journal (a change half-made) in ``folder``."""
    return any(os.path.lexists(leftover / JOURNAL)
               for leftover in folder.glob(STAGING_PREFIX + "*"))


def _workers() -> int:
    # One more than the cores: three keys on two cores finish in about 1.5 key
    # times instead of 2, and a core is never idle while a child starts up.
    return (os.cpu_count() or 1) + 1


def _make_all(openssl: OpenSSL, store: OutputDirectory, provide: Callable[[], Authority],
              leaves: Sequence[LeafSpec], templates: Templates, progress: Progress
              ) -> Authority:
    """Provide the authority and issue the leaves, as one pipeline.

    The leaves' keys are generated while the CA is made (or loaded and checked);
    each leaf waits for the CA only to be signed.  Key generation is CPU-bound work
    in openssl children, run on ``_workers()`` threads.
    """
    authority: Deferred[Authority] = Deferred()
    for spec in leaves:
        names = ", ".join(map(str, spec.sans))
        progress(f"Generating {spec.role} key ({spec.key}) and certificate for "
                 f"CN={spec.common_name}" + (f", SANs {names}" if names else ""))

    def stop_children(interrupt: BaseException) -> None:
        openssl.cancel(getattr(interrupt, "signal_number", signal.SIGINT))

    calls: list[Callable[[], object]] = [functools.partial(authority.provide, provide)]
    calls += [functools.partial(issue_leaf, openssl, store.staging, authority.get, spec,
                                templates) for spec in leaves]
    run_all(calls, _workers(), on_interrupt=stop_children)
    signer = authority.get()
    for spec in leaves:
        if spec.bundle:
            folder = store.staged(spec.cert_file).parent
            write_private(folder / CA_CERT, signer.cert_pem, CERT_MODE)
            os.chmod(store.staged(spec.cert_file), CERT_MODE)
            os.chmod(store.staged(spec.key_file), KEY_MODE)
        elif spec.role == "client":
            for source, copy in DOCKER_CLI_COPIES.items():
                write_private(store.staged(copy), read_limited(store.staged(source)), KEY_MODE)
    return signer


def generate(openssl: OpenSSL, out: Path, plan: Plan, *, passphrase: bytes | None = None,
             templates: Templates = SHIPPED, progress: Progress = lambda _: None
             ) -> list[Path]:
    """Carry out ``plan`` in ``out``: a new CA and/or leaves signed by it.

    A new CA key is encrypted with ``passphrase`` if given; an existing encrypted
    one needs it.  Returns the files written.
    """
    openssl.version  # noqa: B018 - fail early if openssl is missing or too old; runs once
    ca, leaves, placement = plan.ca, plan.leaves, plan.placement()
    with OutputDirectory(out) as store, children_reaped(openssl):
        provide: Callable[[], Authority]
        if ca is None:
            source = plan.ca_dir or out
            if not plan.renewing:
                _plan_bundle_replacements(store, placement, plan.force)
            cert_pem, key_pem = read_ca(store, source)
            loaded = load_authority(openssl, store.staging, source, cert_pem, key_pem,
                                    passphrase)
            if not same_directory(source, out) and placement.files:
                _plan_ca_copy(store, loaded.cert_pem, source / CA_CERT, plan.force, placement)
            if passphrase is not None and loaded.passphrase is None:
                progress(f"Note: {source / CA_KEY} is not encrypted; the passphrase "
                         "was not needed")
            for spec in leaves:
                loaded.check_can_sign_until(leaf_end(spec.days))

            def provide() -> Authority:
                return loaded
        else:
            placement.keep = store.existing(placement.files)
            if placement.keep and not plan.force:
                raise Conflict(
                    f"{out} already holds {', '.join(placement.keep)}: a new CA never replaces "
                    "them; use `minipaas certs server` or `client` to issue from the "
                    "existing CA, or --force to move the old files into a backup folder"
                )
            progress(f"Generating CA key ({ca.key}{', AES-256 encrypted' if passphrase else ''})"
                     f" and certificate for CN={ca.common_name}, valid {ca.days} days")
            ca_key = NewKey(openssl, store.staged(CA_KEY), ca.key, passphrase)
            provide = functools.partial(create_ca, openssl, store.staging, ca.common_name,
                                        ca.key, ca.days, passphrase, not leaves, ca_key,
                                        templates)
        _make_all(openssl, store, provide, leaves, templates, progress)
        if store.write_new(GITIGNORE, GITIGNORE_TEXT, CERT_MODE):
            placement.files[GITIGNORE] = CERT_MODE
        written, backup = store.commit(placement.files, placement.bundles,
                                       keep=placement.keep)
        if backup is not None:
            progress(f"Moved the previous {', '.join(store.existing_in(backup))} into {backup}")
        orphans = store.existing(name for name in LEAF_FILES if name not in placement.files)
        if ca is not None and orphans:
            progress(f"Warning: {', '.join(orphans)} in {out} were issued by the previous CA; "
                     "re-issue them with `minipaas certs server` / `client`")
        return written


def _plan_bundle_replacements(store: OutputDirectory, plan: Placement, force: bool) -> None:
    """An existing client bundle is someone's credentials: replace it only with ``force``."""
    existing = store.existing(plan.bundles)
    if existing and not force:
        raise Conflict(
            f"{', '.join(str(store.path / name) for name in existing)} already exists; "
            "use --force to replace it (the old bundle is kept in a backup folder)"
        )
    plan.keep.extend(existing)


def _plan_ca_copy(store: OutputDirectory, ca_pem: bytes, origin: Path, force: bool,
                  plan: Placement) -> None:
    """With ``--ca-dir`` elsewhere, put the CA certificate beside the new files.

    The docker CLI needs ca.pem in DOCKER_CERT_PATH.  An existing, different ca.pem
    belongs to another CA: it is replaced (and kept in a backup) only with ``force``.
    """
    target = store.path / CA_CERT
    if os.path.lexists(target):
        try:
            same = not target.is_symlink() and read_limited(target) == ca_pem
        except OutputError:
            same = False
        if same:
            return
        if not force:
            raise Conflict(
                f"{target} is a different CA certificate from {origin}; "
                "use --force to replace it (the old one is kept in a backup folder)"
            )
        plan.keep.append(CA_CERT)
    store.stage(CA_CERT, ca_pem, CERT_MODE)
    plan.files[CA_CERT] = CERT_MODE


def renew(openssl: OpenSSL, out: Path, role: str, *, name: str | None = None,
          extra_sans: Sequence[str] = (), days: int, key: KeySpec | None = None,
          ca_dir: Path | None = None, force: bool = False, passphrase: bytes | None = None,
          templates: Templates = SHIPPED, progress: Progress = lambda _: None) -> list[Path]:
    """Re-issue a server or client pair with the current certificate's CN and SANs.

    The values are read from the certificate itself, so a renewal keeps what the
    last issue had (see ``plan.renewal``).  The new pair replaces the old one in
    one step.  ``force``: with ``ca_dir``, replace a ca.pem in ``out`` that is
    another CA's (it goes into a backup folder).
    """
    check_renewal(role, extra_sans)
    current_path = out / pair_files(role, name)[0]
    if not current_path.is_file():
        command = f"minipaas certs {role} --out {quote(out)}" + (
            f" --name {name}" if name else "")
        raise CAProblem(f"nothing to renew: {current_path} does not exist; "
                        f"issue it with `{command}`")
    current = read_certificate(current_path)
    if current.role != role:
        raise CAProblem(f"{current_path} is not a {role} certificate")
    spec = renewal(current, current_path, role, name, extra_sans, days, key)
    progress(f"Renewing {current_path} (CN={spec.common_name}"
             + (f", SANs {', '.join(map(str, spec.sans))}" if spec.sans else "") + ")")
    return generate(openssl, out, Plan(leaves=(spec,), ca_dir=ca_dir, force=force,
                                       renewing=True),
                    passphrase=passphrase, templates=templates, progress=progress)
