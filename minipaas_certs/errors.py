"""The package's exceptions: each class carries the exit code the CLI returns for it."""

from __future__ import annotations

import os
import signal
from typing import Iterable


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\x1b``, ``\\n``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def quote(value: object) -> str:
    """A path or value as it can be pasted into a shell, for the commands messages print:
    one line, in ``$'...'`` form (bash, zsh, ksh) if it holds control characters."""
    import shlex

    text = str(value)
    if text.isprintable():
        return shlex.quote(text)

    def escaped(char: str) -> str:
        if char in "\\'":
            return "\\" + char
        if char.isprintable():
            return char
        return "".join(f"\\x{byte:02x}" for byte in os.fsencode(char))  # its bytes

    return "$'" + "".join(map(escaped, text)) + "'"


LISTED = 10  # names a message lists before "and N more"


def listed(names: Iterable[object], limit: int = LISTED, empty: str = "none") -> str:
    """``a, b, c``; past ``limit`` names, the first ones and ``and N more``: a message
    that names 150 bundles stays one readable line.  ``empty`` when there are none."""
    items = [str(name) for name in names]
    if not items:
        return empty
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])} and {len(items) - limit} more"


# The commands that judge (check, doctor, verify-sums) report findings, not errors:
# their verdicts have exit codes of their own, listed in the help beside the errors'.
EXIT_WARNINGS = 7
EXIT_PROBLEMS = 8
VERDICTS = {
    EXIT_WARNINGS: ("check: a certificate expires within --warn-days, a rollover waits for\n"
                    "       re-issues, or a root's self-signature is weak (nothing else)"),
    EXIT_PROBLEMS: ("check: something is wrong now; doctor: mutual TLS does not work,\n"
                    "       or a daemon is stale, broken or unreachable (--host NAME=...);\n"
                    "       verify-sums: a file does not match SHA256SUMS"),
}


class CertsError(Exception):
    """Base of every error the tool reports to its user as one line."""

    exit_code = 1
    summary = "unexpected failure"


class InvalidInput(CertsError):
    """A value given on the command line or in the environment is not acceptable."""

    exit_code = 2
    summary = ("bad usage or invalid value (SAN, CN, days, key size), or an option\n"
               "       that takes one value given twice")


class OpenSSLUnavailable(CertsError):
    """The openssl binary is missing, too old, unrecognised, or does not run."""

    exit_code = 3
    summary = "openssl missing, too old, failing or timed out"


class OpenSSLFailed(CertsError):
    """An openssl command exited non-zero or did not finish in time."""

    exit_code = 3

    def __init__(self, argv: list[str], returncode: int | None, stderr: str,
                 stdout: bytes = b"") -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout  # what it said before failing: verify names what passed
        detail = " ".join(line.strip() for line in stderr.strip().splitlines()[-3:])
        outcome = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(
            f"`{' '.join(argv)}` {outcome}" + (f": {detail}" if detail else "")
        )


class Conflict(CertsError):
    """The run would replace files it must not, or another run holds the directory."""

    exit_code = 4
    summary = ("conflict: files that must not be replaced, a symlinked bundle folder,\n"
               "       or the directory is in use")


class CAProblem(CertsError):
    """The CA (or a client bundle) needed is missing, incomplete, or unfit for use."""

    exit_code = 5
    summary = ("CA problem: missing, expired, weak, not matching its key, or its key\n"
               "       open to others; or the PKI engine refused or cannot be reached")


class OutputError(CertsError):
    """The output directory cannot be written, or what was written is not sound."""

    exit_code = 6
    summary = ("the folder is missing (for a command that needs a set made), cannot\n"
               "       be written, holds an unexplained leftover, or what was written\n"
               "       is unsound")


class Interrupted(CertsError):
    """SIGINT or SIGTERM stopped the run (exit 130 or 143) before its change was made;
    one that comes after it is noted, and the run ends as it would have."""

    exit_code = 128 + signal.SIGINT  # 128 + the signal's number: set by each instance
    summary = (f"interrupted (SIGINT); {128 + signal.SIGTERM} terminated (SIGTERM): "
               "before the change was made")

    def __init__(self, signal_number: int) -> None:
        self.signal_number = signal_number
        self.exit_code = 128 + signal_number
        super().__init__(f"interrupted by {signal.Signals(signal_number).name}")


def exit_code(error: BaseException) -> int:
    """The exit code for any failure: the package's own, an OSError (the directory or a
    file cannot be used, as OutputError), anything else 1."""
    if isinstance(error, CertsError):
        return error.exit_code
    return OutputError.exit_code if isinstance(error, OSError) else CertsError.exit_code


def _documented(kind: type[CertsError]) -> list[type[CertsError]]:
    """``kind`` and its subclasses that state their own summary (the help's rows)."""
    found = [kind] if "summary" in vars(kind) else []
    for subclass in kind.__subclasses__():
        found += _documented(subclass)
    return found


def _exit_codes_help() -> str:
    rows = [(0, "success")]
    rows += [(kind.exit_code, kind.summary) for kind in _documented(CertsError)]
    rows += VERDICTS.items()
    return "\b\nExit codes:\n" + "".join(
        f"  {code:<4} {text}\n" for code, text in sorted(rows, key=lambda row: row[0]))


EXIT_CODES_HELP = _exit_codes_help()
