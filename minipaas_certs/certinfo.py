"""Read the fields the tool checks from PEM certificates, in pure Python.

A small DER reader, enough for X.509 v3 certificates as openssl writes them: it
lets the tool compare what was issued with what was asked (SANs, CA flag, dates,
public key) without starting another openssl process per question.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import ipaddress
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, NamedTuple

from . import clock
from .errors import OutputError, printable
from .files import read_limited

_BEGIN, _END = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"
# Longer arcs than this are not in any certificate the tool deals with (UUID arcs,
# the longest in use, take 19 bytes); refusing them keeps decoding linear.
_MAX_ARC_BYTES = 20

OID_COMMON_NAME = "2.5.4.3"
# Short names of the attributes a subject usually holds, as openssl prints them.
_ATTRIBUTE_NAMES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
                    "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "serialNumber",
                    "1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "DC"}
OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_KEY_USAGE = "2.5.29.15"
OID_EXTENDED_KEY_USAGE = "2.5.29.37"
OID_SUBJECT_ALT_NAME = "2.5.29.17"
OID_SUBJECT_KEY_ID = "2.5.29.14"
OID_AUTHORITY_KEY_ID = "2.5.29.35"
# The TLS extendedKeyUsages: which role holds which is identity's role table.
OID_SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
OID_RSA_PSS = "1.2.840.113549.1.1.10"
KEY_ALGORITHMS = {
    "1.2.840.113549.1.1.1": "rsa",
    OID_RSA_PSS: "rsa-pss",
    "1.2.840.10045.2.1": "ecdsa",
    "1.3.101.112": "ed25519",
}
EC_CURVE_BITS = {"1.2.840.10045.3.1.7": 256, "1.3.132.0.34": 384, "1.3.132.0.35": 521}
# An EC private key's scalar, as openssl writes it: padded to the curve's byte size.
_EC_SCALAR_BYTES = {oid: (bits + 7) // 8 for oid, bits in EC_CURVE_BITS.items()}
# Each curve's p and b (y^2 = x^3 - 3x + b mod p, FIPS 186-4 D.1.2): openssl refuses to
# load a key whose stored point is not on its curve, and so must this reader.
_EC_CURVES = {
    "1.2.840.10045.3.1.7": (2**256 - 2**224 + 2**192 + 2**96 - 1, int(
        "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b", 16)),
    "1.3.132.0.34": (2**384 - 2**128 - 2**96 + 2**32 - 1, int(
        "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875a"
        "c656398d8a2ed19d2a85c8edd3ec2aef", 16)),
    "1.3.132.0.35": (2**521 - 1, int(
        "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef1"
        "09e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00", 16)),
}
# Signature algorithms Go rejects (and nobody should sign a CA with).
WEAK_SIGNATURES = {
    "1.2.840.113549.1.1.4": "MD5", "1.2.840.113549.1.1.5": "SHA-1",
    "1.2.840.10045.4.1": "SHA-1", "1.2.840.10040.4.3": "SHA-1", "1.3.14.3.2.29": "SHA-1",
    "1.2.840.113549.1.1.2": "MD2",
}
# RSA-PSS names its hash in parameters, SHA-1 when they are absent (RFC 4055).
_WEAK_HASHES = {"1.3.14.3.2.26": "SHA-1", "1.2.840.113549.2.5": "MD5",
                "1.2.840.113549.2.2": "MD2"}
KEY_USAGE_BITS = (
    "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
    "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly",
)


class DERError(ValueError):
    """The bytes are not the DER structure expected."""


class _TLV:
    """One DER element: its tag and where its header and value lie in the buffer."""

    __slots__ = ("end", "head", "start", "tag")

    def __init__(self, tag: int, head: int, start: int, end: int) -> None:
        self.tag, self.head, self.start, self.end = tag, head, start, end


def _read(data: bytes, pos: int, end: int | None = None) -> _TLV:
    """The element at ``pos``, which must lie wholly before ``end`` (default: the data's)."""
    limit = len(data) if end is None else end
    if pos + 2 > limit:
        raise DERError("truncated")
    head = pos
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > limit:
            raise DERError("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > limit:
        raise DERError("truncated")
    return _TLV(tag, head, pos, pos + length)


def _inside(data: bytes, parent: _TLV) -> _TLV:
    """The one element that fills ``parent``'s contents (an OCTET or BIT STRING's)."""
    item = _read(data, parent.start, parent.end)
    if item.end != parent.end:
        raise DERError("trailing bytes inside a wrapped value")
    return item


def _children(data: bytes, parent: _TLV) -> list[_TLV]:
    items = []
    pos = parent.start
    while pos < parent.end:
        item = _read(data, pos, parent.end)
        items.append(item)
        pos = item.end
    return items


def _oid(raw: bytes) -> str:
    """Dotted text of an OBJECT IDENTIFIER's contents (X.690 8.19)."""
    if not raw or raw[-1] & 0x80:
        raise DERError("empty or truncated OID")
    arcs, value, length = [], 0, 0
    for byte in raw:
        if length == 0 and byte == 0x80:
            raise DERError("OID arc with a leading zero byte")
        value = (value << 7) | (byte & 0x7F)
        length += 1
        if length > _MAX_ARC_BYTES:
            raise DERError("OID arc too long")
        if not byte & 0x80:
            arcs.append(value)
            value, length = 0, 0
    first = arcs[0]  # the first subidentifier packs two arcs: 40 * X + Y, X <= 2
    head = [first // 40, first % 40] if first < 80 else [2, first - 80]
    return ".".join(map(str, head + arcs[1:]))


def _time(data: bytes, item: _TLV) -> datetime.datetime:
    text = data[item.start:item.end].decode("ascii")
    if item.tag == 0x17:  # UTCTime: two-digit years 50-99 are 19xx (RFC 5280)
        year = int(text[:2])
        text = str(1900 + year if year >= 50 else 2000 + year) + text[2:]
    elif item.tag != 0x18:
        raise DERError("bad time")
    # Exactly YYYYMMDDHHMMSSZ (RFC 5280); read by hand, as strptime costs an import of
    # _strptime, locale and calendar, and more per call.
    if len(text) != 15 or text[14] != "Z" or not text[:14].isdigit():
        raise DERError("bad time")
    return datetime.datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]),
                             int(text[10:12]), int(text[12:14]), tzinfo=datetime.timezone.utc)


