"""Every shape the commands print: text lines, JSON envelopes, counted nouns.

Operations return data; this module renders it, on stdout (results) and stderr (what
a person must act on).  Each command's result goes through ``render(kind, data,
format)``, and ``FORMATS`` names every format of every kind: a new output format
(`check --format prometheus`, say) is one more entry there, with its renderer.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .errors import listed, printable, quote
from .identity import certs_command, eku_name, renew_every
from .layout import CA_CERT, REVOKED_FILE, SUMS_FILE
from .output import COUNT_FROM, progress, say, say_line, sum_up

if TYPE_CHECKING:  # the operations are imported only by the commands that run them
    import datetime

    from .check import Finding, Report
    from .doctor import HostVerdict
    from .generate import Outcome, Preview, Reissue, Skipped
    from .inventory import Entry, Rollover
    from .plan import Window
    from .prune import Pruned
    from .revocations import Revocation
    from .sums import Mismatch
    from .sums import Received as ReceivedBundle


def plural(number: int | None, singular: str, many: str | None = None) -> str:
    """``singular`` for 1, else ``many`` (default: ``singular`` + s)."""
    return singular if number == 1 else many or f"{singular}s"


def count(number: int | None, noun: str) -> str:
    """``1 certificate``, ``2 certificates``."""
    return f"{number} {plural(number, noun)}"


# What each kind of result renders: the data a command hands over.

@dataclass(frozen=True)
class Written:
    """The files a run wrote, and what a person must act on (printed even with -q)."""

    paths: Sequence[Path]
    warnings: Sequence[str] = ()
    folder: Path | None = None  # for --json (rotate-ca)


@dataclass(frozen=True)
class Done:
    """What a run (all, ca, server, client, renew, revoke) did in ``out``."""

    out: Path
    outcome: Outcome


@dataclass(frozen=True)
class Previewed:
    """What a --dry-run found a real run in ``out`` would do."""

    out: Path
    preview: Preview


@dataclass(frozen=True)
class Renewed:
    """What `renew --all` did in ``out``; ``progress`` says that nothing was due
    (quiet with -q)."""

    out: Path
    outcome: Outcome
    within: Window
    progress: Callable[[str], None]


@dataclass(frozen=True)
class Shown:
    """`certs show`: a folder's certificates, as of ``now``, and its revocations."""

    folder: Path
    entries: list[Entry]
    now: datetime.datetime
    revoked: Sequence[Revocation]


@dataclass(frozen=True)
class Checked:
    """`certs check`: its report on ``folder``."""

    folder: Path
    report: Report
    warn_days: int
    live_backups: Sequence[str] = ()  # backup folders that hold keys still usable


@dataclass(frozen=True)
class Summed:
    """`certs verify-sums`: how many files matched, and what did not (``listing``: the
    SHA256SUMS they were checked against, the folder's own or --sums FILE)."""

    folder: Path
    matched: int
    mismatches: Sequence[Mismatch]
    listing: str = SUMS_FILE


@dataclass(frozen=True)
class Received:
    """`certs verify-sums` on a handed-over bundle: what held, what did not, and the
    sender's SHA256SUMS if given (``sums``)."""

    folder: Path
    found: ReceivedBundle
    sums: str | None


def written(paths: Sequence[Path], warnings: Sequence[str] = ()) -> None:
    """The files written, one a line on stdout (for more than ``COUNT_FROM`` folders on
    a terminal, one line that counts them: -v lists them); then, on stderr even with -q
    (they need a person), ``warnings``."""
    folders = {path.parent for path in paths}
    if len(folders) > COUNT_FROM and sum_up(stdout=True):
        say_line(f"Wrote {count(len(paths), 'file')} in {os.path.commonpath(paths)} "
                 f"({count(len(folders), 'folder')}; -v lists each file)")
    else:
        for path in paths:
            say_line(str(path))
    for line in warnings:
        progress(line)


