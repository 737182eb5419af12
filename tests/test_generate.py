"""Real openssl, real files: what `certs all|ca|server|client` write, parsed by cryptography."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
from pathlib import Path

import pytest
from conftest import ALL_FILES, load_cert, system_verify
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)


def common_name(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def sans(cert: x509.Certificate) -> set[str]:
    names = ext(cert, x509.SubjectAlternativeName).value
    return {f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)} | {
        f"IP:{a}" for a in names.get_values_for_type(x509.IPAddress)}


def test_all_writes_exactly_the_docker_files(certs_dir: Path) -> None:
    assert {p.name for p in certs_dir.iterdir()} == ALL_FILES


def test_cli_pair_is_an_equal_copy_of_the_client_pair(certs_dir: Path) -> None:
    assert (certs_dir / "cert.pem").read_bytes() == (certs_dir / "client-cert.pem").read_bytes()
    assert (certs_dir / "key.pem").read_bytes() == (certs_dir / "client-key.pem").read_bytes()
    assert not (certs_dir / "cert.pem").is_symlink()


def test_ca_extensions(certs_dir: Path) -> None:
    ca = load_cert(certs_dir / "ca.pem")
    constraints = ext(ca, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ext(ca, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    assert ext(ca, x509.SubjectKeyIdentifier).value.digest
    with pytest.raises(x509.ExtensionNotFound):
        ext(ca, x509.ExtendedKeyUsage)  # EKUs are enforced down the chain: none on the CA
    assert common_name(ca) == "minipaas-ca"
    assert ca.subject == ca.issuer


def test_server_extensions(certs_dir: Path) -> None:
    ca = load_cert(certs_dir / "ca.pem")
    server = load_cert(certs_dir / "server-cert.pem")
    constraints = ext(server, x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    assert list(ext(server, x509.ExtendedKeyUsage).value) == [SERVER_AUTH]
    usage = ext(server, x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign and not usage.key_encipherment
    assert sans(server) == {"IP:10.0.0.5", "DNS:manager.example.com", "DNS:localhost",
                            "IP:127.0.0.1"}
    assert ext(server, x509.AuthorityKeyIdentifier).value.key_identifier == \
        ext(ca, x509.SubjectKeyIdentifier).value.digest
    assert common_name(server) == "10.0.0.5"
    assert server.issuer == ca.subject


def test_client_extensions(certs_dir: Path) -> None:
    client = load_cert(certs_dir / "client-cert.pem")
    assert not ext(client, x509.BasicConstraints).value.ca
    assert list(ext(client, x509.ExtendedKeyUsage).value) == [CLIENT_AUTH]
    assert common_name(client) == "client"
    assert ext(client, x509.AuthorityKeyIdentifier).value.key_identifier


def test_signatures_serials_and_validity(certs_dir: Path) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    certs = {name: load_cert(certs_dir / name)
             for name in ("ca.pem", "server-cert.pem", "client-cert.pem")}
    serials = {cert.serial_number for cert in certs.values()}
    assert len(serials) == 3
    for cert in certs.values():
        assert cert.signature_hash_algorithm.name == "sha256"
        assert cert.serial_number.bit_length() >= 65
        assert cert.serial_number > 0
        assert abs((cert.not_valid_before_utc - now).total_seconds()) < 600
    assert (certs["ca.pem"].not_valid_after_utc - now).days in (3649, 3650)
    for name in ("server-cert.pem", "client-cert.pem"):
        assert (certs[name].not_valid_after_utc - now).days in (364, 365)
        assert certs[name].not_valid_after_utc <= certs["ca.pem"].not_valid_after_utc


def test_keys_match_certificates_and_are_p256(certs_dir: Path) -> None:
    for cert_name, key_name in (("ca.pem", "ca-key.pem"), ("server-cert.pem", "server-key.pem"),
                                ("client-cert.pem", "client-key.pem"), ("cert.pem", "key.pem")):
        key = load_pem_private_key((certs_dir / key_name).read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"
        assert load_cert(certs_dir / cert_name).public_key() == key.public_key()


def test_strict_verification_by_system_openssl(certs_dir: Path) -> None:
    ca = certs_dir / "ca.pem"
    assert system_verify(ca, certs_dir / "server-cert.pem", "sslserver").returncode == 0
    assert system_verify(ca, certs_dir / "client-cert.pem", "sslclient").returncode == 0
    # The purposes are real: each leaf fails the other's.
    assert system_verify(ca, certs_dir / "server-cert.pem", "sslclient").returncode != 0
    assert system_verify(ca, certs_dir / "client-cert.pem", "sslserver").returncode != 0


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o022])
def test_modes_whatever_the_umask(tmp_path: Path, cli, umask: int) -> None:
    old = os.umask(umask)
    try:
        result = cli("certs", "all", "--out", str(tmp_path / "new" / "certs"), "-q")
    finally:
        os.umask(old)
    assert result.code == 0, result.err
    out = tmp_path / "new" / "certs"
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.iterdir():
        expected = 0o600 if path.name.endswith("key.pem") else 0o644
        assert stat.S_IMODE(path.stat().st_mode) == expected, path.name


def test_stdout_lists_the_files_and_stderr_the_progress(tmp_path: Path, cli) -> None:
    result = cli("certs", "all", "--out", str(tmp_path / "c"))
    assert result.code == 0
    assert {Path(line).name for line in result.out.splitlines()} == ALL_FILES
    assert all(Path(line).exists() for line in result.out.splitlines())
    assert "Generating CA key (ECDSA P-256)" in result.err
    assert "Generating server key" in result.err and "Generating client key" in result.err
    quiet = cli("certs", "all", "--out", str(tmp_path / "q"), "--quiet")
    assert quiet.code == 0 and quiet.err == ""


KEY_CASES = [
    ("ecdsa", None, ec.EllipticCurvePrivateKey, 256),
    ("ecdsa", "384", ec.EllipticCurvePrivateKey, 384),
    ("rsa", "2048", rsa.RSAPrivateKey, 2048),
    ("rsa", None, rsa.RSAPrivateKey, 3072),
    ("ed25519", None, ed25519.Ed25519PrivateKey, None),
]


@pytest.mark.parametrize("key_type,size,key_class,bits", KEY_CASES)
def test_key_types(tmp_path: Path, cli, key_type: str, size: str | None, key_class: type,
                   bits: int | None) -> None:
    args = ["certs", "all", "--out", str(tmp_path), "-q", "--key-type", key_type]
    result = cli(*args, *(["--key-size", size] if size else []))
    assert result.code == 0, result.err
    for name in ("ca-key.pem", "server-key.pem", "client-key.pem"):
        key = load_pem_private_key((tmp_path / name).read_bytes(), password=None)
        assert isinstance(key, key_class)
        if bits:
            assert key.key_size == bits
    server = load_cert(tmp_path / "server-cert.pem")
    usage = ext(server, x509.KeyUsage).value
    assert usage.key_encipherment == (key_type == "rsa")  # only RSA key exchange needs it
    if key_type == "ed25519":
        assert server.signature_hash_algorithm is None
    else:  # P-384 keys sign with SHA-384, the rest with SHA-256
        expected = "sha384" if (key_type, bits) == ("ecdsa", 384) else "sha256"
        assert server.signature_hash_algorithm.name == expected
        assert load_cert(tmp_path / "ca.pem").signature_hash_algorithm.name == expected
    assert system_verify(tmp_path / "ca.pem", tmp_path / "server-cert.pem",
                         "sslserver").returncode == 0
    assert system_verify(tmp_path / "ca.pem", tmp_path / "cert.pem", "sslclient").returncode == 0


def test_days_options(tmp_path: Path, cli) -> None:
    assert cli("certs", "all", "--out", str(tmp_path), "-q", "--days", "30",
               "--ca-days", "60").code == 0
    now = datetime.datetime.now(datetime.timezone.utc)
    assert (load_cert(tmp_path / "ca.pem").not_valid_after_utc - now).days in (59, 60)
    assert (load_cert(tmp_path / "server-cert.pem").not_valid_after_utc - now).days in (29, 30)


def test_sans_ipv6_prefixes_and_no_defaults(tmp_path: Path, cli) -> None:
    result = cli("certs", "all", "--out", str(tmp_path), "-q", "--no-default-san",
                 "--san", "IP:2001:DB8::0001", "--san", "DNS:Docker.Example.com",
                 "--san", "*.swarm.example.com", "--san", "10.1.2.3", "--san", "10.1.2.3")
    assert result.code == 0, result.err
    server = load_cert(tmp_path / "server-cert.pem")
    assert sans(server) == {"IP:2001:db8::1", "DNS:docker.example.com",
                            "DNS:*.swarm.example.com", "IP:10.1.2.3"}
    addresses = ext(server, x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("2001:db8::1") in addresses


def test_san_from_environment_as_a_comma_list(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("MINIPAAS_CERTS_SAN", "10.9.9.9, node1.example.com")
    assert cli("certs", "all", "--out", str(tmp_path), "-q").code == 0
    assert sans(load_cert(tmp_path / "server-cert.pem")) == {
        "IP:10.9.9.9", "DNS:node1.example.com", "DNS:localhost", "IP:127.0.0.1"}


def test_out_from_environment(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("MINIPAAS_CERTS_OUT", str(tmp_path / "env-out"))
    assert cli("certs", "ca", "-q").code == 0
    assert {p.name for p in (tmp_path / "env-out").iterdir()} == {
        "ca.pem", "ca-key.pem", ".gitignore", "SHA256SUMS"}


def test_ca_then_server_then_client(tmp_path: Path, cli) -> None:
    assert cli("certs", "ca", "--out", str(tmp_path), "-q", "--cn", "Ops CA 2026").code == 0
    assert {p.name for p in tmp_path.iterdir()} == {"ca.pem", "ca-key.pem", ".gitignore",
                                                    "SHA256SUMS"}
    assert common_name(load_cert(tmp_path / "ca.pem")) == "Ops CA 2026"
    assert cli("certs", "server", "--out", str(tmp_path), "-q", "--san", "10.0.0.7").code == 0
    assert cli("certs", "client", "--out", str(tmp_path), "-q", "--cn", "ci-bot").code == 0
    assert {p.name for p in tmp_path.iterdir()} == ALL_FILES
    assert common_name(load_cert(tmp_path / "cert.pem")) == "ci-bot"
    assert system_verify(tmp_path / "ca.pem", tmp_path / "cert.pem", "sslclient").returncode == 0


def test_server_rotation_keeps_the_ca_and_replaces_the_pair(tmp_path: Path, cli) -> None:
    assert cli("certs", "all", "--out", str(tmp_path), "-q").code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert cli("certs", "server", "--out", str(tmp_path), "-q", "--san", "10.0.0.8").code == 0
    (backup,) = tmp_path.glob("backup-*")
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p != backup}
    assert set(after) == ALL_FILES
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"server-cert.pem", "server-key.pem", "SHA256SUMS"}
    assert "IP:10.0.0.8" in sans(load_cert(tmp_path / "server-cert.pem"))
    # rotation keeps the previous pair: a typo in --san loses nothing
    assert {p.name: p.read_bytes() for p in backup.iterdir()} == {
        name: before[name] for name in ("server-cert.pem", "server-key.pem")}
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    assert stat.S_IMODE((backup / "server-key.pem").stat().st_mode) == 0o600


def test_leaves_from_a_ca_in_another_folder(tmp_path: Path, cli) -> None:
    ca_dir, out = tmp_path / "ca", tmp_path / "ci"
    assert cli("certs", "ca", "--out", str(ca_dir), "-q").code == 0
    result = cli("certs", "client", "--out", str(out), "--ca-dir", str(ca_dir), "-q")
    assert result.code == 0, result.err
    names = {p.name for p in out.iterdir()}
    assert names == {"ca.pem", "client-cert.pem", "client-key.pem", "cert.pem", "key.pem",
                     ".gitignore", "SHA256SUMS"}
    assert (out / "ca.pem").read_bytes() == (ca_dir / "ca.pem").read_bytes()
    assert "ca-key.pem" not in names
    assert system_verify(out / "ca.pem", out / "cert.pem", "sslclient").returncode == 0


def test_many_serials_are_distinct_and_random(tmp_path: Path, cli) -> None:
    assert cli("certs", "ca", "--out", str(tmp_path), "-q").code == 0
    serials = set()
    for _ in range(8):
        assert cli("certs", "client", "--out", str(tmp_path), "-q").code == 0
        serials.add(load_cert(tmp_path / "client-cert.pem").serial_number)
    assert len(serials) == 8
    assert all(serial >= 2**64 for serial in serials)  # at least 64 random bits
    ordered = sorted(serials)
    assert all(b - a > 2**32 for a, b in zip(ordered, ordered[1:]))  # not counted up
    assert not list(tmp_path.glob("*.srl"))


def test_nothing_but_the_files_stays_behind(tmp_path: Path, cli) -> None:
    assert cli("certs", "all", "--out", str(tmp_path), "-q").code == 0
    assert cli("certs", "server", "--out", str(tmp_path), "-q").code == 0
    assert cli("certs", "client", "--out", str(tmp_path), "-q").code == 0
    leftovers = {p.name for p in tmp_path.iterdir()} - ALL_FILES
    assert len(leftovers) == 2 and all(name.startswith("backup-") for name in leftovers)
    assert not list(tmp_path.rglob("*.srl")) and not list(tmp_path.rglob("*.cnf"))


@pytest.mark.parametrize("count, sizes", [
    (0, []), (1, [1]), (15, [15]), (16, [8, 8]), (54, [27, 14, 13]),
    (200, [100, 50, 25, 13, 12]),
])
def test_many_leaves_are_signed_in_shrinking_parts(count: int, sizes: list[int]) -> None:
    from minipaas_certs.signers.local import batch_sizes

    assert batch_sizes(count) == sizes
    assert sum(batch_sizes(count)) == count
