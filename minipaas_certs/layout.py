"""The names the tool writes in an output directory, and the test of a name it owns.

Recovery after a crash moves files back by the names its journal lists; it acts
only on names this module recognises, so a planted journal cannot make it touch
anything else.
"""

from __future__ import annotations

import re

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
OLD_CA_CERT, OLD_CA_KEY = "ca-old.pem", "ca-old-key.pem"
SERVER_CERT, SERVER_KEY = "server-cert.pem", "server-key.pem"
CLIENT_CERT, CLIENT_KEY = "client-cert.pem", "client-key.pem"
CLI_CERT, CLI_KEY = "cert.pem", "key.pem"  # the names the docker CLI reads
SUMS_FILE = "SHA256SUMS"
GITIGNORE = ".gitignore"
CLIENTS_DIR = "clients"
BUNDLE_FILES = (CA_CERT, CLI_CERT, CLI_KEY)

STAGING_PREFIX = ".minipaas-staging-"
BACKUP_PREFIX = "backup-"
BACKUP_NAME = re.compile(r"backup-[0-9]{8}T[0-9]{6}(?:-[0-9]{1,4})?\Z")

TOP_LEVEL_FILES = frozenset({
    CA_CERT, CA_KEY, OLD_CA_CERT, OLD_CA_KEY, SERVER_CERT, SERVER_KEY, CLIENT_CERT,
    CLIENT_KEY, CLI_CERT, CLI_KEY, SUMS_FILE, GITIGNORE,
})
# A bundle name as `names.parse_identity_name` accepts it.
_BUNDLE = r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9_-])?"
_BUNDLE_FILE = "|".join(map(re.escape, BUNDLE_FILES))
_BUNDLE_PATH = re.compile(rf"{CLIENTS_DIR}/(?!.*\.\.){_BUNDLE}(?:/(?:{_BUNDLE_FILE}))?\Z")


def is_tool_path(name: str) -> bool:
    """Whether ``name`` (relative to the output directory) is one the tool writes:
    a top-level file, a client bundle folder, or a file of one."""
    return name in TOP_LEVEL_FILES or bool(_BUNDLE_PATH.match(name))


def is_key(name: str) -> bool:
    """Private keys: never readable by others, never in SHA256SUMS."""
    return name.endswith("key.pem")
