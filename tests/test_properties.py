"""Property-based tests (hypothesis): what the validators accept issues exactly what was
asked, with real openssl; whatever could carry config syntax is refused."""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from conftest import TOOL_OPENSSL
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from minipaas_certs.authority import create_ca
from minipaas_certs.errors import InvalidInput
from minipaas_certs.names import parse_common_name, parse_identity_name, parse_san, parse_sans
from minipaas_certs.openssl import OpenSSL
from minipaas_certs.plan import DAY, KeySpec, LeafSpec
from minipaas_certs.signing import issue_leaf

# Characters with a meaning in OpenSSL config files, inline lists or -subj.
INJECTION = "\n\r\x00#$,\"'\\=[]{}/+;% \t"
label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,12}[a-zA-Z0-9])?", fullmatch=True)
dns_name = st.lists(label, min_size=1, max_size=4).map(".".join)
wildcard = dns_name.map(lambda name: "*." + name)
noise = st.text(alphabet="ab0.-*:" + INJECTION, max_size=24)
san_value = st.one_of(
    dns_name, wildcard, noise,
    st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str),
    st.ip_addresses().map(lambda a: f"IP:{a}"), dns_name.map(lambda n: f"DNS:{n}"),
)
with_injection = st.tuples(st.text(max_size=16), st.sampled_from(INJECTION),
                           st.text(max_size=16)).map("".join)


@pytest.fixture(scope="module")
def signer() -> Iterator[tuple[OpenSSL, Path, object]]:
    openssl = OpenSSL(TOOL_OPENSSL)
    with tempfile.TemporaryDirectory() as folder:
        authority = create_ca(openssl, Path(folder), "property-ca", KeySpec.parse("ecdsa"), 30)
        yield openssl, Path(folder), authority


@given(values=st.lists(san_value, min_size=1, max_size=5))
@settings(max_examples=60, deadline=None)
def test_accepted_sans_are_issued_exactly(signer, values: list[str]) -> None:
    try:
        sans = parse_sans(values)
    except InvalidInput:
        return
    openssl, _, authority = signer
    with tempfile.TemporaryDirectory() as staging:
        spec = LeafSpec("server", "property", KeySpec.parse("ecdsa"), 5 * DAY, tuple(sans))
        issue_leaf(openssl, Path(staging), lambda: authority, spec)  # type: ignore[arg-type,return-value]
        cert = x509.load_pem_x509_certificate((Path(staging) / "server-cert.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {
        s.value for s in sans if s.kind == "DNS"}
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(s.value) for s in sans if s.kind == "IP"}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert len(cert.extensions) == 6  # nothing added by a value


@given(value=with_injection)
@settings(max_examples=300)
def test_values_that_could_inject_config_are_refused(value: str) -> None:
    for prefix in ("", "DNS:", "IP:"):
        with pytest.raises(InvalidInput):
            parse_san(prefix + value)
    with pytest.raises(InvalidInput):
        parse_identity_name(value)
    if value.strip(" ") == value and not set(value) & set(INJECTION.replace(" ", "")):
        return  # only inner spaces: a legitimate CN such as "Ops CA 2026"
    with pytest.raises(InvalidInput):
        parse_common_name(value)


@given(value=st.text(max_size=80))
@settings(max_examples=300)
def test_accepted_values_are_inert(value: str) -> None:
    """Whatever any validator accepts is plain ASCII without config syntax."""
    for parse in (lambda v: parse_san(v).value, parse_common_name, parse_identity_name):
        try:
            accepted = parse(value)
        except InvalidInput:
            continue
        assert accepted.isascii() and accepted.isprintable()
        assert not set(accepted) & set(INJECTION.replace(" ", ""))
