"""Every shape the commands print: text lines, JSON envelopes, counted nouns.

Operations return data; this module renders it, on stdout (results) and stderr (what
a person must act on).  A new output format is added here, next to the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from .errors import printable
from .layout import REVOKED_FILE, SUMS_FILE
from .output import progress, say, say_line

if TYPE_CHECKING:  # the operations are imported only by the commands that run them
    import datetime

    from .check import Report
    from .generate import Outcome
    from .inventory import Entry
    from .revocations import Revocation
    from .sums import Mismatch


def plural(number: int | None, singular: str, many: str | None = None) -> str:
    """``singular`` for 1, else ``many`` (default: ``singular`` + s)."""
    return singular if number == 1 else many or f"{singular}s"


def count(number: int | None, noun: str) -> str:
    """``1 certificate``, ``2 certificates``."""
    return f"{number} {plural(number, noun)}"


def written(paths: Sequence[Path], warnings: Sequence[str] = ()) -> None:
    """The files written, one a line on stdout; then, on stderr even with -q (they need
    a person), ``warnings``."""
    for path in paths:
        say_line(str(path))
    for line in warnings:
        progress(line)


def outcome(done: Outcome) -> None:
    """What a run wrote, and the identities it could not carry over."""
    written(done.written, (*done.warnings(), *done.advice))


def renewal(out: Path, renewed: Outcome, within: int | None, as_json: bool,
            run_progress: Callable[[str], None]) -> None:
    """What `renew --all` changed: JSON on stdout, or the files written on stdout and
    what was renewed and where it must go on stderr (even with -q: it needs a human)."""
    if as_json:
        say(json.dumps({
            "directory": str(out),
            "changed": renewed.changed,
            "within_days": within,
            "renewed": [reissue.as_json() for reissue in renewed.reissued],
            "deploy": renewed.deployment(out),
            "written": [str(path) for path in renewed.written],
            "skipped": [item.as_json() for item in renewed.skipped],
            "skipped_to": str(renewed.skipped_to) if renewed.skipped_to else None,
        }, indent=2))
        return
    for line in renewed.warnings():
        progress(line)
    if not renewed.reissued:
        run_progress(f"Nothing to renew in {out}: no certificate expires within "
                     f"{count(within, 'day')}")
        return
    written(renewed.written)
    for reissue in renewed.reissued:
        progress(f"Renewed {out / reissue.spec.cert_file} (CN={reissue.spec.common_name}, "
                 f"was to expire {reissue.current.not_after:%Y-%m-%d %H:%M} UTC)")
    progress("Deploy the new files (dockerd reads them only when it starts):")
    for line in renewed.deployment(out):
        progress(f"  {line}")


def show(folder: Path, entries: list[Entry], now: datetime.datetime,
         revoked: Sequence[Revocation], as_json: bool) -> None:
    """`certs show`: the listing, or its JSON."""
    if as_json:
        from dataclasses import asdict

        from .inventory import rollover_state

        rollover = rollover_state(folder, entries)
        say(json.dumps({
            "directory": str(folder),
            "certificates": [entry.as_json(now) for entry in entries],
            "rollover": rollover.describe(folder) if rollover else None,
            "revoked": [asdict(entry) for entry in revoked],
        }, indent=2))
    else:
        say(show_text(folder, entries, now, revoked))


def show_text(directory: Path, entries: list[Entry], now: datetime.datetime,
              revoked: Sequence[Revocation] = ()) -> str:
    """The human-readable listing of ``certs show``."""
    from .certinfo import starts_later
    from .inventory import _USAGE_NAMES, rollover_state
    from .plan import time_left

    lines = [f"{printable(str(directory))}:"]  # a folder's name is one line
    if not entries:
        lines.append("  no certificates")
    for entry in entries:
        cert = entry.certificate
        usage = ", ".join(_USAGE_NAMES.get(o, o) for o in cert.extended_key_usage) or "-"
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
        lines += ["", rollover.describe(directory)]
    if revoked:
        lines += ["", f"revoked ({len(revoked)}, recorded in {REVOKED_FILE}):"]
        lines += [f"  {entry.line()}" for entry in revoked]
    return "\n".join(lines)


def check(folder: Path, report: Report, warn_days: int, as_json: bool) -> None:
    """`certs check`: one line per finding and the rollover, or OK; or its JSON."""
    findings, rollover, code = report.findings, report.rollover, report.exit_code
    if as_json:
        say(json.dumps({
            "directory": str(folder),
            "status": report.status,
            "findings": [finding.as_json() for finding in findings],
            "rollover": rollover.describe(folder) if rollover else None,
        }, indent=2))
        return
    for finding in findings:
        say_line(finding.line())
    if rollover:
        say(rollover.describe(folder))
    if code == 0:
        say_line(f"OK: {folder}: {count(report.certificates, 'certificate')}, "
                 f"none expires within {count(warn_days, 'day')}")


def sums(folder: Path, matched: int, mismatches: Sequence[Mismatch]) -> None:
    """`certs verify-sums`: each mismatch, or OK."""
    for mismatch in mismatches:
        say_line(f"problem: {mismatch.file}: {mismatch.message}")
    if not mismatches:
        say_line(f"OK: {folder}: {count(matched, 'file')} "
                 f"{plural(matched, 'matches', 'match')} {SUMS_FILE}")
