"""SHA256SUMS of a directory's public files, for carrying certificates across an air gap.

The file uses ``sha256sum``'s format, so ``sha256sum -c SHA256SUMS`` checks it as
well as ``minipaas certs verify-sums``.  Public files are the certificates (every
``*.pem`` but the keys) at the top and in ``clients/*/``; keys are left out.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Mapping, NamedTuple

from .errors import OutputError
from .files import read_limited
from .identity import certs_command
from .layout import SUMS_FILE, is_public, public_files

_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)\Z")


def render(digests: Mapping[str, str]) -> str:
    """The SHA256SUMS text for these files (name -> SHA-256 in hex), sorted by name."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))


class Mismatch(NamedTuple):
    """A file that SHA256SUMS does not vouch for."""

    file: str
    message: str


def verify(directory: Path) -> tuple[int, list[Mismatch]]:
    """Check every file SHA256SUMS lists, and that it lists every public file.

    Returns how many files matched, and what did not.
    """
    path = directory / SUMS_FILE
    if not path.is_file():
        return 0, [Mismatch(SUMS_FILE, f"missing: re-generate it with any `{certs_command()}` "
                                       "command that writes the directory")]
    listed: dict[str, str] = {}
    problems = []
    try:
        text = read_limited(path).decode("utf-8", "replace")
    except OutputError as error:
        return 0, [Mismatch(SUMS_FILE, str(error))]
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.match(line)
        if not match or not is_public(match.group(2)) or ".." in match.group(2).split("/"):
            problems.append(Mismatch(SUMS_FILE, f"line {number} is not a checksum of a "
                                                "certificate file"))
            continue
        if match.group(2) in listed:
            if listed[match.group(2)] != match.group(1):  # sha256sum -c fails one of them
                problems.append(Mismatch(SUMS_FILE, f"line {number} lists {match.group(2)} "
                                                    "again, with another SHA-256"))
            continue
        listed[match.group(2)] = match.group(1)
    matched = 0
    for name, digest in sorted(listed.items()):
        file = directory / name
        if not os.path.lexists(file):
            problems.append(Mismatch(name, "listed in SHA256SUMS but missing"))
            continue
        try:
            data = read_limited(file)
        except OutputError as error:
            problems.append(Mismatch(name, str(error)))
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            problems.append(Mismatch(name, "its SHA-256 differs from SHA256SUMS: changed "
                                           "or damaged since it was written"))
        else:
            matched += 1
    for name in public_files(directory):
        if name not in listed:
            problems.append(Mismatch(name, "not listed in SHA256SUMS"))
    return matched, problems