def _written(data: Written) -> None:
    written(data.paths, data.warnings)


def _written_json(data: Written) -> None:
    """`rotate-ca start|finish --json`: the files written, in `--json`'s envelope of the
    commands that write (see ``_outcome_json``); the warnings stay on stderr."""
    for line in data.warnings:
        progress(line)
    folder = data.folder or Path(".")
    say(json.dumps({
        "schema": 1,
        "directory": str(folder),
        "changed": bool(data.paths),
        "written": [str(path) for path in data.paths],
        "bundles": touched_json(folder, data.paths),
    }, indent=2))


def _outcome(data: Done) -> None:
    """What a run wrote, and the identities it could not carry over."""
    done = data.outcome
    written(done.written, (*skipped_warnings(done), *new_ca_advice(data.out, done)))


def touched_json(out: Path, paths: Sequence[Path]) -> list[dict[str, object]]:
    """Each bundle whose certificate ``paths`` holds: role, bundle name (None for the
    top-level pair), file and common name, as `renew --all --json` names them."""
    from .certinfo import read_certificates
    from .identity import ROLES, Identity, bundles

    written = {Path(path) for path in paths}
    found: list[dict[str, object]] = []
    for identity in (*(Identity(role) for role in ROLES.values()), *bundles(out)):
        if out / identity.cert in written:
            cert = read_certificates(out / identity.cert)[0]
            found.append({"role": identity.role.name, "bundle": identity.name,
                          "file": identity.cert, "common_name": cert.subject_cn})
    return found


def _outcome_json(data: Done) -> None:
    """`--json` of all, server, client, renew and revoke: one document on stdout; the
    warnings stay on stderr (even with -q: they need a person)."""
    done = data.outcome
    for line in (*skipped_warnings(done), *new_ca_advice(data.out, done)):
        progress(line)
    say(json.dumps({
        "schema": 1,
        "directory": str(data.out),
        "changed": done.changed,
        "written": [str(path) for path in done.written],
        "bundles": touched_json(data.out, done.written),
        "skipped": [skipped_json(item) for item in done.skipped],
        "revoked": [asdict(item) for item in done.revoked],
        "backup": str(done.skipped_to) if done.skipped_to else None,
    }, indent=2))


def skipped_warnings(done: Outcome) -> list[str]:
    """One line for each identity the run could not carry over, with what to do."""
    lines = []
    for item in done.skipped:
        if done.skipped_to is not None:
            fate = (f"could not be carried over to the new CA ({item.reason}): it is in "
                    f"{done.skipped_to} and stops working once the daemons restart with "
                    "the new files")
        elif item.working:
            fate = f"was not renewed ({item.reason}): it works until it expires"
        else:
            fate = f"was not renewed ({item.reason}): it does not work as it is"
        lines.append(f"Warning: {item.label} {fate}; issue it again under names this "
                     f"tool accepts: `{item.command}`")
    return lines


def new_ca_advice(out: Path, done: Outcome) -> list[str]:
    """After a new CA: what was revoked, and what to deploy (said even with -q: a person
    must copy the files and restart the daemons)."""
    lines = [f"Revoked {entry.line()}" for entry in done.revoked]
    if done.redeploy is not None:
        from .generate import deployment

        lines.append("Deploy the new files: until a daemon restarts with them it trusts the "
                     "previous CA, and once it does, only the new one:")
        summed = len(done.redeploy) > COUNT_FROM and sum_up(stdout=False)
        lines += [f"  {line}" for line in deployment(out, done.redeploy, summed)]
    return lines


def next_steps(out: Path, host: str) -> list[str]:
    """After `certs all`: the two things a new set is for, the daemon's files and the first
    `docker version` over mutual TLS (``host``: the server's first address)."""
    from .identity import SERVER

    daemon_json = certs_command("daemon-json")
    env = certs_command("env", out=out, options=[("--host", host)])
    files = SERVER.bundle_files
    return [f"Next: copy {', '.join(files[:-1])} and {files[-1]} from {quote(out)} into the "
            "daemon's /etc/docker,",
            f"  and what `{daemon_json}` prints into its /etc/docker/daemon.json; "
            "restart dockerd.",
            f"Then: eval \"$({env})\" && docker version"]


