"""Swarm clusters: a bundle per manager, rotation with backups, re-issue and revocation.

Every certificate is made by the real openssl and checked here with
``cryptography`` (signatures, names, key types), independently of the tool.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import load_cert, system_verify
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

MANAGERS = {"m1": "10.0.0.11", "m2": "10.0.0.12", "m3": "10.0.0.13"}


def cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def sans(cert: x509.Certificate) -> set[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*(f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)),
            *(f"IP:{n}" for n in names.get_values_for_type(x509.IPAddress))}


def key_kind(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ec{key.curve.key_size}"
    assert isinstance(key, ed25519.Ed25519PublicKey)
    return "ed25519"


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):  # another issuer, or a bad signature
        return False
    return True


def cas_in(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def leaves(out: Path) -> dict[str, x509.Certificate]:
    """Every leaf certificate in the set, by file."""
    names = ["server-cert.pem", "client-cert.pem", "cert.pem",
             *(str(p.relative_to(out)) for p in out.glob("servers/*/server-cert.pem")),
             *(str(p.relative_to(out)) for p in out.glob("clients/*/cert.pem"))]
    return {name: load_cert(out / name) for name in names if (out / name).exists()}


def bundle_cas(out: Path) -> list[Path]:
    return sorted([*out.glob("servers/*/ca.pem"), *out.glob("clients/*/ca.pem")])


@pytest.fixture
def swarm(tmp_path: Path, cli) -> Path:
    """A set with three managers (m2 RSA), and clients alice (Ed25519) and bob."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q", "--key-type", "ecdsa",
               "--key-size", "384").code == 0
    for name, address in MANAGERS.items():
        extra = ["--key-type", "rsa", "--key-size", "2048"] if name == "m2" else []
        result = cli("certs", "server", "--out", str(out), "-q", "--name", name, "--san",
                     address, "--san", f"{name}.swarm.example", *extra)
        assert result.code == 0, result.err
    assert cli("certs", "client", "--out", str(out), "-q", "--name", "alice",
               "--key-type", "ed25519").code == 0
    assert cli("certs", "client", "--out", str(out), "-q", "--name", "bob").code == 0
    return out


def test_a_manager_bundle_holds_what_its_etc_docker_needs(swarm: Path) -> None:
    folder = swarm / "servers" / "m1"
    assert sorted(p.name for p in folder.iterdir()) == ["ca.pem", "server-cert.pem",
                                                        "server-key.pem"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "server-key.pem").stat().st_mode) == 0o600
    assert (folder / "ca.pem").read_bytes() == (swarm / "ca.pem").read_bytes()
    cert = load_cert(folder / "server-cert.pem")
    assert sans(cert) == {"IP:10.0.0.11", "DNS:m1.swarm.example", "DNS:localhost",
                          "IP:127.0.0.1"}
    assert cn(cert) == "10.0.0.11" and signed_by(cert, load_cert(swarm / "ca.pem"))
    assert system_verify(folder / "ca.pem", folder / "server-cert.pem",
                         "sslserver").returncode == 0
    assert key_kind(load_cert(swarm / "servers" / "m2" / "server-cert.pem")) == "rsa2048"
    assert "servers/m1/server-cert.pem" in (swarm / "SHA256SUMS").read_text()
    assert "server-key" not in (swarm / "SHA256SUMS").read_text()


def test_show_check_and_verify_sums_see_every_manager(swarm: Path, cli) -> None:
    shown = json.loads(cli("certs", "show", str(swarm), "--json").out)
    by_file = {entry["file"]: entry for entry in shown["certificates"]}
    assert by_file["servers/m3/server-cert.pem"]["role"] == "server"
    assert "IP:10.0.0.13" in by_file["servers/m3/server-cert.pem"]["sans"]
    assert {"servers/m1/server-cert.pem", "clients/alice/cert.pem"} <= set(by_file)
    assert "servers/m2/server-cert.pem  (server)" in cli("certs", "show", str(swarm)).out
    checked = cli("certs", "check", str(swarm))
    # show lists 9 files; cert.pem is client-cert.pem's copy, one certificate.
    assert checked.code == 0 and "8 certificates" in checked.out, checked.out
    assert cli("certs", "verify-sums", str(swarm)).code == 0
    (swarm / "servers" / "m2" / "server-cert.pem").write_bytes(
        (swarm / "servers" / "m1" / "server-cert.pem").read_bytes())
    assert "servers/m2/server-cert.pem: its SHA-256 differs" in cli(
        "certs", "verify-sums", str(swarm)).out