class Certificate(NamedTuple):
    """The parts of one certificate the tool reads."""

    der: bytes
    serial: int
    subject_cn: str | None
    issuer_cn: str | None
    subject_der: bytes
    issuer_der: bytes
    not_before: datetime.datetime
    not_after: datetime.datetime
    public_key_der: bytes  # SubjectPublicKeyInfo, as `openssl pkey -pubout -outform DER`
    key_type: str  # "rsa", "ecdsa", "ed25519", or the algorithm OID
    key_bits: int
    signature_algorithm: str = ""  # the issuer's signature algorithm OID
    weak_signature: str | None = None  # "SHA-1", "MD5"... when the signature uses one
    extensions: Mapping[str, bool] = MappingProxyType({})  # OID -> critical
    is_ca: bool = False
    key_usage: frozenset[str] = frozenset()
    extended_key_usage: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    other_names: tuple[str, ...] = ()  # SANs of other kinds: ``URI:…``, ``email:…``
    subject_key_id: bytes | None = None
    authority_key_id: bytes | None = None
    subject: str = ""  # the whole name, as ``O=Example, OU=Ops, CN=ci``
    issuer: str = ""

    @property
    def self_issued(self) -> bool:
        """Subject and issuer are the same name: a root (or a self-signed leaf)."""
        return self.subject_der == self.issuer_der

    def issued_by(self, issuer: Certificate) -> bool:
        """Whether ``issuer`` is this certificate's CA (by name, and key id when present)."""
        if self.issuer_der != issuer.subject_der:
            return False
        return self.authority_key_id is None or self.authority_key_id == issuer.subject_key_id

    @property
    def pem(self) -> bytes:
        """The certificate as PEM text."""
        body = base64.b64encode(self.der)
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        return b"\n".join([_BEGIN, *lines, _END]) + b"\n"

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER, as ``openssl x509 -fingerprint -sha256`` prints it."""
        import hashlib  # only `show` needs it; keep it off every command's start-up

        digest = hashlib.sha256(self.der).hexdigest().upper()
        return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))

    @property
    def names(self) -> list[str]:
        """The SANs as ``DNS:…`` and ``IP:…`` strings."""
        return [*(f"DNS:{n}" for n in self.dns_names), *(f"IP:{a}" for a in self.ip_addresses)]

    @property
    def key_label(self) -> str:
        """``ECDSA P-256``, ``RSA 3072``, ``Ed25519``."""
        if self.key_type == "ecdsa":
            return f"ECDSA P-{self.key_bits}"
        if self.key_type == "rsa":
            return f"RSA {self.key_bits}"
        if self.key_type == "rsa-pss":
            return f"RSA-PSS {self.key_bits}"
        return "Ed25519" if self.key_type == "ed25519" else self.key_type

    def days_left(self, now: datetime.datetime | None = None) -> float:
        now = now or clock.now()
        return (self.not_after - now).total_seconds() / 86400


# DirectoryString types (RFC 5280) and how their bytes decode.
_STRING_CODECS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1",
                  0x1E: "utf-16-be", 0x1C: "utf-32-be"}


def _distinguished_name(data: bytes, name: _TLV) -> str:
    """The whole name in its DER order, ``O=Example, OU=Ops, CN=ci``; control characters
    and separators in values are escaped, as the name is printed."""
    parts = []
    for rdn in _children(data, name):
        for attribute in _children(data, rdn):
            oid, value = _children(data, attribute)
            dotted = _oid(data[oid.start:oid.end])
            text = data[value.start:value.end].decode(_STRING_CODECS.get(value.tag, "utf-8"),
                                                     "replace")
            text = "".join(c if c.isprintable() and c not in ",\\" else f"\\x{ord(c):02x}"
                           for c in text)
            parts.append(f"{_ATTRIBUTE_NAMES.get(dotted, dotted)}={text}")
    return ", ".join(parts)


def _common_name(data: bytes, name: _TLV) -> str | None:
    for rdn in _children(data, name):
        for attribute in _children(data, rdn):
            oid, value = _children(data, attribute)
            if _oid(data[oid.start:oid.end]) == OID_COMMON_NAME:
                codec = _STRING_CODECS.get(value.tag, "utf-8")
                return data[value.start:value.end].decode(codec, "replace")
    return None


def _public_key(data: bytes, spki: _TLV) -> tuple[str, int]:
    algorithm, bits = _children(data, spki)
    algorithm_fields = _children(data, algorithm)
    oid = _oid(data[algorithm_fields[0].start:algorithm_fields[0].end])
    key_type = KEY_ALGORITHMS.get(oid, oid)
    if key_type in ("rsa", "rsa-pss"):  # BIT STRING: unused-bit count, then RSAPublicKey
        modulus = _children(data, _read(data, bits.start + 1, bits.end))[0]
        return key_type, int.from_bytes(data[modulus.start:modulus.end], "big").bit_length()
    if key_type == "ecdsa":
        curve = algorithm_fields[1]
        return key_type, EC_CURVE_BITS.get(_oid(data[curve.start:curve.end]), 0)
    return key_type, 256 if key_type == "ed25519" else 0


def _extensions(data: bytes, wrapper: _TLV) -> dict[str, object]:
    """Decode the extensions the tool checks; record every extension's criticality."""
    found: dict[str, object] = {"extensions": {}}
    for extension in _children(data, _inside(data, wrapper)):
        parts = _children(data, extension)
        oid = _oid(data[parts[0].start:parts[0].end])
        critical = len(parts) == 3 and data[parts[1].start:parts[1].end] != b"\x00"
        found["extensions"][oid] = critical  # type: ignore[index]
        if parts[-1].tag != 0x04:
            raise DERError("extension value is not an OCTET STRING")
        value = _inside(data, parts[-1])  # the OCTET STRING holds exactly one DER value
        if oid == OID_BASIC_CONSTRAINTS:
            for item in _children(data, value):
                if item.tag == 0x01:
                    found["is_ca"] = data[item.start:item.end] != b"\x00"
        elif oid == OID_KEY_USAGE:
            flags = int.from_bytes(data[value.start + 1:value.end], "big")
            width = 8 * (value.end - value.start - 1)
            found["key_usage"] = frozenset(
                name for bit, name in enumerate(KEY_USAGE_BITS)
                if bit < width and flags >> (width - 1 - bit) & 1
            )
        elif oid == OID_EXTENDED_KEY_USAGE:
            found["extended_key_usage"] = tuple(
                _oid(data[item.start:item.end]) for item in _children(data, value)
            )
        elif oid == OID_SUBJECT_KEY_ID and value.tag == 0x04:
            found["subject_key_id"] = data[value.start:value.end]
        elif oid == OID_AUTHORITY_KEY_ID:
            for item in _children(data, value):
                if item.tag == 0x80:  # [0] keyIdentifier
                    found["authority_key_id"] = data[item.start:item.end]
        elif oid == OID_SUBJECT_ALT_NAME:
            names = _children(data, value)
            found["dns_names"] = tuple(
                data[n.start:n.end].decode("ascii") for n in names if n.tag == 0x82
            )
            found["ip_addresses"] = tuple(
                str(ipaddress.ip_address(data[n.start:n.end])) for n in names if n.tag == 0x87
            )
            found["other_names"] = tuple(_other_name(data, n) for n in names
                                         if n.tag not in (0x82, 0x87))
    return found