def _deploy(out: Path, renewed: Outcome, summed: bool = False) -> list[str]:
    from .generate import deployment

    return deployment(out, [reissue.spec for reissue in renewed.reissued], summed)


def _preview_text(data: Previewed) -> None:
    """Each certificate issued, each name moved, each deployment on stdout; that nothing
    changed, and what only a real run checks, on stderr (even with -q)."""
    from .generate import deployment
    from .plan import describe

    out, found = data.out, data.preview
    for name in found.undo:
        say_line(f"would undo first: the change of an interrupted run ({name}); what is "
                 "issued below may differ after it")
    if found.ca is not None:
        ca = found.ca
        say_line(f"would issue: CA ({out / CA_CERT}): CN={ca.common_name}, {ca.key} key, "
                 f"valid {count(ca.days, 'day')}")
    for spec in found.issue:
        sans = ", ".join(map(str, spec.sans))
        say_line(f"would issue: {spec.role.name} {spec.bundle or '(top-level)'} "
                 f"({out / spec.cert_file}): CN={spec.common_name}"
                 + (f", SANs {sans}" if sans else "")
                 + f", {spec.key} key, valid {describe(spec.lifetime)}")
    for name in found.moved:
        say_line(f"would move to a backup folder: {out / name}")
    for item in found.skipped:
        say_line(f"would skip: {out / item.label}: {item.reason}")
    for entry in found.revoked:
        say_line(f"would revoke: {entry.line()}")
    for line in deployment(out, found.issue):
        say_line(f"would need new files: {line}")
    if not found.issue:
        say_line("would issue nothing: nothing is due")
    progress("Dry run: nothing was changed; the CA's key, passphrase and dates are "
             "checked only by a real run")


