"""Strict validation of every value that reaches an OpenSSL config or argument.

OpenSSL's config syntax gives meaning to newlines (new lines), ``#`` (comments),
``$`` (variable expansion), quotes and backslashes, and an inline SAN list gives
meaning to commas.  Rather than escaping, only values drawn from small allowlists
are accepted, so nothing here can ever carry syntax into a rendered file.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable, NamedTuple

from .errors import InvalidInput

_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_IPV4_DOTTED = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}\Z")
_LOOKS_NUMERIC = re.compile(r"[0-9.]+\Z")
# Subject values: printable ASCII without OpenSSL config or -subj syntax
# (# $ \ " ' , / + = ; and control characters are all absent).
_SUBJECT_VALUE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._@:()-]*[A-Za-z0-9._@:()-])?\Z")
_IDENTITY_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9_-])?\Z")

MAX_CN_LENGTH = 64  # RFC 5280 ub-common-name; openssl refuses longer values

_BARE = "a SAN is a bare name or address (no scheme, no port)"
# openssl's other subjectAltName kinds: Go checks only DNS and IP ones against the host.
_OTHER_SAN_TYPES = ("URI", "EMAIL", "RID", "DIRNAME", "OTHERNAME")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# HOST:PORT with one colon (an IPv6 address has several), or [IPv6] with or without a port.
_WITH_PORT = re.compile(r"(?:\[(?P<v6>[^\]]*)\]|(?P<host>[^:\[\]]*))(?::(?P<port>[0-9]+))?\Z")


class SubjectAltName(NamedTuple):
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


def parse_san(value: str, option: str | None = "--san") -> SubjectAltName:
    """Parse one ``--san`` value: ``IP:``/``DNS:`` prefixed, or decided by its form.

    Forms pasted from elsewhere (a URL, HOST:PORT, ``[v6]``, a network, a list) are
    refused first, with the bare value to give instead (as ``option VALUE``; the
    option is left out of the advice when None): the strict parsers below would
    only say "invalid IP address" of them.  Then an IP address parse is tried
    so that ``10.0.0.5`` is never taken for a DNS name; a value made only of digits
    and dots that is not a valid IPv4 address is refused rather than silently
    becoming a DNS name.
    """
    prefix, sep, rest = value.partition(":")
    kind = prefix.upper() if sep and prefix.upper() in ("IP", "DNS") else None
    if sep and prefix.upper() in _OTHER_SAN_TYPES:
        raise InvalidInput(_other_type(value, prefix, rest, option))
    misuse = _misuse(rest if kind else value, option)
    if misuse:
        raise InvalidInput(misuse)
    if kind == "IP":
        return SubjectAltName("IP", parse_ip(rest))
    if kind == "DNS":
        return SubjectAltName("DNS", parse_dns_name(rest))
    if ":" in value or _LOOKS_NUMERIC.match(value):
        return SubjectAltName("IP", parse_ip(value))
    return SubjectAltName("DNS", parse_dns_name(value))


def _misuse(value: str, option: str | None) -> str | None:
    """Why ``value`` is not a bare name or address, when it is a form people paste from
    elsewhere, with the bare value to give instead; None otherwise (the strict parsers
    then judge it).  Every value suggested has itself been parsed, so the advice never
    carries what the allowlists refuse."""
    if "," in value:  # MINIPAAS_CERTS_SAN is split on commas before it gets here
        parts = [part.strip() for part in value.split(",") if part.strip()]
        return f"{value!r} is a list: give one value per {option or 'SAN'}, repeated" + \
            _use(parts, option)
    if _SCHEME.match(value):
        return f"{value!r} is a URL: {_BARE}" + _use([_url_host(value)], option)
    if "%" in value:  # fe80::1%eth0: a zone names an interface of one machine
        address, _, zone = value.partition("%")
        return f"{value!r} has a zone id (%{zone}), which names an interface of one " \
            "machine and has no place in a certificate" + _use([address], option)
    if "/" in value:
        return _network(value, option)
    match = _WITH_PORT.match(value)
    if match and match.group("v6") is not None:
        what = "has a port" if match.group("port") is not None else "is in brackets"
        return f"{value!r} {what}: {_BARE}" + _use([match.group("v6")], option)
    if match and match.group("port") is not None:
        return f"{value!r} has a port: {_BARE}" + _use([match.group("host")], option)
    return None


def _url_host(url: str) -> str:
    """The host of ``scheme://[user@]host[:port][/path]``, brackets removed."""
    authority = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0].rpartition("@")[2]
    match = _WITH_PORT.match(authority)
    return (match.group("v6") or match.group("host") or "") if match else authority


def _network(value: str, option: str | None) -> str:
    """``10.0.0.5/24`` (an address with its prefix, as `ip addr` shows it), a network, or
    a path: a SAN names single addresses, never a range."""
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        return f"{value!r} has a '/': {_BARE}, without a path" + \
            _use([_url_host("x://" + value)], option)
    network = interface.network
    single = network.num_addresses == 1 or interface.ip != network.network_address
    return (f"{value!r} is a network prefix, not an address: a SAN names single addresses "
            "(there are no ranges)" + (_use([str(interface.ip)], option) if single else
                                        ": give each address clients connect to"))


def _other_type(value: str, prefix: str, rest: str, option: str | None) -> str:
    """``URI:...``, ``email:...``: kinds of SAN that Docker's TLS never checks."""
    # Only a URL that reaches a daemon names a host worth suggesting (not spiffe://...).
    web = re.match(r"(?:https?|tcp)://", rest, re.IGNORECASE)
    return (f"{value!r}: only DNS and IP names are made, not {prefix.upper()}: ones (Docker's "
            f"clients check no other kind); {_BARE}") + \
        (_use([_url_host(rest)], option) if web else "")


def _use(values: list[str], option: str | None) -> str:
    """``; use --san A --san B`` when every value is a valid SAN; else nothing, or for a
    single value, why even the bare value is refused (``tcp://0.0.0.0:2376``)."""
    try:
        sans = [parse_san(value, option) for value in values]
    except InvalidInput as error:
        return f"; even bare: {error}" if len(values) == 1 and values[0] else ""
    if not sans:
        return ""
    return "; use " + " ".join(f"{option} {san.value}" if option else san.value
                               for san in sans)


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
    if raw.endswith(b"\r\n"):  # keytool would drop the CR, `openssl -passin file:` not
        raise InvalidInput(f"the PKCS#12 password from {source} ends with CR LF: save it "
                           "with a plain LF line end, so that every tool reads the same "
                           "password")
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
