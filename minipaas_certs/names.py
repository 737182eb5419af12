"""Strict validation of every value that reaches an OpenSSL config or argument.

OpenSSL's config syntax gives meaning to newlines (new lines), ``#`` (comments),
``$`` (variable expansion), quotes and backslashes, and an inline SAN list gives
meaning to commas.  Rather than escaping, only values drawn from small allowlists
are accepted, so nothing here can ever carry syntax into a rendered file.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable

from .errors import InvalidInput

_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_IPV4_DOTTED = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}\Z")
_LOOKS_NUMERIC = re.compile(r"[0-9.]+\Z")
# Subject values: printable ASCII without OpenSSL config or -subj syntax
# (# $ \ " ' , / + = ; and control characters are all absent).
_SUBJECT_VALUE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._@:()-]*[A-Za-z0-9._@:()-])?\Z")
_IDENTITY_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9_-])?\Z")

MAX_CN_LENGTH = 64  # RFC 5280 ub-common-name; openssl refuses longer values


@dataclass(frozen=True)
class SubjectAltName:
    """One subjectAltName entry: ``kind`` is ``"DNS"`` or ``"IP"``."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_ip(value: str) -> str:
    """Return the canonical text of an IPv4 or IPv6 address, or raise InvalidInput."""
    if "%" in value or "/" in value:
        raise InvalidInput(
            f"invalid IP address {value!r}: scope ids and prefixes are not allowed"
        )
    if "." in value and ":" not in value and not _IPV4_DOTTED.match(value):
        raise InvalidInput(
            f"invalid IP address {value!r}: expected four decimal numbers 0-255 "
            "without leading zeros"
        )
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise InvalidInput(f"invalid IP address {value!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # Verifiers disagree on these (Go matches the IPv4 address, OpenSSL and Python do not).
        raise InvalidInput(f"IP address {value!r} is an IPv4-mapped IPv6 address: give "
                           f"{address.ipv4_mapped} instead")
    if address.is_unspecified or address.is_multicast \
            or address == ipaddress.IPv4Address("255.255.255.255"):
        raise InvalidInput(f"IP address {value!r} is a listen or group address, never one a "
                           "client connects to: give the address clients use (0.0.0.0 and "
                           ":: belong in `daemon-json --listen`)")
    return str(address)


def parse_dns_name(value: str) -> str:
    """Return a DNS name in lower case, or raise InvalidInput.

    Labels are letters, digits and inner hyphens of at most 63 characters, the whole
    name at most 253; only the leftmost label may be a ``*`` wildcard, and it needs
    at least two labels after it.  Non-ASCII names must be given in their IDNA
    ("xn--") form: converting them here could pick a different IDNA standard than
    the clients that connect.
    """
    if not value.isascii():
        raise InvalidInput(
            f"invalid DNS name {value!r}: give internationalised names in their "
            "ASCII form (xn--...)"
        )
    name = value.lower()
    if len(name) > 253:
        raise InvalidInput(f"invalid DNS name {value!r}: longer than 253 characters")
    labels = name.split(".")
    rest = labels[1:] if labels[0] == "*" else labels
    if labels[0] == "*" and len(rest) < 2:
        raise InvalidInput(
            f"invalid DNS name {value!r}: a wildcard needs at least two labels "
            "after it (*.example.com)"
        )
    for label in rest:
        if not _DNS_LABEL.match(label):
            raise InvalidInput(
                f"invalid DNS name {value!r}: each label must be 1-63 letters, "
                "digits or inner hyphens; only the leftmost label may be '*'"
            )
    if rest[-1].isdigit():
        raise InvalidInput(f"invalid DNS name {value!r}: the last label is numeric")
    return name


def parse_san(value: str) -> SubjectAltName:
    """Parse one ``--san`` value: ``IP:``/``DNS:`` prefixed, or decided by its form.

    An IP address parse is tried first so that ``10.0.0.5`` is never taken for a
    DNS name; a value made only of digits and dots that is not a valid IPv4 address
    is refused rather than silently becoming a DNS name.
    """
    prefix, sep, rest = value.partition(":")
    if sep and prefix.upper() == "IP":
        return SubjectAltName("IP", parse_ip(rest))
    if sep and prefix.upper() == "DNS":
        return SubjectAltName("DNS", parse_dns_name(rest))
    if ":" in value or _LOOKS_NUMERIC.match(value):
        return SubjectAltName("IP", parse_ip(value))
    return SubjectAltName("DNS", parse_dns_name(value))


def parse_sans(values: Iterable[str]) -> list[SubjectAltName]:
    """Parse and de-duplicate SAN values, keeping the order in which they were given."""
    result: list[SubjectAltName] = []
    for value in values:
        san = parse_san(value)
        if san not in result:
            result.append(san)
    return result


def parse_common_name(value: str, what: str = "common name") -> str:
    """Return a subject CN: 1-64 printable ASCII characters without config syntax."""
    if not value:
        raise InvalidInput(f"the {what} must not be empty")
    if len(value) > MAX_CN_LENGTH:
        raise InvalidInput(
            f"the {what} {value!r} is longer than {MAX_CN_LENGTH} characters"
        )
    if not _SUBJECT_VALUE.match(value):
        raise InvalidInput(
            f"invalid {what} {value!r}: use letters, digits, spaces and . _ @ : ( ) -"
        )
    return value


def parse_identity_name(value: str) -> str:
    """Return a client identity name: safe as a directory name and as a CN."""
    if not _IDENTITY_NAME.match(value) or ".." in value:
        raise InvalidInput(
            f"invalid bundle name {value!r}: use 1-64 lower-case letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return value


def _one_line(raw: bytes) -> bytes:
    """A secret file's content without its line end (openssl reads ``fd:`` a line at a time)."""
    return raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw


def parse_passphrase(raw: bytes, source: str) -> bytes:
    """A CA key passphrase: one line of 4-1023 bytes."""
    value = _one_line(raw)
    if not 4 <= len(value) <= 1023:
        raise InvalidInput(f"the CA passphrase from {source} must be 4 to 1023 bytes long")
    if any(byte in value for byte in b"\0\r\n"):
        raise InvalidInput(f"the CA passphrase from {source} must be a single line")
    return value


MIN_P12_PASSWORD = 6  # Java's keytool refuses to open a PKCS#12 file with a shorter one
_P12_PASSWORD = re.compile(rb"[\x20-\x7e]*\Z")


def parse_p12_password(raw: bytes, source: str) -> bytes:
    """A PKCS#12 export password: one line of 6-1023 printable ASCII characters.

    Java's keytool reads a password file in the platform's charset, and neither
    its file nor OpenSSL's opened here with a non-ASCII password: such a file
    would be locked for the clients it is made for.
    """
    value = _one_line(raw)
    if not value:
        raise InvalidInput(f"the PKCS#12 password from {source} is empty")
    if any(byte in value for byte in b"\0\r\n"):
        raise InvalidInput(f"the PKCS#12 password from {source} must be a single line")
    if not _P12_PASSWORD.match(value):
        raise InvalidInput(f"the PKCS#12 password from {source} must be printable ASCII: "
                           "Java's keytool cannot open a file protected by other characters")
    if len(value) < MIN_P12_PASSWORD:
        raise InvalidInput(f"the PKCS#12 password from {source} is shorter than "
                           f"{MIN_P12_PASSWORD} characters, which Java's keytool refuses to "
                           "open a store with")
    if len(value) > 1023:
        raise InvalidInput(f"the PKCS#12 password from {source} is longer than 1023 "
                           "characters, more than openssl reads")
    return value
