"""The package's exceptions: each class carries the exit code the CLI returns for it."""

from __future__ import annotations

import signal

EXIT_CODES_HELP = """\b
Exit codes:
  0    success
  1    unexpected failure
  2    bad usage or invalid value (SAN, CN, days, key size)
  3    openssl missing, too old, failing or timed out
  4    conflict: files that must not be replaced, or the directory is in use
  5    CA problem: missing, expired, weak, or not matching its key
  6    output directory cannot be written, holds an unexplained leftover,
       or what was written is unsound
  7    check: a certificate expires within --warn-days (nothing else wrong)
  8    check: something is wrong now; doctor: mutual TLS does not work
  130  interrupted (SIGINT); 143 terminated (SIGTERM)
"""

def printable(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\x1b``, ``\\n``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# `certs check` and `certs doctor` report through these (they are findings, not errors).
EXIT_WARNINGS = 7  # check: only warnings (something expires within --warn-days)
EXIT_PROBLEMS = 8  # check: something is wrong now; doctor: mutual TLS does not work


class CertsError(Exception):
    """Base of every error the tool reports to its user as one line."""

    exit_code = 1


class InvalidInput(CertsError):
    """A value given on the command line or in the environment is not acceptable."""

    exit_code = 2


class OpenSSLUnavailable(CertsError):
    """The openssl binary is missing, too old, unrecognised, or does not run."""

    exit_code = 3


class OpenSSLFailed(CertsError):
    """An openssl command exited non-zero or did not finish in time."""

    exit_code = 3

    def __init__(self, argv: list[str], returncode: int | None, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        detail = " ".join(line.strip() for line in stderr.strip().splitlines()[-3:])
        outcome = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(
            f"`{' '.join(argv)}` {outcome}" + (f": {detail}" if detail else "")
        )


class Conflict(CertsError):
    """The run would replace files it must not, or another run holds the directory."""

    exit_code = 4


class CAProblem(CertsError):
    """The CA (or a client bundle) needed is missing, incomplete, or unfit for use."""

    exit_code = 5


class OutputError(CertsError):
    """The output directory cannot be written, or what was written is not sound."""

    exit_code = 6


class Interrupted(CertsError):
    """SIGINT or SIGTERM stopped the run (exit 130 or 143)."""

    def __init__(self, signal_number: int, completed: bool = False) -> None:
        self.signal_number = signal_number
        self.exit_code = 128 + signal_number
        super().__init__(f"interrupted by {signal.Signals(signal_number).name}" + (
            " after the new files were moved into place (the change is complete)"
            if completed else ""))
