"""The signer protocol: each backend, and a backend written here as a newcomer would.

``KeyElsewhere`` signs with ca.pem from the output directory and a CA key kept in
another folder (an offline medium, say): a backend the package does not have,
written against ``signers.base`` alone.  ``generate`` carries out a plan with it
unchanged, which is what "a new backend is one module" means.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence

import pytest
from conftest import SYSTEM_OPENSSL, TOOL_OPENSSL, load_cert
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from minipaas_certs.authority import load_authority
from minipaas_certs.errors import CAProblem
from minipaas_certs.files import read_limited
from minipaas_certs.generate import generate
from minipaas_certs.layout import CA_CERT, CA_KEY
from minipaas_certs.openssl import OpenSSL
from minipaas_certs.plan import (
    DAY,
    CASpec,
    KeySpec,
    LeafSpec,
    Placement,
    Plan,
    Request,
    leaf_end,
)
from minipaas_certs.signers import choose
from minipaas_certs.signers.base import Signer, Signing, SigningRun
from minipaas_certs.signers.ca_files import CAFiles
from minipaas_certs.signers.engine import EngineSigner
from minipaas_certs.signers.local import sign_locally
from minipaas_certs.signers.new_ca import NewCA
from minipaas_certs.vault import Engine

KEY_NAME = "offline-ca-key.pem"


class KeyElsewhere(Signer):
    """ca.pem in the output directory; its key in ``key_folder``."""

    def __init__(self, key_folder: Path) -> None:
        self.key_folder = key_folder

    @property
    def options(self) -> tuple[str, ...]:
        return (f"--ca-key-folder {self.key_folder}",)

    def open(self, run: SigningRun) -> Signing:
        return _KeyElsewhereSigning(run, self.key_folder)


class _KeyElsewhereSigning(Signing):
    def __init__(self, run: SigningRun, key_folder: Path) -> None:
        super().__init__(run)
        key_pem = read_limited(key_folder / KEY_NAME, error=CAProblem)
        cert_pem = read_limited(run.out / CA_CERT, error=CAProblem)
        self.authority = load_authority(run.openssl, run.store.staging, run.out, cert_pem,
                                        key_pem, run.passphrase)
        HOOKS.append("open")

    def refuse(self, leaves: Sequence[LeafSpec], gone: set[str]) -> None:
        HOOKS.append("refuse")

    def prepare(self, leaves: Sequence[LeafSpec], placement: Placement,
                gone: set[str]) -> None:
        HOOKS.append("prepare")
        for spec in leaves:  # the check a CA from files makes: no leaf outlives its CA
            self.authority.check_can_sign_until(leaf_end(spec.lifetime))

    def sign(self, leaves: Sequence[LeafSpec]) -> bytes:
        HOOKS.append("sign")
        authority = self.authority
        return sign_locally(self.run, lambda: authority, leaves)

    def settle(self, leaves: Sequence[LeafSpec], placement: Placement, gone: set[str],
               anchors: bytes) -> None:
        HOOKS.append("settle")


HOOKS: list[str] = []  # the Signing hooks generate called, in order


@pytest.fixture
def key_elsewhere(tmp_path: Path, cli) -> tuple[Path, Path]:
    """A CA made by the tool, whose key then moves out of --out to another folder."""
    out, keys = tmp_path / "certs", tmp_path / "offline"
    assert cli("certs", "ca", "--out", str(out), "-q").code == 0
    keys.mkdir(mode=0o700)
    (out / CA_KEY).rename(keys / KEY_NAME)
    return out, keys


def test_a_backend_written_outside_the_package_signs_through_generate(
        key_elsewhere: tuple[Path, Path]) -> None:
    out, keys = key_elsewhere
    request = Request("server", "m1", sans=("m1.example", "10.0.0.11"))
    HOOKS.clear()
    outcome = generate(OpenSSL(TOOL_OPENSSL), out, Plan.issue(KeyElsewhere(keys), (request,)))
    cert = out / "servers/m1/server-cert.pem"
    assert cert in outcome.written
    assert HOOKS == ["open", "refuse", "prepare", "sign", "settle"]
    assert not (out / CA_KEY).exists() and (keys / KEY_NAME).exists()  # never copied in
    verified = subprocess.run([SYSTEM_OPENSSL, "verify", "-x509_strict", "-purpose", "sslserver",
                               "-CAfile", str(out / CA_CERT), str(cert)],
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    leaf = load_cert(cert)
    assert leaf.issuer == load_cert(out / CA_CERT).subject
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert (out / "servers/m1/ca.pem").read_bytes() == (out / CA_CERT).read_bytes()


def test_the_printed_commands_name_the_backend_by_its_options(
        key_elsewhere: tuple[Path, Path]) -> None:
    """A renewal that cannot keep a name prints the command that issues it anew, with
    the backend's own options: nothing in generate knows them."""
    out, keys = key_elsewhere
    openssl = OpenSSL(TOOL_OPENSSL)
    generate(openssl, out, Plan.issue(KeyElsewhere(keys), (
        Request("client", "ci", common_name="ci"),)))
    (out / "clients/ci/cert.pem").write_text("not a certificate\n")
    with pytest.raises(CAProblem, match=f"--ca-key-folder {keys} --force"):
        generate(openssl, out, Plan.renewal(KeyElsewhere(keys),
                                            Request("client", "ci", existing_only=True)))


