"""errors.py: one table from exceptions to exit codes, and the help made from it."""

from __future__ import annotations

import signal

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


def test_printable_escapes_control_characters() -> None:
    assert errors.printable("a\x1b]0;x\x07b") == "a\\x1b]0;x\\x07b"
    assert errors.printable("plain text") == "plain text"
