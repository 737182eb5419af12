"""``certs doctor``: a real mutual-TLS handshake with a daemon, and the cause when it fails.

The handshake and the request for ``/version`` use Python's ssl module with the
bundle's files, as the docker CLI would (strict X.509 checks, the host name
checked against the SANs).  When something fails, the chain the daemon sends is
read once more without verification, and judged as Go judges it (the leaf's
dates, its names, the chain up to ca.pem, the purposes, in that order) against
the bundle and what the folder kept of its previous CAs, so the message names
the first thing the docker CLI fails on, and what fixes it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from . import clock
from .certinfo import (
    Certificate,
    DERError,
    parse_certificate,
    public_key_of_private,
    read_certificate,
    read_certificates,
    starts_later,
)
from .docker_config import (
    RESTART,
    DockerHost,
    bundle_dir,
    legacy_ipv4,
    name_matches,
    san_fix,
)
from .errors import (
    CAProblem,
    CertsError,
    InvalidInput,
    OpenSSLFailed,
    OutputError,
    listed,
    quote,
)
from .files import read_limited
from .identity import CLIENT, SERVER, Identity, bundles, certs_command
from .keys import is_encrypted
from .layout import (
    BACKUP_NAME,
    CA_CERT,
    CA_KEY,
    CLI_CERT,
    CLI_KEY,
    OLD_CA_CERT,
    OLD_CA_KEY,
    REVOKED_FILE,
    SERVER_CERT,
    SERVER_KEY,
)
from .openssl import OpenSSL, input_pipe
from .revocations import read as read_revocations
from .revocations import verdict as revoked_verdict

TIMEOUT = 10.0  # seconds for the whole exchange, not per read: a slow trickle cannot stall it
MAX_REPLY = 256 * 1024  # a /version answer is under 2 KiB
_CLIENT = certs_command("client")  # the bundle made again


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
    # Go ignores the CN (since 1.15); OpenSSL reads it when the SANs hold no DNS name.
    context.hostname_checks_common_name = False
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


def _connect(host: DockerHost) -> socket.socket:
    """A connection to ``host`` resolved as the docker CLI resolves it: Go takes an
    old numeric form (0x7f000001, 127.1) for a host name, where C's resolver reads an
    address; so no lookup succeeds for it (such a name is in no DNS)."""
    if host.kind == "DNS" and legacy_ipv4(host.name):
        raise socket.gaierror(socket.EAI_NONAME, "no such host")
    return socket.create_connection((host.name, host.port), timeout=TIMEOUT)


class ReplyTooLarge(OSError):
    """The peer sent more than any Docker daemon answers to GET /version."""


def _version_request(host: DockerHost, context: ssl.SSLContext) -> dict[str, object]:
    """Handshake, then GET /version; the daemon's refusal of a client shows up here.

    The whole exchange has one deadline and the reply one size cap, so a peer that
    trickles or floods data ends the diagnosis instead of holding it.
    """
    deadline = time.monotonic() + TIMEOUT
    with _connect(host) as raw, \
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


def _certificate_message(records: bytes) -> list[bytes] | None:
    """The certificates of a TLS 1.2 Certificate handshake message, from the bytes a
    server sent in clear (records of type 22 up to its ChangeCipherSpec), or None until
    the whole message has arrived."""
    handshake, pos = bytearray(), 0
    while pos + 5 <= len(records) and records[pos] == 22:
        length = int.from_bytes(records[pos + 3:pos + 5], "big")
        handshake += records[pos + 5:pos + 5 + length]
        pos += 5 + length
    pos = 0
    while pos + 4 <= len(handshake):
        kind, length = handshake[pos], int.from_bytes(handshake[pos + 1:pos + 4], "big")
        body = bytes(handshake[pos + 4:pos + 4 + length])
        if len(body) < length:
            return None
        if kind == 11:  # Certificate: a 3-byte list length, then 3-byte length + DER each
            items, at = [], 3
            while at + 3 <= len(body):
                size = int.from_bytes(body[at:at + 3], "big")
                items.append(body[at + 3:at + 3 + size])
                at += 3 + size
            return items
        pos += 4 + length
    return None


def _served_chain(host: DockerHost, cert_path: Path) -> list[Certificate]:
    """The chain the daemon sends, leaf first, read without verifying it ([] if it cannot
    be had).  Python's ssl shows only the leaf (before 3.13), so this handshake is held
    to TLS 1.2, whose Certificate message travels in clear, and read off the wire."""
    context = _client_context(cert_path)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=host.name)
    received, found = bytearray(), None
    deadline = time.monotonic() + TIMEOUT
    try:
        with _connect(host) as raw:
            while found is None and len(received) <= MAX_REPLY:
                with contextlib.suppress(ssl.SSLWantReadError):  # wants the server's flight
                    tls.do_handshake()
                raw.sendall(outgoing.read())
                raw.settimeout(max(deadline - time.monotonic(), 0.001))
                data = raw.recv(65536)
                if not data:
                    break
                received += data
                incoming.write(data)
                found = _certificate_message(bytes(received))
    except (OSError, ssl.SSLError):
        pass  # the daemon's refusal may come after its certificate: judge what arrived
    found = found or _certificate_message(bytes(received)) or []
    try:
        return [parse_certificate(der) for der in found]
    except DERError:
        return []


def diagnose(host: DockerHost, cert_path: Path, out: Path,
             openssl: str | None = None) -> Diagnosis:
    """Try mutual TLS with ``host`` using the bundle in ``cert_path``; explain a failure
    (``openssl``: the binary that re-checks a chain OpenSSL's purposes refused)."""
    address = f"{host.url} using {cert_path}"
    try:
        cas = read_certificates(cert_path / CA_CERT)
        client, *chain = read_certificates(cert_path / CLI_CERT)
        key_pem = read_limited(cert_path / CLI_KEY)  # a regular file: ssl would block on a FIFO
    except OutputError as error:
        return Diagnosis(False, f"{error}: re-create the bundle with `{_CLIENT}`")
    if is_encrypted(key_pem):
        return Diagnosis(False, f"{cert_path / CLI_KEY} is encrypted: the docker CLI refuses "
                                f"encrypted keys; re-create the bundle with `{_CLIENT}`")
    local = _client_problem(client, chain, cas, out)
    try:
        context = _client_context(cert_path)
    except ssl.SSLError as error:
        return Diagnosis(False, f"{CLI_CERT} and {CLI_KEY} in {cert_path} do not go together "
                                f"({error.reason}): re-issue them with `{_CLIENT}`")
    # Two handshakes, as Go's client judges two things apart: the daemon's chain
    # against ca.pem, then the daemon's verdict on exactly the chain cert.pem holds.
    try:
        try:
            _judge_daemon(host, cas)
            # OpenSSL takes Server Gated Crypto for serverAuth; Go does not.
            problem = _purpose_problem(host, cert_path, cas, out)
        except ssl.SSLCertVerificationError as error:
            # OpenSSL's verdict, not Go's: the chain is judged again by Go's rules.
            problem = _server_problem(host, cert_path, cas, out, error, openssl)
        if problem:
            return Diagnosis(False, problem)
        version = _version_request(host, context)
    except ssl.SSLError as error:
        if "WRONG_VERSION_NUMBER" in str(error) or "record layer failure" in str(error):
            return Diagnosis(False, f"{host.name}:{host.port} does not speak TLS: dockerd "
                                    "listens there without --tlsverify (plain HTTP)")
        return Diagnosis(False, local or _missing_link(client, chain, cas)
                         or _previous_daemon(host, cert_path, client, cas, out)
                         or _refused(cert_path, error))
    except ConnectionResetError as error:
        return Diagnosis(False, local or _missing_link(client, chain, cas)
                         or _previous_daemon(host, cert_path, client, cas, out)
                         or _refused(cert_path, error))
    except ConnectionRefusedError:
        return Diagnosis(False, f"nothing listens on {host.name}:{host.port}: is dockerd "
                                f"running with -H tcp://0.0.0.0:{host.port} (or hosts in "
                                "daemon.json)? Is it the right address?")
    except socket.gaierror:
        numeric = legacy_ipv4(host.name) if host.kind == "DNS" else None
        if numeric:
            return Diagnosis(False, f"cannot resolve {host.name} (\"lookup {host.name}: no "
                                    "such host\"): the docker CLI, in Go, reads it as a host "
                                    f"name, not as the address {numeric}; connect by "
                                    f"{numeric}")
        return Diagnosis(False, f"cannot resolve {host.name}: use its IP address or fix DNS")
    except ReplyTooLarge as error:
        return Diagnosis(False, f"{host.name}:{host.port}: {error}")
    except (socket.timeout, TimeoutError):
        return Diagnosis(False, f"no answer from {host.name}:{host.port} within "
                                f"{TIMEOUT:g} s: a firewall, or the wrong address")
    except OSError as error:
        return Diagnosis(False, f"{address}: {error}")
    if not version.get("ApiVersion"):  # TLS and the files work, but not with a dockerd
        return Diagnosis(False, f"{host.name}:{host.port} answers over mutual TLS, but not "
                                "as a Docker daemon (GET /version names no API version): "
                                "is it the port dockerd listens on?")
    engine = f"Docker Engine {version.get('Version', '?')}, API {version['ApiVersion']}"
    return Diagnosis(True, f"OK: mutual TLS works with {address} ({engine})")


def _judge_daemon(host: DockerHost, cas: list[Certificate]) -> None:
    """Handshake without a client certificate: raises SSLCertVerificationError if Go
    would refuse the daemon's chain; the daemon's own refusal of a client that
    presents nothing is expected here, and ignored."""
    with _connect(host) as raw:
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
            f"{CLI_CERT} (`{certs_command('client', '--ca-dir')}` writes it so)")


