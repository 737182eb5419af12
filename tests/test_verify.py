"""verify.py: `openssl verify -x509_strict` with a leaf's purpose, with real openssl on a
real set."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TOOL_OPENSSL

from minipaas_certs.openssl import OpenSSL
from minipaas_certs.verify import VerifyFailed, unverified, verify_leaf, verify_leaves


def test_one_call_names_the_certificates_that_fail_their_purpose(certs_dir: Path) -> None:
    openssl = OpenSSL(TOOL_OPENSSL)
    server, client = certs_dir / "server-cert.pem", certs_dir / "client-cert.pem"
    assert unverified(openssl, certs_dir / "ca.pem", [server], "server") == []
    assert unverified(openssl, certs_dir / "ca.pem", [server, client], "server") == [client]


def test_a_failure_names_the_file_the_command_and_openssls_reason(certs_dir: Path) -> None:
    openssl = OpenSSL(TOOL_OPENSSL)
    verify_leaf(openssl, certs_dir / "ca.pem", certs_dir / "client-cert.pem", "client")
    with pytest.raises(VerifyFailed, match=r"^client-cert.pem fails `openssl verify "
                       r"-x509_strict -purpose sslserver` against ca.pem: ") as failed:
        verify_leaf(openssl, certs_dir / "ca.pem", certs_dir / "client-cert.pem", "server")
    assert failed.value.detail
    with pytest.raises(VerifyFailed, match=r"^the certificate fails "):  # PEM on stdin
        verify_leaf(openssl, certs_dir / "ca.pem", (certs_dir / "client-cert.pem").read_bytes(),
                    "server")


def test_many_at_once_still_name_the_one_at_fault(certs_dir: Path) -> None:
    openssl = OpenSSL(TOOL_OPENSSL)
    with pytest.raises(VerifyFailed, match=r"^client-cert.pem fails .*; see here$"):
        verify_leaves(openssl, certs_dir / "ca.pem",
                      [certs_dir / "server-cert.pem", certs_dir / "client-cert.pem"], "server",
                      hint="; see here")
