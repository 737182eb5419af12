"""``openssl verify -x509_strict`` of leaves against their CA, with their TLS purpose."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .errors import OpenSSLFailed, OutputError
from .identity import Role, as_role
from .openssl import Argument, OpenSSL


class VerifyFailed(OutputError):
    """A certificate failed ``openssl verify -x509_strict`` with its purpose."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def verify_leaves(openssl: OpenSSL, ca_path: Path, paths: Sequence[Path], role: Role | str,
                  hint: str = "", untrusted: Path | None = None) -> None:
    """``verify_leaf`` for many certificates of one role, in one openssl call; on a
    failure, each is verified alone so that the message names the one at fault."""
    failed = unverified(openssl, ca_path, paths, role, untrusted)
    for path in failed:
        verify_leaf(openssl, ca_path, path, role, hint=hint, untrusted=untrusted)
    if failed:
        raise OutputError(f"`openssl verify` failed on the certificates of {ca_path.name}"
                          + hint)


def unverified(openssl: OpenSSL, ca_path: Path, paths: Sequence[Path], role: Role | str,
               untrusted: Path | None = None, check_time: bool = True,
               inherit: Sequence[int] = ()) -> list[Path]:
    """The certificates among ``paths`` that one ``openssl verify -x509_strict`` call
    (with the role's purpose) does not report OK: a process for all, not one each.
    ``inherit``: the descriptors behind ``/dev/fd/N`` paths."""
    purpose = as_role(role).purpose
    try:
        output = openssl.run(["verify", "-x509_strict", "-purpose", purpose,
                              *([] if check_time else ["-no_check_time"]), "-CAfile", ca_path,
                              *_untrusted(untrusted), *paths], inherit=inherit)
    except OpenSSLFailed as failure:  # one failed: its stdout still names those that passed
        output = failure.stdout
    # Matched as bytes, whole lines: the folder's name may hold a newline or bytes that
    # are not UTF-8.
    said = b"\n" + output
    return [path for path in paths if b"\n" + os.fsencode(path) + b": OK\n" not in said]


def _untrusted(path: Path | None) -> list[Argument]:
    """The intermediates openssl may use to build a path, never as trust anchors."""
    return ["-untrusted", path] if path else []


def verify_leaf(openssl: OpenSSL, ca_path: Path, cert: Path | bytes, role: Role | str | None,
                check_time: bool = True, hint: str = "", untrusted: Path | None = None) -> None:
    """``openssl verify -x509_strict`` with the leaf's TLS purpose against the CA
    (``role`` None: no purpose, as for a CA against itself).

    ``cert`` is a file, or PEM bytes given on stdin.  ``check_time=False`` leaves
    dates out, for callers that report them separately.
    """
    purpose = ["-purpose", as_role(role).purpose] if role else []
    shown = cert.name if isinstance(cert, Path) else "the certificate"
    try:
        output = openssl.run(["verify", "-x509_strict", *purpose,
                              *([] if check_time else ["-no_check_time"]),
                              "-CAfile", ca_path, *_untrusted(untrusted),
                              *([cert] if isinstance(cert, Path) else [])],
                             stdin=cert if isinstance(cert, bytes) else None)
        reason = "" if output.rstrip().endswith(b": OK") else output.decode("utf-8", "replace")
    except OpenSSLFailed as failure:
        reason = failure.stderr
    if reason:
        detail = next((line for line in reason.splitlines() if line.startswith("error ")),
                      reason.strip()[:200])
        command = " ".join(["openssl verify -x509_strict", *purpose])
        raise VerifyFailed(f"{shown} fails `{command}` against {ca_path.name}: {detail}{hint}",
                           detail)
