"""names.py: what is accepted as a SAN, a common name, an identity name."""

from __future__ import annotations

import pytest

from minipaas_certs.errors import InvalidInput
from minipaas_certs.names import (
    SubjectAltName,
    parse_common_name,
    parse_identity_name,
    parse_san,
    parse_sans,
)


@pytest.mark.parametrize("value,expected", [
    ("10.0.0.5", "IP:10.0.0.5"),
    ("IP:10.0.0.5", "IP:10.0.0.5"),
    ("ip:10.0.0.5", "IP:10.0.0.5"),
    ("::1", "IP:::1"),
    ("2001:DB8:0:0::1", "IP:2001:db8::1"),
    ("manager", "DNS:manager"),
    ("Manager.Example.COM", "DNS:manager.example.com"),
    ("DNS:localhost", "DNS:localhost"),
    ("*.swarm.example.com", "DNS:*.swarm.example.com"),
    ("xn--bcher-kva.example", "DNS:xn--bcher-kva.example"),
    ("a" * 63 + ".example.com", "DNS:" + "a" * 63 + ".example.com"),
    ("node-1.example.com", "DNS:node-1.example.com"),
    ("10.example.com", "DNS:10.example.com"),
])
def test_san_accepted(value: str, expected: str) -> None:
    assert str(parse_san(value)) == expected


def test_longest_dns_name_is_accepted_and_one_more_is_not() -> None:
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(name) == 253
    assert parse_san(name).value == name
    with pytest.raises(InvalidInput, match="253"):
        parse_san(name + "e")


def test_sans_are_deduplicated_in_order() -> None:
    assert parse_sans(["b.example", "10.0.0.1", "B.example", "IP:10.0.0.1"]) == [
        SubjectAltName("DNS", "b.example"), SubjectAltName("IP", "10.0.0.1")]


@pytest.mark.parametrize("value", ["client", "CI bot (2026)", "ops@example.com", "a" * 64])
def test_common_name_accepted(value: str) -> None:
    assert parse_common_name(value) == value


@pytest.mark.parametrize("value", ["ci", "alice", "deploy-bot", "team.ops", "a_b"])
def test_identity_name_accepted(value: str) -> None:
    assert parse_identity_name(value) == value


@pytest.mark.parametrize("value", ["", ".", "..", "a/b", "../x", "A", "a b", "-x", "a..b",
                                   "x" * 65, "a\n"])
def test_identity_name_refused(value: str) -> None:
    with pytest.raises(InvalidInput):
        parse_identity_name(value)


@pytest.mark.parametrize("raw,value", [(b"abcdef", b"abcdef"), (b"abcdef\n", b"abcdef"),
                                       (b"abc def\r\n", b"abc def"), (b"x" * 1023, b"x" * 1023)])
def test_p12_passwords_accepted(raw: bytes, value: bytes) -> None:
    from minipaas_certs.names import parse_p12_password

    assert parse_p12_password(raw, "FILE") == value


@pytest.mark.parametrize("raw", [b"", b"\n", b"abcde", b"abcde\n", b"abc\0def", b"abcdef\nx",
                                 "pässwörd".encode(), b"tab\there", b"x" * 1024])
def test_p12_passwords_refused(raw: bytes) -> None:
    from minipaas_certs.names import parse_p12_password

    with pytest.raises(InvalidInput, match="PKCS#12 password from FILE"):
        parse_p12_password(raw, "FILE")
