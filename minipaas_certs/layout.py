"""The output directory's layout: every name the tool writes, its mode, its role.

The one place that knows where things go in ``--out``: the CA pair, the leaf
pairs, the docker CLI's copies, client bundles (``clients/NAME/``), the
rollover's old CA, SHA256SUMS, .gitignore, and how staging and backup folders
are named.  Recovery after a crash moves files back by the names its journal
lists; it acts only on names ``is_tool_path`` recognises, so a planted journal
cannot make it touch anything else.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only annotations: `certs --help` imports this module
    from pathlib import Path

KEY_MODE = 0o600
CERT_MODE = 0o644
DIR_MODE = 0o700

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
OLD_CA_CERT, OLD_CA_KEY = "ca-old.pem", "ca-old-key.pem"  # kept during a CA rollover
SERVER_CERT, SERVER_KEY = "server-cert.pem", "server-key.pem"
CLIENT_CERT, CLIENT_KEY = "client-cert.pem", "client-key.pem"
CLI_CERT, CLI_KEY = "cert.pem", "key.pem"  # the only names the docker CLI reads
SUMS_FILE = "SHA256SUMS"
GITIGNORE = ".gitignore"
CLIENTS_DIR = "clients"
BUNDLE_FILES = (CA_CERT, CLI_CERT, CLI_KEY)  # a bundle is a ready DOCKER_CERT_PATH

CA_FILES = {CA_CERT: CERT_MODE, CA_KEY: KEY_MODE}
# The docker CLI reads only ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH, so the
# default client pair is also written under those names, as plain copies: copies
# survive tar, CI artifacts and secret stores that drop or refuse symlinks.
DOCKER_CLI_COPIES = {CLIENT_CERT: CLI_CERT, CLIENT_KEY: CLI_KEY}
LEAF_FILES = (SERVER_CERT, SERVER_KEY, CLIENT_CERT, CLIENT_KEY, CLI_CERT, CLI_KEY)
# The top-level leaf pairs: (certificate, key, role).
TOP_LEVEL_PAIRS = ((SERVER_CERT, SERVER_KEY, "server"), (CLIENT_CERT, CLIENT_KEY, "client"),
                   (CLI_CERT, CLI_KEY, "client"))

STAGING_PREFIX = ".minipaas-staging-"
BACKUP_PREFIX = "backup-"
BACKUP_NAME = re.compile(r"backup-[0-9]{8}T[0-9]{6}(?:-[0-9]{1,4})?\Z")
GITIGNORE_TEXT = f"""\
# Written by minipaas certs: private keys and their backups stay out of version control.
*key.pem
{BACKUP_PREFIX}*/
{STAGING_PREFIX}*/
"""

TOP_LEVEL_FILES = frozenset({*CA_FILES, OLD_CA_CERT, OLD_CA_KEY, *LEAF_FILES, SUMS_FILE,
                             GITIGNORE})
# A bundle name as `names.parse_identity_name` accepts it.
_BUNDLE = r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9_-])?"
_BUNDLE_FILE = "|".join(map(re.escape, BUNDLE_FILES))
_BUNDLE_PATH = re.compile(rf"{CLIENTS_DIR}/(?!.*\.\.){_BUNDLE}(?:/(?:{_BUNDLE_FILE}))?\Z")


def bundle_folder(name: str) -> str:
    """A client bundle's folder, relative to the output directory."""
    return f"{CLIENTS_DIR}/{name}"


def bundle_file(name: str, file: str) -> str:
    return f"{CLIENTS_DIR}/{name}/{file}"


def bundle_of(relative: str) -> str | None:
    """The bundle a relative name belongs to (``clients/ci/cert.pem`` -> ``ci``), or None."""
    parts = relative.split("/")
    return parts[1] if len(parts) >= 2 and parts[0] == CLIENTS_DIR else None


def pair_files(role: str, bundle: str | None = None) -> tuple[str, str]:
    """The certificate and key of a leaf: top-level ``ROLE-cert.pem``/``ROLE-key.pem``, or a
    bundle's ``cert.pem``/``key.pem``."""
    if bundle:
        return bundle_file(bundle, CLI_CERT), bundle_file(bundle, CLI_KEY)
    return (SERVER_CERT, SERVER_KEY) if role == "server" else (CLIENT_CERT, CLIENT_KEY)


def bundle_names(directory: Path) -> list[str]:
    """The client bundles present, by name."""
    folder = directory / CLIENTS_DIR
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def is_tool_path(name: str) -> bool:
    """Whether ``name`` (relative to the output directory) is one the tool writes:
    a top-level file, a client bundle folder, or a file of one."""
    return name in TOP_LEVEL_FILES or bool(_BUNDLE_PATH.match(name))


def is_key(name: str) -> bool:
    """Private keys: never readable by others, never in SHA256SUMS."""
    return name.endswith("key.pem")


def is_public(name: str) -> bool:
    """A certificate file at the top or in a client bundle, never a key: what
    SHA256SUMS lists."""
    parts = name.split("/")
    placed = len(parts) == 1 or (len(parts) == 3 and parts[0] == CLIENTS_DIR)
    return placed and name.endswith(".pem") and not is_key(name)


def public_files(directory: Path) -> list[str]:
    """The public files in ``directory``, relative, sorted."""
    candidates = [*directory.glob("*.pem"), *directory.glob(f"{CLIENTS_DIR}/*/*.pem")]
    names = (str(path.relative_to(directory)) for path in candidates if path.is_file())
    return sorted(name for name in names if is_public(name))
