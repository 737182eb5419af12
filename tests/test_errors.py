"""errors.py: one table from exceptions to exit codes, and the help made from it."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from minipaas_certs import errors


@pytest.mark.parametrize("error,code", [
    (errors.InvalidInput("x"), 2), (errors.OpenSSLUnavailable("x"), 3),
    (errors.OpenSSLFailed(["openssl"], 1, "bad"), 3), (errors.Conflict("x"), 4),
    (errors.CAProblem("x"), 5), (errors.OutputError("x"), 6),
    (errors.Interrupted(signal.SIGTERM), 143), (PermissionError(13, "denied"), 6),
    (ValueError("bug"), 1),
])
def test_exit_codes(error: BaseException, code: int) -> None:
    assert errors.exit_code(error) == code


def test_help_lists_every_code_from_the_classes() -> None:
    for kind in (errors.InvalidInput, errors.Conflict, errors.CAProblem, errors.OutputError):
        assert f"  {kind.exit_code}    {kind.summary.splitlines()[0]}" in errors.EXIT_CODES_HELP
    assert "130  interrupted (SIGINT); 143 terminated (SIGTERM)" in errors.EXIT_CODES_HELP


def test_help_names_every_command_behind_a_verdict() -> None:
    rows = errors.EXIT_CODES_HELP.split("\n  8    ")[1].split("\n  130")[0]
    assert all(command in rows for command in ("check:", "doctor:", "verify-sums:")), rows


def test_help_rows_come_in_order_of_their_codes() -> None:
    codes = [int(line.split()[0]) for line in errors.EXIT_CODES_HELP.splitlines()[2:]
             if line.startswith("  ") and line.split()[0].isdigit()]
    assert codes == sorted(codes) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 130]


def test_printable_escapes_control_characters() -> None:
    assert errors.printable("a\x1b]0;x\x07b") == "a\\x1b]0;x\\x07b"
    assert errors.printable("plain text") == "plain text"


@pytest.mark.parametrize("value", ["plain", "with space", "it's", "/tmp/a\nb", "tab\there",
                                   "esc\x1b[2J", "back\\slash\n", os.fsdecode(b"/tmp/\xffz")])
def test_quoted_values_paste_back_as_they_were(value: str) -> None:
    """Printed commands are one line and give bash the very value, control characters
    and bytes that are not UTF-8 included."""
    quoted = errors.quote(value)
    assert quoted.isprintable()
    pasted = subprocess.run(["bash", "-c", f"printf %s {quoted}"], capture_output=True)
    assert pasted.stdout == os.fsencode(value)
