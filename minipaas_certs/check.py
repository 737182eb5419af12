"""``certs check``: what is wrong or soon due in a directory, each with the command
that fixes it."""

from __future__ import annotations

import datetime
import functools
import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence, Tuple

from . import clock, interrupts
from .certinfo import (
    Certificate,
    public_key_of_private,
    read_certificates,
    starts_later,
)
from .errors import (
    EXIT_PROBLEMS,
    EXIT_WARNINGS,
    Conflict,
    OpenSSLFailed,
    OutputError,
    quote,
)
from .files import read_limited, write_private
from .identity import CLIENT, PROGRAM, ROLES, Identity, Role, bundles, certs_command
from .inventory import Entry, Rollover, inventory, rollover_state
from .journal import owned_private_dir
from .keys import is_encrypted, passin, public_key_of
from .layout import (
    CA_CERT,
    CA_KEY,
    DOCKER_CLI_COPIES,
    KEY_PATTERNS,
    REVOKED_FILE,
    STAGING_PREFIX,
    strangers,
)
from .openssl import OpenSSL, descriptor_budget
from .parallel import run_all
from .plan import DAY, time_left
from .revocations import read as read_revocations
from .store import (
    abandoned,
    link_fix,
    linked_folders,
    shared_lock,
    unfinished,
)
from .verify import VerifyFailed, unverified, verify_leaf


@dataclass(frozen=True)
class Finding:
    """One thing ``certs check`` reports: a warning (expires soon) or a problem."""

    severity: str  # "warning" or "problem"
    file: str
    message: str
    fix: str


def _pairs(directory: Path) -> list[tuple[str, str, Identity]]:
    """The leaf pairs present: (certificate, key, whose), bundles included; the docker
    CLI's copies of the client pair are a pair of the top-level client's."""
    tops = [Identity(role) for role in ROLES.values()]
    candidates = [(top.cert, top.key, top) for top in tops]
    candidates += [(top.copies[0], top.copies[1], top) for top in tops if top.copies]
    present = [pair for pair in candidates
               if os.path.lexists(directory / pair[0]) or os.path.lexists(directory / pair[1])]
    # A bundle folder is a DOCKER_CERT_PATH or a manager's /etc/docker: it needs its
    # pair even if both are gone.
    return present + [(b.cert, b.key, b) for b in bundles(directory)]


def _fix(out: Path, place: Identity, certificate: Certificate | None) -> str:
    """The one command that fixes whatever is wrong with ``place`` (its dates, key, CA
    file, a missing half): `renew` while its ``certificate`` reads as one of its role,
    as renew keeps its names, key type and lifetime (an 8-hour bundle stays one).
    Else it is issued anew: over another role's certificate with --force, and with
    nothing to keep, as a new bundle or pair."""
    if certificate is not None and place.role.fits(certificate):
        return place.command(out, verb="renew")
    if certificate is not None:
        return place.command(out, options=["--force"])
    return _bundle_command(out, place) if place.name is not None else place.command(out)


def _bundle_command(out: Path, bundle: Identity) -> str:
    """The command that re-creates ``bundle``."""
    return bundle.command(out, options=["--san <its addresses>" if bundle.role.needs_sans
                                        else "--force"])


@dataclass(frozen=True)
class Report:
    """What ``check`` found, with the inventory and rollover it looked at."""

    findings: list[Finding]
    entries: list[Entry]
    rollover: Rollover | None
    copies: dict[str, str]  # the docker CLI's copies found true: client-cert.pem -> cert.pem
    young: int = 0  # within --warn-days but short-lived, with over a third of it left

    @property
    def certificates(self) -> int:
        """How many certificates were checked: a true copy is the same certificate."""
        return len(self.entries) - sum(1 for e in self.entries if e.file in
                                       self.copies.values())

    @property
    def exit_code(self) -> int:
        """8 if anything is wrong now, 7 if something only expires soon, else 0."""
        severities = {finding.severity for finding in self.findings}
        return EXIT_PROBLEMS if "problem" in severities else \
            EXIT_WARNINGS if severities else 0

    @property
    def status(self) -> str:
        return {0: "ok", EXIT_WARNINGS: "warning", EXIT_PROBLEMS: "problem"}[self.exit_code]


