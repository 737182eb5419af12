"""The tool's operations: plan, generate in staging, check, move into place.

Nothing here prints or exits: progress goes to a callback, failures are
``CertsError`` subclasses, and each operation returns the paths it wrote.
"""

from __future__ import annotations

import functools
import os
import signal
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Iterator, Sequence

from .certinfo import read_certificate
from .errors import CAProblem, Conflict, InvalidInput, OutputError
from .files import read_limited, write_private
from .issue import (
    Authority,
    KeySpec,
    LeafSpec,
    NewKey,
    create_ca,
    issue_leaf,
    leaf_end,
    load_authority,
)
from .names import SubjectAltName, parse_common_name, parse_sans
from .openssl import OpenSSL
from .parallel import Deferred, run_all
from .store import (
    CERT_MODE,
    GITIGNORE,
    GITIGNORE_TEXT,
    JOURNAL,
    KEY_MODE,
    STAGING_PREFIX,
    OutputDirectory,
    same_directory,
    shared_lock,
)

Progress = Callable[[str], None]
CA_FILES = {"ca.pem": CERT_MODE, "ca-key.pem": KEY_MODE}
# The docker CLI reads only ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH, so the
# default client pair is also written under those names, as plain copies: copies
# survive tar, CI artifacts and secret stores that drop or refuse symlinks.
DOCKER_CLI_COPIES = {"client-cert.pem": "cert.pem", "client-key.pem": "key.pem"}
LEAF_FILES = ("server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem",
              "cert.pem", "key.pem")
DEFAULT_SANS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class CASpec:
    """What a new CA must contain."""

    common_name: str
    key: KeySpec
    days: int


@dataclass
class _Plan:
    """What a run will move into place: top-level files and whole bundle folders."""

    files: dict[str, int] = field(default_factory=dict)
    bundles: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)  # if replaced, moved into a backup

    def add_leaf(self, spec: LeafSpec) -> None:
        if spec.bundle:
            self.bundles.append(str(Path(spec.cert_file).parent))
            return
        self.files.update({spec.cert_file: CERT_MODE, spec.key_file: KEY_MODE})
        if spec.role == "client":
            self.files.update({DOCKER_CLI_COPIES[spec.cert_file]: CERT_MODE,
                               DOCKER_CLI_COPIES[spec.key_file]: KEY_MODE})


def server_names(sans: Sequence[str], with_defaults: bool = True) -> tuple[SubjectAltName, ...]:
    """The server's SANs: the given values, then localhost and 127.0.0.1 unless told not."""
    return tuple(parse_sans([*sans, *(DEFAULT_SANS if with_defaults else ())]))


@contextmanager
def children_reaped(openssl: OpenSSL) -> Iterator[None]:
    """No openssl child outlives the block (it writes into the staging folder)."""
    try:
        yield
    finally:
        openssl.reap()


def read_ca(store: OutputDirectory, source: Path) -> tuple[bytes, bytes]:
    """ca.pem and ca-key.pem of ``source``, read once.

    When ``source`` is not the directory this run holds: a change that a crashed run
    left there is undone first (its CA files may be uncommitted ones, whose key the
    next run there would drop), then the files are read under a shared lock.
    """
    cert_path, key_path = source / "ca.pem", source / "ca-key.pem"
    elsewhere = not same_directory(source, store.path)
    if elsewhere and _unfinished(source):
        with OutputDirectory(source):
            pass  # entering recovers, as any run on that directory would
    lock: ContextManager[None] = shared_lock(source) if elsewhere else nullcontext()
    with lock:
        if elsewhere and _unfinished(source):
            raise Conflict(f"{source} holds an unfinished change by a run that crashed; "
                           "try again")
        missing = [path.name for path in (cert_path, key_path) if not os.path.lexists(path)]
        if len(missing) == 2:
            raise CAProblem(
                f"no CA in {source} (ca.pem and ca-key.pem are missing): create one with "
                f"`minipaas certs ca --out {quote(source)}`, or name its folder with --ca-dir"
            )
        if missing:
            raise CAProblem(
                f"{source / missing[0]} is missing: signing needs both ca.pem and ca-key.pem; "
                "name the folder that holds both with --ca-dir"
            )
        return (read_limited(cert_path, error=CAProblem),
                read_limited(key_path, error=CAProblem))


