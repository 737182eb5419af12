"""Wiring the files into Docker: shell exports, daemon.json, ``docker context create``."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .certinfo import Certificate, read_certificate
from .errors import CAProblem, InvalidInput, OutputError, listed, printable, quote
from .identity import CLIENT, SERVER, Identity, bundles, certs_command
from .layout import (
    CA_CERT,
    CA_KEY,
    CLI_CERT,
    CLI_KEY,
    SERVER_CERT,
    SERVER_KEY,
)
from .names import parse_identity_name, parse_san

DOCKER_TLS_PORT = 2376
# dockerd's own socket, which `docker` on the daemon's host uses.  A `hosts` list in
# daemon.json replaces dockerd's defaults, this socket included, so it is kept unless
# told otherwise.
LOCAL_SOCKET = "unix:///var/run/docker.sock"
# daemon.json `hosts` when no --listen is given: the local socket, and TLS on every address.
DEFAULT_LISTEN = (LOCAL_SOCKET, f"tcp://0.0.0.0:{DOCKER_TLS_PORT}")
_CONTEXT_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,63}\Z")
# `docker context create --docker` parses its value as CSV of key=value pairs.
_CSV_SPECIAL = re.compile(r'[,"\x00-\x1f\x7f]')
_NUMERIC_FORM = re.compile(r"[0-9a-fA-FxX.]+\Z")
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>[0-9]{1,5}))?\Z")


@dataclass(frozen=True)
class DockerHost:
    """A validated daemon address: an IP address or DNS name, and a TCP port."""

    kind: str  # "IP" or "DNS"
    name: str
    port: int

    @property
    def url(self) -> str:
        bracketed = f"[{self.name}]" if ":" in self.name else self.name
        return f"tcp://{bracketed}:{self.port}"


def legacy_ipv4(name: str) -> str | None:
    """The address C's resolver reads in ``name`` (``0x7f000001``, ``127.1``,
    ``0177.0.0.1``: inet_aton's old numeric forms), which Go's does not: it takes
    only dotted quads without leading zeros as addresses, the rest for host names."""
    if not _NUMERIC_FORM.match(name):  # inet_aton ignores what follows a space
        return None
    try:
        address = socket.inet_ntoa(socket.inet_aton(name))
    except (OSError, ValueError):
        return None
    return None if address == name else address


def parse_host(value: str, *, listening: bool = False, lookup: bool = False) -> DockerHost:
    """Parse ``HOST[:PORT]`` (``[v6]:PORT`` for IPv6; a ``tcp://`` prefix is accepted).

    ``listening``: a daemon's listen address, which may be 0.0.0.0 or ``::``.
    ``lookup``: an address to connect to as the docker CLI would, where an old numeric
    form (``legacy_ipv4``) is a host name to look up, as Go reads it, not a mistake.
    """
    text = value[len("tcp://"):] if value.startswith("tcp://") else value
    try:  # a bare IPv6 address has colons but no port
        name, port, bracketed = str(ipaddress.IPv6Address(text)), DOCKER_TLS_PORT, True
    except ValueError:
        match = _HOST_PORT.match(text)
        if not match:
            raise InvalidInput(f"invalid --host {value!r}: use HOST, HOST:PORT or "
                               "[IPv6]:PORT") from None
        port = int(match.group("port") or DOCKER_TLS_PORT)
        name, bracketed = match.group("v6") or match.group("host"), bool(match.group("v6"))
    if not 1 <= port <= 65535:
        raise InvalidInput(f"invalid --host {value!r}: the port must be 1-65535")
    if listening:
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            address = None
        if address is not None and address.is_unspecified:
            return DockerHost("IP", str(address), port)
    if lookup and not bracketed and legacy_ipv4(name):
        return DockerHost("DNS", name, port)
    # option=None: its advice names the bare value, not `--san VALUE`
    san = parse_san(f"IP:{name}" if bracketed else name, option=None)
    if san.value.startswith("*"):
        raise InvalidInput(f"invalid --host {value!r}: a wildcard is not a host")
    return DockerHost(san.kind, san.value, port)


def name_matches(certificate: Certificate, host: DockerHost) -> bool:
    """Whether a Go client connecting to ``host`` accepts the certificate's SANs."""
    if host.kind == "IP":
        return host.name in certificate.ip_addresses
    parent = host.name.partition(".")[2]  # a wildcard stands for exactly one label
    return any(pattern == host.name or (pattern.startswith("*.") and pattern[2:] == parent)
               for pattern in certificate.dns_names)


def server_names_warning(out: Path, host: DockerHost) -> str | None:
    """A warning when ``host`` is among the SANs of no server certificate in ``out`` (the
    top-level pair and every manager's bundle), else None."""
    paths = [out / SERVER_CERT, *(out / bundle.cert for bundle in bundles(out, SERVER))]
    certificates = []
    for path in paths:
        if os.path.lexists(path):
            try:
                certificates.append((path, read_certificate(path)))
            except OutputError as error:
                return f"Warning: {error}"
    if not certificates:
        return f"Note: no server certificate in {out} to check {host.name} against"
    if any(name_matches(certificate, host) for _, certificate in certificates):
        return None
    current = certificates[0][1].names
    if len(certificates) == 1 and certificates[0][0] == out / SERVER_CERT:
        which, manager = f"the server certificate's names ({', '.join(current)})", \
            Identity(SERVER)
    else:
        which = "the names of any server certificate in " + quote(str(out))
        manager = Identity(SERVER, "MANAGER")
    return (f"Warning: {host.name} is not among {which}; the docker CLI will fail with "
            f"\"certificate is valid for ..., not {host.name}\": {san_fix(out, manager, host)}")


RESTART = "and restart dockerd (it reads TLS files only at start)"


def san_fix(out: Path, manager: Identity, host: DockerHost) -> str:
    """What to do when ``host`` is not among the names of ``manager``'s certificate: the
    one fix env, context and doctor give.  `renew --san` adds the name and keeps the
    others, the key type and the lifetime."""
    command = manager.command(out, verb="renew", options=[("--san", host.name)])
    return f"connect by one of them, or re-issue it with `{command}` {RESTART}"


def client_commands(out: Path, name: str | None, host: DockerHost | None = None) -> str:
    """The command(s) that make the client pair (or the bundle ``name``) in ``out``, each
    in backticks.  `certs client` needs the CA key: a folder with ca.pem alone (a copied
    client folder) gets --ca-dir, one with no CA at all `certs all` first (naming
    ``host``, if given, among the server's SANs)."""
    client = Identity(CLIENT, name or None).command(out)
    if os.path.lexists(out / CA_KEY):
        return f"`{client}`"
    if os.path.lexists(out / CA_CERT):
        return f"`{client} --ca-dir CA_FOLDER` ({out} holds {CA_CERT} but not {CA_KEY})"
    san = ("--san", host.name) if host else ""
    return f"`{certs_command('all', out=out, options=[san])}`" + (f", then `{client}`"
                                                                   if name else "")


def bundle_dir(out: Path, name: str | None, host: DockerHost | None = None) -> Path:
    """The DOCKER_CERT_PATH of the default client (``out``) or of a named bundle; when its
    files are missing, the message gives the commands that make them."""
    folder = Identity(CLIENT, parse_identity_name(name) if name else None).directory(out)
    if not out.is_dir():  # as every command that needs a set made says it (exit 6)
        raise OutputError(f"{out} is not a directory: make a set there with "
                          f"{client_commands(out, name, host)}")
    missing = [file for file in CLIENT.bundle_files if not (folder / file).is_file()]
    if missing:
        from .revocations import verdict

        revoked = verdict(out, name)
        if revoked is not None:
            raise CAProblem(revoked)
        manager = Identity(SERVER, folder.name).directory(out) if name else None
        if manager is not None and not os.path.lexists(folder) and manager.is_dir():
            # `env --name m1` for a manager: not a client bundle to create under its name.
            present = listed(bundle.directory(out).relative_to(out)
                             for bundle in bundles(out, CLIENT))
            raise CAProblem(f"{manager} is a manager's bundle; a client connects with a "
                            f"client bundle: name one (present: {present}), or make one with "
                            f"{client_commands(out, name, host)}")
        lead = ("create them with" if os.path.lexists(out / CA_KEY) else
                "create them where the CA key is, with" if os.path.lexists(out / CA_CERT)
                else f"{out} holds no CA: create the set with")
        raise CAProblem(f"{folder} lacks {', '.join(missing)}: {lead} "
                        f"{client_commands(out, name, host)}")
    resolved = folder.resolve()
    if not str(resolved).isprintable():
        raise InvalidInput(f"{printable(str(resolved))} holds control characters: "
                           "DOCKER_CERT_PATH could not be printed as it is; use a plainer "
                           "--out path")
    return resolved


def env_lines(host: DockerHost, cert_path: Path) -> list[str]:
    """``export`` lines for ``eval "$(minipaas certs env ...)"``."""
    return [f"export DOCKER_HOST={quote(host.url)}",
            "export DOCKER_TLS_VERIFY=1",
            f"export DOCKER_CERT_PATH={quote(str(cert_path))}"]


def parse_listen(value: str) -> str:
    """A daemon ``hosts`` entry: ``tcp://ADDRESS:PORT`` or ``unix:///absolute/path``."""
    if value.startswith("unix://"):
        path = value[len("unix://"):]
        if not path.startswith("/") or _CSV_SPECIAL.search(path) or " " in path:
            raise InvalidInput(f"invalid --listen {value!r}: use unix:///absolute/path")
        return value
    if not value.startswith("tcp://"):
        raise InvalidInput(f"invalid --listen {value!r}: use tcp://ADDRESS:PORT or unix:///PATH")
    return parse_host(value, listening=True).url


def daemon_hosts(listen: Sequence[str], local_socket: bool = True) -> tuple[list[str], bool]:
    """daemon.json's ``hosts`` for the --listen values, and whether the local socket was
    added to them.

    Without --listen: ``DEFAULT_LISTEN``.  With it, the local socket comes first unless
    ``local_socket`` is False or a unix:// value is given (it takes the socket's place):
    ``--listen tcp://0.0.0.0:2376`` alone would leave `docker` on the daemon's host with
    nothing to connect to.
    """
    if not listen:
        return [host for host in DEFAULT_LISTEN if local_socket or host != LOCAL_SOCKET], False
    if local_socket and not any(host.startswith("unix://") for host in listen):
        return [LOCAL_SOCKET, *listen], True
    return list(listen), False


def daemon_json(cert_dir: str, listen: Sequence[str]) -> str:
    """The daemon.json fragment that turns on TLS verification with the server files."""
    if not cert_dir.startswith("/"):
        raise InvalidInput(f"--cert-dir {cert_dir!r} must be an absolute path on the daemon's host")
    if _CSV_SPECIAL.search(cert_dir):
        raise InvalidInput(f"--cert-dir {cert_dir!r} contains a control character or quote")
    folder = cert_dir.rstrip("/") or "/"
    settings = {
        "tlsverify": True,
        "tlscacert": f"{folder}/{CA_CERT}",
        "tlscert": f"{folder}/{SERVER_CERT}",
        "tlskey": f"{folder}/{SERVER_KEY}",
        # One entry per address: dockerd would bind a repeated one twice and fail.
        "hosts": list(dict.fromkeys(parse_listen(entry) for entry in listen)),
    }
    return json.dumps(settings, indent=2)


LOCAL_SOCKET_NOTE = (f"Note: \"hosts\" keeps {LOCAL_SOCKET}, so docker on the daemon's host "
                     "still works (a \"hosts\" list replaces dockerd's default socket); "
                     "--no-local-socket leaves it out.")

SYSTEMD_ADVICE = f"""\
Install it as /etc/docker/daemon.json, with {CA_CERT}, {SERVER_CERT} and {SERVER_KEY}
in the --cert-dir folder. The stock docker.service starts dockerd with -H fd://, which
conflicts with "hosts" ("specified both as a flag and in the configuration file"):
clear it with a drop-in, /etc/systemd/system/docker.service.d/minipaas-tls.conf, that
starts dockerd as the package does but without -H fd://; for Debian's and Ubuntu's
docker.io (the checkout's contrib/docker.service.d/minipaas-tls.conf):

  [Service]
  ExecStart=
  ExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS

(`systemctl cat docker` shows the package's line);
then: systemctl daemon-reload && systemctl restart docker
dockerd reads TLS files only at start: after rotating them, restart it."""


def default_context_name(bundle: str | None) -> str:
    """``minipaas`` for the default client pair, ``minipaas-NAME`` for a bundle."""
    return f"minipaas-{bundle}" if bundle else "minipaas"


def context_create_argv(context: str, host: DockerHost, cert_path: Path) -> list[str]:
    """The ``docker context create`` command line for a client bundle."""
    if not _CONTEXT_NAME.match(context):
        raise InvalidInput(f"invalid context name {context!r}: letters, digits, '_', '.', '+', '-'")
    for file in CLIENT.bundle_files:
        if _CSV_SPECIAL.search(str(cert_path / file)):
            raise InvalidInput(
                f"{cert_path} contains a comma, quote or control character, which "
                "`docker context create --docker` cannot take; use a simpler --out path"
            )
    endpoint = ",".join([f"host={host.url}", f"ca={cert_path / CA_CERT}",
                         f"cert={cert_path / CLI_CERT}", f"key={cert_path / CLI_KEY}"])
    return ["docker", "context", "create", context, "--docker", endpoint]


def context_line(context: str, host: DockerHost, cert_path: Path) -> str:
    """A shell line that creates the context, or updates it if it exists.

    A context keeps its own copies of the TLS files, so after a renewal it still
    holds the old ones: running the same line again copies the current files in.
    """
    create = context_create_argv(context, host, cert_path)
    update = ["docker", "context", "update", *create[3:]]
    quoted = [" ".join(quote(arg) for arg in argv) for argv in (update, create)]
    return (f"if docker context inspect {quote(context)} >/dev/null 2>&1; "
            f"then {quoted[0]}; else {quoted[1]}; fi")