def test_check_judges_each_manager_as_dockerd_will(swarm: Path, tmp_path: Path, cli) -> None:
    other = tmp_path / "other"
    assert cli("certs", "ca", "--out", str(other), "-q").code == 0
    # m1 trusts another CA: dockerd there would refuse every client
    shutil.copy(other / "ca.pem", swarm / "servers" / "m1" / "ca.pem")
    # m2 still trusts an extra CA: what it signed would still be accepted there
    with (swarm / "servers" / "m2" / "ca.pem").open("ab") as bundle:
        bundle.write((other / "ca.pem").read_bytes())
    # m3's key is another manager's
    shutil.copy(swarm / "servers" / "m1" / "server-key.pem",
                swarm / "servers" / "m3" / "server-key.pem")
    report = json.loads(cli("certs", "check", str(swarm), "--json").out)
    found = {(f["file"], f["message"]) for f in report["findings"]}
    ours = load_cert(swarm / "ca.pem").fingerprint(hashes.SHA256()).hex().upper()[:8]
    theirs = load_cert(other / "ca.pem").fingerprint(hashes.SHA256()).hex().upper()[:8]

    def said(file: str, start: str, fingerprint: str) -> bool:
        # Both CAs are CN=minipaas-ca: the fingerprint tells which is meant.
        pretty = ":".join(fingerprint[i:i + 2] for i in range(0, 8, 2))
        return any(f == file and m.startswith(start) and pretty in m for f, m in found)

    # Another CA's file in its place is one problem: one finding names both CAs.
    assert said("servers/m1/ca.pem", "trusts CN=minipaas-ca", theirs)
    assert said("servers/m1/ca.pem", "trusts CN=minipaas-ca", ours)
    assert sum(1 for f, _ in found if f == "servers/m1/ca.pem") == 1
    assert said("servers/m2/ca.pem", "still trusts CN=minipaas-ca", theirs)
    assert not any(f == "servers/m2/ca.pem" and m.startswith("lacks") for f, m in found)
    assert ("servers/m3/server-key.pem", "does not match servers/m3/server-cert.pem") in found
    fixes = {f["file"]: f["fix"] for f in report["findings"]}
    assert fixes["servers/m3/server-key.pem"].endswith("renew server --out "
                                                       f"{swarm} --name m3")
    assert report["status"] == "problem"
    os.unlink(swarm / "servers" / "m2" / "server-key.pem")
    assert "servers/m2/server-key.pem: missing" in cli("certs", "check", str(swarm)).out


def test_rotation_keeps_the_previous_pair_of_a_manager_and_of_the_client(
        swarm: Path, cli) -> None:
    before = {p.name: p.read_bytes() for p in (swarm / "servers" / "m1").iterdir()}
    # A typo in --san drops the manager's names: refused, nothing changes.
    assert cli("certs", "server", "--out", str(swarm), "-q", "--name", "m1", "--san",
               "10.0.0.99").code == 2
    assert not list(swarm.glob("backup-*"))
    # Forced anyway: the working pair is kept in a backup.
    assert cli("certs", "server", "--out", str(swarm), "-q", "--name", "m1", "--san",
               "10.0.0.99", "--force").code == 0
    (backup,) = swarm.glob("backup-*")
    assert {p.name: p.read_bytes() for p in (backup / "servers" / "m1").iterdir()} == before
    assert stat.S_IMODE((backup / "servers" / "m1" / "server-key.pem").stat().st_mode) == 0o600
    client = {name: (swarm / name).read_bytes() for name in
              ("client-cert.pem", "client-key.pem", "cert.pem", "key.pem")}
    assert cli("certs", "client", "--out", str(swarm), "-q").code == 0
    (second,) = set(swarm.glob("backup-*")) - {backup}
    assert {name: (second / name).read_bytes() for name in client} == client


def test_renew_keeps_a_managers_names_and_renew_all_keeps_every_identity(
        swarm: Path, cli) -> None:
    old = leaves(swarm)
    assert cli("certs", "renew", "server", "--out", str(swarm), "--name", "m2", "-q").code == 0
    renewed = load_cert(swarm / "servers" / "m2" / "server-cert.pem")
    assert renewed.serial_number != old["servers/m2/server-cert.pem"].serial_number
    assert sans(renewed) == sans(old["servers/m2/server-cert.pem"])
    assert key_kind(renewed) == "rsa2048" and cn(renewed) == "10.0.0.12"
    result = cli("certs", "renew", "--all", "--within", "100%", "--out", str(swarm))
    assert result.code == 0, result.err
    new = leaves(swarm)
    assert set(new) == set(old)
    ca = load_cert(swarm / "ca.pem")
    for name, cert in new.items():
        assert cert.serial_number != old[name].serial_number, name
        assert (cn(cert), key_kind(cert)) == (cn(old[name]), key_kind(old[name])), name
        assert signed_by(cert, ca), name
        if "server" in name:
            assert sans(cert) == sans(old[name]), name
        span = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert span == old[name].not_valid_after_utc - old[name].not_valid_before_utc, name
    assert cli("certs", "check", str(swarm)).code == 0