def _unfinished(folder: Path) -> bool:
    """Whether a crashed run left a journal (a change half-made) in ``folder``."""
    return any(os.path.lexists(leftover / JOURNAL)
               for leftover in folder.glob(STAGING_PREFIX + "*"))


def quote(path: Path | str) -> str:
    """A path as it can be pasted into a shell."""
    import shlex

    return shlex.quote(str(path))


def _workers() -> int:
    # One more than the cores: three keys on two cores finish in about 1.5 key
    # times instead of 2, and a core is never idle while a child starts up.
    return (os.cpu_count() or 1) + 1


def _make_all(openssl: OpenSSL, store: OutputDirectory, provide: Callable[[], Authority],
              leaves: Sequence[LeafSpec], progress: Progress) -> Authority:
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
    calls += [functools.partial(issue_leaf, openssl, store.staging, authority.get, spec)
              for spec in leaves]
    run_all(calls, _workers(), on_interrupt=stop_children)
    signer = authority.get()
    for spec in leaves:
        if spec.bundle:
            folder = store.staged(spec.cert_file).parent
            write_private(folder / "ca.pem", signer.cert_pem, CERT_MODE)
            os.chmod(folder / "cert.pem", CERT_MODE)
            os.chmod(folder / "key.pem", KEY_MODE)
        elif spec.role == "client":
            for source, copy in DOCKER_CLI_COPIES.items():
                write_private(store.staged(copy), read_limited(store.staged(source)), KEY_MODE)
    return signer


def generate(openssl: OpenSSL, out: Path, *, ca: CASpec | None,
             leaves: Sequence[LeafSpec] = (), ca_dir: Path | None = None,
             force: bool = False, passphrase: bytes | None = None,
             renewing: bool = False, progress: Progress = lambda _: None) -> list[Path]:
    """Create a CA (when ``ca`` is given) and/or leaves signed by it, in ``out``.

    A new CA never replaces an existing one, nor any file a new CA would orphan,
    unless ``force``: then the old files are moved into a dated backup folder.
    Leaves issued from an existing CA replace the previous pair (that is rotation);
    a named client bundle is replaced only with ``force`` or when ``renewing``
    (then it is not kept).  A new CA key is encrypted with ``passphrase`` if
    given; an existing encrypted one needs it.
    """
    openssl.version  # noqa: B018 - fail early if openssl is missing or too old; runs once
    if ca is not None:
        for spec in leaves:
            if spec.days >= ca.days:  # signed after the CA, an equal span ends later
                raise InvalidInput(
                    f"--days {spec.days} must be shorter than --ca-days {ca.days}: "
                    "a certificate must not outlive its CA"
                )
    plan = _Plan(files=dict(CA_FILES) if ca is not None else {})
    for spec in leaves:
        plan.add_leaf(spec)
    with OutputDirectory(out) as store, children_reaped(openssl):
        provide: Callable[[], Authority]
        if ca is None:
            source = ca_dir or out
            if not renewing:
                _plan_bundle_replacements(store, plan, force)
            cert_pem, key_pem = read_ca(store, source)
            loaded = load_authority(openssl, store.staging, source, cert_pem, key_pem,
                                    passphrase)
            if not same_directory(source, out) and plan.files:
                _plan_ca_copy(store, loaded.cert_pem, source / "ca.pem", force, plan)
            if passphrase is not None and loaded.passphrase is None:
                progress(f"Note: {source / 'ca-key.pem'} is not encrypted; the passphrase "
                         "was not needed")
            for spec in leaves:
                loaded.check_can_sign_until(leaf_end(spec.days))

            def provide() -> Authority:
                return loaded
        else:
            plan.keep = store.existing(plan.files)
            if plan.keep and not force:
                raise Conflict(
                    f"{out} already holds {', '.join(plan.keep)}: a new CA never replaces "
                    "them; use `minipaas certs server` or `client` to issue from the "
                    "existing CA, or --force to move the old files into a backup folder"
                )
            progress(f"Generating CA key ({ca.key}{', AES-256 encrypted' if passphrase else ''})"
                     f" and certificate for CN={ca.common_name}, valid {ca.days} days")
            ca_key = NewKey(openssl, store.staged("ca-key.pem"), ca.key, passphrase)
            provide = functools.partial(create_ca, openssl, store.staging, ca.common_name,
                                        ca.key, ca.days, passphrase, not leaves, ca_key)
        _make_all(openssl, store, provide, leaves, progress)
        if store.write_new(GITIGNORE, GITIGNORE_TEXT, CERT_MODE):
            plan.files[GITIGNORE] = CERT_MODE
        written, backup = store.commit(plan.files, plan.bundles, keep=plan.keep)
        if backup is not None:
            progress(f"Moved the previous {', '.join(store.existing_in(backup))} into {backup}")
        orphans = store.existing(name for name in LEAF_FILES if name not in plan.files)
        if ca is not None and orphans:
            progress(f"Warning: {', '.join(orphans)} in {out} were issued by the previous CA; "
                     "re-issue them with `minipaas certs server` / `client`")
        return written


