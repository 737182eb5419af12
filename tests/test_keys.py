"""keys.py: key recipes."""

from __future__ import annotations

from minipaas_certs import keys


def test_digest_follows_the_signing_key() -> None:
    assert keys.digest_args("ed25519", 256) == []
    assert keys.digest_args("rsa", 4096) == ["-sha256"]
    assert keys.digest_args("ecdsa", 256) == ["-sha256"]
    assert keys.digest_args("ecdsa", 384) == ["-sha384"]