def test_rotate_ca_carries_every_manager_along(swarm: Path, cli) -> None:
    assert cli("certs", "rotate-ca", "start", "--out", str(swarm), "-q").code == 0
    for path in bundle_cas(swarm):
        assert path.read_bytes() == (swarm / "ca.pem").read_bytes()
        assert len(cas_in(path)) == 2, path
    refused = cli("certs", "rotate-ca", "finish", "--out", str(swarm))
    assert refused.code == 4 and "servers/m1/server-cert.pem" in refused.error_line
    for name in MANAGERS:
        assert cli("certs", "renew", "server", "--out", str(swarm), "--name", name,
                   "-q").code == 0
    refused = cli("certs", "rotate-ca", "finish", "--out", str(swarm))
    assert refused.code == 4 and "servers/" not in refused.error_line  # clients remain
    assert cli("certs", "renew", "--all", "--within", "100%", "--out", str(swarm), "-q").code == 0
    assert cli("certs", "rotate-ca", "finish", "--out", str(swarm), "-q").code == 0
    (new_ca,) = cas_in(swarm / "ca.pem")
    for path in bundle_cas(swarm):
        assert cas_in(path) == [new_ca], path
    assert all(signed_by(cert, new_ca) for cert in leaves(swarm).values())
    assert cli("certs", "check", str(swarm)).code == 0


def test_a_new_ca_refuses_to_orphan_the_bundles(swarm: Path, cli) -> None:
    """A new CA never leaves certificates of the previous one beside its ca.pem: `check`
    is clean after every exit 0 (it once warned, exited 0 and check said 8)."""
    before = {str(p): p.read_bytes() for p in swarm.rglob("*") if p.is_file()}
    result = cli("certs", "all", "--out", str(swarm), "--force")
    assert result.code == 4
    line = result.error_line
    assert "servers/m1, servers/m2, servers/m3, clients/alice, clients/bob in " in line
    assert "add --reissue" in line
    assert {str(p): p.read_bytes() for p in swarm.rglob("*") if p.is_file()} == before
    assert cli("certs", "all", "--out", str(swarm), "--force", "--reissue", "-q").code == 0
    assert cli("certs", "check", str(swarm)).code == 0


def test_a_new_ca_with_reissue_leaves_nothing_behind(swarm: Path, cli) -> None:
    old_ca, old = load_cert(swarm / "ca.pem"), leaves(swarm)
    result = cli("certs", "ca", "--out", str(swarm), "--force", "--reissue",
                 "--key-type", "rsa", "--key-size", "2048")
    assert result.code == 0, result.err
    assert "manager m2: servers/m2/ca.pem" in result.err
    new_ca = load_cert(swarm / "ca.pem")
    assert key_kind(new_ca) == "rsa2048"
    for name, cert in leaves(swarm).items():
        assert signed_by(cert, new_ca) and not signed_by(cert, old_ca), name
        assert (cn(cert), key_kind(cert)) == (cn(old[name]), key_kind(old[name])), name
    for path in bundle_cas(swarm):
        assert cas_in(path) == [new_ca], path
    assert cli("certs", "check", str(swarm)).code == 0


