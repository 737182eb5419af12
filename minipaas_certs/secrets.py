"""Secrets, read in one place: from the file an option names, else from the environment.

A file is read capped and must be a regular file (a FIFO is refused, not waited on);
each secret is read once, before the output directory is locked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .errors import InvalidInput
from .names import parse_passphrase

P12_PASSWORD_VARIABLE = "MINIPAAS_P12_PASSWORD"


def secret(file: str | None, option: str, variable: str,
           parse: Callable[[bytes, str], bytes]) -> bytes | None:
    """A secret from the file ``option`` names (a regular file of bounded size), else
    from the environment ``variable``, else None; ``parse`` checks it."""
    if file is not None:
        from .files import MAX_SMALL_BYTES, read_limited

        try:
            return parse(read_limited(Path(file), MAX_SMALL_BYTES, error=InvalidInput), file)
        except InvalidInput as error:
            raise InvalidInput(f"{option}: {error}") from None
    value = os.environ.get(variable)
    return None if value is None else parse(os.fsencode(value), variable)


def ca_passphrase(file: str | None) -> bytes | None:
    """The CA passphrase from --ca-passphrase-file, else MINIPAAS_CA_PASSPHRASE, else None."""
    return secret(file, "--ca-passphrase-file", "MINIPAAS_CA_PASSPHRASE", parse_passphrase)


def p12_password(file: str | None) -> bytes:
    """The PKCS#12 password from --password-file, else MINIPAAS_P12_PASSWORD; required."""
    from .names import parse_p12_password

    password = secret(file, "--password-file", P12_PASSWORD_VARIABLE, parse_p12_password)
    if password is None:
        raise InvalidInput(f"give the PKCS#12 password with --password-file FILE or the "
                           f"{P12_PASSWORD_VARIABLE} environment variable")
    return password


def vault_token(file: str | None) -> tuple[str, str]:
    """The engine's token from --vault-token-file, else VAULT_TOKEN, else BAO_TOKEN, and
    where it came from (for messages)."""
    if file is not None:
        from .files import MAX_SMALL_BYTES, read_limited

        raw = read_limited(Path(file), MAX_SMALL_BYTES, error=InvalidInput)
        return raw.decode("utf-8", "replace").strip(), f"--vault-token-file {file}"
    source = "VAULT_TOKEN" if os.environ.get("VAULT_TOKEN") else "BAO_TOKEN"
    return os.environ.get(source, "").strip(), source
