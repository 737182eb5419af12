"""Who a leaf is: the role table, ``Identity``, and the one builder of fix commands.

A role (server, client) is one row of facts: where its bundles live, its files,
what openssl checks it for, its extendedKeyUsage, its template, how commands name
one of its bundles.  An identity is a role and a bundle name, or no name for the
top-level (default) pair; it knows its files, its folder, its copies and the
command that fixes it.  Every "minipaas certs ..." a message prints is built by
``certs_command``, so a path is quoted one way everywhere.  File names stay
``layout``'s; this module only groups them: the names the tool writes
(``is_tool_path``) follow from the rows, so a new file kind is one row's change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping, Tuple, Union

from .certinfo import OID_CLIENT_AUTH, OID_SERVER_AUTH
from .errors import quote
from .layout import (
    BUNDLE_NAME,
    CA_CERT,
    CLI_CERT,
    CLI_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
    CLIENT_P12,
    CLIENTS_DIR,
    DOCKER_CLI_COPIES,
    SERVER_CERT,
    SERVER_KEY,
    SERVERS_DIR,
    SHARED_FILES,
    is_bundle_name,
)

if TYPE_CHECKING:
    from pathlib import Path

    from .certinfo import Certificate

PROGRAM = "minipaas certs"
Option = Union[str, Tuple[str, object]]  # "--force", or ("--ca-dir", a path to quote)


def certs_command(*words: str, out: object = None, options: Iterable[Option] = ()) -> str:
    """``minipaas certs WORDS [--out OUT] [OPTIONS]``.  ``out`` (a path, or a placeholder
    such as FOLDER) is quoted as a shell takes it, and so is the value of an option
    given as ``(flag, value)``; an option given as text is printed as it is (empty
    ones are skipped)."""
    parts = [PROGRAM, *words]
    if out is not None:
        parts += ["--out", quote(out)]
    for option in options:
        if isinstance(option, tuple):
            parts.append(f"{option[0]} {quote(option[1])}")
        elif option:
            parts.append(option)
    return " ".join(parts)


def renew_every(out: object = None, options: Iterable[Option] = ()) -> str:
    """``renew --all`` for every pair, due or not (a rollover's step, a new CA's leaves):
    without --within it renews only what has less than a third of its lifetime left."""
    return certs_command("renew", "--all", "--within", "100%", out=out, options=options)


@dataclass(frozen=True, eq=False)  # one object per role: compared by identity
class Role:
    """The facts of one role; ``str(role)`` is its name, as messages print it."""

    name: str  # "server" or "client": also the command that issues one
    folder: str  # where its bundles live: servers/NAME, clients/NAME
    cert: str  # the top-level pair
    key: str
    bundle_files: tuple[str, ...]  # ca.pem, certificate, key (then any other) in a bundle
    purpose: str  # `openssl verify -purpose`
    eku_oid: str  # its one extendedKeyUsage
    eku_name: str
    template: str  # the config template its leaves are rendered from
    revoke_option: str  # how `certs revoke` names one of its bundles
    # Whether `certs revoke` cuts its top-level pair off (``revoke_option``-pair): the
    # client's; the server's is the daemon's, re-issued by every revocation.
    pair_revocable: bool
    cli_copies: Mapping[str, str]  # top-level pair file -> the docker CLI's copy of it
    keystore: str | None  # client.p12, beside the pair, for a client
    # A server certificate names the addresses it answers on (its CN defaults to the
    # first), a client is named by its CN alone (a bundle's CN is its name).
    needs_sans: bool
    bundle_user: str  # who reads one of its bundles' ca.pem (to verify its peers)
    bundle_peers: str  # whom that user verifies with it
    force_over_bundle: bool  # a new bundle over one of its existing bundles needs --force
    # Where its files go after a new CA (``Identity.deployment``): the top-level pair's
    # (its bundle files, under a bundle's names) and a bundle's; {name}, {folder} and
    # {files} are filled in.
    deploy_pair: str
    deploy_bundle: str

    def __str__(self) -> str:
        return self.name

    @property
    def journaled(self) -> tuple[str, ...]:
        """What a commit may move in one of its bundles: its files, and its keystore."""
        return (*self.bundle_files, *((self.keystore,) if self.keystore else ()))

    def fits(self, certificate: Certificate) -> bool:
        """Whether ``certificate`` is one of this role's (by its EKU)."""
        return role_of(certificate) is self