# GeneralName tags (RFC 5280) this tool never writes, as openssl names them.
_OTHER_NAMES = {0x81: "email", 0x86: "URI", 0x88: "Registered ID", 0xA0: "othername",
                0xA3: "X400Name", 0xA4: "DirName", 0xA5: "EdiPartyName"}


def _other_name(data: bytes, name: _TLV) -> str:
    """A SAN of a kind this tool does not write: ``URI:spiffe://…``, ``email:…``, or
    just its kind when it is not text."""
    kind = _OTHER_NAMES.get(name.tag, f"tag {name.tag:#x}")
    if name.tag in (0x81, 0x86):
        return f"{kind}:{printable(data[name.start:name.end].decode('latin-1'))}"
    return kind


def _weak_signature(der: bytes, oid: str, fields: list[_TLV]) -> str | None:
    """The weak hash a signature algorithm uses (RSA-PSS: from its parameters)."""
    if oid != OID_RSA_PSS:
        return WEAK_SIGNATURES.get(oid)
    hash_oid = "1.3.14.3.2.26"  # the default when hashAlgorithm is absent
    if len(fields) > 1 and fields[1].tag == 0x30:
        for item in _children(der, fields[1]):
            if item.tag == 0xA0:  # [0] EXPLICIT hashAlgorithm
                hash_id = _children(der, _inside(der, item))[0]
                hash_oid = _oid(der[hash_id.start:hash_id.end])
    return _WEAK_HASHES.get(hash_oid)


