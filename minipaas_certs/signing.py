"""Leaves: their keys and requests, their signing by ``openssl ca``, and the checks of
what was signed (a PKI engine's answers too: see ``signers.engine``).

Each function here works on files in a private staging folder; nothing in this
module decides where files end up (see ``generate``).
"""

from __future__ import annotations

import datetime
import functools
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Sequence

from . import clock
from .authority import Authority, random_serial, signing_config, utc_time
from .certinfo import Certificate, parse_pem
from .errors import OutputError
from .files import read_limited, write_private
from .identity import ROLES
from .keys import NewKey, check_not_empty, digest_args, digest_name, public_key_of_file
from .layout import CA_CERT, CERT_MODE, DIR_MODE
from .openssl import Argument, OpenSSL, descriptor_budget, input_pipe
from .parallel import run_all
from .plan import BACKDATE, MADE, LeafSpec, Progress
from .render import SHIPPED, Templates
from .verify import verify_leaves

SIGNING = "signing"  # work folders in the staging folder


def leaf_config(spec: LeafSpec, templates: Templates) -> str:
    """The OpenSSL config of a leaf, rendered from its role's template."""
    return templates.render(
        spec.identity.role.template,
        common_name=spec.common_name,
        key_type=spec.key.kind,
        dns_names=[san.value for san in spec.sans if san.kind == "DNS"],
        ip_addresses=[san.value for san in spec.sans if san.kind == "IP"],
    )


class LeafRequest(NamedTuple):
    """A leaf's key and signing request, made before its CA is needed."""

    spec: LeafSpec
    cert_path: Path
    key_path: Path
    request: bytes  # PEM


# A request cannot name its issuer: the key identifier of the CA is added at signing,
# and every other extension of the template travels in the request.
_ISSUER_BOUND = re.compile(r"(?m)^[ \t]*authorityKeyIdentifier[ \t]*=.*\n?")


def request_leaf(openssl: OpenSSL, staging: Path, spec: LeafSpec,
                 templates: Templates = SHIPPED, after: Callable[[], object] = lambda: None,
                 progress: Progress = lambda _: None) -> LeafRequest:
    """Make a leaf's key and a request carrying its template's extensions (one
    ``req`` process for ECDSA and Ed25519 keys).

    The config goes in on stdin and the request comes back on stdout: of the
    files, only the key is written (creating files is a good part of a leaf's
    cost when a run makes hundreds).  ``after`` is waited for once the key is
    under way, before the config is rendered (see ``start_ca``'s ``requested``).
    """
    cert_path, key_path = staging / spec.cert_file, staging / spec.key_file
    if spec.bundle:
        for folder in (cert_path.parent.parent, cert_path.parent):
            if not folder.is_dir():
                folder.mkdir(mode=DIR_MODE, exist_ok=True)
    new_key = NewKey(openssl, key_path, spec.key)
    after()
    config = _ISSUER_BOUND.sub("", leaf_config(spec, templates)).encode()
    request = openssl.run(["req", "-new", *new_key.req_args(), "-config", "/dev/stdin",
                           "-reqexts", "extensions",
                           *digest_args(spec.key.kind, spec.key.bits)], stdin=config)
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in request:
        raise OutputError(f"openssl exited 0 but wrote no request for {key_path.name}")
    check_not_empty(key_path)
    progress(MADE)  # the leaf's costly part is done: a terminal's count goes up
    return LeafRequest(spec, cert_path, key_path, request)