_DOCKERD = "{files} into its /etc/docker, then restart dockerd"
SERVER = Role(
    name="server", folder=SERVERS_DIR, cert=SERVER_CERT, key=SERVER_KEY,
    # A server bundle holds what a manager's /etc/docker needs, under daemon.json's names.
    bundle_files=(CA_CERT, SERVER_CERT, SERVER_KEY), purpose="sslserver",
    eku_oid=OID_SERVER_AUTH, eku_name="serverAuth", template="server.cnf.j2",
    revoke_option="--server", pair_revocable=False, cli_copies={}, keystore=None, needs_sans=True,
    bundle_user="dockerd on this manager", bundle_peers="clients", force_over_bundle=False,
    deploy_pair=f"the daemon of the top-level pair: {_DOCKERD}",
    deploy_bundle=f"manager {{name}}: {_DOCKERD}")
CLIENT = Role(
    name="client", folder=CLIENTS_DIR, cert=CLIENT_CERT, key=CLIENT_KEY,
    # A client bundle is a ready DOCKER_CERT_PATH.
    bundle_files=(CA_CERT, CLI_CERT, CLI_KEY), purpose="sslclient",
    eku_oid=OID_CLIENT_AUTH, eku_name="clientAuth", template="client.cnf.j2",
    revoke_option="--client", pair_revocable=True, cli_copies=DOCKER_CLI_COPIES,
    keystore=CLIENT_P12,
    needs_sans=False, bundle_user="the docker CLI", bundle_peers="daemons",
    force_over_bundle=True, deploy_pair="the default client: {files}",
    deploy_bundle="client {name}: the folder {folder} (its DOCKER_CERT_PATH)")
ROLES = {role.name: role for role in (SERVER, CLIENT)}
_BY_FOLDER = {role.folder: role for role in ROLES.values()}


def as_role(role: Role | str) -> Role:
    """A role, or the one a role name names (constructors take either)."""
    return role if isinstance(role, Role) else ROLES[role]


def role_of(certificate: Certificate) -> Role | None:
    """The role a certificate is for, by its EKU: the first row's it holds (one with both
    is a server's); None for a CA or a certificate of neither."""
    if certificate.is_ca:
        return None
    return next((role for role in ROLES.values()
                 if role.eku_oid in certificate.extended_key_usage), None)


def kind_of(certificate: Certificate) -> str:
    """``ca``, ``server``, ``client`` (or ``other``), as ``certs show`` says."""
    role = role_of(certificate)
    return "ca" if certificate.is_ca else role.name if role else "other"


