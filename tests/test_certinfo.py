"""certinfo.py: the DER reader, against cryptography and against hostile input."""

from __future__ import annotations

import datetime
import functools
import string
import subprocess
from pathlib import Path

import pytest
from conftest import load_cert
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minipaas_certs.certinfo import _TLV, DERError, _oid, _time, parse_certificate, pem_to_der


def test_der_reader_agrees_with_cryptography(certs_dir: Path) -> None:
    for name in ("ca.pem", "server-cert.pem", "client-cert.pem"):
        (der,) = pem_to_der((certs_dir / name).read_bytes())
        ours, theirs = parse_certificate(der), load_cert(certs_dir / name)
        assert ours.serial == theirs.serial_number
        assert ours.not_after == theirs.not_valid_after_utc
        assert ours.not_before == theirs.not_valid_before_utc
        assert ours.is_ca == theirs.extensions.get_extension_for_class(
            x509.BasicConstraints).value.ca
        assert ours.key_type == "ecdsa" and ours.key_bits == 256
        for extension in theirs.extensions:
            assert ours.extensions[extension.oid.dotted_string] == extension.critical
    server = parse_certificate(pem_to_der((certs_dir / "server-cert.pem").read_bytes())[0])
    assert set(server.dns_names) == {"manager.example.com", "localhost"}
    assert set(server.ip_addresses) == {"10.0.0.5", "127.0.0.1"}
    assert server.key_usage == frozenset({"digitalSignature"})


@pytest.mark.parametrize("encoded,dotted", [
    (bytes([0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D]), "1.2.840.113549"),
    (bytes([0x88, 0x37]), "2.999"),  # the first subidentifier spans two bytes
    (bytes([0x88, 0x37, 0x03]), "2.999.3"),
    (bytes([0x00]), "0.0"),
])
def test_oid_arcs(encoded: bytes, dotted: str) -> None:
    assert _oid(encoded) == dotted


@pytest.mark.parametrize("encoded", [b"", b"\x2a\x86", b"\x2a\x80\x01"])
def test_truncated_or_padded_oid_is_refused(encoded: bytes) -> None:
    with pytest.raises(DERError):
        _oid(encoded)


def _self_signed(subject: x509.Name, extension: x509.ExtensionType | None = None) -> bytes:
    import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(key.public_key()).serial_number(7).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=1)))
    if extension is not None:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


@pytest.mark.parametrize("string_type", [_ASN1Type.BMPString, _ASN1Type.UniversalString,
                                         _ASN1Type.UTF8String, _ASN1Type.PrintableString])
def test_common_name_is_decoded_by_its_string_type(string_type: _ASN1Type) -> None:
    value = "Zürich CA" if string_type != _ASN1Type.PrintableString else "Zurich CA"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value, string_type)])
    assert parse_certificate(_self_signed(name)).subject_cn == value


def test_extension_value_must_fill_its_octet_string() -> None:
    der = bytearray(_self_signed(x509.Name([]), x509.SubjectKeyIdentifier(b"\x01" * 20)))
    marker = bytes([0x04, 22, 0x04, 20]) + b"\x01" * 20  # OCTET STRING { OCTET STRING }
    at = bytes(der).index(marker)
    der[at + 3] = 19  # the inner value now ends one byte before its wrapper
    with pytest.raises(DERError):
        parse_certificate(bytes(der))


@given(data=st.data())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_certificates_parse_or_raise_der_error(certs_dir: Path, data) -> None:
    """Whatever the bytes, the reader returns a certificate or raises DERError, fast."""
    import time

    (der,) = pem_to_der((certs_dir / "server-cert.pem").read_bytes())
    mutated = bytearray(der)
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, len(mutated) - 1))
        if kind == "flip":
            mutated[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            del mutated[at:at + data.draw(st.integers(1, 40))]
        else:
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=40))
        if not mutated:
            mutated = bytearray(b"\x30")
    started = time.monotonic()
    try:
        parsed = parse_certificate(bytes(mutated))
    except DERError:  # the one way to refuse: anything else would be a crash
        parsed = None
    assert time.monotonic() - started < 0.5
    assert parsed is None or parsed.der == bytes(mutated)