def test_revoke_a_client_re_issues_everyone_else_from_a_new_ca(swarm: Path, cli) -> None:
    old_ca, old = load_cert(swarm / "ca.pem"), leaves(swarm)
    alice = (swarm / "clients" / "alice" / "cert.pem").read_bytes()
    result = cli("certs", "revoke", "--out", str(swarm), "--name", "alice")
    assert result.code == 0, result.err
    new_ca = load_cert(swarm / "ca.pem")
    assert key_kind(new_ca) == "ec384" and new_ca.serial_number != old_ca.serial_number
    assert cas_in(swarm / "ca.pem") == [new_ca]
    for path in bundle_cas(swarm):  # the old CA stays in no bundle
        assert cas_in(path) == [new_ca], path
    new = leaves(swarm)
    assert set(new) == set(old) - {"clients/alice/cert.pem"}
    for name, cert in new.items():
        assert signed_by(cert, new_ca) and not signed_by(cert, old_ca), name
        assert (cn(cert), key_kind(cert)) == (cn(old[name]), key_kind(old[name])), name
        if "server" in name:
            assert sans(cert) == sans(old[name]), name
    revoked = x509.load_pem_x509_certificate(alice)
    assert not signed_by(revoked, new_ca)
    copy = swarm.parent / "alice.pem"
    copy.write_bytes(alice)
    for path in [swarm / "ca.pem", *bundle_cas(swarm)]:
        assert system_verify(path, copy, "sslclient").returncode != 0, path
    # the old CA and alice's bundle are kept aside, not deleted
    (backup,) = swarm.glob("backup-*")
    assert (backup / "clients" / "alice" / "cert.pem").read_bytes() == alice
    assert load_cert(backup / "ca.pem") == old_ca and (backup / "ca-key.pem").exists()
    assert not (swarm / "clients" / "alice").exists()
    # the record, in show and in show --json
    record = json.loads((swarm / "revoked.json").read_text())
    (entry,) = record["revoked"]
    assert (entry["name"], entry["role"], entry["common_name"]) == ("alice", "client", "alice")
    assert int(entry["serial"], 16) == revoked.serial_number
    shown = json.loads(cli("certs", "show", str(swarm), "--json").out)
    assert shown["revoked"] == record["revoked"]
    assert f"serial {entry['serial']}" in cli("certs", "show", str(swarm)).out
    assert "Revoked clients/alice" in result.err and "client bob" in result.err
    assert cli("certs", "check", str(swarm)).code == 0
    assert cli("certs", "verify-sums", str(swarm)).code == 0
    # a second revocation adds to the record
    assert cli("certs", "revoke", "--out", str(swarm), "--server", "m3", "-q").code == 0
    names = [e["name"] for e in json.loads((swarm / "revoked.json").read_text())["revoked"]]
    assert names == ["alice", "m3"] and not (swarm / "servers" / "m3").exists()
    assert cli("certs", "check", str(swarm)).code == 0


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("args,code,text", [
    (["--name", "carol"], 2, "no bundle"),
    (["--server", "m9"], 2, "no bundle"),
    ([], 2, "name what to revoke"),
    (["--name", "Bad,Name"], 2, "Invalid value for '--name'"),
])
def test_revoke_refusals_change_nothing(swarm: Path, cli, args: list[str], code: int,
                                        text: str) -> None:
    before = snapshot(swarm)
    result = cli("certs", "revoke", "--out", str(swarm), *args)
    assert result.code == code and text in result.error_line
    assert snapshot(swarm) == before


def test_revoke_refuses_a_damaged_record_and_a_folder_without_the_ca_key(
        swarm: Path, tmp_path: Path, cli) -> None:
    (swarm / "revoked.json").write_text('{"version": 1, "revoked": [{"name": 1}]}')
    before = snapshot(swarm)
    result = cli("certs", "revoke", "--out", str(swarm), "--name", "bob")
    assert result.code == 6 and "not a revocation record" in result.error_line
    assert snapshot(swarm) == before
    checked = cli("certs", "check", str(swarm))
    assert checked.code == 8 and "problem: revoked.json: " in checked.out
    elsewhere = tmp_path / "elsewhere"
    assert cli("certs", "client", "--out", str(elsewhere), "--ca-dir", str(swarm), "--name",
               "eve", "-q").code == 0
    result = cli("certs", "revoke", "--out", str(elsewhere), "--name", "eve")
    assert result.code == 5 and "holds no ca-key.pem" in result.error_line


def encrypted_set(tmp_path: Path, cli) -> tuple[Path, Path]:
    """A set whose CA key is encrypted, with the client bundle ``ci``; and its passphrase."""
    out, secret = tmp_path / "certs", tmp_path / "secret"
    secret.write_text("correct horse\n")
    assert cli("certs", "all", "--out", str(out), "-q", "--ca-passphrase-file",
               str(secret)).code == 0
    assert cli("certs", "client", "--out", str(out), "-q", "--name", "ci",
               "--ca-passphrase-file", str(secret)).code == 0
    return out, secret


def test_revoke_keeps_an_encrypted_ca_key_encrypted(tmp_path: Path, cli) -> None:
    out, secret = encrypted_set(tmp_path, cli)
    before = snapshot(out)
    result = cli("certs", "revoke", "--out", str(out), "--name", "ci")
    assert result.code == 5 and "is encrypted" in result.error_line
    assert snapshot(out) == before
    assert cli("certs", "revoke", "--out", str(out), "--name", "ci", "-q",
               "--ca-passphrase-file", str(secret)).code == 0
    assert b"ENCRYPTED PRIVATE KEY" in (out / "ca-key.pem").read_bytes()
    assert cli("certs", "client", "--out", str(out), "-q", "--name", "ci2",
               "--ca-passphrase-file", str(secret)).code == 0


