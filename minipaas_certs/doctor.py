"""``certs doctor``: a real mutual-TLS handshake with a daemon, and the cause when it fails.

The handshake and the request for ``/version`` use Python's ssl module with the
bundle's files, as the docker CLI would (strict X.509 checks, the host name
checked against the SANs).  When something fails, the server's certificate is
fetched once more without verification and compared with what the bundle holds,
so the message can say which of the usual causes it is, and what fixes it.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from .certinfo import (
    OID_CLIENT_AUTH,
    OID_SERVER_AUTH,
    Certificate,
    DERError,
    parse_certificate,
    read_certificate,
    read_certificates,
)
from .docker_config import DockerHost, name_matches
from .errors import OutputError, quote
from .files import read_limited
from .issue import is_encrypted
from .layout import CA_CERT, CLI_CERT, CLI_KEY, bundles
from .revocations import read as read_revocations

TIMEOUT = 10.0  # seconds for the whole exchange, not per read: a slow trickle cannot stall it
MAX_REPLY = 256 * 1024  # a /version answer is under 2 KiB


@dataclass(frozen=True)
class Diagnosis:
    """The outcome: whether mutual TLS works, and what to tell the operator."""

    ok: bool
    message: str


# OpenSSL's X509_V_FLAG_PARTIAL_CHAIN (ssl.VERIFY_X509_PARTIAL_CHAIN from Python 3.10).
_PARTIAL_CHAIN = getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0x80000)


def _daemon_context(cas: list[Certificate]) -> ssl.SSLContext:
    """Verify the daemon as Go's client does: every certificate of ca.pem is a trust
    anchor (an intermediate too), the daemon's own chain supplies the links between.
    It presents no client certificate: this handshake judges the daemon only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata="".join(ca.pem.decode("ascii") for ca in cas))
    # Not X509_STRICT: Go accepts what it rejects (a leaf without authorityKeyIdentifier).
    context.verify_flags |= _PARTIAL_CHAIN
    return context


def _client_context(cert_path: Path) -> ssl.SSLContext:
    """Present exactly what cert.pem holds, as Go's client does.  The trust store stays
    empty: OpenSSL would otherwise complete the client's chain from it, and a daemon
    would accept here what it refuses from the docker CLI.  The daemon was verified
    by the handshake before (see ``diagnose``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # A password callback, so that an encrypted key fails instead of prompting.
    context.load_cert_chain(cert_path / CLI_CERT, cert_path / CLI_KEY, password=lambda: b"")
    return context


class ReplyTooLarge(OSError):
    """The peer sent more than any Docker daemon answers to GET /version."""


def _version_request(host: DockerHost, context: ssl.SSLContext) -> dict[str, object]:
    """Handshake, then GET /version; the daemon's refusal of a client shows up here.

    The whole exchange has one deadline and the reply one size cap, so a peer that
    trickles or floods data ends the diagnosis instead of holding it.
    """
    deadline = time.monotonic() + TIMEOUT
    with socket.create_connection((host.name, host.port), timeout=TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname=host.name) as tls:
        tls.sendall(b"GET /version HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        chunks, size = [], 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out")
            tls.settimeout(remaining)
            chunk = tls.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_REPLY:
                raise ReplyTooLarge(f"the answer to GET /version passed {MAX_REPLY // 1024} KiB: "
                                    "this is not a Docker daemon")
    response = b"".join(chunks)
    head, _, body = response.partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise OSError(f"unexpected answer: {head.splitlines()[0]!r}" if head else "no answer")
    if b"chunked" in head.lower():  # one chunk: size line, data, then the last chunk
        body = body.partition(b"\r\n")[2].rsplit(b"\r\n0\r\n", 1)[0]
    try:
        version = json.loads(body)
    except ValueError:
        return {}  # the handshake worked; the version is only a courtesy
    return version if isinstance(version, dict) else {}


def _server_certificate(host: DockerHost, cert_path: Path) -> Certificate | None:
    """The daemon's certificate, read without verifying it (None if it cannot be had)."""
    try:
        with socket.create_connection((host.name, host.port), timeout=TIMEOUT) as raw, \
                _client_context(cert_path).wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None
    try:
        return parse_certificate(der) if der else None
    except DERError:
        return None