def _cli_copies(directory: Path, entries: dict[str, Entry], out: Path
                ) -> tuple[dict[str, str], list[Finding]]:
    """``DOCKER_CLI_COPIES`` when cert.pem and key.pem are the copies of the client pair
    the tool writes (then the pair is checked, and reported, once), else nothing and a
    problem if they differ: the docker CLI reads cert.pem and key.pem, so it would not
    use the pair that renew, revoke and the rest of check see."""
    (cert, cli_cert), (key, cli_key) = DOCKER_CLI_COPIES.items()
    if not all(name in entries for name in (cert, cli_cert)) \
            or not all(os.path.isfile(directory / name) for name in (key, cli_key)):
        return {}, []  # a missing half is reported as such, by the pair checks
    try:
        keys = [read_limited(directory / name).strip() for name in (key, cli_key)]
    except OutputError:
        return {}, []  # reported by the key checks
    same_key = keys[0] == keys[1]
    first, second = entries[cert], entries[cli_cert]
    same_cert = (first.certificate.der, [c.der for c in first.chain]) == \
        (second.certificate.der, [c.der for c in second.chain])
    if same_cert and same_key:
        return dict(DOCKER_CLI_COPIES), []
    if same_cert:
        file, message = cli_key, f"differs from {key}"
    else:
        file, message = cli_cert, f"differs from {cert}" + (
            "" if same_key else f" (and {cli_key} from {key})")
    return {}, [Finding("problem", file, f"{message}, of which the tool writes a plain copy: "
                        f"the docker CLI reads {cli_cert} and {cli_key}, not the pair the other "
                        "commands see", f"{Identity(CLIENT).command(out, verb='renew')} "
                        "(writes both from the client pair)")]


def _with_copies(found: list[Finding], copies: dict[str, str]) -> list[Finding]:
    """Findings about client-cert.pem or client-key.pem hold for their copies too: one
    finding says so, rather than a second line for the same certificate."""
    return [replace(f, message=f"{f.message} (its copy {copies[f.file]} too)")
            if f.file in copies else f for f in found]


def check(openssl: OpenSSL, directory: Path, warn_days: int,
          passphrase: bytes | None = None,
          now: datetime.datetime | None = None) -> Report:
    """Everything wrong, or about to go wrong, with the directory's files.

    Problems: a missing or unpaired file, an expired or not yet valid
    certificate, a key that does not match its certificate, a leaf that does
    not verify against ca.pem (with its purpose) or outlives its CA, a private
    key readable by others (a symlink is judged by its target), a client bundle
    that the docker CLI could not use (its own ca.pem missing, unreadable, or
    not trusting the daemon's CA), a change a crashed run left half-made, a
    certificate signed with SHA-1 or MD5.
    Warnings: a certificate expiring within ``warn_days``, a leaf still from the
    old CA during a rollover, a root whose own signature is SHA-1 or MD5.  The
    openssl checks run concurrently with the Python ones; openssl opens none of
    the directory's files by name (see ``_verify_findings``).
    """
    import tempfile

    with interrupts.cooperative(), tempfile.TemporaryDirectory(prefix="minipaas-check-") as work:
        return _check(openssl, directory, warn_days, passphrase,
                      now or clock.now(), Path(work))


def _interrupted_changes(directory: Path) -> list[Finding]:
    """A change a crashed run left half-made: the files may be its new ones or a mix,
    until the next run that writes the folder undoes it (recovery)."""
    try:
        with shared_lock(directory):
            leftovers, killed = unfinished(directory), abandoned(directory)
    except Conflict:
        return []  # a run is changing the folder now: its staging folder is live
    return [Finding("problem", leftover.name, "a run was cut off while it changed the "
                    "directory: what is in place may be its unfinished change, which the "
                    "next run that writes here undoes first",
                    f"any {PROGRAM} command that writes the directory (renew, server, "
                    "client) undoes it first; then check again") for leftover in leftovers
            ] + [_abandoned_finding(leftover) for leftover in killed]