# extendedKeyUsage anyExtendedKeyUsage: Go lets it stand for every purpose.
_ANY_USAGE = "2.5.29.37.0"
_RESTART = RESTART  # the words of the SAN fix too


def _allows(certificate: Certificate, usage: str) -> bool:
    """Go's reading of one certificate's extendedKeyUsage: none means any purpose."""
    usages = certificate.extended_key_usage
    return not usages or usage in usages or _ANY_USAGE in usages


def _ca_fault(ca: Certificate, now: datetime.datetime, root: bool) -> str | None:
    """Why Go would not take ``ca`` as a link of a chain now: its dates, a keyUsage
    without keyCertSign, or, for an intermediate, no CA:TRUE (a root of ca.pem is
    trusted as it is)."""
    if ca.not_after <= now:
        return f"CN={ca.subject_cn} expired on {ca.not_after:%Y-%m-%d %H:%M} UTC"
    later = starts_later(ca, now)
    if later:
        return f"CN={ca.subject_cn} is {later}"
    if ca.key_usage and "keyCertSign" not in ca.key_usage:  # Go's CheckSignatureFrom, roots too
        return f"CN={ca.subject_cn} may not sign certificates (its keyUsage lacks keyCertSign)"
    return None if ca.is_ca or root else f"CN={ca.subject_cn} is not a CA (no CA:TRUE)"