def diagnose(host: DockerHost, cert_path: Path, out: Path) -> Diagnosis:
    """Try mutual TLS with ``host`` using the bundle in ``cert_path``; explain a failure."""
    address = f"{host.url} using {cert_path}"
    try:
        cas = read_certificates(cert_path / CA_CERT)
        client, *chain = read_certificates(cert_path / CLI_CERT)
        key_pem = read_limited(cert_path / CLI_KEY)  # a regular file: ssl would block on a FIFO
    except OutputError as error:
        return Diagnosis(False, f"{error}: re-create the bundle with `minipaas certs client`")
    if is_encrypted(key_pem):
        return Diagnosis(False, f"{cert_path / CLI_KEY} is encrypted: the docker CLI refuses "
                                "encrypted keys; re-create the bundle with `minipaas certs "
                                "client`")
    local = _client_problem(client, chain, cas, out)
    try:
        context = _client_context(cert_path)
    except ssl.SSLError as error:
        return Diagnosis(False, f"{CLI_CERT} and {CLI_KEY} in {cert_path} do not go together "
                                f"({error.reason}): re-issue them with `minipaas certs client`")
    # Two handshakes, as Go's client judges two things apart: the daemon's chain
    # against ca.pem, then the daemon's verdict on exactly the chain cert.pem holds.
    try:
        _judge_daemon(host, cas)
        version = _version_request(host, context)
    except ssl.SSLCertVerificationError as error:
        return Diagnosis(False, _server_problem(host, cert_path, cas, out, error))
    except ssl.SSLError as error:
        if "WRONG_VERSION_NUMBER" in str(error) or "record layer failure" in str(error):
            return Diagnosis(False, f"{host.name}:{host.port} does not speak TLS: dockerd "
                                    "listens there without --tlsverify (plain HTTP)")
        return Diagnosis(False, local or _missing_link(client, chain, cas)
                         or _refused(cert_path, error))
    except ConnectionResetError as error:
        return Diagnosis(False, local or _missing_link(client, chain, cas)
                         or _refused(cert_path, error))
    except ConnectionRefusedError:
        return Diagnosis(False, f"nothing listens on {host.name}:{host.port}: is dockerd "
                                f"running with -H tcp://0.0.0.0:{host.port} (or hosts in "
                                "daemon.json)? Is it the right address?")
    except socket.gaierror:
        return Diagnosis(False, f"cannot resolve {host.name}: use its IP address or fix DNS")
    except ReplyTooLarge as error:
        return Diagnosis(False, f"{host.name}:{host.port}: {error}")
    except (socket.timeout, TimeoutError):
        return Diagnosis(False, f"no answer from {host.name}:{host.port} within "
                                f"{TIMEOUT:g} s: a firewall, or the wrong address")
    except OSError as error:
        return Diagnosis(False, f"{address}: {error}")
    engine = f"Docker Engine {version.get('Version', '?')}, API {version.get('ApiVersion', '?')}"
    return Diagnosis(True, f"OK: mutual TLS works with {address} ({engine})")


def _judge_daemon(host: DockerHost, cas: list[Certificate]) -> None:
    """Handshake without a client certificate: raises SSLCertVerificationError if Go
    would refuse the daemon's chain; the daemon's own refusal of a client that
    presents nothing is expected here, and ignored."""
    with socket.create_connection((host.name, host.port), timeout=TIMEOUT) as raw:
        try:
            with _daemon_context(cas).wrap_socket(raw, server_hostname=host.name):
                pass
        except ssl.SSLCertVerificationError:
            raise
        except ssl.SSLError as error:
            if "WRONG_VERSION_NUMBER" in str(error) or "record layer failure" in str(error):
                raise
        except ConnectionResetError:
            pass


def _missing_link(client: Certificate, chain: list[Certificate],
                  cas: list[Certificate]) -> str | None:
    """When the daemon refused cert.pem: the intermediate it lacks, if ca.pem shows one."""
    top = chain[-1] if chain else client
    if top.self_issued or any(top.issued_by(ca) and ca.self_issued for ca in cas):
        return None
    issuer = next((ca for ca in cas if top.issued_by(ca)), None)
    if issuer is None:
        return None
    roots = ", ".join(f"CN={ca.subject_cn}" for ca in cas if ca.self_issued) or "its root"
    return (f"{CLI_CERT} lacks the intermediate that issued it (CN={issuer.subject_cn}): the "
            f"docker CLI sends exactly what {CLI_CERT} holds, and a daemon that trusts only "
            f"{roots} cannot build the chain; put the intermediate after the leaf in "
            f"{CLI_CERT} (`minipaas certs client --ca-dir` writes it so)")


