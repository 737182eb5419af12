"""layout.py: the names of --out, and the test of a name the tool owns."""

from __future__ import annotations

import pytest

from minipaas_certs.identity import is_tool_path
from minipaas_certs.layout import is_key, is_public


@pytest.mark.parametrize("name", ["ca.pem", "ca-key.pem", "cert.pem", "SHA256SUMS", ".gitignore",
                                  "ca-old-key.pem", "clients/ci", "clients/ci/key.pem",
                                  "revoked.json", "servers/m1", "servers/m1/server-key.pem",
                                  "servers/m1/ca.pem", "client.p12", "clients/ci/client.p12"])
def test_names_the_tool_writes(name: str) -> None:
    assert is_tool_path(name)


@pytest.mark.parametrize("name", ["../ca.pem", "/etc/passwd", "notes.txt", "clients/../x",
                                  "clients/ci/notes", "clients/CI", "clients/a/b/c.pem",
                                  "backup-20260101T000000", "clients/..", "",
                                  "servers/m1/key.pem", "clients/ci/server-key.pem",
                                  "servers/../ca-key.pem", "servers/M1", "servers/m1/x/ca.pem",
                                  "servers/m1/client.p12", "clients/ci/x.p12", "other.p12"])
def test_names_it_never_writes(name: str) -> None:
    assert not is_tool_path(name)


@pytest.mark.parametrize("name,public", [("ca.pem", True), ("key.pem", False),
                                         ("clients/ci/ca.pem", True), ("clients/ci/key.pem", False),
                                         ("backup-x/ca.pem", False), ("SHA256SUMS", False),
                                         ("servers/m1/server-cert.pem", True),
                                         ("servers/m1/server-key.pem", False),
                                         ("revoked.json", True), ("client.p12", False),
                                         ("clients/ci/client.p12", False)])
def test_what_sha256sums_lists(name: str, public: bool) -> None:
    assert is_public(name) is public


@pytest.mark.parametrize("name,secret", [("key.pem", True), ("ca-key.pem", True),
                                         ("client.p12", True), ("cert.pem", False),
                                         ("SHA256SUMS", False)])
def test_what_is_a_secret(name: str, secret: bool) -> None:
    assert is_key(name) is secret  # kept 0600, even in a backup; never in SHA256SUMS