@dataclass(frozen=True)
class _Path:
    """Go's chain building, by names and key ids: the chain found, or where it stopped
    (the highest certificate reached) and the first CA it had to pass over."""

    chain: list[Certificate] | None
    top: Certificate
    fault: str | None = None


def _build(certificate: Certificate, intermediates: list[Certificate],
           roots: list[Certificate], now: datetime.datetime,
           seen: frozenset[bytes] = frozenset()) -> _Path:
    """Up from ``certificate`` to one of ``roots`` (ca.pem: every certificate in it an
    anchor) through ``intermediates`` (what the peer sent after its leaf), roots tried
    first, as Go's x509 does; names and key ids stand in for signatures (the handshake
    that failed already checked those)."""
    if not seen and any(certificate.der == root.der for root in roots):
        return _Path([certificate], certificate)
    top, fault = certificate, None
    parents = [*((ca, True) for ca in roots if certificate.issued_by(ca)),
               *((ca, False) for ca in intermediates
                 if certificate.issued_by(ca) and ca.der not in seen)]
    for parent, is_root in parents:
        problem = _ca_fault(parent, now, is_root)
        if problem:
            fault = fault or problem
            continue
        if is_root:
            return _Path([certificate, parent], parent)
        if len(seen) < 8:
            above = _build(parent, intermediates, roots, now, seen | {parent.der})
            if above.chain:
                return _Path([certificate, *above.chain], above.top)
            top, fault = above.top, fault or above.fault
    return _Path(None, top, fault)