@dataclass(frozen=True)
class Identity:
    """A role's top-level pair (``name`` None) or its bundle ``name``; names are relative
    to the output directory."""

    role: Role
    name: str | None = None

    @property
    def folder(self) -> str | None:
        """``servers/NAME`` or ``clients/NAME``; None for the top-level pair."""
        return f"{self.role.folder}/{self.name}" if self.name is not None else None

    def directory(self, out: Path) -> Path:
        """The folder in ``out`` that holds its files: ``out`` itself for the top-level
        pair."""
        return out / self.folder if self.folder is not None else out

    def file(self, file: str) -> str:
        """``file`` in the bundle's folder, or at the top for the top-level pair."""
        return f"{self.folder}/{file}" if self.folder is not None else file

    @property
    def cert(self) -> str:
        return self.file(self.role.bundle_files[1]) if self.name is not None else self.role.cert

    @property
    def key(self) -> str:
        return self.file(self.role.bundle_files[2]) if self.name is not None else self.role.key

    @property
    def ca(self) -> str:
        """The ca.pem it is checked against: the bundle's copy, or the top-level one."""
        return self.file(CA_CERT)

    @property
    def files(self) -> tuple[str, ...]:
        """A bundle's files (ca.pem, certificate, key), or the top-level pair."""
        if self.name is not None:
            return tuple(self.file(file) for file in self.role.bundle_files)
        return self.cert, self.key

    @property
    def copies(self) -> tuple[str, ...]:
        """The docker CLI's copies of the top-level client pair (cert.pem, key.pem)."""
        return tuple(self.role.cli_copies.values()) if self.name is None else ()

    @property
    def owned(self) -> tuple[str, ...]:
        """What goes with it when it goes: a bundle's folder whole, or the top-level pair
        with its copies and keystore."""
        if self.folder is not None:
            return (self.folder,)
        keystore = (self.role.keystore,) if self.role.keystore else ()
        return (*self.files, *self.copies, *keystore)

    @property
    def deployment(self) -> str:
        """Where its files must go, once re-issued."""
        if self.name is None:
            return self.role.deploy_pair.format(files=", ".join(self.role.bundle_files))
        return self.role.deploy_bundle.format(name=self.name, folder=self.folder,
                                              files=", ".join(self.files))

    @property
    def label(self) -> str:
        """How messages name it: its folder, or its top-level certificate."""
        return self.folder if self.folder is not None else self.cert

    @property
    def option(self) -> str:
        """How `certs revoke` names it explicitly: ``--client NAME`` or ``--server NAME``,
        or ``--client-pair`` for the top-level client pair."""
        if self.name is None:
            return f"{self.role.revoke_option}-pair"
        return f"{self.role.revoke_option} {self.name}"

    def command(self, out: object, *, verb: str = "", options: Iterable[Option] = ()) -> str:
        """The command that issues it again (``verb`` "renew": that renews it), with
        ``--name`` for a bundle, then ``options``."""
        words = (verb, self.role.name) if verb else (self.role.name,)
        name = f"--name {self.name}" if self.name is not None else ""
        return certs_command(*words, out=out, options=[name, *options])

    @classmethod
    def of(cls, relative: str) -> Identity | None:
        """The identity a relative name belongs to (``servers/m1/ca.pem``, ``cert.pem``),
        or None (the CA's files, a name of no identity)."""
        parts = relative.split("/")
        if len(parts) >= 2:
            role = _BY_FOLDER.get(parts[0])
            return cls(role, parts[1]) if role else None
        return next((cls(role) for role in ROLES.values() if relative in cls(role).owned),
                    None)

    @classmethod
    def holding(cls, leaf: str) -> Identity:
        """The identity a file holding a leaf certificate stands for: its bundle or its
        top-level pair (cert.pem: the client's).  A leaf where no identity's file is
        (ca.pem or ca-old.pem holding one) counts as the default client's, whose
        commands are then the fix printed for it."""
        return cls.of(leaf) or cls(CLIENT)


def _tool_names(roles: Iterable[Role]) -> tuple[frozenset[str], re.Pattern[str]]:
    """The top-level names the tool writes (``layout.SHARED_FILES``, each role's pair,
    copies and keystore), and the paths of bundles and their files: all from the rows
    of ``roles``."""
    roles = tuple(roles)
    top = frozenset({*SHARED_FILES, *(name for role in roles for name in Identity(role).owned)})
    bundle_path = re.compile("|".join(
        rf"{role.folder}/(?!.*\.\.){BUNDLE_NAME}"
        rf"(?:/(?:{'|'.join(map(re.escape, role.journaled))}))?\Z" for role in roles))
    return top, bundle_path


TOP_LEVEL_FILES, _BUNDLE_PATH = _tool_names(ROLES.values())


def is_tool_path(name: str, roles: Iterable[Role] | None = None) -> bool:
    """Whether ``name`` (relative to the output directory) is one the tool writes:
    a top-level file, a bundle folder, or a file of one (of ``roles``: the table's)."""
    top, bundle_path = (TOP_LEVEL_FILES, _BUNDLE_PATH) if roles is None else \
        _tool_names(roles)
    return name in top or bool(bundle_path.match(name))


def bundles(directory: Path, role: Role | None = None) -> list[Identity]:
    """The bundles present (folders with a bundle name), servers first, each by name."""
    found = []
    for kind in ROLES.values() if role is None else (role,):
        folder = directory / kind.folder
        if folder.is_dir():
            found += [Identity(kind, name) for name in sorted(
                p.name for p in folder.iterdir() if is_bundle_name(p.name) and p.is_dir())]
    return found


def identities(directory: Path) -> list[Identity]:
    """The leaves present: the top-level server and client pairs (by their
    certificates), then every bundle."""
    top = [Identity(role) for role in ROLES.values() if (directory / role.cert).exists()]
    return [*top, *bundles(directory)]


def eku_name(oid: str) -> str:
    """How an extendedKeyUsage OID is printed: its role's name for it (serverAuth,
    clientAuth), else the OID itself."""
    return next((role.eku_name for role in ROLES.values() if role.eku_oid == oid), oid)
