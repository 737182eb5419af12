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
                                       (b"abc def\n", b"abc def"), (b" spaced ", b" spaced "),
                                       (b"x" * 1023, b"x" * 1023)])
def test_p12_passwords_accepted(raw: bytes, value: bytes) -> None:
    from minipaas_certs.names import parse_p12_password

    assert parse_p12_password(raw, "FILE") == value


@pytest.mark.parametrize("raw", [b"", b"\n", b"abcde", b"abcde\n", b"abc\0def", b"abcdef\nx",
                                 "pässwörd".encode(), b"tab\there", b"x" * 1024,
                                 b"abc def\r\n"])
def test_p12_passwords_refused(raw: bytes) -> None:
    from minipaas_certs.names import parse_p12_password

    with pytest.raises(InvalidInput, match="PKCS#12 password from FILE"):
        parse_p12_password(raw, "FILE")


# What people paste from elsewhere gets a message that says what a SAN is, and the bare
# value to give (itself parsed before it is suggested).
BARE = "a SAN is a bare name or address (no scheme, no port)"


@pytest.mark.parametrize("value,message", [
    ("https://manager.example.com", f"is a URL: {BARE}; use --san manager.example.com"),
    ("tcp://10.0.0.5:2376", f"is a URL: {BARE}; use --san 10.0.0.5"),
    ("https://user@[2001:db8::5]:2376/v1.45", f"is a URL: {BARE}; use --san 2001:db8::5"),
    ("10.0.0.5:2376", f"has a port: {BARE}; use --san 10.0.0.5"),
    ("Manager.example.com:2376", f"has a port: {BARE}; use --san manager.example.com"),
    ("IP:10.0.0.5:2376", f"has a port: {BARE}; use --san 10.0.0.5"),
    ("[::1]:2376", f"has a port: {BARE}; use --san ::1"),
    ("[::1]", f"is in brackets: {BARE}; use --san ::1"),
    ("URI:https://manager.example.com", "only DNS and IP names are made, not URI: ones "
     f"(Docker's clients check no other kind); {BARE}; use --san manager.example.com"),
    ("URI:spiffe://example.org/ci", f"not URI: ones (Docker's clients check no other kind); "
     f"{BARE}"),
    ("email:ops@example.com", "not EMAIL: ones"),
    ("10.0.0.5/24", "is a network prefix, not an address: a SAN names single addresses (there "
     "are no ranges); use --san 10.0.0.5"),
    ("10.0.0.0/24", "is a network prefix, not an address: a SAN names single addresses (there "
     "are no ranges): give each address clients connect to"),
    ("2001:db8::5/64", "is a network prefix, not an address"),
    ("10.0.0.5,10.0.0.6", "is a list: give one value per --san, repeated; use --san 10.0.0.5 "
     "--san 10.0.0.6"),
    ("fe80::1%eth0", "has a zone id (%eth0), which names an interface of one machine and has "
     "no place in a certificate; use --san fe80::1"),
    ("tcp://0.0.0.0:2376", f"is a URL: {BARE}; even bare: IP address '0.0.0.0' is a listen"),
])
def test_pasted_forms_say_what_a_san_is(value: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_san(value)
    assert message in str(refused.value)


@pytest.mark.parametrize("value", [
    "https://evil.example.com\nIP.9 = 10.6.6.6", "https://do$cker.example.com", "https://$HOME",
    "ok.example.com,evil#x", "[::1\n]:2376", "10.0.0.5:2376\n[ext]", "URI:https://x$y",
])
def test_pasted_forms_never_suggest_what_the_allowlists_refuse(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_san(value)
    assert "; use " not in str(refused.value)


@pytest.mark.parametrize("value,expected", [
    ("::1", "IP:::1"), ("fe80::1", "IP:fe80::1"), ("IP:2001:db8::5", "IP:2001:db8::5"),
    ("::1:2376", "IP:::1:2376"),  # a whole IPv6 address, not ::1 with a port
])
def test_ipv6_addresses_still_parse(value: str, expected: str) -> None:
    assert str(parse_san(value)) == expected