def _client_problem(client: Certificate, chain: list[Certificate], cas: list[Certificate],
                    out: Path) -> str | None:
    """What is wrong with the client certificate itself, seen without the daemon, in the
    order dockerd's Go checks it: dates, then the chain to ca.pem, then the purpose."""
    revoked = _revoked(client, out)
    if revoked:
        return revoked
    now = clock.now()
    if client.not_after <= now:
        return (f"the client certificate expired on {client.not_after:%Y-%m-%d}: renew it "
                f"with `{Identity(CLIENT).command(out, verb='renew')}`")
    later = starts_later(client, now)
    if later:
        return (f"the client certificate in {CLI_CERT} is {later} Until then the daemon "
                "refuses it; set the clock right (NTP), or wait")
    path = _build(client, chain, cas, now)
    if path.chain is None and path.fault:
        return (f"the chain of {CLI_CERT} passes through a CA Go refuses ({path.fault}): "
                f"issue the client again from a valid CA with `{Identity(CLIENT).command(out)}`")
    if path.chain is None:
        top = path.top
        roots = ", ".join(f"CN={ca.subject_cn}" for ca in cas)
        return (f"{CLI_CERT} ends with CN={top.subject_cn}, issued by CN={top.issuer_cn}, which "
                f"{CA_CERT} ({roots}) does not hold: if CN={top.issuer_cn} is an intermediate "
                f"under it, put it after the leaf in {CLI_CERT} (the docker CLI sends exactly "
                f"what {CLI_CERT} holds; `{certs_command('client', '--ca-dir')}` writes it so); "
                "otherwise the bundle mixes two CAs")
    if not all(_allows(link, CLIENT.eku_oid) for link in path.chain):
        return (f"{CLI_CERT} is not a client certificate (its extendedKeyUsage, or a CA's "
                f"above it, lacks clientAuth): issue one with `{Identity(CLIENT).command(out)}`")
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


def doctor(host: DockerHost, out: Path, name: str | None,
           openssl: str | None = None) -> Diagnosis:
    """``certs doctor``: ``diagnose`` with the default client or the bundle ``name``; a
    bundle revoked.json says was revoked is that verdict, not a bundle to create."""
    try:
        cert_path = bundle_dir(out, name, host)
    except CAProblem:
        revoked = revoked_verdict(out, name)
        if revoked is None:
            raise
        return Diagnosis(False, revoked)
    return diagnose(host, cert_path, out, openssl)


def _refused(cert_path: Path, error: Exception) -> str:
    return (f"the daemon refused the client certificate {cert_path / CLI_CERT} ({error}): "
            "dockerd's tlscacert is not the CA that issued it; give the daemon this ca.pem "
            "(and restart it), or use a client bundle from the daemon's CA")


def _manager(out: Path, server: Certificate) -> Identity:
    """The manager's bundle whose certificate the daemon presents, else the top-level
    server pair."""
    for bundle in bundles(out, SERVER):
        try:
            if read_certificate(out / bundle.cert).der == server.der:
                return bundle
        except OutputError:
            continue
    return Identity(SERVER)


def _previous_cas(out: Path) -> list[tuple[Certificate, str]]:
    """The CAs ``out`` held before, each with the file that keeps it: ca-old.pem during a
    rollover, and the CA files of the backup folders (``revoke`` and ``rotate-ca`` put
    the old CA there), newest first.  A file counts beside the key that is its CA's: a
    ca.pem copy that another CA's replaced (``--force``) was never this folder's CA."""
    places = [(OLD_CA_CERT, OLD_CA_KEY)]
    try:
        backups = sorted((p.name for p in out.iterdir() if BACKUP_NAME.match(p.name)),
                         reverse=True)
    except OSError:
        backups = []
    for backup in backups:
        places += [(f"{backup}/{CA_CERT}", f"{backup}/{CA_KEY}"),
                   (f"{backup}/{OLD_CA_CERT}", f"{backup}/{OLD_CA_KEY}")]
    found = []
    for cert_name, key_name in places:
        try:
            certificates = read_certificates(out / cert_name)
            key = public_key_of_private(read_limited(out / key_name))
        except OutputError:
            continue
        # An encrypted key cannot show its public half: then every CA of the file counts.
        found += [(ca, cert_name) for ca in certificates
                  if ca.is_ca and (key is None or ca.public_key_der == key)]
    return found


