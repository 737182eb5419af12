"""A real mutual-TLS handshake with Python's ssl module, using the generated files.

Both sides use strict X.509 verification (as Python 3.13 does by default), the
server requires a client certificate, and the client checks the server's name.
"""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest
from conftest import TOOL_OPENSSL

from minipaas_certs.cli import main


def strict(context: ssl.SSLContext) -> ssl.SSLContext:
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def handshake(server_dir: Path, client_dir: Path, server_name: str) -> tuple[bytes, object]:
    """Serve one connection with the server pair; connect with the client's cert.pem/key.pem.

    Returns what the client read and what the server side raised (None if nothing).
    """
    server_context = strict(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    server_context.load_cert_chain(server_dir / "server-cert.pem", server_dir / "server-key.pem")
    server_context.load_verify_locations(server_dir / "ca.pem")
    server_context.verify_mode = ssl.CERT_REQUIRED
    client_context = strict(ssl.create_default_context(cafile=str(client_dir / "ca.pem")))
    client_context.load_cert_chain(client_dir / "cert.pem", client_dir / "key.pem")

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server_error: list[object] = [None]

    def serve() -> None:
        connection, _ = listener.accept()
        try:
            with server_context.wrap_socket(connection, server_side=True) as tls:
                peer = tls.getpeercert()
                subject = dict(item[0] for item in peer["subject"])
                tls.sendall(b"hello " + subject["commonName"].encode())
        except (ssl.SSLError, OSError) as error:
            server_error[0] = error
        finally:
            connection.close()

    thread = threading.Thread(target=serve)
    thread.start()
    received = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                client_context.wrap_socket(raw, server_hostname=server_name) as tls:
            received = tls.recv(100)
    except (ssl.SSLError, OSError):
        pass
    finally:
        thread.join(timeout=10)
        listener.close()
    return received, server_error[0]


def make(folder: Path, *args: str) -> Path:
    assert main(["certs", "all", "--out", str(folder), "-q", "--openssl", TOOL_OPENSSL,
                 *args]) == 0
    return folder


@pytest.mark.parametrize("key_type", ["ecdsa", "rsa", "ed25519"])
@pytest.mark.parametrize("server_name", ["localhost", "127.0.0.1", "docker.example.com"])
def test_mutual_tls_succeeds(tmp_path: Path, key_type: str, server_name: str) -> None:
    folder = make(tmp_path, "--key-type", key_type, "--san", "docker.example.com",
                  *(["--key-size", "2048"] if key_type == "rsa" else []))
    received, server_error = handshake(folder, folder, server_name)
    assert server_error is None
    assert received == b"hello client"


def test_client_of_another_ca_is_refused(tmp_path: Path) -> None:
    ours, theirs = make(tmp_path / "ours"), make(tmp_path / "theirs")
    # The intruder trusts our CA (so it gets as far as presenting its certificate)...
    (theirs / "ca.pem").write_bytes((ours / "ca.pem").read_bytes())
    received, server_error = handshake(ours, theirs, "localhost")
    assert received == b""
    assert isinstance(server_error, ssl.SSLError)
    assert "certificate verify failed" in str(server_error)


def test_name_outside_the_sans_is_refused(tmp_path: Path) -> None:
    folder = make(tmp_path)
    received, _ = handshake(folder, folder, "other.example.com")
    assert received == b""


def test_server_certificate_is_not_accepted_as_a_client(tmp_path: Path) -> None:
    folder = make(tmp_path)
    anonymous = tmp_path / "anonymous"
    anonymous.mkdir()
    (anonymous / "ca.pem").write_bytes((folder / "ca.pem").read_bytes())
    # A client pair that is the server's own: right CA, wrong purpose (serverAuth only).
    (anonymous / "cert.pem").write_bytes((folder / "server-cert.pem").read_bytes())
    (anonymous / "key.pem").write_bytes((folder / "server-key.pem").read_bytes())
    received, server_error = handshake(folder, anonymous, "localhost")
    assert received == b""
    assert isinstance(server_error, ssl.SSLError)