@pytest.mark.parametrize("newkey", [["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                                    ["ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
                                    ["rsa:2048"], ["ed25519"]])
def test_public_half_of_a_private_key_as_openssl_gives_it(tmp_path: Path,
                                                          newkey: list[str]) -> None:
    """A PKCS#8 key's own public half (EC point, RSA n and e) equals what `openssl pkey
    -pubout` derives; an Ed25519 key holds only its seed: None, openssl is asked."""
    from conftest import TOOL_OPENSSL

    from minipaas_certs.certinfo import public_key_of_private

    key = tmp_path / "key.pem"
    subprocess.run([TOOL_OPENSSL, "req", "-x509", "-newkey", *newkey, "-nodes", "-keyout",
                    str(key), "-out", str(tmp_path / "cert.pem"), "-subj", "/CN=x"],
                   check=True, capture_output=True)
    expected = subprocess.run([TOOL_OPENSSL, "pkey", "-in", str(key), "-pubout", "-outform",
                               "DER"], check=True, capture_output=True).stdout
    found = public_key_of_private(key.read_bytes())
    assert found == (None if newkey == ["ed25519"] else expected)
    assert public_key_of_private(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")\
        is None


@pytest.mark.parametrize("newkey, span", [(["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], None),
                                          (["rsa:1024"], 64)])
def test_a_public_half_is_read_only_from_a_key_openssl_reads_alike(tmp_path: Path, newkey,
                                                                   span) -> None:
    """Every one-bit change of a key (its first ``span`` bytes for RSA, where the header,
    the algorithm and the modulus's start lie): where the reader still finds a public
    half, openssl loads the key and derives the same one; else openssl is asked, as for
    a key whose point is off its curve, a changed tag, a non-minimal INTEGER."""
    import base64

    from conftest import TOOL_OPENSSL

    from minipaas_certs.certinfo import public_key_of_private

    key = tmp_path / "key.pem"
    subprocess.run([TOOL_OPENSSL, "req", "-x509", "-newkey", *newkey, "-nodes", "-keyout",
                    str(key), "-out", str(tmp_path / "cert.pem"), "-subj", "/CN=x"],
                   check=True, capture_output=True)
    lines = key.read_bytes().strip().splitlines()
    der = base64.b64decode(b"".join(lines[1:-1]))
    compared = 0
    for index in range(span or len(der)):
        for flip in (0x01, 0x80):
            changed = bytearray(der)
            changed[index] ^= flip
            pem = b"%s\n%s\n%s\n" % (lines[0], base64.b64encode(changed), lines[-1])
            found = public_key_of_private(pem)
            if found is None:
                continue
            derived = subprocess.run([TOOL_OPENSSL, "pkey", "-pubout", "-outform", "DER"],
                                     input=pem, capture_output=True)
            assert (derived.returncode, derived.stdout) == (0, found), (index, flip)
            compared += 1
    assert compared > 20  # the private scalar or exponent: changed, still a loadable key


@pytest.mark.parametrize("tag, text, expected", [
    (0x17, b"261127211500Z", "2026-11-27 21:15:00+00:00"),  # UTCTime, 20xx
    (0x17, b"500101000000Z", "1950-01-01 00:00:00+00:00"),  # UTCTime, 19xx from 50
    (0x18, b"20991231235959Z", "2099-12-31 23:59:59+00:00"),  # GeneralizedTime
    (0x17, b"2611272115Z", None),  # no seconds
    (0x18, b"20261127211500", None),  # no Z
    (0x18, b"2026112721150 Z", None),  # a space for a digit
    (0x18, b"20261327211500Z", None),  # month 13
    (0x18, b"20261127211560Z", None),  # second 60
    (0x18, b"2026112721150\xb2Z", None),  # not ASCII
    (0x04, b"20261127211500Z", None),  # not a time at all
])
def test_times_are_read_exactly_as_rfc_5280_writes_them(
        tag: int, text: bytes, expected: str | None) -> None:
    item = _TLV(tag, 0, 0, len(text))
    if expected is None:  # parse_certificate turns a ValueError into a DERError
        with pytest.raises((DERError, ValueError)):
            _time(text, item)
    else:
        assert str(_time(text, item)) == expected


def test_common_name_in_ia5string_as_cryptography_and_openssl_read_it(tmp_path: Path) -> None:
    from conftest import SYSTEM_OPENSSL

    value = "ci-runner@example.com"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value, _ASN1Type.IA5String)])
    der = _self_signed(name)
    assert b"\x16\x15" + value.encode() in der  # IA5String, 21 bytes
    parsed = parse_certificate(der)
    assert parsed.subject_cn == value == x509.load_der_x509_certificate(
        der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    (tmp_path / "cert.der").write_bytes(der)
    printed = subprocess.run([SYSTEM_OPENSSL, "x509", "-inform", "DER", "-in",
                              str(tmp_path / "cert.der"), "-noout", "-subject", "-nameopt",
                              "utf8,sep_comma_plus"], check=True, capture_output=True,
                             text=True).stdout
    assert printed.strip() == f"subject=CN={value}" and parsed.subject == f"CN={value}"


def test_common_name_in_t61string_is_latin1_as_openssl_reads_it(tmp_path: Path) -> None:
    """openssl itself writes "ü" as the one byte 0xFC in a T61String (string_mask default)
    and reads it back as Latin-1; cryptography reads T61 as UTF-8 (and refuses this
    certificate), so openssl is the reference here."""
    from conftest import SYSTEM_OPENSSL, TOOL_OPENSSL

    config = tmp_path / "req.cnf"
    config.write_text("[req]\ndistinguished_name = dn\nstring_mask = default\nprompt = no\n"
                      "[dn]\n")
    subprocess.run([TOOL_OPENSSL, "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem"), "-utf8", "-subj", "/CN=Zürich",
                    "-config", str(config)], check=True, capture_output=True)
    (der,) = pem_to_der((tmp_path / "cert.pem").read_bytes())
    assert b"\x14\x06Z\xfcrich" in der  # T61String, six bytes, ü as 0xFC
    printed = subprocess.run([SYSTEM_OPENSSL, "x509", "-in", str(tmp_path / "cert.pem"),
                              "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus"],
                             check=True, capture_output=True).stdout.decode()
    assert printed.strip() == "subject=CN=Zürich"
    parsed = parse_certificate(der)
    assert (parsed.subject_cn, parsed.subject) == ("Zürich", "CN=Zürich")


MULTI_BYTE_OIDS = ["2.999", "2.999.1", "1.2.840.113549.1.1.11",
                   f"2.25.{0xF81D4FAE_7DEC_11D0_A765_00A0C91E6BF6}",  # RFC 4122's example
                   f"2.25.{2**128 - 1}", "1.3.6.1.4.1.311.21.8.1"]


def test_multi_byte_arcs_in_an_eku_and_a_custom_extension() -> None:
    oids = [x509.ObjectIdentifier(dotted) for dotted in MULTI_BYTE_OIDS]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "arcs")])
    der = _self_signed(name, x509.ExtendedKeyUsage(oids))
    theirs = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert parse_certificate(der).extended_key_usage == tuple(
        oid.dotted_string for oid in theirs) == tuple(MULTI_BYTE_OIDS)
    for oid in oids:
        der = _self_signed(name, x509.UnrecognizedExtension(oid, b"\x05\x00"))
        assert set(parse_certificate(der).extensions) == {
            extension.oid.dotted_string
            for extension in x509.load_der_x509_certificate(der).extensions} \
            == {oid.dotted_string}