def _abandoned_finding(leftover: Path) -> Finding:
    """A staging folder without a journal: a killed run's, which the next writing run
    removes, or one this tool did not make, which every writing run refuses to touch."""
    why = owned_private_dir(leftover)
    if why:
        return Finding("problem", leftover.name, f"not a staging folder of this tool ({why}): "
                       f"every {PROGRAM} command that writes the directory refuses to "
                       "run until it is gone", f"check what it holds, then remove it: "
                       f"`rm -r {quote(str(leftover))}`")
    return Finding("problem", leftover.name, "left by a run that was killed: it may hold "
                   "private keys, which copies of the directory would carry",
                   f"any {PROGRAM} command that writes the directory (renew, server, "
                   "client) removes it; or remove it by hand")


def _check(openssl: OpenSSL, directory: Path, warn_days: int, passphrase: bytes | None,
           now: datetime.datetime, work: Path) -> Report:
    out = directory
    findings = _interrupted_changes(directory)
    unreadable: list[str] = []
    entries = inventory(directory, unreadable)
    for name in unreadable:
        findings.append(Finding("problem", name, "holds no valid PEM certificate",
                                f"restore it, or re-issue it with `{certs_command()}` (see "
                                f"`{certs_command('show', out=out)}`)"))
    by_file = {entry.file: entry.certificate for entry in entries}
    copies, copy_findings = _cli_copies(directory, {e.file: e for e in entries}, out)
    findings += copy_findings
    cas = [e.certificate for e in entries if e.file == CA_CERT]
    if not cas and CA_CERT not in unreadable:
        findings.append(Finding("problem", CA_CERT, "missing",
                                f"{certs_command('ca', out=out)}, or copy the CA's ca.pem here"))
    ca_copy = work / CA_CERT
    chains = {entry.file: entry.chain for entry in entries if entry.chain}
    if cas:
        write_private(ca_copy, b"".join(c.pem for c in cas), 0o600)
    for entry in entries:
        if entry.file not in copies.values():
            findings.extend(_with_copies(_date_findings(entry, cas, warn_days, now, out),
                                         copies))
            findings.extend(_with_copies(_signature_findings(entry, out), copies))
    pairs: list[tuple[str, str, Certificate, bytes | None, str]] = []
    if cas and os.path.lexists(directory / CA_KEY):
        # With an intermediate, ca.pem also holds its issuers: the key is the lowest one's.
        signer = next((ca for ca in cas if not ca.self_issued
                       and not any(other.issued_by(ca) for other in cas if other is not ca)),
                      cas[0])
        pairs.append((CA_CERT, CA_KEY, signer, passphrase,
                      f"put back the key of {quote(out)}/{CA_CERT}"))
    # Leaves to verify, by role and the intermediates their file carries.
    leaves: dict[tuple[Role, bytes], list[Leaf]] = {}
    for cert_file, key_file, whose in _pairs(directory):
        if cert_file in copies.values():
            continue  # checked as the pair it copies
        fix = _fix(out, whose, by_file.get(cert_file))
        missing = [name for name in (cert_file, key_file) if not os.path.exists(directory / name)]
        if missing:
            findings += [Finding("problem", name, "missing: its pair is incomplete", fix)
                         for name in missing]
            continue
        if cert_file in by_file:
            pairs.append((cert_file, key_file, by_file[cert_file], None, fix))
            if cas:
                chain = b"".join(link.pem for link in chains.get(cert_file, ()))
                leaves.setdefault((whose.role, chain), []).append(
                    (cert_file, by_file[cert_file], fix))
    # The verify processes first; the checks done in Python run while they work.
    cores = os.cpu_count() or 1
    parts = _verify_parts(leaves, cores)
    checks: list[Callable[[], list[Finding]]] = [
        functools.partial(_verify_findings, openssl, directory, ca_copy, work / str(index),
                          role, chain, part)
        for index, (role, chain, part) in enumerate(parts)]
    checks += [functools.partial(_key_findings, openssl, directory, *pair) for pair in pairs]
    checks.append(functools.partial(_directory_findings, directory, cas, by_file, out))
    rollover = rollover_state(directory, entries)
    # The one command per leaf (renew keeps its lifetime); the rollover line says finish.
    whose_cert = {cert_file: whose for cert_file, _key, whose in _pairs(directory)}
    findings += _with_copies([
        Finding("warning", leaf, "still issued by the old CA during a rollover",
                _fix(out, whose_cert[leaf], by_file.get(leaf)) if leaf in whose_cert
                else f"re-issue it, then `{certs_command('rotate-ca', 'finish', out=out)}`")
        for leaf in (rollover.old_leaves if rollover else []) if leaf not in copies.values()],
        copies)
    for result in run_all(checks, min(len(parts), cores) + 1):  # openssl, and Python
        findings.extend(_with_copies(result, copies))
    order = {"problem": 0, "warning": 1}
    findings.sort(key=lambda f: (order[f.severity], f.file, f.message))
    young = sum(1 for entry in entries if entry.file not in copies.values()
                and 0 < entry.certificate.days_left(now) <= warn_days
                and not _short_of_life(entry.certificate, now))
    return Report(findings, entries, rollover, copies, young)