def _previous_ca(out: Path, certificate: Certificate,
                 cas: list[Certificate]) -> tuple[Certificate | None, str] | None:
    """The CA ``out`` held before that issued ``certificate``, and where it is kept (the
    revocation record names the CA of what it cut off, where no backup is left)."""
    for ca, where in _previous_cas(out):
        if certificate.issued_by(ca) and ca.der != cas[0].der:
            return ca, f"CN={ca.subject_cn}, kept in {where}"
    try:
        issuers = {entry.issuer for entry in read_revocations(out)}
    except OutputError:
        return None
    if certificate.issuer_cn in issuers and all(certificate.issuer_cn != ca.subject_cn
                                                for ca in cas):
        return None, f"CN={certificate.issuer_cn}, named in {REVOKED_FILE}"
    return None


def _still_previous(which: str) -> str:
    return (f"the daemon still runs the previous CA ({which}): deploy the new {CA_CERT}, "
            f"{SERVER_CERT} and {SERVER_KEY} to it (a manager's from servers/NAME/) "
            f"{_RESTART}")


def _previous_daemon(host: DockerHost, cert_path: Path, client: Certificate,
                     cas: list[Certificate], out: Path) -> str | None:
    """When the daemon refused cert.pem: whether it still runs the previous CA (during a
    rollover its certificate, from the old CA, is accepted while the new client is not)."""
    served = _served_chain(host, cert_path)
    previous = _previous_ca(out, served[-1], cas) if served else None
    if previous is None or (previous[0] is not None and client.issued_by(previous[0])):
        return None
    return (f"{_still_previous(previous[1])}: it presents a certificate of that CA and "
            f"refused {CLI_CERT}, which the new CA issued")


def _server_problem(host: DockerHost, cert_path: Path, cas: list[Certificate], out: Path,
                    error: ssl.SSLCertVerificationError,
                    openssl: str | None = None) -> str | None:
    """Why the daemon's certificate was not accepted, in plain words, with the fix: the
    first thing Go's client fails on, in its order (the leaf's dates, its names, the
    chain from the leaf and what the daemon sends after it to ca.pem, the purposes);
    None when Go accepts what OpenSSL refused (its purpose rules are not Go's)."""
    served = _served_chain(host, cert_path)
    if not served:
        return f"the daemon's certificate was not accepted: {error.verify_message}"
    server, intermediates = served[0], served[1:]
    now = clock.now()
    manager = _manager(out, server)
    if server.not_after <= now:
        return (f"the daemon's certificate expired on {server.not_after:%Y-%m-%d}: renew it "
                f"with `{manager.command(out, verb='renew')}` {_RESTART}")
    later = starts_later(server, now)
    if later:
        return f"the daemon's certificate is {later}"
    if not _allows(server, SERVER.eku_oid):
        # Go fails first on the names (a client certificate has none), but re-issuing
        # them would not help: the cause is the wrong kind of certificate.
        return _not_a_server(server, out, manager)
    if not name_matches(server, host):
        names = ", ".join(server.names) or "none"
        return (f"{host.name} is not among the daemon certificate's names ({names}): "
                f"{san_fix(out, manager, host)}")
    path = _build(server, intermediates, cas, now)
    if path.chain is None:
        return _foreign(path, cas, cert_path, out)
    if not all(_allows(link, SERVER.eku_oid) for link in path.chain):
        return _restricted(path.chain)
    # Go checks each signature but the trust anchor's own, and refuses SHA-1 and MD5.
    weak = next((link for link in path.chain[:-1] if link.weak_signature), None)
    if weak:
        fix = (f"renew it with `{manager.command(out, verb='renew')}` "
               f"{_RESTART}" if weak is server else
               f"its issuer, CN={weak.issuer_cn}, must sign it again with SHA-256")
        return (f"the daemon's chain holds CN={weak.subject_cn}, signed with "
                f"{weak.weak_signature}, which Go refuses: {fix}")
    refused = _openssl_refuses(served, cas, error, openssl)
    return f"the daemon's certificate was not accepted: {refused}" if refused else None