def _client_problem(client: Certificate, chain: list[Certificate], cas: list[Certificate],
                    out: Path) -> str | None:
    """What is wrong with the client certificate itself, seen without the daemon."""
    revoked = _revoked(client, out)
    if revoked:
        return revoked
    now = datetime.datetime.now(datetime.timezone.utc)
    if client.not_after <= now:
        return (f"the client certificate expired on {client.not_after:%Y-%m-%d}: renew it "
                f"with `minipaas certs renew client --out {quote(out)}`")
    if OID_CLIENT_AUTH not in client.extended_key_usage:
        return (f"{CLI_CERT} is not a client certificate (its extendedKeyUsage lacks "
                f"clientAuth): issue one with `minipaas certs client --out {quote(out)}`")
    top = chain[-1] if chain else client
    if not any(top.issued_by(ca) or top.der == ca.der for ca in cas):
        roots = ", ".join(f"CN={ca.subject_cn}" for ca in cas)
        return (f"{CLI_CERT} ends with CN={top.subject_cn}, issued by CN={top.issuer_cn}, which "
                f"{CA_CERT} ({roots}) does not hold: if CN={top.issuer_cn} is an intermediate "
                f"under it, put it after the leaf in {CLI_CERT} (the docker CLI sends exactly "
                f"what {CLI_CERT} holds; `minipaas certs client --ca-dir` writes it so); "
                "otherwise the bundle mixes two CAs")
    return None


def _revoked(client: Certificate, out: Path) -> str | None:
    """Whether revoked.json in ``out`` lists the client certificate (an auditor's question
    as much as a cause: a revoked identity is refused once the daemons restart)."""
    try:
        entries = [e for e in read_revocations(out) if e.sha256 == client.fingerprint]
    except OutputError:
        return None
    if not entries:
        return None
    return (f"{CLI_CERT} was revoked ({entries[0].line()}): daemons running with the new CA "
            "refuse it; this identity needs no bundle any more")


def _refused(cert_path: Path, error: Exception) -> str:
    return (f"the daemon refused the client certificate {cert_path / CLI_CERT} ({error}): "
            "dockerd's tlscacert is not the CA that issued it; give the daemon this ca.pem "
            "(and restart it), or use a client bundle from the daemon's CA")


def _manager_option(out: Path, server: Certificate) -> str:
    """`` --name NAME`` when the daemon presents the certificate of a manager's bundle."""
    for bundle in bundles(out, "server"):
        try:
            if read_certificate(out / bundle.cert).der == server.der:
                return f" --name {bundle.name}"
        except OutputError:
            continue
    return ""


def _server_problem(host: DockerHost, cert_path: Path, cas: list[Certificate], out: Path,
                    error: ssl.SSLCertVerificationError) -> str:
    """Why the daemon's certificate was not accepted, in plain words, with the fix."""
    server = _server_certificate(host, cert_path)
    restart = "and restart dockerd (it reads TLS files only at start)"
    if server is None:
        return f"the daemon's certificate was not accepted: {error.verify_message}"
    now = datetime.datetime.now(datetime.timezone.utc)
    manager = _manager_option(out, server)
    if server.not_after <= now:
        return (f"the daemon's certificate expired on {server.not_after:%Y-%m-%d}: renew it "
                f"with `minipaas certs renew server --out {quote(out)}{manager}` {restart}")
    if server.not_before > now:
        start = f"{server.not_before:%Y-%m-%d %H:%M} UTC"
        return (f"the daemon's certificate is valid only from {start}: a clock is wrong, "
                "on this machine or where the certificate was issued")
    if not any(server.issued_by(ca) for ca in cas):
        ours = ", ".join(f"CN={ca.subject_cn}" for ca in cas)
        return (f"the daemon's certificate comes from another CA (issuer CN={server.issuer_cn};"
                f" ca.pem holds {ours}): dockerd uses other files, or this bundle belongs to "
                f"another cluster; or CN={server.issuer_cn} is an intermediate under it, and "
                "the daemon's server-cert.pem lacks it after the leaf (dockerd sends exactly "
                "that file; `minipaas certs server --ca-dir` writes it so)")
    if OID_SERVER_AUTH not in server.extended_key_usage:
        return ("the daemon's certificate is not a server certificate (its extendedKeyUsage "
                f"lacks serverAuth): issue one with `minipaas certs server --out {quote(out)}"
                f"{manager}` {restart}")
    if not name_matches(server, host):
        names = ", ".join(server.names) or "none"
        return (f"{host.name} is not among the daemon certificate's names ({names}): connect "
                f"by one of them, or re-issue it with `minipaas certs renew server --out "
                f"{quote(out)}{manager} --san {host.name}` {restart}")
    return f"the daemon's certificate was not accepted: {error.verify_message}"
