"""authority.py: a new CA made in two steps (a provisional CA that signs at once, then
the final one with exact dates that the leaves are checked against), with real openssl."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from conftest import TOOL_OPENSSL, load_cert
from cryptography import x509

from minipaas_certs import authority, plan, signing
from minipaas_certs.openssl import OpenSSL


def _new_ca(folder: Path, name: str) -> tuple[OpenSSL, authority.Authority]:
    """A provisional CA (``authority.start_ca``) in its own staging-like folder."""
    folder.mkdir(mode=0o700)
    openssl = OpenSSL(TOOL_OPENSSL)
    return openssl, authority.start_ca(openssl, folder, name, plan.KeySpec.parse("ecdsa"), 30)


def test_a_new_ca_is_the_provisional_one_with_exact_dates(tmp_path: Path) -> None:
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    openssl, provisional = _new_ca(tmp_path / "s", "Example CA")
    final = authority.finish_ca(openssl, provisional, 30)
    ours, theirs = load_cert(final.cert_path), load_cert(provisional.cert_path)
    assert ours.subject.public_bytes() == theirs.subject.public_bytes()  # the same DER name
    assert ours.public_key() == theirs.public_key()
    assert ours.extensions.get_extension_for_class(x509.SubjectKeyIdentifier) == \
        theirs.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert ours.not_valid_before_utc == provisional.starts  # backdated, exactly
    assert before - plan.BACKDATE - ours.not_valid_before_utc <= datetime.timedelta(seconds=1)
    assert ours.not_valid_after_utc - ours.not_valid_before_utc == \
        datetime.timedelta(days=30) + plan.BACKDATE
    assert not (tmp_path / "s" / authority.CA_WORK).exists()


def test_a_ca_re_signed_from_another_certificate_is_refused(tmp_path: Path) -> None:
    openssl, first = _new_ca(tmp_path / "a", "First CA")
    _, second = _new_ca(tmp_path / "b", "Second CA")
    # The first CA's folder and key, but the second CA's certificate as the one made.
    mixed = authority.Authority(first.cert_path, first.key_path, second.certificate,
                                valid_from=first.starts)
    with pytest.raises(authority.OutputError,
                       match="another name, key or serial than the certificate"):
        authority.finish_ca(openssl, mixed, 30)


def test_leaves_whose_issuer_is_not_the_final_ca_are_refused(tmp_path: Path) -> None:
    """Go finds a leaf's CA by the exact bytes of its issuer name and key identifier:
    a leaf signed by one CA and checked against another is refused before any
    verify, whatever openssl would say."""
    openssl, signer = _new_ca(tmp_path / "a", "Example CA")
    _, other = _new_ca(tmp_path / "b", "Example CA")  # the same name, another key
    staging = tmp_path / "a"
    spec = plan.LeafSpec("client", "ci", plan.KeySpec.parse("ecdsa"), plan.DAY)
    request = signing.request_leaf(openssl, staging, spec)
    final = authority.finish_ca(openssl, other, 30)
    with pytest.raises(signing.OutputError, match="issuer name or key identifier other than"):
        signing.sign_leaves(openssl, staging, signer, [request], trust=lambda: final)