def _not_a_server(server: Certificate, out: Path, manager: Identity) -> str:
    return ("the daemon's certificate is not a server certificate (its extendedKeyUsage "
            f"lacks serverAuth, and it names {', '.join(server.names) or 'no host'}): "
            f"issue one with `{manager.command(out)}` {_RESTART}")


def _restricted(chain: list[Certificate]) -> str:
    return ("a CA above the daemon's certificate restricts its extendedKeyUsage without "
            f"serverAuth ({' <- '.join(f'CN={c.subject_cn}' for c in chain)}): "
            "Go refuses such a chain for a server")


def _purpose_problem(host: DockerHost, cert_path: Path, cas: list[Certificate],
                     out: Path) -> str | None:
    """When OpenSSL accepted the daemon's chain: whether Go's purposes refuse it."""
    served = _served_chain(host, cert_path)
    if not served:
        return None
    if not _allows(served[0], SERVER.eku_oid):
        return _not_a_server(served[0], out, _manager(out, served[0]))
    path = _build(served[0], served[1:], cas, clock.now())
    if path.chain and not all(_allows(link, SERVER.eku_oid) for link in path.chain):
        return _restricted(path.chain)
    return None


def _openssl_refuses(served: list[Certificate], cas: list[Certificate],
                     error: ssl.SSLCertVerificationError, openssl: str | None) -> str | None:
    """What is left of OpenSSL's refusal once the purposes are off (they were judged by
    Go's rules above): the signatures, dates and CA flags of the chain the daemon sent,
    by `openssl verify -purpose any`; None when they hold.  Without a usable openssl
    (or with inputs too large for a pipe), the handshake's own reason."""
    pipes = [input_pipe(b"".join(ca.pem for ca in cas)),
             *([input_pipe(b"".join(c.pem for c in served[1:]))] if served[1:] else [])]
    try:
        if None in pipes:
            return str(error.verify_message)
        ca_pipe, *rest = [fd for fd in pipes if fd is not None]
        untrusted = ["-untrusted", f"/dev/fd/{rest[0]}"] if rest else []
        OpenSSL(openssl).run(["verify", "-partial_chain", "-purpose", "any", "-CAfile",
                       f"/dev/fd/{ca_pipe}", *untrusted], stdin=served[0].pem,
                      inherit=[fd for fd in pipes if fd is not None])
    except OpenSSLFailed as failed:
        reason = next((line.partition(":")[2].strip() for line in failed.stderr.splitlines()
                       if line.startswith("error ") and ":" in line), "")
        return reason or str(error.verify_message)
    except CertsError:
        return str(error.verify_message)
    finally:
        for fd in pipes:
            if fd is not None:
                os.close(fd)
    return None


def _foreign(path: _Path, cas: list[Certificate], cert_path: Path, out: Path) -> str:
    """The daemon's chain does not reach ca.pem: a CA out of its dates, the previous CA
    still running, a missing intermediate, or another CA altogether."""
    if path.fault:
        return (f"the daemon's chain passes through a CA Go refuses ({path.fault}): "
                f"renew the daemon's certificate from a valid CA {_RESTART}")
    top = path.top
    previous = _previous_ca(out, top, cas)
    if previous:
        return (f"{_still_previous(previous[1])}: its certificate comes from that CA, which "
                f"{CA_CERT} no longer trusts")
    ours = ", ".join(f"CN={ca.subject_cn}" for ca in cas)
    if top.self_issued:
        return (f"the daemon's certificate comes from another CA (issuer CN={top.subject_cn};"
                f" {CA_CERT} holds {ours}): dockerd uses other files, or this bundle belongs "
                "to another cluster")
    # An intermediate this folder knows (in cert.pem, or after the server's own leaf)
    # that links the daemon's chain to ca.pem: the daemon's file lacks it.
    known: list[Certificate] = []
    for name in (cert_path / CLI_CERT, out / SERVER_CERT):
        try:
            known += read_certificates(name)[1:]
        except OutputError:
            continue
    if _build(top, known, cas, clock.now()).chain:
        return (f"the daemon's certificate comes from the intermediate CN={top.issuer_cn} "
                f"under {CA_CERT} ({ours}), and the daemon's {SERVER_CERT} lacks it after "
                f"the leaf (dockerd sends exactly that file): {_chain_fix(out, top)}")
    return (f"the daemon's certificate comes from another CA (issuer CN={top.issuer_cn};"
            f" {CA_CERT} holds {ours}): dockerd uses other files, or this bundle belongs to "
            f"another cluster; or CN={top.issuer_cn} is an intermediate under it, and "
            f"the daemon's {SERVER_CERT} lacks it after the leaf (dockerd sends exactly "
            f"that file; `{certs_command('server', '--ca-dir')}` writes it so)")


