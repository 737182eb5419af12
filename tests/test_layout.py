"""layout.py: the names of --out, and the test of a name the tool owns."""

from __future__ import annotations

import pytest

from minipaas_certs.layout import bundle_of, is_public, is_tool_path, pair_files


@pytest.mark.parametrize("name", ["ca.pem", "ca-key.pem", "cert.pem", "SHA256SUMS", ".gitignore",
                                  "ca-old-key.pem", "clients/ci", "clients/ci/key.pem"])
def test_names_the_tool_writes(name: str) -> None:
    assert is_tool_path(name)


@pytest.mark.parametrize("name", ["../ca.pem", "/etc/passwd", "notes.txt", "clients/../x",
                                  "clients/ci/notes", "clients/CI", "clients/a/b/c.pem",
                                  "backup-20260101T000000", "clients/..", ""])
def test_names_it_never_writes(name: str) -> None:
    assert not is_tool_path(name)


def test_pairs_and_bundles() -> None:
    assert pair_files("server") == ("server-cert.pem", "server-key.pem")
    assert pair_files("client") == ("client-cert.pem", "client-key.pem")
    assert pair_files("client", "ci") == ("clients/ci/cert.pem", "clients/ci/key.pem")
    assert bundle_of("clients/ci/cert.pem") == "ci" and bundle_of("cert.pem") is None


@pytest.mark.parametrize("name,public", [("ca.pem", True), ("key.pem", False),
                                         ("clients/ci/ca.pem", True), ("clients/ci/key.pem", False),
                                         ("backup-x/ca.pem", False), ("SHA256SUMS", False)])
def test_what_sha256sums_lists(name: str, public: bool) -> None:
    assert is_public(name) is public
