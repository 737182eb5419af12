"""The tool's operations, one per command: plan, generate in staging, check, move into place.

Nothing here prints or exits: progress goes to a callback, failures are
``CertsError`` subclasses, and each operation returns the paths it wrote.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .errors import Conflict, InvalidInput
from .issue import Authority, KeySpec, LeafSpec, create_ca, issue_leaf, leaf_end, load_authority
from .names import SubjectAltName, parse_sans
from .openssl import OpenSSL
from .store import CERT_MODE, KEY_MODE, OutputDirectory

Progress = Callable[[str], None]
CA_FILES = {"ca.pem": CERT_MODE, "ca-key.pem": KEY_MODE}
# The docker CLI reads only ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH, so the
# default client pair is also written under those names, as plain copies: copies
# survive tar, CI artifacts and secret stores that drop or refuse symlinks.
DOCKER_CLI_COPIES = {"client-cert.pem": "cert.pem", "client-key.pem": "key.pem"}
DEFAULT_SANS = ("localhost", "127.0.0.1")
LEAF_FILES = ("server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem",
              "cert.pem", "key.pem")


@dataclass(frozen=True)
class CASpec:
    """What a new CA must contain."""

    common_name: str
    key: KeySpec
    days: int


def server_names(sans: Sequence[str], with_defaults: bool = True) -> tuple[SubjectAltName, ...]:
    """The server's SANs: the given values, then localhost and 127.0.0.1 unless told not."""
    return tuple(parse_sans([*sans, *(DEFAULT_SANS if with_defaults else ())]))


def _leaf_files(spec: LeafSpec) -> dict[str, int]:
    files = {spec.cert_file: CERT_MODE, spec.key_file: KEY_MODE}
    if spec.role == "client":
        files.update({DOCKER_CLI_COPIES[spec.cert_file]: CERT_MODE,
                      DOCKER_CLI_COPIES[spec.key_file]: KEY_MODE})
    return files


def _copy_private(source: Path, target: Path) -> None:
    """Copy a file, creating the target 0600 so a key copy is never readable by others."""
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(source.read_bytes())


def _issue_all(openssl: OpenSSL, store: OutputDirectory, authority: Authority,
               leaves: Sequence[LeafSpec], progress: Progress) -> None:
    """Issue the leaves concurrently: key generation is CPU-bound work in openssl."""
    for spec in leaves:
        names = ", ".join(map(str, spec.sans))
        progress(f"Generating {spec.role} key ({spec.key}) and certificate for "
                 f"CN={spec.common_name}" + (f", SANs {names}" if names else ""))
    workers = max(1, min(len(leaves), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(issue_leaf, openssl, store.staging, authority, spec)
                   for spec in leaves]
        for future in futures:
            future.result()
    for spec in leaves:
        if spec.role == "client":
            for source, copy in DOCKER_CLI_COPIES.items():
                _copy_private(store.staged(source), store.staged(copy))


def generate(openssl: OpenSSL, out: Path, *, ca: CASpec | None,
             leaves: Sequence[LeafSpec] = (), ca_dir: Path | None = None,
             force: bool = False, progress: Progress = lambda _: None) -> list[Path]:
    """Create a CA (when ``ca`` is given) and/or leaves signed by it, in ``out``.

    A new CA never replaces an existing one, nor any file a new CA would orphan,
    unless ``force``: then the old files are moved into a dated backup folder.
    Leaves issued from an existing CA replace the previous pair (that is rotation).
    """
    openssl.version  # noqa: B018 - fail early if openssl is missing or too old; runs once
    if ca is not None:
        for spec in leaves:
            if spec.days > ca.days:
                raise InvalidInput(
                    f"--days {spec.days} is longer than --ca-days {ca.days}: "
                    "a certificate must not outlive its CA"
                )
    with OutputDirectory(out) as store:
        files: dict[str, int] = dict(CA_FILES) if ca is not None else {}
        for spec in leaves:
            files.update(_leaf_files(spec))
        if ca is None:
            authority = load_authority(openssl, ca_dir or out)
            for spec in leaves:
                authority.check_can_sign_until(leaf_end(spec.days))
            replaced: list[str] = []
            if ca_dir is not None and ca_dir.resolve() != out.resolve():
                replaced = _plan_ca_copy(store, authority, force, files)
        else:
            replaced = store.existing(files)
            if replaced and not force:
                raise Conflict(
                    f"{out} already holds {', '.join(replaced)}: a new CA never replaces "
                    "them; use `minipaas certs server` or `client` to issue from the "
                    "existing CA, or --force to move the old files into a backup folder"
                )
            progress(f"Generating CA key ({ca.key}) and certificate for "
                     f"CN={ca.common_name}, valid {ca.days} days")
            authority = create_ca(openssl, store.staging, ca.common_name, ca.key, ca.days)
        if leaves:
            _issue_all(openssl, store, authority, leaves, progress)
        backup = store.move_aside(replaced) if replaced else None
        if backup is not None:
            progress(f"Moved the previous {', '.join(replaced)} into {backup}")
        written = store.commit(files)
        orphans = store.existing(name for name in LEAF_FILES if name not in files)
        if ca is not None and orphans:
            progress(f"Warning: {', '.join(orphans)} in {out} were issued by the previous CA; "
                     "re-issue them with `minipaas certs server` / `client`")
        return written


def _plan_ca_copy(store: OutputDirectory, authority: Authority, force: bool,
                  files: dict[str, int]) -> list[str]:
    """With ``--ca-dir`` elsewhere, put the CA certificate beside the new files.

    The docker CLI needs ca.pem in DOCKER_CERT_PATH.  An existing, different ca.pem
    belongs to another CA: it is replaced (and kept in a backup) only with ``force``.
    """
    target = store.path / "ca.pem"
    ca_bytes = authority.cert_path.read_bytes()
    if target.is_file() and not target.is_symlink() and target.read_bytes() == ca_bytes:
        return []
    if os.path.lexists(target) and not force:
        raise Conflict(
            f"{target} is a different CA certificate from {authority.cert_path}; "
            "use --force to replace it (the old one is kept in a backup folder)"
        )
    store.staged("ca.pem").write_bytes(ca_bytes)
    files["ca.pem"] = CERT_MODE
    return store.existing(["ca.pem"])