def test_env_checks_the_host_against_every_manager(swarm: Path, cli) -> None:
    result = cli("certs", "env", "--out", str(swarm), "--host", "10.0.0.12")
    assert result.code == 0 and result.err == ""
    result = cli("certs", "env", "--out", str(swarm), "--host", "10.0.0.77")
    assert "10.0.0.77 is not among the names of any server certificate" in result.err
    # The fix renews a manager's bundle, which keeps its other names and its lifetime.
    assert f"renew server --out {swarm} --name MANAGER --san 10.0.0.77`" in result.err


def test_folders_that_are_not_bundles_are_left_alone_and_reported(swarm: Path, cli) -> None:
    for name in ("servers/M1", "clients/.git", "clients/ev\nil"):
        shutil.copytree(swarm / "servers" / "m1", swarm / name)
    (swarm / "clients" / "notes.txt").write_text("x")
    strangers = {name: (swarm / name / "server-cert.pem").read_bytes()
                 for name in ("servers/M1", "clients/.git", "clients/ev\nil")}
    assert cli("certs", "renew", "--all", "--within", "100%", "--out", str(swarm), "-q").code == 0
    assert {name: (swarm / name / "server-cert.pem").read_bytes() for name in strangers} \
        == strangers  # not re-issued, not moved
    assert cli("certs", "verify-sums", str(swarm)).code == 0
    assert "\n" not in "".join(line.split("  ", 1)[1] for line in
                               (swarm / "SHA256SUMS").read_text().splitlines())
    report = json.loads(cli("certs", "check", str(swarm), "--json").out)
    assert report["status"] == "warning"
    assert {f["file"] for f in report["findings"]} == {
        "clients/.git", "clients/ev\nil", "clients/notes.txt", "servers/M1"}
    assert cli("certs", "revoke", "--out", str(swarm), "--name", "bob", "-q").code == 0
    assert (swarm / "servers" / "M1").exists() and cli("certs", "verify-sums", str(swarm)).code == 0


def test_reissue_refusals_change_nothing(swarm: Path, tmp_path: Path, cli) -> None:
    before = snapshot(swarm)
    for args, code, text in [
        (["revoke", "--name", "bob", "--ca-days", "1"], 2, "--ca-days 1 leaves no time"),
        (["revoke", "--name", "bob", "--days", "4000"], 2, "--days 4000 must be shorter"),
        (["revoke", "--client", "m1"], 2, "did you mean --server m1?"),
        (["ca", "--force", "--reissue", "--ca-days", "1"], 2, "leaves no time"),
    ]:
        result = cli("certs", *args, "--out", str(swarm))
        assert result.code == code and text in result.error_line, (args, result.err)
        assert snapshot(swarm) == before, args
    # A client bundle that holds a server certificate is still revoked: its key would
    # otherwise get into every daemon that trusts the old CA.
    shutil.copy(swarm / "servers" / "m1" / "server-cert.pem",
                swarm / "clients" / "bob" / "cert.pem")
    result = cli("certs", "revoke", "--out", str(swarm), "--name", "bob", "-q")
    assert result.code == 0, result.err
    (backup,) = swarm.glob("backup-*")
    assert (backup / "clients" / "bob").is_dir() and not (swarm / "clients" / "bob").exists()
    assert cli("certs", "check", str(swarm)).code == 0


def test_renew_all_refuses_a_pair_without_its_certificate(swarm: Path, cli) -> None:
    os.unlink(swarm / "client-cert.pem")
    before = snapshot(swarm)
    result = cli("certs", "renew", "--all", "--within", "100%", "--out", str(swarm))
    assert result.code == 5 and "client-cert.pem is missing" in result.error_line
    assert snapshot(swarm) == before


def test_revoke_refuses_a_wrong_passphrase(tmp_path: Path, cli) -> None:
    out, _ = encrypted_set(tmp_path, cli)
    wrong = tmp_path / "wrong"
    wrong.write_text("correct h0rse\n")
    before = snapshot(out)
    result = cli("certs", "revoke", "--out", str(out), "--name", "ci",
                 "--ca-passphrase-file", str(wrong))
    assert result.code == 5 and "cannot decrypt" in result.error_line
    assert snapshot(out) == before
