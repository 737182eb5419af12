"""renew on real files, and doctor where no daemon answers (show, check and the CA
rollover have files of their own: test_inventory, test_check, test_rotate_ca)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import load_cert, system_verify
from cryptography import x509
from cryptography.x509.oid import NameOID


def cn(path: Path) -> str:
    return load_cert(path).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


# --- renew --------------------------------------------------------------------------------

def test_renew_server_keeps_names_and_adds_new_ones(out: Path, cli) -> None:
    old = load_cert(out / "server-cert.pem")
    old_key = (out / "server-key.pem").read_bytes()
    result = cli("certs", "renew", "server", "--out", str(out), "--san", "node.example.com",
                 "--days", "90")
    assert result.code == 0, result.err
    new = load_cert(out / "server-cert.pem")
    names = new.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in names} == {"localhost", "10.0.0.5", "127.0.0.1",
                                             "node.example.com"}
    assert new.subject == old.subject and new.serial_number != old.serial_number
    assert (out / "server-key.pem").read_bytes() != old_key
    assert (new.not_valid_after_utc - new.not_valid_before_utc).days == 90
    assert system_verify(out / "ca.pem", out / "server-cert.pem", "sslserver").returncode == 0


def test_renew_keeps_the_key_type(tmp_path: Path, cli) -> None:
    folder = tmp_path / "c"
    assert cli("certs", "all", "--out", str(folder), "-q", "--key-type", "rsa",
               "--key-size", "2048").code == 0
    assert cli("certs", "renew", "client", "--out", str(folder), "-q").code == 0
    assert load_cert(folder / "cert.pem").public_key().key_size == 2048
    assert (folder / "cert.pem").read_bytes() == (folder / "client-cert.pem").read_bytes()
    assert cli("certs", "renew", "client", "--out", str(folder), "-q",
               "--key-type", "ed25519").code == 0
    assert load_cert(folder / "cert.pem").signature_hash_algorithm is not None  # CA is RSA


def test_renew_a_bundle(out: Path, cli) -> None:
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    before = (out / "clients" / "ci" / "cert.pem").read_bytes()
    assert cli("certs", "renew", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    assert (out / "clients" / "ci" / "cert.pem").read_bytes() != before
    assert cn(out / "clients" / "ci" / "cert.pem") == "ci"
    (backup,) = out.glob("backup-*")  # the previous pair is kept
    assert (backup / "clients" / "ci" / "cert.pem").read_bytes() == before


@pytest.mark.parametrize("args,code,text", [
    (["server", "--name", "m9"], 5, "nothing to renew"),
    ([], 2, "say what to renew: server, client, or --all"),
    (["--all", "--name", "ci"], 2, "--all renews every pair as it is"),
    (["client", "--san", "x.example"], 2, "--san is for server"),
    (["client", "--name", "nobody"], 5, "nothing to renew"),
    (["client", "--key-size", "2048"], 2, "--key-size 2048 is not valid for ecdsa keys (use "
                                          "256, 384): "),
])
def test_renew_refusals(out: Path, cli, args: list[str], code: int, text: str) -> None:
    result = cli("certs", "renew", *args, "--out", str(out))
    assert result.code == code and text in result.error_line


# --- doctor without a daemon --------------------------------------------------------------

def test_doctor_when_nothing_listens(out: Path, cli) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = cli("certs", "doctor", "--host", f"127.0.0.1:{port}", str(out))
    assert result.code == 8
    assert result.out.startswith(f"nothing listens on 127.0.0.1:{port}")


def test_doctor_needs_a_bundle(tmp_path: Path, cli) -> None:
    result = cli("certs", "doctor", "--host", "127.0.0.1", str(tmp_path))
    # No CA there either: `certs client` could not work, `certs all` does.
    assert result.code == 5 and result.error_line.endswith(
        f"holds no CA: create the set with `minipaas certs all --out {tmp_path} --san 127.0.0.1`")
    assert cli("certs", "ca", "--out", str(tmp_path), "-q").code == 0
    result = cli("certs", "doctor", "--host", "127.0.0.1", str(tmp_path))
    assert result.code == 5 and result.error_line.endswith(
        f"create them with `minipaas certs client --out {tmp_path}`")


def test_a_wildcard_first_san_still_renews(tmp_path: Path, cli) -> None:
    folder = tmp_path / "c"
    assert cli("certs", "all", "--out", str(folder), "-q", "--san",
               "*.swarm.example.com").code == 0
    assert cn(folder / "server-cert.pem") == "server"  # a wildcard is no CN
    result = cli("certs", "renew", "server", "--out", str(folder), "-q")
    assert result.code == 0, result.err
    assert cn(folder / "server-cert.pem") == "server"