@functools.lru_cache(maxsize=None)
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# The string types cryptography writes a CN in, each with the characters it may hold;
# cryptography encodes all but BMP and Universal as UTF-8, so T61 is kept to ASCII.
# It takes 1 to 64 bytes of UTF-8.


def _cn(alphabet: st.SearchStrategy[str] | str | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=1, max_size=64) if alphabet is not None else \
        st.text(min_size=1, max_size=64).filter(lambda text: len(text.encode()) <= 64)


_ASCII = st.characters(max_codepoint=0x7F)
_CN_TEXT = {
    _ASN1Type.UTF8String: _cn(), _ASN1Type.BMPString: _cn(), _ASN1Type.UniversalString: _cn(),
    _ASN1Type.PrintableString: _cn(string.ascii_letters + string.digits + " '()+,-./:=?"),
    _ASN1Type.IA5String: _cn(_ASCII), _ASN1Type.T61String: _cn(_ASCII),
    _ASN1Type.VisibleString: _cn(st.characters(min_codepoint=0x20, max_codepoint=0x7E)),
    _ASN1Type.NumericString: _cn(string.digits + " "),
}
_ARC = st.integers(0, 2**128 - 1)


def _arc_bytes(arc: int) -> int:
    return max(1, -(-arc.bit_length() // 7))


_OIDS = st.one_of(
    st.tuples(st.integers(0, 1), st.integers(0, 39)),
    st.tuples(st.just(2), st.integers(0, 2**128 - 81)),
).flatmap(lambda head: st.lists(_ARC, max_size=3).map(lambda tail: (*head, *tail))).filter(
    lambda arcs: _arc_bytes(40 * arcs[0] + arcs[1]) + sum(map(_arc_bytes, arcs[2:])) <= 63
).map(lambda arcs: ".".join(map(str, arcs)))


@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_reader_agrees_with_cryptography_on_generated_certificates(data: st.DataObject) -> None:
    string_type = data.draw(st.sampled_from(sorted(_CN_TEXT, key=lambda t: t.value)))
    common_name = data.draw(_CN_TEXT[string_type])
    subject = x509.Name([
        *data.draw(st.lists(st.just(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ops")),
                            max_size=1)),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name, string_type)])
    dns = data.draw(st.lists(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                                     min_size=1, max_size=40), max_size=4))
    ips = data.draw(st.lists(st.ip_addresses(), max_size=4))
    sans: list[x509.GeneralName] = [*map(x509.DNSName, dns), *map(x509.IPAddress, ips)]
    sans = data.draw(st.permutations(sans)) if sans else sans
    eku = data.draw(st.none() | st.lists(_OIDS, min_size=1, max_size=4))
    ca = data.draw(st.sampled_from([None, False, True]))
    serial = data.draw(st.integers(1, 2**159 - 1))
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(_key().public_key()).serial_number(serial)
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=90)))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans),
                                        critical=data.draw(st.booleans()))
    if eku is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in eku]),
            critical=data.draw(st.booleans()))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                        critical=data.draw(st.booleans()))
    der = builder.sign(_key(), hashes.SHA256()).public_bytes(Encoding.DER)

    ours, theirs = parse_certificate(der), x509.load_der_x509_certificate(der)
    (cn,) = theirs.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert ours.subject_cn == ours.issuer_cn == cn.value == common_name
    assert ours.subject_der == theirs.subject.public_bytes() == ours.issuer_der
    assert ours.serial == theirs.serial_number
    assert (ours.not_before, ours.not_after) == (theirs.not_valid_before_utc,
                                                 theirs.not_valid_after_utc)
    assert dict(ours.extensions) == {e.oid.dotted_string: e.critical for e in theirs.extensions}
    try:
        names = theirs.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        assert (ours.dns_names, ours.ip_addresses) == ((), ())
    else:
        assert list(ours.dns_names) == names.get_values_for_type(x509.DNSName)
        assert list(ours.ip_addresses) == [str(ip) for ip in
                                           names.get_values_for_type(x509.IPAddress)]
    try:
        usages = theirs.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        assert ours.extended_key_usage == ()
    else:
        assert ours.extended_key_usage == tuple(oid.dotted_string for oid in usages) \
            == tuple(eku or ())
    try:
        is_ca = theirs.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    assert ours.is_ca is is_ca is bool(ca)
    assert ours.public_key_der == theirs.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert (ours.key_type, ours.key_bits) == ("ecdsa", 256)