def sign_leaves(openssl: OpenSSL, staging: Path, signer: Authority,
                requests: Sequence[LeafRequest], templates: Templates = SHIPPED,
                batch: int = 0, trust: Callable[[], Authority] | None = None
                ) -> list[Certificate]:
    """Sign every request with ``signer``, then check what openssl made.

    One ``openssl ca`` call signs all the leaves of one validity, with exact dates
    and random serials; each certificate goes to the leaf whose key it holds.
    Then each is compared with what was asked, and all of one role are checked
    by one ``openssl verify -x509_strict -purpose`` call.  A leaf starts
    ``BACKDATE`` before now, but never before its CA.  ``batch`` numbers the call
    when several sign parts of one run.  ``trust`` gives the CA the leaves are
    checked against, when ``signer`` is a provisional one (see ``start_ca``).
    """
    work = staging / f"{SIGNING}-{batch}"
    work.mkdir(mode=DIR_MODE)
    now = clock.now()
    not_before = max(now - BACKDATE, signer.starts)
    groups: dict[datetime.timedelta, list[LeafRequest]] = {}
    for request in requests:
        groups.setdefault(request.spec.lifetime, []).append(request)
    keys = run_all([functools.partial(public_key_of_file, openssl, r.key_path)
                    for r in requests], 2)
    owner = dict(zip(keys, requests))
    if len(owner) != len(requests):
        raise OutputError("openssl made the same key twice")
    size = descriptor_budget((os.cpu_count() or 1) + 1)  # each request is a descriptor
    calls = [(lifetime, group[start:start + size]) for lifetime, group in sorted(groups.items())
             for start in range(0, len(group), size)]
    issued: dict[Path, Certificate] = {}
    made: dict[Path, Path] = {}  # the file openssl wrote, when it holds just the leaf
    for index, (lifetime, group) in enumerate(calls):
        folder = work / str(index)
        folder.mkdir(mode=DIR_MODE)
        write_private(folder / "signing.cnf", signing_config(copy=True).encode(), 0o600)
        write_private(folder / "index.txt", b"", 0o600)
        write_private(folder / "serial", random_serial().encode() + b"\n", 0o600)
        digest = digest_name(signer.certificate.key_type, signer.certificate.key_bits)
        with _request_inputs(folder, group) as (inputs, inherit), \
                _signing_key(signer) as (keyfile, key_inherit):
            openssl.run(["ca", "-batch", "-config", folder / "signing.cnf",
                         "-cert", signer.cert_path, "-keyfile", keyfile,
                         "-outdir", folder, "-extensions", "signing_extensions",
                         "-startdate", utc_time(not_before), "-enddate", utc_time(now + lifetime),
                         "-md", digest, "-notext", "-preserveDN", "-rand_serial",
                         "-infiles", *inputs],
                        cwd=folder, secrets=signer.secrets, inherit=[*inherit, *key_inherit])
        for path in folder.glob("*.pem"):
            pem = read_limited(path)
            certificate = parse_pem(pem, path)[0]
            signed = owner.get(certificate.public_key_der)
            if signed is None or signed not in group:
                raise OutputError(f"openssl signed a certificate for no key it was asked for "
                                  f"({path.name})")
            issued[signed.cert_path] = certificate
            if pem == certificate.pem:
                made[signed.cert_path] = path
    authority = trust() if trust is not None else signer
    for cert_path, certificate in issued.items():
        # As Go finds a leaf's CA: by the exact bytes of its name, and its key identifier.
        if not certificate.issued_by(authority.certificate):
            raise OutputError(f"openssl made {cert_path.name} with an issuer name or key "
                              f"identifier other than {CA_CERT}'s" + templates.blame())
    place_and_check(openssl, requests, issued, authority.chain_pem, authority.trust_path,
                     authority.chain_path, templates, made)
    shutil.rmtree(work)
    return [issued[r.cert_path] for r in requests]


@contextmanager
def _request_inputs(folder: Path, requests: Sequence[LeafRequest]
                    ) -> Iterator[tuple[list[Argument], list[int]]]:
    """The ``-infiles`` arguments for ``requests`` and the descriptors behind them:
    each request in a pipe (``/dev/fd/N``), or, larger than a pipe holds, in a file
    in ``folder``."""
    inputs: list[Argument] = []
    inherit: list[int] = []
    try:
        for number, request in enumerate(requests):
            descriptor = input_pipe(request.request)
            if descriptor is None:
                spilled = folder / f"request-{number}.csr"
                write_private(spilled, request.request, 0o600)
                inputs.append(spilled)
            else:
                inherit.append(descriptor)
                inputs.append(f"/dev/fd/{descriptor}")
        yield inputs, inherit
    finally:
        for descriptor in inherit:
            os.close(descriptor)