def reissue_json(reissue: Reissue) -> dict[str, object]:
    from .plan import HOUR, describe

    return {"file": reissue.spec.cert_file, "role": reissue.spec.role.name,
            "bundle": reissue.spec.bundle, "common_name": reissue.spec.common_name,
            "previous_not_after": reissue.current.not_after.isoformat(),
            "validity": describe(reissue.spec.lifetime),
            "validity_hours": reissue.spec.lifetime // HOUR}


def skipped_json(item: Skipped) -> dict[str, object]:
    return {"file": item.identity.cert, "role": item.identity.role.name,
            "bundle": item.identity.name, "reason": item.reason, "command": item.command}


def due_phrase(within: Window) -> str:
    """What makes a certificate due, as `renew --all` says none is."""
    from .plan import DUE_SHARE

    if within.days is not None:
        return f"expires within {count(within.days, 'day')}"
    share = "a third" if within.share == DUE_SHARE else f"{float(within.share) * 100:g}%"
    return f"has less than {share} of its lifetime left"


def _renewal_json(data: Renewed) -> None:
    out, renewed, within = data.out, data.outcome, data.within
    say(json.dumps({
        "schema": 1,
        "directory": str(out),
        "changed": renewed.changed,
        "within_days": within.days,
        "within_percent": None if within.days is not None else round(float(within.share) * 100, 2),
        "renewed": [reissue_json(reissue) for reissue in renewed.reissued],
        "deploy": _deploy(out, renewed),
        "written": [str(path) for path in renewed.written],
        "skipped": [skipped_json(item) for item in renewed.skipped],
        "skipped_to": str(renewed.skipped_to) if renewed.skipped_to else None,
    }, indent=2))


def _renewal_text(data: Renewed) -> None:
    """What `renew --all` changed: the files written on stdout, and what was renewed and
    where it must go on stderr (even with -q: it needs a human)."""
    out, renewed, within = data.out, data.outcome, data.within
    for line in skipped_warnings(renewed):
        progress(line)
    if not renewed.reissued:
        data.progress(f"Nothing to renew in {out}: no certificate {due_phrase(within)}")
        return
    written(renewed.written)
    summed = len(renewed.reissued) > COUNT_FROM and sum_up(stdout=False)
    if summed:
        progress(f"Renewed {count(len(renewed.reissued), 'certificate')} in {out}: "
                 f"{listed(reissue.spec.cert_file for reissue in renewed.reissued)} "
                 "(-v: a line each)")
    else:
        for reissue in renewed.reissued:
            progress(f"Renewed {out / reissue.spec.cert_file} (CN={reissue.spec.common_name}"
                     f", was to expire {reissue.current.not_after:%Y-%m-%d %H:%M} UTC)")
    progress("Deploy the new files (dockerd reads them only when it starts):")
    for line in _deploy(out, renewed, summed):
        progress(f"  {line}")


def rollover_line(directory: Path, rollover: Rollover) -> str:
    """Where a CA rollover stands, and its next step."""
    waiting = listed(rollover.old_leaves, empty="")
    finish = f"`{certs_command('rotate-ca', 'finish', out=directory)}`"
    renew = f"`{renew_every(out=directory)}`"
    next_step = (f"re-issue {waiting} from the new CA ({renew}), then {finish}" if waiting
                 else finish)
    return (f"CA rollover in progress: ca.pem trusts the new CA "
            f"(CN={rollover.new_ca.subject_cn}) and the old one "
            f"(CN={rollover.old_ca.subject_cn}); next: {next_step}")


def entry_json(entry: Entry, now: datetime.datetime) -> dict[str, Any]:
    from .plan import HOUR

    cert = entry.certificate
    return {
        "file": entry.file,
        "role": entry.role,
        "subject": cert.subject_cn,
        "issuer": cert.issuer_cn,
        "subject_dn": cert.subject,
        "issuer_dn": cert.issuer,
        "chain": [link.subject for link in entry.chain],
        "sans": cert.names,
        "extended_key_usage": [eku_name(o) for o in cert.extended_key_usage],
        "key": {"type": cert.key_type, "bits": cert.key_bits},
        "serial": f"{cert.serial:x}",
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
        "days_left": int(cert.days_left(now) // 1),
        "hours_left": (cert.not_after - now) // HOUR,
        "sha256": cert.fingerprint,
    }


def _show_json(data: Shown) -> None:
    from .inventory import rollover_state

    folder = data.folder
    rollover = rollover_state(folder, data.entries)
    say(json.dumps({
        "directory": str(folder),
        "certificates": [entry_json(entry, data.now) for entry in data.entries],
        "rollover": rollover_line(folder, rollover) if rollover else None,
        "revoked": [asdict(entry) for entry in data.revoked],
    }, indent=2))


def _show_text(data: Shown) -> None:
    say(show_text(data.folder, data.entries, data.now, data.revoked))


def show_text(directory: Path, entries: list[Entry], now: datetime.datetime,
              revoked: Sequence[Revocation] = ()) -> str:
    """The human-readable listing of ``certs show``."""
    from .certinfo import starts_later
    from .inventory import rollover_state
    from .plan import time_left

    lines = [f"{printable(str(directory))}:"]  # a folder's name is one line
    if not entries:
        lines.append("  no certificates")
    for entry in entries:
        cert = entry.certificate
        usage = ", ".join(eku_name(o) for o in cert.extended_key_usage) or "-"
        state = (f"{time_left(cert.not_after - now)} left" if cert.not_after > now
                 else f"EXPIRED {time_left(now - cert.not_after)} ago")
        later = starts_later(cert, now)  # doctor's words, whichever signed it
        state = f"not yet valid: {later}" if later else state
        lines += [
            "",
            f"{entry.file}  ({entry.role})",
            f"  subject   {cert.subject}",
            f"  issuer    {cert.issuer}",
            *([f"  chain     {' <- '.join(link.subject for link in entry.chain)}"]
              if entry.chain else []),
            *([f"  SANs      {', '.join(cert.names)}"] if cert.names else []),
            f"  usage     {usage}",
            f"  key       {cert.key_label}",
            f"  serial    {cert.serial:x}",
            f"  valid     {cert.not_before:%Y-%m-%d %H:%M} to {cert.not_after:%Y-%m-%d %H:%M} UTC"
            f" ({state})",
            f"  sha256    {cert.fingerprint}",
        ]
    rollover = rollover_state(directory, entries)
    if rollover:
        lines += ["", rollover_line(directory, rollover)]
    if revoked:
        lines += ["", f"revoked ({len(revoked)}, recorded in {REVOKED_FILE}):"]
        lines += [f"  {entry.line()}" for entry in revoked]
    return "\n".join(lines)


def finding_line(finding: Finding) -> str:
    return f"{finding.severity}: {finding.file}: {finding.message}; fix: {finding.fix}"


def finding_json(finding: Finding) -> dict[str, str]:
    return {"severity": finding.severity, "file": finding.file, "message": finding.message,
            "fix": finding.fix}


def _check_json(data: Checked) -> None:
    folder, report = data.folder, data.report
    rollover = report.rollover
    say(json.dumps({
        "directory": str(folder),
        "status": report.status,
        "findings": [finding_json(finding) for finding in report.findings],
        "rollover": rollover_line(folder, rollover) if rollover else None,
        "live_backups": list(data.live_backups),
    }, indent=2))


def _check_text(data: Checked) -> None:
    """One line per finding and the rollover, or OK."""
    folder, report = data.folder, data.report
    for finding in report.findings:
        say_line(finding_line(finding))
    if report.rollover:
        say(rollover_line(folder, report.rollover))
    if data.live_backups:  # not a finding: stdout and the exit code stay the files'
        progress(printable(live_backups_line(folder, data.live_backups)))
    if report.exit_code == 0:
        young = (f" but {count(report.young, 'short-lived one')}, not in the last third of "
                 f"{plural(report.young, 'its', 'their')} lifetime") if report.young else ""
        say_line(f"OK: {folder}: {count(report.certificates, 'certificate')}, "
                 f"none expires within {count(data.warn_days, 'day')}{young}")


# Prometheus: enix's x509-certificate-exporter names and labels, so its dashboards and
# alerts (on x509_cert_not_after) work unchanged; then the tool's own findings.
PROMETHEUS_CERT_METRICS = (
    ("x509_cert_not_before", "The certificate's notBefore, in seconds since the epoch."),
    ("x509_cert_not_after", "The certificate's notAfter, in seconds since the epoch."),
    ("x509_cert_expired", "1 if the certificate has expired, else 0."),
)
FINDINGS_METRIC = "minipaas_certs_findings"
SEVERITIES = ("problem", "warning")  # check's two kinds of finding


def _label_value(value: str) -> str:
    """A label value as the exposition format wants it: control characters (and
    a name's undecodable bytes) written out as show does, then backslash and quote
    escaped; no raw newline can remain."""
    return printable(value).replace("\\", "\\\\").replace('"', '\\"')


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{name}="{_label_value(value)}"' for name, value in pairs) + "}"


def check_prometheus(data: Checked) -> str:
    """The metrics of ``data`` in the Prometheus text format (no timestamps: the
    scrape's time is the sample's, as node_exporter's textfile collector wants)."""
    from . import clock

    now = clock.now()
    folder = os.path.abspath(data.folder)
    samples: dict[str, list[str]] = {name: [] for name, _ in PROMETHEUS_CERT_METRICS}
    seen = set()
    for entry in data.report.entries:
        cert = entry.certificate
        labels = _labels([("filepath", os.path.join(folder, entry.file)),
                          ("issuer_CN", cert.issuer_cn or ""), ("serial_number", str(cert.serial)),
                          ("subject_CN", cert.subject_cn or "")])
        if labels in seen:  # the same certificate twice in one file: one series
            continue
        seen.add(labels)
        samples["x509_cert_not_before"].append(f"{labels} {int(cert.not_before.timestamp())}")
        samples["x509_cert_not_after"].append(f"{labels} {int(cert.not_after.timestamp())}")
        samples["x509_cert_expired"].append(f"{labels} {int(cert.not_after <= now)}")
    lines = []
    for name, text in PROMETHEUS_CERT_METRICS:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge"]
        lines += [f"{name}{sample}" for sample in samples[name]]
    found = [finding.severity for finding in data.report.findings]
    lines += [f"# HELP {FINDINGS_METRIC} What `certs check` found in the directory, by "
              "severity: problem (wrong now), warning (due soon).",
              f"# TYPE {FINDINGS_METRIC} gauge"]
    lines += [f"{FINDINGS_METRIC}{_labels([('directory', folder), ('severity', severity)])} "
              f"{found.count(severity)}" for severity in SEVERITIES]
    return "\n".join(lines) + "\n"


def _check_prometheus(data: Checked) -> None:
    say(check_prometheus(data).rstrip("\n"))


# Nagios plugin API: one status line (then, as long output, one line per finding),
# perfdata after "|", exit 0/1/2 for OK/WARNING/CRITICAL and 3 for UNKNOWN.
NAGIOS_STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
NAGIOS_UNKNOWN = 3


def nagios_code(exit_code: int) -> int:
    """check's exit code (0, 7 or 8) as the plugin API's (0, 1, 2)."""
    from .errors import EXIT_PROBLEMS, EXIT_WARNINGS

    return {0: 0, EXIT_WARNINGS: 1, EXIT_PROBLEMS: 2}[exit_code]


def _nagios_text(text: str) -> str:
    """One line of plugin output: "|" starts the perfdata, so none may come before it."""
    return printable(text).replace("|", "/")


def _perf_label(entry: Entry, used: set[str]) -> str:
    """A certificate's perfdata label: ``server``, ``client`` (the top-level pairs),
    ``server m1`` (a bundle), the CA's role (``ca``, ``ca (old, in rollover)``), or
    else its file; numbered if taken; quoted per the plugin API ('' for a quote)."""
    from .identity import Identity
    from .layout import CA_CERT

    whose = Identity.of(entry.file)
    if whose is not None and entry.file == whose.cert:
        label = whose.role.name if whose.name is None else f"{whose.role.name} {whose.name}"
    else:
        label = entry.role if entry.file == CA_CERT else entry.file
    label, number = _nagios_text(label), 2
    unique = label
    while unique in used:
        unique, number = f"{label} {number}", number + 1
    used.add(unique)
    return "'" + unique.replace("'", "''") + "'"


def check_nagios(data: Checked) -> str:
    """The plugin output: ``CERTS OK - ...`` and perfdata: each certificate's whole
    days left (negative once expired), with --warn-days as the warning range and 0 as
    the critical one (the plugin API's ``N:``: alert below N)."""
    import math

    from . import clock

    report, now = data.report, clock.now()
    state = NAGIOS_STATES[nagios_code(report.exit_code)]
    used: set[str] = set()
    perfdata = [f"{_perf_label(entry, used)}={math.floor(entry.certificate.days_left(now))}d;"
                f"{data.warn_days}:;0:" for entry in report.entries
                if entry.file not in report.copies.values()]
    if report.exit_code == 0:
        summary = (f"{data.folder}: {count(report.certificates, 'certificate')}, "
                   f"none expires within {count(data.warn_days, 'day')}")
    else:
        severities = [finding.severity for finding in report.findings]
        counted = ", ".join(count(severities.count(kind), kind) for kind in SEVERITIES
                            if kind in severities)
        first = report.findings[0]
        summary = f"{data.folder}: {counted}; {first.file}: {first.message}"
    performance = f" | {' '.join(perfdata)}" if perfdata else ""
    lines = [f"CERTS {state} - {_nagios_text(summary)}{performance}"]
    lines += [_nagios_text(finding_line(finding)) for finding in report.findings]
    if report.rollover:
        lines.append(_nagios_text(rollover_line(data.folder, report.rollover)))
    return "\n".join(lines)


def _check_nagios(data: Checked) -> None:
    say(check_nagios(data))


def nagios_unknown(message: str) -> str:
    """The plugin output when the check could not be made (the folder cannot be read)."""
    return f"CERTS UNKNOWN - {_nagios_text(' '.join(message.split()))}"


@dataclass(frozen=True)
class Doctored:
    """`certs doctor` on the daemons of ``out``'s servers: one verdict each."""

    out: Path
    verdicts: Sequence[HostVerdict]


def _served_json(verdict: HostVerdict) -> dict[str, object]:
    leaf = verdict.served.leaf
    return {"name": verdict.name, "address": verdict.address, "verdict": verdict.verdict,
            "serial": f"{leaf.serial:x}" if leaf else None,
            "days_left": int(leaf.days_left() // 1) if leaf else None,
            "tls_version": verdict.served.tls_version, "cipher": verdict.served.cipher,
            "message": verdict.message}


def _doctor_json(data: Doctored) -> None:
    say(json.dumps({"schema": 1, "directory": str(data.out),
                    "hosts": [_served_json(verdict) for verdict in data.verdicts]}, indent=2))


def _doctor_text(data: Doctored) -> None:
    """One line a daemon: its name and address, the verdict, what it serves."""
    for verdict in data.verdicts:
        served, leaf = verdict.served, verdict.served.leaf
        found = [f"{count(int(leaf.days_left() // 1), 'day')} left"] if leaf else []
        found += [" ".join(filter(None, (served.tls_version, served.cipher)))]
        details = "; ".join(filter(None, found))
        if verdict.ok and leaf:
            what = f"OK: serves serial {leaf.serial:x}"
        else:
            what = f"{verdict.verdict}: {verdict.message}"
        say_line(f"{verdict.name or 'daemon'} {verdict.address}: {what}"
                 + (f" ({details})" if details else ""))


def _sums_text(data: Summed) -> None:
    """Each mismatch, or OK."""
    for mismatch in data.mismatches:
        say_line(f"problem: {mismatch.file}: {mismatch.message}")
    if not data.mismatches:
        say_line(f"OK: {data.folder}: {count(data.matched, 'file')} "
                 f"{plural(data.matched, 'matches', 'match')} {data.listing}")


def _sums_json(data: Summed) -> None:
    say(json.dumps({
        "schema": 1,
        "directory": str(data.folder),
        "sums": data.listing,
        "ok": not data.mismatches,
        "matched": data.matched,
        "problems": [{"file": item.file, "message": item.message} for item in data.mismatches],
    }, indent=2))


def _received_text(data: Received) -> None:
    """What held in a handed-over bundle, each problem, and whether its files were
    checked against the sender's SHA256SUMS, or how to."""
    found = data.found
    for line in found.checked:
        say_line(f"checked: {line}")
    if data.sums is not None and found.bundle is not None and not found.problems:
        where = found.bundle or "the top level"
        say_line(f"checked: {count(found.matched, 'file')} "
                 f"{plural(found.matched, 'matches', 'match')} {where} in {data.sums}")
    for mismatch in found.problems:
        say_line(f"problem: {mismatch.file}: {mismatch.message}")
    if data.sums is None:
        again = certs_command("verify-sums", out=data.folder, options=[("--sums", "FILE")])
        say_line(f"not checked: that these files are the ones the sender wrote: "
                 f"{data.folder} holds no {SUMS_FILE} (a bundle never does); check them "
                 f"against the sender's top-level one: `{again}`")


def _received_json(data: Received) -> None:
    """verify-sums --json on a handed-over bundle: the same envelope as on a folder, and
    what held (``checked``); ``matched`` is None when no --sums checked the files."""
    found = data.found
    say(json.dumps({
        "schema": 1,
        "directory": str(data.folder),
        "sums": data.sums,
        "ok": not found.problems,
        "matched": found.matched if data.sums is not None else None,
        "checked": found.checked,
        "problems": [{"file": item.file, "message": item.message} for item in found.problems],
    }, indent=2))


@dataclass(frozen=True)
class PruneDone:
    """`certs prune`: what it removed, kept and left alone in ``folder``."""

    folder: Path
    pruned: Pruned


def _prune_left(data: PruneDone) -> None:
    """Folders named like a backup that the tool did not make: on stderr, even with -q."""
    for name, why in data.pruned.strangers:
        progress(printable(f"Warning: left {data.folder / name} alone: not a backup "
                           f"folder this tool made ({why})"))  # one line, whatever the name


def _prune_text(data: PruneDone) -> None:
    """Each removed folder on stdout; what is kept and left, on stderr."""
    pruned = data.pruned
    for name in pruned.undo:
        say_line(f"would undo first: the change of an interrupted run ({name}); what is "
                 "removed below may differ after it")
    for name in pruned.removed:
        say_line(f"{'would remove' if pruned.dry_run else 'removed'}: {data.folder / name}")
    if pruned.dry_run:
        progress("Dry run: nothing was changed")
    _prune_left(data)


def _prune_json(data: PruneDone) -> None:
    _prune_left(data)
    say(json.dumps({
        "schema": 1,
        "directory": str(data.folder),
        "removed": data.pruned.removed,
        "kept": data.pruned.kept,
        "left": [{"name": name, "reason": why} for name, why in data.pruned.strangers],
        **({"dry_run": True, "undo": list(data.pruned.undo)} if data.pruned.dry_run else {}),
    }, indent=2))


def live_backups_line(folder: Path, live: Sequence[str]) -> str:
    """check's line about backup folders that hold keys still usable."""
    fix = certs_command("prune", out=folder, options=[("--keep", "1")])
    return (f"Warning: {count(len(live), 'backup folder')} still "
            f"{plural(len(live), 'holds', 'hold')} private keys of unexpired certificates "
            f"({listed(live)}): anyone who can read {plural(len(live), 'it', 'them')} can "
            f"use them; fix: `{fix}` (or --older-than DAYS)")


Renderer = Callable[[Any], None]  # takes the kind's data (Checked for "check", ...)

# kind -> format -> renderer: every output of every command, in one table.
FORMATS: dict[str, dict[str, Renderer]] = {
    "written": {"text": _written, "json": _written_json},  # p12, rotate-ca (json)
    "outcome": {"text": _outcome, "json": _outcome_json},  # all, ca, server, client, renew, revoke
    "renew-all": {"text": _renewal_text, "json": _renewal_json},
    "preview": {"text": _preview_text},  # --dry-run of all, ca, server, client, renew
    "show": {"text": _show_text, "json": _show_json},
    "check": {"text": _check_text, "json": _check_json, "prometheus": _check_prometheus,
              "nagios": _check_nagios},
    "doctor": {"text": _doctor_text, "json": _doctor_json},
    "verify-sums": {"text": _sums_text, "json": _sums_json},
    "verify-received": {"text": _received_text, "json": _received_json},
    "prune": {"text": _prune_text, "json": _prune_json},
}


def render(kind: str, data: object, format: str = "text") -> None:
    """Print ``data``, a result of ``kind``, in ``format`` (one of ``FORMATS[kind]``)."""
    FORMATS[kind][format](data)


def chosen(as_json: bool) -> str:
    """The format a command's ``--json`` flag picks."""
    return "json" if as_json else "text"