def parse_certificate(der: bytes) -> Certificate:
    """Parse one DER certificate; raise DERError when it is not one."""
    try:
        certificate = _read(der, 0)
        if certificate.end != len(der):
            raise DERError("trailing bytes")
        outer = _children(der, certificate)
        if len(outer) != 3:
            raise DERError("not a signed certificate")
        algorithm_fields = _children(der, outer[1])
        signature_oid = _oid(der[algorithm_fields[0].start:algorithm_fields[0].end])
        fields = _children(der, outer[0])
        if fields[0].tag == 0xA0:  # explicit version
            fields = fields[1:]
        serial, _, issuer, validity, subject, spki = fields[:6]
        not_before, not_after = _children(der, validity)
        key_type, key_bits = _public_key(der, spki)
        decoded: dict[str, object] = {}
        for item in fields[6:]:
            if item.tag == 0xA3:
                decoded = _extensions(der, item)
        return Certificate(
            der=der,
            serial=int.from_bytes(der[serial.start:serial.end], "big", signed=True),
            subject_cn=_common_name(der, subject),
            issuer_cn=_common_name(der, issuer),
            subject=_distinguished_name(der, subject),
            issuer=_distinguished_name(der, issuer),
            subject_der=der[subject.head:subject.end],
            issuer_der=der[issuer.head:issuer.end],
            not_before=_time(der, not_before),
            not_after=_time(der, not_after),
            public_key_der=der[spki.head:spki.end],
            key_type=key_type,
            key_bits=key_bits,
            signature_algorithm=signature_oid,
            weak_signature=_weak_signature(der, signature_oid, algorithm_fields),
            **decoded,  # type: ignore[arg-type]
        )
    except (IndexError, ValueError, UnicodeDecodeError) as error:
        raise DERError(f"not a valid certificate ({error})") from None


