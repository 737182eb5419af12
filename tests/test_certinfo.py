"""certinfo.py: the DER reader, against cryptography and against hostile input."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import load_cert
from cryptography import x509
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
