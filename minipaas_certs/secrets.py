"""Secrets, read in one place, each from the first of: the file its option names, the
file its ``*_FILE`` variable names, the secret itself in a variable.

A file is read capped and must be a regular file (a FIFO is refused, not waited on);
each secret is read once, before the output directory is locked.  A ``*_FILE``
variable beside a variable holding the secret itself is refused (which one was meant
cannot be known), and so is a secret's variable that names a file: taken as the
secret, a path would lock a key or a keystore with the path's text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generic, Sequence, TypeVar

from .errors import InvalidInput
from .names import parse_p12_password, parse_passphrase

T = TypeVar("T")


@dataclass(frozen=True)
class Secret(Generic[T]):
    """One secret: its option and variables, and ``parse(raw, origin)``, which checks it
    (``origin`` names where it came from, for messages)."""

    what: str  # "passphrase": "... or the passphrase itself in VARIABLE"
    option: str  # --x-file
    file_variable: str  # names a file, like the option
    variables: tuple[str, ...]  # hold the secret itself; the first one set counts
    parse: Callable[[bytes, str], T]
    # False where ``variables`` belong to other tools (VAULT_TOKEN is the admin's shell's
    # token for the vault CLI): this tool's own *_FILE variable then wins over them.
    both_refused: bool = True

    def help(self, text: str) -> str:
        """An option's help: ``text``, then the variables, never a secret's as the file's."""
        return f"{text} [env {self.file_variable}; or the {self.what} itself in " \
               f"{' or '.join(self.variables)}]."

    @property
    def ways(self) -> str:
        """How to give it, for a message that asks for it."""
        return f"{self.option} FILE (or {self.file_variable} naming the file, or the " \
               f"{self.what} itself in {' or '.join(self.variables)})"

    def read(self, file: str | None) -> tuple[T, str] | None:
        """The secret and where it came from (``--x-file FILE``, ``VARIABLE``), or None
        when nothing gives it.  The option comes first; in the environment, a file's
        name and the secret itself together are refused."""
        if file is not None:
            return self._from_file(file, self.option)
        named = os.environ.get(self.file_variable)  # empty: unset, as click takes it
        variable = _first_set(self.variables)
        if named:
            if self.both_refused and variable is not None and os.environ[variable]:
                raise InvalidInput(f"set one of {self.file_variable} or {variable}, not both: "
                                   f"{self.file_variable} names a file holding the "
                                   f"{self.what}, {variable} holds the {self.what} itself")
            return self._from_file(named, self.file_variable)
        if variable is None:
            return None
        value = os.environ[variable]
        if _names_a_file(value):  # not shown: it may be a secret
            raise InvalidInput(f"{variable} holds the {self.what} itself, but names a file: "
                               f"name the file in {self.file_variable} instead")
        return self.parse(os.fsencode(value), variable), variable

    def _from_file(self, file: str, given_by: str) -> tuple[T, str]:
        from .files import MAX_SMALL_BYTES, read_limited

        try:
            raw = read_limited(Path(file), MAX_SMALL_BYTES, error=InvalidInput)
            return self.parse(raw, file), f"{given_by} {file}"
        except InvalidInput as error:
            raise InvalidInput(f"{given_by}: {error}") from None


def _names_a_file(value: str) -> bool:
    """Whether a secret's variable names something that exists other than a folder: a
    file given as a path, relative (``p12-password`` beside it) or absolute, or a pipe
    (``<(cat file)`` gives /dev/fd/N).  A folder is left out: a word like ``test`` may
    be a passphrase and a folder of the working directory both."""
    return os.path.lexists(value) and not os.path.isdir(value)


def _first_set(variables: Sequence[str]) -> str | None:
    """The first variable set to something, else the first set at all (to an empty
    value, which the secret's check then refuses as it would an empty file)."""
    return next((name for name in variables if os.environ.get(name)),
                next((name for name in variables if name in os.environ), None))


def _token(raw: bytes, origin: str) -> str:
    """An engine token without surrounding white space; what an HTTP header can carry
    is checked with the other engine settings."""
    token = raw.decode("utf-8", "replace").strip()
    if not token:
        raise InvalidInput(f"the engine token from {origin} is empty")
    return token


CA_PASSPHRASE = Secret("passphrase", "--ca-passphrase-file", "MINIPAAS_CA_PASSPHRASE_FILE",
                       ("MINIPAAS_CA_PASSPHRASE",), parse_passphrase)
P12_PASSWORD = Secret("password", "--password-file", "MINIPAAS_P12_PASSWORD_FILE",
                      ("MINIPAAS_P12_PASSWORD",), parse_p12_password)
# VAULT_TOKEN_FILE is no Vault convention (its CLI reads a token helper, not a
# variable), so the file's variable is this tool's own, and the more specific choice.
VAULT_TOKEN = Secret("token", "--vault-token-file", "MINIPAAS_VAULT_TOKEN_FILE",
                     ("VAULT_TOKEN", "BAO_TOKEN"), _token, both_refused=False)


def ca_passphrase(file: str | None) -> bytes | None:
    """The CA passphrase (None: not given; an unencrypted CA key needs none)."""
    found = CA_PASSPHRASE.read(file)
    return None if found is None else found[0]


def p12_password(file: str | None) -> bytes:
    """The PKCS#12 password; required."""
    found = P12_PASSWORD.read(file)
    if found is None:
        raise InvalidInput(f"give the PKCS#12 password with {P12_PASSWORD.ways}")
    return found[0]


def vault_token(file: str | None) -> tuple[str, str]:
    """The engine's token and where it came from (for messages); required."""
    found = VAULT_TOKEN.read(file)
    if found is None:
        raise InvalidInput(f"no engine token: give {VAULT_TOKEN.ways}")
    return found