def test_a_backend_error_leaves_the_directory_as_it_was(key_elsewhere: tuple[Path, Path]
                                                        ) -> None:
    out, keys = key_elsewhere
    before = sorted(p.name for p in out.iterdir())
    (keys / KEY_NAME).unlink()
    with pytest.raises(CAProblem):
        generate(OpenSSL(TOOL_OPENSSL), out, Plan.issue(KeyElsewhere(keys), (
            Request("server", sans=("a.example",)),)))
    assert sorted(p.name for p in out.iterdir()) == before


KEY = KeySpec.parse("ecdsa")


@pytest.mark.parametrize("options, kind, named", [
    ({}, CAFiles, ()),
    ({"ca_dir": Path("/srv/org ca")}, CAFiles, ("--ca-dir '/srv/org ca'",)),
    ({"new_ca": CASpec("ca", KEY, 30)}, NewCA, ()),
    ({"engine": Engine("https://bao.example:8200", "pki", "servers", "t", None, "VAULT_TOKEN",
                       {})}, EngineSigner, ("--vault-role servers",)),
])
def test_options_choose_one_backend(options: dict[str, object], kind: type[Signer],
                                    named: tuple[str, ...]) -> None:
    signer = choose(**options)  # type: ignore[arg-type]
    assert type(signer) is kind
    assert signer.options == named
    if kind is NewCA:
        assert Plan.new_set(signer).signer_options() == list(named)
    else:
        assert Plan.issue(signer, ()).signer_options() == list(named)
    assert (signer.new_ca is not None) == (kind is NewCA)


def test_only_a_new_ca_places_ca_files() -> None:
    leaf = LeafSpec("client", "ci", KEY, 30 * DAY, bundle="ci")
    made = Plan.new_set(NewCA(CASpec("ca", KEY, 100)), (leaf,)).placement([leaf])
    issued = Plan.issue(CAFiles(), ()).placement([leaf])
    assert set(made.files) == {CA_CERT, CA_KEY} and made.bundles == ["clients/ci"]
    assert issued.files == {} and issued.bundles == ["clients/ci"]


def test_one_signer_at_a_time() -> None:
    with pytest.raises(ValueError, match="one signer at a time"):
        choose(new_ca=CASpec("ca", KEY, 30), ca_dir=Path("org"))


def test_the_backend_refuses_a_leaf_that_would_outlive_its_ca(
        key_elsewhere: tuple[Path, Path]) -> None:
    out, keys = key_elsewhere
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(CAProblem, match=r"expires on .* before the new certificate would"):
        generate(OpenSSL(TOOL_OPENSSL), out, Plan.issue(KeyElsewhere(keys), (
            Request("client", "ci", lifetime=4000 * DAY),)))
    assert sorted(p.name for p in out.iterdir()) == before
