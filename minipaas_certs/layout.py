"""The output directory's layout: every name the tool writes, its mode, its role.

The one place that knows where things go in ``--out``: the CA pair, the leaf
pairs, the docker CLI's copies, client bundles (``clients/NAME/``), server
bundles (``servers/NAME/``, one per Swarm manager), the rollover's old CA, the
revocation record, SHA256SUMS, .gitignore, and how staging and backup folders
are named.  Recovery after a crash moves files back by the names its journal
lists; it acts only on names ``identity.is_tool_path`` recognises (these names,
grouped by the role table), so a planted journal cannot make it touch anything else.
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
# A client's pair and chain as PKCS#12 (`certs p12`), for Java and other clients that
# take a keystore: top-level for the default client pair, or in a client bundle.
CLIENT_P12 = "client.p12"
SUMS_FILE = "SHA256SUMS"
GITIGNORE = ".gitignore"
REVOKED_FILE = "revoked.json"  # who was cut off, and when: written by `certs revoke`
CLIENTS_DIR, SERVERS_DIR = "clients", "servers"
BUNDLE_FOLDERS = (CLIENTS_DIR, SERVERS_DIR)  # one per role (see identity.ROLES)

CA_FILES = {CA_CERT: CERT_MODE, CA_KEY: KEY_MODE}
# The docker CLI reads only ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH, so the
# default client pair is also written under those names, as plain copies: copies
# survive tar, CI artifacts and secret stores that drop or refuse symlinks.
DOCKER_CLI_COPIES = {CLIENT_CERT: CLI_CERT, CLIENT_KEY: CLI_KEY}
# The top-level files of no identity (identity.TOP_LEVEL_FILES adds each role's pair,
# copies and keystore).
SHARED_FILES = frozenset({*CA_FILES, OLD_CA_CERT, OLD_CA_KEY, SUMS_FILE, GITIGNORE,
                          REVOKED_FILE})

STAGING_PREFIX = ".minipaas-staging-"
JOURNAL = "journal.json"  # in a staging folder: the commit's moves, for recovery
REPLACED = "replaced"  # in a staging folder: old files nobody needs to keep
BACKUP_PREFIX = "backup-"
BACKUP_NAME = re.compile(rf"{BACKUP_PREFIX}[0-9]{{8}}T[0-9]{{6}}(?:-[0-9]{{1,4}})?\Z")
# The names that hold a private key: keys, and the PKCS#12 files that carry one.
P12_PATTERN = "*.p12"
KEY_PATTERNS = ("*key.pem", P12_PATTERN)
_KEY_SUFFIXES = tuple(pattern[1:] for pattern in KEY_PATTERNS)
GITIGNORE_TEXT = (
    "# Written by minipaas certs: private keys and their backups stay out of version "
    "control.\n" + "".join(f"{line}\n" for line in (
        *KEY_PATTERNS, f"{BACKUP_PREFIX}*/", f"{STAGING_PREFIX}*/")))


def backup_name(stamp: str, attempt: int = 1) -> str:
    """The backup folder of a run started at ``stamp`` (``%Y%m%dT%H%M%S``, local time);
    ``attempt`` counts up while that name is taken."""
    return f"{BACKUP_PREFIX}{stamp}" + (f"-{attempt}" if attempt > 1 else "")

# A bundle name as `names.parse_identity_name` accepts it.
BUNDLE_NAME = r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9_-])?"
_NAME_ONLY = re.compile(rf"{BUNDLE_NAME}\Z")


def is_bundle_name(name: str) -> bool:
    """A name `--name` accepts (``names.parse_identity_name``): the only bundles the tool
    writes, and the only ones it reads."""
    return bool(_NAME_ONLY.match(name)) and ".." not in name


def strangers(directory: Path) -> list[str]:
    """What lies in ``servers/`` or ``clients/`` that is not a bundle the tool writes
    (another name, a file): left alone by every command, reported by ``check``."""
    found = []
    for folder in BUNDLE_FOLDERS:
        if (directory / folder).is_dir():
            found += sorted(f"{folder}/{p.name}" for p in (directory / folder).iterdir()
                            if not (is_bundle_name(p.name) and p.is_dir()))
    return found


def is_key(name: str) -> bool:
    """Private keys, and the PKCS#12 files that carry one: never readable by others,
    never in SHA256SUMS."""
    return name.endswith(_KEY_SUFFIXES)


def is_public(name: str) -> bool:
    """A certificate file at the top or in a bundle, or the revocation record; never a
    key: what SHA256SUMS lists.  A name that one line of it cannot carry as it is (a
    control character, a backslash, bytes that are not UTF-8) is no file of the tool's
    and is left out."""
    if name == REVOKED_FILE:
        return True
    if not name.isprintable() or "\\" in name:  # surrogate escapes are not printable
        return False
    parts = name.split("/")
    placed = len(parts) == 1 or (len(parts) == 3 and parts[0] in BUNDLE_FOLDERS
                                 and is_bundle_name(parts[1]))
    return placed and name.endswith(".pem") and not is_key(name)


def public_files(directory: Path) -> list[str]:
    """The public files in ``directory``, relative, sorted."""
    candidates = [*directory.glob("*.pem"), directory / REVOKED_FILE,
                  *(path for folder in BUNDLE_FOLDERS
                    for path in directory.glob(f"{folder}/*/*.pem"))]
    names = (str(path.relative_to(directory)) for path in candidates if path.is_file())
    return sorted(name for name in names if is_public(name))