Leaf = Tuple[str, Certificate, str]  # file, certificate, the command that fixes it


def _verify_parts(leaves: dict[tuple[Role, bytes], list[Leaf]], cores: int
                  ) -> list[tuple[Role, bytes, list[Leaf]]]:
    """The verify calls: one per role and chain, split over the cores when there are many
    leaves (32 or more), each holding few enough open files (see ``_verify_findings``)."""
    parts = []
    for (role, chain), group in leaves.items():
        size = len(group) if len(group) < 32 else -(-len(group) // cores)  # rounded up
        size = min(size, descriptor_budget(cores + 1))
        parts += [(role, chain, group[start:start + size])
                  for start in range(0, len(group), size)]
    return parts


def _directory_findings(directory: Path, cas: list[Certificate],
                        by_file: dict[str, Certificate], out: Path) -> list[Finding]:
    """What is wrong beyond the pairs: bundles' CA files, key modes, folders this tool
    did not write, symlinked bundle or role folders, a damaged revocation record."""
    findings = _bundle_trust(directory, cas, by_file, out) + _key_modes(directory)
    links = linked_folders(directory)
    findings += [Finding("warning", name, "not a bundle this tool writes (a name `--name` "
                         "refuses, or not a folder): every command leaves it alone",
                         "move it out of the directory") for name in strangers(directory)
                 if directory / name not in links]
    findings += [Finding("problem", str(link.relative_to(directory)),
                         f"a symlink (to {os.readlink(link)}): every command that would "
                         "write into it refuses to", link_fix(link)) for link in links]
    try:
        read_revocations(directory)
    except OutputError as error:
        findings.append(Finding("problem", REVOKED_FILE, str(error).split(": ", 1)[-1],
                                "restore it from a backup"))
    return findings


def _bundle_trust(directory: Path, cas: list[Certificate], by_file: dict[str, Certificate],
                  out: Path) -> list[Finding]:
    """Each bundle's ca.pem as its user reads it: the docker CLI (a client bundle)
    verifies daemons with it, dockerd (a manager's bundle) verifies clients with it.

    It must trust exactly the CAs of ca.pem, which every leaf is verified against
    (see ``_verify_findings``): one missing and that peer is refused; one more
    (an old or replaced CA) and what it signed, a revoked certificate included,
    is still accepted.
    """
    findings: list[Finding] = []
    # A CA folder's ca.pem may hold an intermediate and its root: bundles hold the root.
    top = {ca.der: ca for ca in cas if ca.self_issued} or {ca.der: ca for ca in cas}
    for bundle in bundles(directory):
        name = bundle.ca
        fix = _fix(out, bundle, by_file.get(bundle.cert))  # the fix of its other findings
        user = bundle.role.bundle_user
        if not os.path.exists(directory / name):
            findings.append(Finding("problem", name, f"missing: {user} cannot verify its peers "
                                    "with this bundle", fix))
            continue
        try:
            held = {ca.der: ca for ca in read_certificates(directory / name)}
        except OutputError as error:
            findings.append(Finding("problem", name, f"unusable ({error})", fix))
            continue
        if not top:
            continue
        lacking = _names(ca for der, ca in top.items() if der not in held)
        extra = _names(ca for der, ca in held.items() if der not in top)
        peers = bundle.role.bundle_peers
        if lacking and extra:  # one problem (another CA's file), one line
            findings.append(Finding("problem", name, f"trusts {extra} instead of ca.pem's "
                                    f"{lacking}: {user} would refuse {peers} the CA of ca.pem "
                                    f"signed, and accept those the other signed, revoked ones "
                                    "included", fix))
        elif lacking:
            findings.append(Finding("problem", name, f"lacks the CA {lacking} of ca.pem: "
                                    f"{user} would refuse {peers} it signed", fix))
        elif extra:
            findings.append(Finding("problem", name, f"still trusts {extra}, which ca.pem does "
                                    f"not: {user} would accept {peers} it signed, revoked "
                                    "ones included", fix))
    return findings


def _names(cas: Iterable[Certificate]) -> str:
    # Two CAs often share a CN (a replaced CA keeps it): the fingerprint tells them apart.
    return ", ".join(f"CN={ca.subject_cn} (SHA-256 {ca.fingerprint[:11]})" for ca in cas)


def _key_modes(directory: Path) -> list[Finding]:
    """Keys (and client.p12 files, which hold one) readable by others; a symlink (to a
    key, or to a bundle folder) is judged by the file it leads to."""
    found = []
    keys = {*(path for pattern in KEY_PATTERNS for path in directory.rglob(pattern)),
            *(directory / b.key for b in bundles(directory))}
    for path in sorted(keys):
        relative = path.relative_to(directory)
        if relative.parts[0].startswith(STAGING_PREFIX):
            continue  # another run's private work in progress
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue  # gone since it was listed, or a dangling link (reported as missing)
        if mode & 0o077:
            target = path.resolve()
            linked = target != path.absolute()
            where = f" (through a symlink: {target})" if linked else ""
            found.append(Finding("problem", str(relative),
                                 f"readable by others{where} (mode {mode:04o})",
                                 f"chmod 600 {quote(str(target if linked else path))}"))
    return found


def _short_of_life(cert: Certificate, now: datetime.datetime) -> bool:
    """Less than a third of its lifetime left (when ``renew --all`` renews it).  `check`
    warns once less than min(--warn-days, a third of the lifetime) is left: --warn-days
    alone flags an 8-hour credential the moment it is made, a third alone a 365-day pair
    four months ahead.  Short ones follow cert-manager (renew at 2/3 of the duration) and
    step's needs-renewal (66 %), long ones the fixed days of certbot and autocert (30)."""
    return (cert.not_after - now) * 3 < cert.not_after - cert.not_before


def _date_findings(entry: Entry, cas: list[Certificate], warn_days: int,
                   now: datetime.datetime, out: Path) -> list[Finding]:
    cert = entry.certificate
    fix = (certs_command("rotate-ca", "start", out=out) if cert.is_ca
           else _fix(out, Identity.holding(entry.file), cert))
    found = []
    days = cert.days_left(now)
    # The time of day too when it is near: a short-lived certificate's end is an hour.
    when = f"{cert.not_after:%Y-%m-%d}" + (
        f" {cert.not_after:%H:%M} UTC" if abs(cert.not_after - now) < DAY else "")
    later = starts_later(cert, now)  # show's and doctor's words
    if days <= 0:
        found.append(Finding("problem", entry.file, f"expired on {when}", fix))
    elif later:
        # Go (dockerd, the docker CLI) refuses it until then.
        found.append(Finding("problem", entry.file, f"not yet valid: {later}",
                             f"set the clock right (NTP) where it is wrong; or re-issue it: "
                             f"{fix}"))
    elif days <= warn_days and _short_of_life(cert, now):
        found.append(Finding("warning", entry.file, f"expires on {when}, in "
                             f"{time_left(cert.not_after - now)}", fix))
    issuer = next((ca for ca in (*entry.chain, *cas) if cert.issued_by(ca)), None)
    if not cert.is_ca and issuer is not None and cert.not_after > issuer.not_after:
        found.append(Finding("problem", entry.file,
                             f"outlives its CA (it expires {cert.not_after:%Y-%m-%d}, the CA "
                             f"{issuer.not_after:%Y-%m-%d})", fix + " --days <fewer>"))
    for link in entry.chain:  # an intermediate's end is the end of every leaf below it
        if link.days_left(now) <= 0:
            found.append(Finding("problem", entry.file, f"its chain's CN={link.subject_cn} "
                                 f"expired on {link.not_after:%Y-%m-%d}",
                                 "ask the organisation for a new intermediate, then " + fix))
    return found


def _signature_findings(entry: Entry, out: Path) -> list[Finding]:
    """A certificate, or an intermediate after a leaf, signed with SHA-1 or MD5: Go
    (dockerd, the docker CLI) refuses it, whatever openssl verify says. A root's own
    signature Go never checks: only a warning, as this tool will not sign with it."""
    cert = entry.certificate
    if cert.weak_signature and cert.is_ca and cert.self_issued:
        return [Finding("warning", entry.file, f"signed with {cert.weak_signature} (its own "
                        "signature, which Go (dockerd, the docker CLI) does not check on a "
                        "root, so they accept it), but this tool will not sign with it",
                        f"replace it with `{certs_command('rotate-ca', 'start', out=out)}`")]
    if cert.weak_signature:
        fix = (certs_command("rotate-ca", "start", out=out) if cert.is_ca
               else _fix(out, Identity.holding(entry.file), cert))
        return [Finding("problem", entry.file, f"signed with {cert.weak_signature}, which Go "
                        "(dockerd, the docker CLI) rejects", fix)]
    return [Finding("problem", entry.file, f"its chain's CN={link.subject_cn} is signed with "
                    f"{link.weak_signature}, which Go (dockerd, the docker CLI) rejects",
                    "ask the organisation for a new intermediate, then "
                    + _fix(out, Identity.holding(entry.file), cert))
            for link in entry.chain if link.weak_signature][:1]


def _key_findings(openssl: OpenSSL, directory: Path, cert_file: str, key_file: str,
                  certificate: Certificate, passphrase: bytes | None, fix: str
                  ) -> list[Finding]:
    """Does the key match the certificate?  Read from the PKCS#8 file where the public
    key is stored in it, else asked of openssl (Ed25519, encrypted and other forms)."""
    try:
        key_pem = read_limited(directory / key_file)
    except OutputError as error:
        return [Finding("problem", key_file, f"cannot be read ({error})", fix)]
    encrypted = is_encrypted(key_pem)
    public = None if encrypted else public_key_of_private(key_pem)
    if public is None and (not encrypted or passphrase is not None):
        # An encrypted CA key is checked only with its passphrase.
        try:
            public = public_key_of(openssl, key_pem, passin(passphrase if encrypted else None))
        except OpenSSLFailed:
            message = "cannot be decrypted (wrong passphrase?)" if encrypted else \
                "is not a readable private key"
            return [Finding("problem", key_file, message, fix)]
    if public is not None and public != certificate.public_key_der:
        return [Finding("problem", key_file, f"does not match {cert_file}", fix)]
    return []


def _verify_findings(openssl: OpenSSL, directory: Path, ca_copy: Path, work: Path, role: Role,
                     chain: bytes, leaves: Sequence[Leaf]) -> list[Finding]:
    """Do these leaves verify as ``role`` against ca.pem?  One openssl call for all; each
    that fails is verified again alone, from the bytes read before, for its reason.

    openssl reads each leaf through a descriptor opened here (no symlink followed,
    a regular file), not by its name: a file swapped for a FIFO since it was read
    cannot stall it, and no copies are written (200 of them cost 80 ms here).
    """
    untrusted = None
    if chain:
        work.mkdir(mode=0o700)
        untrusted = work / "chain.pem"
        write_private(untrusted, chain, 0o600)
    descriptors: dict[str, int] = {}  # by file, for those that are regular files
    try:
        for cert_file, _, _ in leaves:
            descriptor = _open_regular(directory / cert_file)
            if descriptor is not None:
                descriptors[cert_file] = descriptor
        by_path = {Path(f"/dev/fd/{fd}"): cert_file for cert_file, fd in descriptors.items()}
        passed = set(by_path.values()) - {by_path[path] for path in unverified(
            openssl, ca_copy, list(by_path), role, untrusted, check_time=False,
            inherit=list(descriptors.values()))}
    finally:
        for descriptor in descriptors.values():
            os.close(descriptor)
    found = []
    for cert_file, certificate, fix in leaves:
        if cert_file in passed:
            continue
        try:  # dates are findings of their own
            verify_leaf(openssl, ca_copy, certificate.pem, role, untrusted=untrusted,
                        check_time=False)
        except VerifyFailed as failure:
            found.append(Finding("problem", cert_file,
                                 f"does not verify as a {role} certificate against ca.pem "
                                 f"({failure.detail})", fix))
    return found


def _open_regular(path: Path) -> int | None:
    """A read descriptor on ``path`` if it is a regular file (no symlink followed, no
    waiting on a FIFO)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        return None
    return descriptor