def _chain_fix(out: Path, server: Certificate) -> str:
    """What puts the intermediate after the daemon's leaf: the folder's file that holds
    this leaf and its chain, deployed as it is, or else a leaf issued anew."""
    for identity in [Identity(SERVER), *bundles(out, SERVER)]:
        path = out / identity.cert
        try:
            held = read_certificates(path)
        except OutputError:
            continue
        if held[0].der == server.der and len(held) > 1:
            return (f"deploy {quote(path)}, which holds the leaf and the intermediate, to the "
                    f"daemon as its {SERVER_CERT} {_RESTART}")
    command = _manager(out, server).command(out, options=["--ca-dir CA_FOLDER"])
    return (f"re-issue it with `{command}` (CA_FOLDER: where the "
            f"intermediate's key is; it writes the intermediate after the leaf), deploy "
            f"{SERVER_CERT} and {SERVER_KEY} to the daemon {_RESTART}")


# --- the fleet: what each daemon serves, against the files it should run ------------------

@dataclass(frozen=True)
class Served:
    """What a daemon presented: its leaf (None if none was had), and the TLS version and
    cipher negotiated with the client files (None when the handshake did not finish)."""

    reached: bool
    leaf: Certificate | None = None
    tls_version: str | None = None
    cipher: str | None = None


@dataclass(frozen=True)
class HostVerdict:
    """One daemon of the fleet: ``name`` the server bundle it should run (``server`` for
    the top-level pair, None when no bundle was named), and what it serves."""

    name: str | None
    address: str
    verdict: str  # ok, stale, previous-ca, broken or unreachable
    message: str
    served: Served

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def _probe(host: DockerHost, cert_path: Path) -> Served:
    """The daemon's certificate and the TLS version and cipher it picks, with the client
    files presented (the daemon then chooses as it does for the docker CLI).  Under TLS
    1.3 the client's side ends before the daemon judges cert.pem, so these are had even
    from a daemon that refuses it; else the certificate is read off a TLS 1.2 exchange."""
    try:
        context = _client_context(cert_path)
    except (OSError, ssl.SSLError):  # diagnose names what is wrong with the files
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with _connect(host) as raw, \
                context.wrap_socket(raw, server_hostname=host.name) as tls:
            der, cipher = tls.getpeercert(binary_form=True), tls.cipher()
            return Served(True, parse_certificate(der) if der else None, tls.version(),
                          cipher[0] if cipher else None)
    except (socket.gaierror, ConnectionRefusedError, socket.timeout, TimeoutError):
        return Served(False)
    except (OSError, ssl.SSLError, DERError):
        chain = _served_chain(host, cert_path)
        return Served(True, chain[0] if chain else None)


def _holds(path: Path, leaf: Certificate) -> bool:
    try:
        return read_certificate(path).der == leaf.der
    except OutputError:
        return False


def _kept_in(out: Path, leaf: Certificate, expected: Identity) -> str | None:
    """The backup file that holds ``leaf`` (the certificate a renewal replaced), newest
    backup first."""
    try:
        backups = sorted((p.name for p in out.iterdir() if BACKUP_NAME.match(p.name)),
                         reverse=True)
    except OSError:
        return None
    for backup in backups:
        for name in dict.fromkeys((expected.cert, SERVER.cert)):
            if _holds(out / backup / name, leaf):
                return f"{backup}/{name}"
    return None


def expected_server(out: Path, name: str) -> Identity:
    """The server bundle NAME of ``--host NAME=HOST:PORT`` (``server`` or empty: the
    top-level pair), checked before any daemon is reached."""
    from .names import parse_identity_name

    identity = (Identity(SERVER) if name in ("", "server")
                else Identity(SERVER, parse_identity_name(name)))
    if not (out / identity.cert).is_file():
        present = listed(["server", *(b.name for b in bundles(out, SERVER))]
                         if (out / SERVER.cert).is_file()
                         else [b.name for b in bundles(out, SERVER)])
        raise InvalidInput(f"--host {name}=...: {out} holds no {identity.cert} (server "
                           f"bundles: {present})")
    return identity