def _der(tag: int, contents: bytes) -> bytes:
    """One DER element (definite length)."""
    size = len(contents)
    if size < 0x80:
        return bytes([tag, size]) + contents
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + contents


def public_key_of_private(pem: bytes) -> bytes | None:
    """The DER SubjectPublicKeyInfo of an unencrypted PKCS#8 ``PRIVATE KEY``, where the
    key holds its public half: an EC key its point, an RSA key its modulus and
    exponent.  None for anything else (Ed25519 keys hold only their seed; other
    formats), or for a key whose structure is not exactly what openssl writes (a
    key openssl might refuse to load must be judged by openssl): the caller then
    asks openssl.  Compared with a certificate's ``public_key_der``, it shows that
    a key file belongs to it without a process.
    """
    lines = pem.strip().splitlines()
    if len(lines) < 3 or lines[0] != b"-----BEGIN PRIVATE KEY-----" \
            or lines[-1] != b"-----END PRIVATE KEY-----":
        return None
    try:
        der = base64.b64decode(b"".join(lines[1:-1]), validate=True)
        info = _read(der, 0)
        fields = _children(der, info)
        if info.end != len(der) or info.tag != 0x30 or len(fields) != 3 \
                or [f.tag for f in fields] != [0x02, 0x30, 0x04] \
                or der[fields[0].start:fields[0].end] != b"\x00":
            return None
        _, algorithm, private = fields
        name, *parameters = _children(der, algorithm)
        if name.tag != 0x06:
            return None
        oid = _oid(der[name.start:name.end])
        algorithm_der = der[algorithm.head:algorithm.end]
        key = _inside(der, private)
        inner = _children(der, key)
        if key.tag != 0x30 or not inner or inner[0].tag != 0x02:
            return None
        version = der[inner[0].start:inner[0].end]
        if KEY_ALGORITHMS.get(oid) == "rsa":  # RSAPrivateKey: version 0, n, e, d, p, q, ...
            if version != b"\x00" or [i.tag for i in inner] != [0x02] * 9 \
                    or [(i.tag, i.end - i.start) for i in parameters] != [(0x05, 0)] \
                    or not all(_positive(der[i.start:i.end]) for i in inner[1:3]):
                return None
            public = _der(0x30, b"".join(der[i.head:i.end] for i in inner[1:3]))
            return _der(0x30, algorithm_der + _der(0x03, b"\x00" + public))
        if KEY_ALGORITHMS.get(oid) == "ecdsa":  # ECPrivateKey: 1, key, [0] curve, [1] point
            curve = _oid(der[parameters[0].start:parameters[0].end]) \
                if len(parameters) == 1 and parameters[0].tag == 0x06 else ""
            size = _EC_SCALAR_BYTES.get(curve)
            tags = [i.tag for i in inner]
            if version != b"\x01" or size is None or tags not in ([0x02, 0x04, 0xA1],
                                                                  [0x02, 0x04, 0xA0, 0xA1]) \
                    or inner[1].end - inner[1].start != size:
                return None
            bits = _inside(der, inner[-1])
            if bits.tag != 0x03 or not _on_curve(curve, der[bits.start:bits.end], size):
                return None
            return _der(0x30, algorithm_der + der[bits.head:bits.end])
    except (binascii.Error, ValueError, IndexError):
        return None
    return None