def _plan_bundle_replacements(store: OutputDirectory, plan: _Plan, force: bool) -> None:
    """An existing client bundle is someone's credentials: replace it only with ``force``."""
    existing = store.existing(plan.bundles)
    if existing and not force:
        raise Conflict(
            f"{', '.join(str(store.path / name) for name in existing)} already exists; "
            "use --force to replace it (the old bundle is kept in a backup folder)"
        )
    plan.keep.extend(existing)


def _plan_ca_copy(store: OutputDirectory, ca_pem: bytes, origin: Path, force: bool,
                  plan: _Plan) -> None:
    """With ``--ca-dir`` elsewhere, put the CA certificate beside the new files.

    The docker CLI needs ca.pem in DOCKER_CERT_PATH.  An existing, different ca.pem
    belongs to another CA: it is replaced (and kept in a backup) only with ``force``.
    """
    target = store.path / "ca.pem"
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
        plan.keep.append("ca.pem")
    store.stage("ca.pem", ca_pem, CERT_MODE)
    plan.files["ca.pem"] = CERT_MODE


def renew(openssl: OpenSSL, out: Path, role: str, *, name: str | None = None,
          extra_sans: Sequence[str] = (), days: int, key: KeySpec | None = None,
          ca_dir: Path | None = None, passphrase: bytes | None = None,
          progress: Progress = lambda _: None) -> list[Path]:
    """Re-issue a server or client pair with the current certificate's CN and SANs.

    The values are read from the certificate itself, so a renewal keeps what the
    last issue had (plus ``extra_sans``); the key type and size are kept unless
    ``key`` says otherwise.  The new pair replaces the old one in one step.
    """
    if role == "client" and extra_sans:
        raise InvalidInput("--san is for server certificates; a client is named by its CN")
    current_path = out / (f"clients/{name}/cert.pem" if name else f"{role}-cert.pem")
    if not current_path.is_file():
        command = f"minipaas certs {role} --out {out}" + (f" --name {name}" if name else "")
        raise CAProblem(f"nothing to renew: {current_path} does not exist; "
                        f"issue it with `{command}`")
    current = read_certificate(current_path)
    if current.role != role:
        raise CAProblem(f"{current_path} is not a {role} certificate")
    try:
        common_name = parse_common_name(current.subject_cn or "", "current common name")
        sans = parse_sans([*current.names, *extra_sans]) if role == "server" else []
        key = key or KeySpec.parse(current.key_type, current.key_bits)
    except InvalidInput as error:
        raise InvalidInput(f"cannot renew {current_path} as it is: {error}") from None
    progress(f"Renewing {current_path} (CN={common_name}"
             + (f", SANs {', '.join(map(str, sans))}" if sans else "") + ")")
    spec = LeafSpec(role, common_name, key, days, tuple(sans), bundle=name)
    return generate(openssl, out, ca=None, leaves=[spec], ca_dir=ca_dir,
                    passphrase=passphrase, renewing=True, progress=progress)