@contextmanager
def _signing_key(signer: Authority) -> Iterator[tuple[Argument, list[int]]]:
    """The ``-keyfile`` argument for ``signer`` and the descriptor behind it: a CA read
    from a folder hands its key over through a pipe (``/dev/fd/N``); a CA made in this
    run signs with its key in the staging folder."""
    descriptor = input_pipe(signer.key_pem) if signer.key_pem is not None else None
    if descriptor is None:
        if signer.key_pem is not None:
            raise OutputError(f"{signer.key_path} is too large to be a private key")
        yield signer.key_path, []
        return
    try:
        yield f"/dev/fd/{descriptor}", [descriptor]
    finally:
        os.close(descriptor)


def place_and_check(openssl: OpenSSL, requests: Sequence[LeafRequest],
                     issued: dict[Path, Certificate], chain_pem: bytes, trust_path: Path,
                     chain_path: Path | None, templates: Templates,
                     made: dict[Path, Path] | None = None) -> None:
    """Write each leaf with the intermediates a peer trusting only the root needs,
    compare it with what was asked, and verify all of one role in one call (the two
    roles at once).  ``made``: files openssl wrote that hold exactly a leaf, renamed
    into place rather than copied when there are no intermediates."""
    for request in requests:
        if request.cert_path not in issued:
            raise OutputError(f"no certificate was signed for {request.key_path.name}, or "
                              "one that does not match it" + templates.blame())
        source = (made or {}).get(request.cert_path)
        if source is not None and not chain_pem:
            os.chmod(source, CERT_MODE)
            os.rename(source, request.cert_path)
        else:
            write_private(request.cert_path, issued[request.cert_path].pem + chain_pem,
                          CERT_MODE)
        check_issued(issued[request.cert_path], request.spec, request.cert_path,
                     templates.blame())
    by_role = {role: [r.cert_path for r in requests if r.spec.role is role]
               for role in ROLES.values()}
    run_all([functools.partial(verify_leaves, openssl, trust_path, paths, role,
                               hint=templates.blame(), untrusted=chain_path)
             for role, paths in by_role.items() if paths], 2)  # the roles side by side


def issue_leaf(openssl: OpenSSL, staging: Path, authority: Callable[[], Authority],
               spec: LeafSpec, templates: Templates = SHIPPED) -> Certificate:
    """One leaf: its request, then its signature by ``authority()`` and the checks."""
    request = request_leaf(openssl, staging, spec, templates)
    return sign_leaves(openssl, staging, authority(), [request], templates)[0]


def check_issued(certificate: Certificate, spec: LeafSpec, cert_path: Path,
                 hint: str = "") -> None:
    """Compare what openssl issued with what was asked: names, CA flag, purpose."""
    asked_dns = {san.value for san in spec.sans if san.kind == "DNS"}
    asked_ip = {san.value for san in spec.sans if san.kind == "IP"}
    problems = []
    if set(certificate.dns_names) != asked_dns or set(certificate.ip_addresses) != asked_ip:
        problems.append("its subjectAltName differs from the names asked")
    if certificate.is_ca:
        problems.append("it is a CA")
    if certificate.extended_key_usage != (spec.identity.role.eku_oid,):
        problems.append(f"its extendedKeyUsage is not {spec.role} authentication only")
    if certificate.subject_cn != spec.common_name:
        problems.append("its common name differs from the one asked")
    if problems:
        raise OutputError(f"openssl made {cert_path} wrongly: {'; '.join(problems)}" + hint)