def _positive(integer: bytes) -> bool:
    """Whether an INTEGER's contents are a positive number in its shortest form (what
    openssl writes, and would write again when it re-encodes the public key)."""
    return bool(integer) and integer[0] < 0x80 and not (
        integer[0] == 0 and (len(integer) == 1 or integer[1] < 0x80))


def _on_curve(curve: str, bits: bytes, size: int) -> bool:
    """Whether a BIT STRING's contents are an uncompressed point on ``curve``, as
    openssl checks when it loads the key (a compressed one it would expand)."""
    if len(bits) != 2 + 2 * size or bits[:2] != b"\x00\x04":
        return False
    p, b = _EC_CURVES[curve]
    x, y = int.from_bytes(bits[2:2 + size], "big"), int.from_bytes(bits[2 + size:], "big")
    return x < p and y < p and (y * y - (x * x * x - 3 * x + b)) % p == 0


def _pem_bodies(data: bytes) -> list[list[bytes]]:
    """The base64 lines of each CERTIFICATE block, in one pass over the lines.

    Linear whatever the input: a BEGIN line without its END restarts the block
    rather than making the scan look ahead again.
    """
    blocks: list[list[bytes]] = []
    current: list[bytes] | None = None
    for line in data.splitlines():
        line = line.strip()
        if line == _BEGIN:
            current = []
        elif line == _END:
            if current is not None:
                blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def pem_blocks(data: bytes) -> list[bytes]:
    """Each certificate of a PEM file (a CA bundle holds several), as PEM text."""
    return [b"\n".join([_BEGIN, *body, _END]) + b"\n" for body in _pem_bodies(data)]


def pem_to_der(data: bytes) -> list[bytes]:
    """The DER bytes of each certificate in a PEM file."""
    try:
        return [base64.b64decode(b"".join(body), validate=True) for body in _pem_bodies(data)]
    except binascii.Error as error:
        raise DERError(f"bad base64 ({error})") from None


@functools.lru_cache(maxsize=16)
def _parse_known(der: bytes) -> Certificate:
    """``parse_certificate``, once for the same bytes: every bundle holds a copy of the CA
    (200 bundles, 200 identical ca.pem files).  Certificates are immutable."""
    return parse_certificate(der)


def parse_pem(data: bytes, path: Path) -> list[Certificate]:
    """Every certificate in PEM ``data`` read from ``path``; OutputError if there is none
    or one is broken."""
    try:
        certificates = [_parse_known(der) for der in pem_to_der(data)]
    except DERError as error:
        raise OutputError(f"{path} is not a valid certificate: {error}") from None
    if not certificates:
        raise OutputError(f"{path} holds no PEM certificate")
    return certificates


def read_certificates(path: Path) -> list[Certificate]:
    """Every certificate in a PEM file (a regular file of at most 1 MiB)."""
    return parse_pem(read_limited(path), path)


def read_certificate(path: Path) -> Certificate:
    """The first certificate in a PEM file (a CA bundle lists the signing CA first)."""
    return read_certificates(path)[0]


def starts_later(certificate: Certificate, now: datetime.datetime) -> str | None:
    """``valid only from <date> UTC: is a clock wrong?`` while its start is ahead, else None.

    The same words whichever signed it: a local CA starts a leaf five minutes back, an
    OpenBao or Vault engine only its role's not_before_duration back (30 s by default),
    so a peer whose clock is behind meets an engine's fresh leaf "in the future" first.
    """
    if certificate.not_before <= now:
        return None
    return (f"valid only from {certificate.not_before:%Y-%m-%d %H:%M:%S} UTC: is a clock "
            "wrong (this machine's, or the signer's)?")