def check_host(host: DockerHost, out: Path, server: Identity | None, name: str | None,
               openssl: str | None = None) -> HostVerdict:
    """``doctor``'s verdict on one daemon with the client files (``name``): the handshake
    as the docker CLI does it, then the certificate served against the server's files
    (``server``; None: only the handshake counts)."""
    label = None if server is None else server.name or "server"
    address = host.url[len("tcp://"):]
    diagnosis = doctor(host, out, name, openssl)
    try:
        cert_path = bundle_dir(out, name, host)
    except CAProblem:  # revoked: the diagnosis says so, and no files are left to present
        return HostVerdict(label, address, "broken", diagnosis.message, Served(True))
    served = _probe(host, cert_path)
    if not served.reached:
        return HostVerdict(label, address, "unreachable", diagnosis.message, served)
    leaf = served.leaf
    if server is None or leaf is None:
        return HostVerdict(label, address, "ok" if diagnosis.ok else "broken",
                           diagnosis.message, served)
    expected = read_certificate(out / server.cert)
    if leaf.der == expected.der:
        return HostVerdict(label, address, "ok" if diagnosis.ok else "broken",
                           diagnosis.message, served)
    other = next((bundle for bundle in [Identity(SERVER), *bundles(out, SERVER)]
                  if bundle != server and _holds(out / bundle.cert, leaf)), None)
    if other is not None:  # another daemon's files, or the wrong address
        return HostVerdict(label, address, "broken", f"serves {other.cert}, not "
                           f"{server.cert}: is {address} {label}'s address?", served)
    restart = f"restart dockerd on {label}"
    if leaf.issuer_der == expected.issuer_der and \
            leaf.authority_key_id == expected.authority_key_id:
        kept = _kept_in(out, leaf, server)
        where = f"the one now in {kept}" if kept else f"not the one in {server.cert}"
        return HostVerdict(label, address, "stale", f"still serves serial {leaf.serial:x} "
                           f"({where}); {restart}", served)
    cas = read_certificates(out / CA_CERT)
    previous = _previous_ca(out, leaf, cas)
    if previous:
        files = ", ".join(server.files if server.name else (CA_CERT, *server.files))
        return HostVerdict(label, address, "previous-ca", f"still runs the previous CA "
                           f"({previous[1]}): deploy {files} and {restart}", served)
    message = diagnosis.message if not diagnosis.ok else (
        f"serves serial {leaf.serial:x} (CN={leaf.subject_cn}), not {server.cert}, from "
        f"another issuer (CN={leaf.issuer_cn}): is {address} {label}'s address?")
    return HostVerdict(label, address, "broken", message, served)


def fleet(values: Sequence[str], hosts_file: Path | None,
          out: Path) -> list[tuple[Identity | None, DockerHost]]:
    """The daemons ``--host`` (repeatable) and ``--hosts-file`` name, each with the server
    bundle it should run: NAME=HOST:PORT; a single plain HOST[:PORT] has none."""
    from .docker_config import parse_host

    lines = [(f"--host {value!r}", value) for value in values]
    if hosts_file is not None:
        text = read_limited(hosts_file).decode("utf-8", "replace")
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if line:
                lines.append((f"{hosts_file} line {number}", line))
                if "=" not in line:
                    raise InvalidInput(f"{hosts_file} line {number}: {line!r} is not "
                                       "NAME=HOST:PORT")
    if len(lines) == 1 and "=" not in lines[0][1]:
        return [(None, parse_host(lines[0][1], lookup=True))]
    if not lines:
        raise InvalidInput(f"{hosts_file} names no host: one NAME=HOST:PORT a line")
    plain = next((where for where, line in lines if "=" not in line), None)
    if plain:
        raise InvalidInput(f"{plain}: name each of several daemons as NAME=HOST:PORT "
                           "(NAME: its servers/NAME bundle, or server for the top-level pair)")
    found: list[tuple[Identity | None, DockerHost]] = []
    for _, line in lines:
        name, _, address = line.partition("=")
        found.append((expected_server(out, name.strip()),
                      parse_host(address.strip(), lookup=True)))
    return found
