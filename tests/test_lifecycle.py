"""show, check, renew and the CA rollover, on real files (expired and near-expiry ones
made with short validity or re-signed with backdated dates)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import load_cert, reissue, system_verify, write_ca
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID


@pytest.fixture
def out(tmp_path: Path, cli) -> Path:
    folder = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(folder), "-q", "--san", "10.0.0.5").code == 0
    return folder


def cn(path: Path) -> str:
    return load_cert(path).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


# --- show ---------------------------------------------------------------------------------

def test_show_lists_every_certificate(out: Path, cli) -> None:
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    result = cli("certs", "show", str(out))
    assert result.code == 0
    text = result.out
    for header in ("ca.pem  (ca)", "server-cert.pem  (server)", "client-cert.pem  (client)",
                   "cert.pem  (client)", "clients/ci/cert.pem  (client)"):
        assert header in text
    assert "SANs      DNS:localhost, IP:10.0.0.5, IP:127.0.0.1" in text
    assert "key       ECDSA P-256" in text and "(364 days left)" in text
    fingerprint = load_cert(out / "ca.pem").fingerprint(hashes.SHA256()).hex().upper()
    assert ":".join(fingerprint[i:i + 2] for i in range(0, 64, 2)) in text


def test_show_json_is_stable(out: Path, cli) -> None:
    result = cli("certs", "show", str(out), "--json")
    data = json.loads(result.out)
    assert data["rollover"] is None
    files = [entry["file"] for entry in data["certificates"]]
    assert files == ["ca.pem", "server-cert.pem", "client-cert.pem", "cert.pem"]
    server = data["certificates"][1]
    assert set(server) == {"file", "role", "subject", "issuer", "sans", "extended_key_usage",
                           "key", "serial", "not_before", "not_after", "days_left",
                           "hours_left", "sha256", "subject_dn", "issuer_dn", "chain"}
    assert (server["subject_dn"], server["chain"]) == ("CN=10.0.0.5", [])
    assert server["role"] == "server" and server["extended_key_usage"] == ["serverAuth"]
    assert server["key"] == {"type": "ecdsa", "bits": 256}
    assert server["days_left"] == 364
    assert int(server["serial"], 16) == load_cert(out / "server-cert.pem").serial_number


def test_show_uses_the_environment_default(out: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("MINIPAAS_CERTS_OUT", str(out))
    assert "server-cert.pem" in cli("certs", "show").out


def test_show_of_a_missing_directory(tmp_path: Path, cli) -> None:
    result = cli("certs", "show", str(tmp_path / "none"))
    assert result.code == 6 and "not a directory" in result.error_line


# --- check --------------------------------------------------------------------------------

def test_check_passes_on_a_fresh_set(out: Path, cli) -> None:
    result = cli("certs", "check", str(out))
    assert result.code == 0
    # ca.pem, server-cert.pem, client-cert.pem: cert.pem is client-cert.pem's copy.
    assert result.out.strip() == f"OK: {out}: 3 certificates, none expires within 30 days"


def test_check_counts_in_the_singular(tmp_path: Path, cli) -> None:
    assert cli("certs", "ca", "--out", str(tmp_path), "-q").code == 0
    result = cli("certs", "check", str(tmp_path), "--warn-days", "1")
    assert result.out.strip() == f"OK: {tmp_path}: 1 certificate, none expires within 1 day"


def test_check_warns_before_expiry(tmp_path: Path, cli) -> None:
    folder = tmp_path / "c"
    assert cli("certs", "all", "--out", str(folder), "-q", "--days", "10").code == 0
    assert cli("certs", "check", str(folder)).code == 7
    result = cli("certs", "check", str(folder), "--warn-days", "5")
    assert result.code == 0
    lines = cli("certs", "check", str(folder)).out.splitlines()
    # One warning per pair: cert.pem, a true copy of client-cert.pem, is named in its line.
    assert len(lines) == 2
    assert lines[0].startswith("warning: client-cert.pem: expires on ")
    assert lines[0].endswith(f"(its copy cert.pem too); fix: minipaas certs renew client "
                             f"--out {folder}")
    assert lines[1].startswith("warning: server-cert.pem: expires on ")
    assert lines[1].endswith(f"fix: minipaas certs renew server --out {folder}")


def test_check_reports_a_cert_pem_that_is_no_copy(out: Path, tmp_path: Path, cli) -> None:
    """The docker CLI reads cert.pem: one that is not client-cert.pem's copy (an older
    pair put back, say) is a problem of its own, and checked on its own."""
    old = tmp_path / "old"
    shutil.copytree(out, old)
    assert cli("certs", "renew", "client", "--out", str(out), "-q").code == 0
    for name in ("cert.pem", "key.pem"):
        shutil.copy(old / name, out / name)
    reissue(out / "cert.pem", out, days_ago=40, days=30)  # and expired: reported too
    result = cli("certs", "check", str(out))
    assert result.code == 8
    assert f"problem: cert.pem: differs from client-cert.pem (and key.pem from client-key.pem), " \
           "of which the tool writes a plain copy: the docker CLI reads cert.pem and key.pem, " \
           "not the pair the other commands see; fix: minipaas certs renew client --out " \
           f"{out} (writes both from the client pair)" in result.out.splitlines()
    assert any(line.startswith("problem: cert.pem: expired on ")
               for line in result.out.splitlines())
    assert "its copy" not in result.out
    shutil.copy(out / "client-key.pem", out / "key.pem")
    shutil.copy(out / "client-cert.pem", out / "cert.pem")
    os.chmod(out / "key.pem", 0o600)
    assert cli("certs", "check", str(out)).code == 0


def test_check_reports_a_key_pem_that_is_no_copy(out: Path, cli) -> None:
    (out / "key.pem").write_bytes((out / "server-key.pem").read_bytes())
    result = cli("certs", "check", str(out))
    assert result.code == 8
    lines = result.out.splitlines()
    assert any(line.startswith("problem: key.pem: differs from client-key.pem, of which ")
               for line in lines)
    assert "problem: key.pem: does not match cert.pem; fix: minipaas certs renew client " \
           f"--out {out}" in lines


def test_check_reports_an_expired_leaf(out: Path, cli) -> None:
    reissue(out / "server-cert.pem", out, days_ago=40, days=30)
    result = cli("certs", "check", str(out))
    assert result.code == 8
    line = next(x for x in result.out.splitlines() if "expired" in x and "server-cert" in x)
    assert line.startswith("problem: server-cert.pem: expired on ")
    assert "minipaas certs renew server" in line


def test_check_reports_an_expired_ca(tmp_path: Path, cli) -> None:
    folder = tmp_path / "c"
    assert cli("certs", "ca", "--out", str(folder), "-q").code == 0
    reissue(folder / "ca.pem", folder, days_ago=40, days=30)
    result = cli("certs", "check", str(folder))
    assert result.code == 8
    assert "problem: ca.pem: expired on" in result.out and "rotate-ca start" in result.out


def test_check_reports_a_leaf_outliving_its_ca(out: Path, cli) -> None:
    reissue(out / "client-cert.pem", out, days=5000)
    shutil.copy(out / "client-cert.pem", out / "cert.pem")
    result = cli("certs", "check", str(out))
    assert result.code == 8
    assert "problem: client-cert.pem: outlives its CA" in result.out


def test_check_reports_a_key_that_does_not_match(out: Path, cli) -> None:
    shutil.copy(out / "client-key.pem", out / "server-key.pem")
    result = cli("certs", "check", str(out))
    assert result.code == 8
    assert "problem: server-key.pem: does not match server-cert.pem; fix: minipaas certs " \
           "renew server" in result.out


def test_check_reports_a_leaf_from_another_ca(out: Path, tmp_path: Path, cli) -> None:
    other = tmp_path / "other"
    assert cli("certs", "all", "--out", str(other), "-q").code == 0
    for name in ("server-cert.pem", "server-key.pem"):
        shutil.copy(other / name, out / name)
    result = cli("certs", "check", str(out))
    assert result.code == 8
    assert "problem: server-cert.pem: does not verify as a server certificate against ca.pem" \
        in result.out


def test_check_reports_cert_pem_that_is_no_client_pair(out: Path, cli) -> None:
    shutil.copy(out / "server-cert.pem", out / "cert.pem")
    shutil.copy(out / "server-key.pem", out / "key.pem")
    result = cli("certs", "check", str(out))
    assert result.code == 8
    assert "problem: cert.pem: does not verify as a client certificate" in result.out


def test_check_reports_keys_readable_by_others(out: Path, cli) -> None:
    os.chmod(out / "ca-key.pem", 0o640)
    result = cli("certs", "check", str(out))
    assert result.code == 8
    assert f"problem: ca-key.pem: readable by others (mode 0640); fix: chmod 600 " \
           f"{out / 'ca-key.pem'}" in result.out


@pytest.mark.parametrize("missing", ["key.pem", "server-cert.pem", "ca.pem"])
def test_check_reports_a_missing_file(out: Path, cli, missing: str) -> None:
    os.remove(out / missing)
    result = cli("certs", "check", str(out))
    assert result.code == 8
    assert f"problem: {missing}: missing" in result.out


def test_check_json(out: Path, cli) -> None:
    os.chmod(out / "key.pem", 0o644)
    data = json.loads(cli("certs", "check", str(out), "--json").out)
    assert data["status"] == "problem"
    assert data["findings"] == [{"severity": "problem", "file": "key.pem",
                                 "message": "readable by others (mode 0644)",
                                 "fix": f"chmod 600 {out / 'key.pem'}"}]


def test_check_with_an_encrypted_ca_key(tmp_path: Path, cli, monkeypatch) -> None:
    folder = tmp_path / "c"
    monkeypatch.setenv("MINIPAAS_CA_PASSPHRASE", "right passphrase")
    assert cli("certs", "all", "--out", str(folder), "-q").code == 0
    assert cli("certs", "check", str(folder)).code == 0
    monkeypatch.setenv("MINIPAAS_CA_PASSPHRASE", "wrong passphrase")
    result = cli("certs", "check", str(folder))
    assert result.code == 8 and "ca-key.pem: cannot be decrypted" in result.out


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


# --- CA rollover --------------------------------------------------------------------------

def ca_blocks(path: Path) -> int:
    return path.read_text().count("BEGIN CERTIFICATE")


def test_rollover_sequence(out: Path, cli) -> None:
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    old_ca, old_key = (out / "ca.pem").read_bytes(), (out / "ca-key.pem").read_bytes()
    result = cli("certs", "rotate-ca", "start", "--out", str(out), "--cn", "ops-ca-2")
    assert result.code == 0, result.err
    assert ca_blocks(out / "ca.pem") == 2 and (out / "ca.pem").read_text().endswith(
        old_ca.decode())
    assert (out / "ca-old.pem").read_bytes() == old_ca
    assert (out / "ca-old-key.pem").read_bytes() == old_key
    assert (out / "clients" / "ci" / "ca.pem").read_bytes() == (out / "ca.pem").read_bytes()
    assert cn(out / "ca.pem") == "ops-ca-2"
    # show and check say where the rollover stands
    shown = json.loads(cli("certs", "show", str(out), "--json").out)
    assert "CA rollover in progress" in shown["rollover"]
    checked = cli("certs", "check", str(out))
    assert checked.code == 7 and "server-cert.pem: still issued by the old CA" in checked.out
    # a second start and an early finish are refused
    assert cli("certs", "rotate-ca", "start", "--out", str(out)).code == 4
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    early = cli("certs", "rotate-ca", "finish", "--out", str(out))
    assert early.code == 4 and "still come from the old CA" in early.error_line
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # re-issued leaves come from the new CA
    for args in (["server", "--san", "10.0.0.5"], ["client"], ["renew", "client", "--name", "ci"]):
        assert cli("certs", *args, "--out", str(out), "-q").code == 0
    new_ca = out / "new-ca-only.pem"
    new_ca.write_text((out / "ca.pem").read_text().split("-----END CERTIFICATE-----")[0]
                      + "-----END CERTIFICATE-----\n")
    assert system_verify(new_ca, out / "server-cert.pem", "sslserver").returncode == 0
    new_ca.unlink()
    assert cli("certs", "check", str(out)).code == 0
    # finish: the new CA alone; the old one archived
    assert cli("certs", "rotate-ca", "finish", "--out", str(out), "-q").code == 0
    assert ca_blocks(out / "ca.pem") == 1 and ca_blocks(out / "clients" / "ci" / "ca.pem") == 1
    (backup,) = (folder for folder in out.glob("backup-*") if (folder / "ca-old-key.pem").exists())
    assert (backup / "ca-old-key.pem").read_bytes() == old_key
    assert not (out / "ca-old.pem").exists() and not (out / "ca-old-key.pem").exists()
    assert cli("certs", "check", str(out)).code == 0
    assert json.loads(cli("certs", "show", str(out), "--json").out)["rollover"] is None


def test_finish_without_a_rollover(out: Path, cli) -> None:
    result = cli("certs", "rotate-ca", "finish", "--out", str(out))
    assert result.code == 5 and "no CA rollover in progress" in result.error_line


def test_rollover_keeps_the_key_type_and_encryption(tmp_path: Path, cli, monkeypatch) -> None:
    folder = tmp_path / "c"
    monkeypatch.setenv("MINIPAAS_CA_PASSPHRASE", "s3cret pass")
    assert cli("certs", "all", "--out", str(folder), "-q", "--key-type", "ed25519").code == 0
    assert cli("certs", "rotate-ca", "start", "--out", str(folder), "-q").code == 0
    assert (folder / "ca-key.pem").read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY")
    assert load_cert(folder / "ca.pem").signature_hash_algorithm is None  # Ed25519 again
    assert cn(folder / "ca.pem").startswith("minipaas-ca 20")
    assert cli("certs", "server", "--out", str(folder), "-q").code == 0
    assert cli("certs", "client", "--out", str(folder), "-q").code == 0
    assert cli("certs", "rotate-ca", "finish", "--out", str(folder), "-q").code == 0


def test_force_finish_with_old_leaves(out: Path, cli) -> None:
    """--force finishes with leaves of the old CA: they go into the backup with it (left
    beside a ca.pem that no longer trusts them, check said 8), each one named."""
    assert cli("certs", "rotate-ca", "start", "--out", str(out), "-q").code == 0
    result = cli("certs", "rotate-ca", "finish", "--out", str(out), "--force", "-q")
    assert result.code == 0, result.err
    (backup,) = out.glob("backup-*")
    for label, command in (("server-cert.pem", "server"), ("client-cert.pem", "client")):
        assert f"Warning: {label} came from the old CA: it is in {backup}" in result.err
        assert f"`minipaas certs {command} --out {out}" in result.err
        assert (backup / label).is_file() and not (out / label).exists()
    assert not (out / "cert.pem").exists() and (backup / "cert.pem").is_file()
    assert cli("certs", "check", str(out)).code == 0


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


@pytest.mark.parametrize("broken", ["server-cert.pem", "ca.pem"])
def test_check_reports_an_unreadable_certificate(out: Path, cli, broken: str) -> None:
    (out / broken).write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
    result = cli("certs", "check", str(out))
    assert result.code == 8
    assert f"problem: {broken}: holds no valid PEM certificate" in result.out


def test_a_wildcard_first_san_still_renews(tmp_path: Path, cli) -> None:
    folder = tmp_path / "c"
    assert cli("certs", "all", "--out", str(folder), "-q", "--san",
               "*.swarm.example.com").code == 0
    assert cn(folder / "server-cert.pem") == "server"  # a wildcard is no CN
    result = cli("certs", "renew", "server", "--out", str(folder), "-q")
    assert result.code == 0, result.err
    assert cn(folder / "server-cert.pem") == "server"


def test_rollover_of_a_ca_whose_key_this_tool_does_not_make(tmp_path: Path, cli) -> None:
    import datetime

    from cryptography.hazmat.primitives.asymmetric import ec

    write_ca(tmp_path, ec.generate_private_key(ec.SECP521R1()), "p521 ca",
             datetime.datetime.now(datetime.timezone.utc), 100)
    result = cli("certs", "rotate-ca", "start", "--out", str(tmp_path))
    assert result.code == 2 and "ECDSA P-521" in result.error_line
    assert cli("certs", "rotate-ca", "start", "--out", str(tmp_path), "-q",
               "--key-type", "ecdsa", "--key-size", "384").code == 0
    assert cn(tmp_path / "ca.pem").startswith("p521 ca 20")


def test_check_leaves_another_runs_staging_alone(out: Path, cli) -> None:
    """A live run holds the folder's lock: its staging folder is not a leftover; the
    same folder once no run holds the lock is one (a killed run's, maybe with keys)."""
    import fcntl

    staging = out / ".minipaas-staging-inprogress"
    staging.mkdir(mode=0o700)
    (staging / "server-key.pem").write_text("half written")
    os.chmod(staging / "server-key.pem", 0o644)
    descriptor = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = cli("certs", "check", str(out))
    finally:
        os.close(descriptor)
    assert result.code == 0, result.out
    result = cli("certs", "check", str(out))
    assert result.code == 8 and result.out.startswith(
        "problem: .minipaas-staging-inprogress: left by a run that was killed"), result.out


def test_check_of_many_bundles_runs_a_handful_of_openssl_processes(tmp_path: Path, cli) -> None:
    """Keys are matched in Python from their PKCS#8 form and each role's leaves are
    verified in one call per core, so 30 bundles cost 3 processes on 2 cores, not 62;
    a bundle from another CA among them is still found, and only it."""
    from conftest import TOOL_OPENSSL

    out, other = tmp_path / "certs", tmp_path / "other"
    names = [f"u{index}" for index in range(30)]
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "-q",
               *[arg for name in names for arg in ("--name", name)]).code == 0
    assert cli("certs", "all", "--out", str(other), "-q").code == 0
    log = tmp_path / "argv.log"
    spy = tmp_path / "openssl-spy"
    spy.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {log}\nexec {TOOL_OPENSSL} "$@"\n')
    spy.chmod(0o755)
    result = cli("certs", "check", str(out), "--warn-days", "0", "--openssl", str(spy))
    assert result.code == 0, result.out
    calls = log.read_text().split()
    # version, the server's verify, and the 32 client leaves split over the cores.
    assert set(calls) == {"version", "verify"}
    assert 2 <= calls.count("verify") <= 1 + (os.cpu_count() or 1), calls
    shutil.copy(other / "cert.pem", out / "clients/u7/cert.pem")
    shutil.copy(other / "key.pem", out / "clients/u7/key.pem")
    result = cli("certs", "check", str(out), "--warn-days", "0")
    problems = [line for line in result.out.splitlines() if line.startswith("problem:")]
    assert result.code == 8 and len(problems) == 1, result.out
    assert problems[0].startswith("problem: clients/u7/cert.pem: does not verify as a client "
                                  "certificate against ca.pem (error 20 at 0 depth lookup")


def test_check_of_many_bundles_stays_inside_a_low_open_file_limit(tmp_path: Path) -> None:
    """Each verify call holds its leaves open: with 120 bundles and a limit of 96 open
    files, the calls are made smaller, and the check still passes."""
    import resource
    import subprocess
    import sys

    from conftest import certs

    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    certs("client", "--out", str(out), *[arg for index in range(120)
                                          for arg in ("--name", f"u{index}")])

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))

    done = subprocess.run([sys.executable, "-m", "minipaas_certs", "certs", "check", str(out),
                           "--warn-days", "0"], capture_output=True, text=True,
                          preexec_fn=low_limit, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "123 certificates" in done.stdout


def test_check_reports_a_key_openssl_cannot_read_though_its_public_half_matches(
        out: Path, cli) -> None:
    """The key's public point is intact, but its private scalar is an INTEGER where
    an OCTET STRING belongs: the docker CLI could not load it, and check says so."""
    import base64

    lines = (out / "client-key.pem").read_bytes().strip().splitlines()
    der = base64.b64decode(b"".join(lines[1:-1]))
    marker = b"\x02\x01\x01\x04\x20"  # ECPrivateKey: version 1, then the 32-byte scalar
    assert der.count(marker) == 1
    broken = der.replace(marker, b"\x02\x01\x01\x02\x20")
    (out / "client-key.pem").write_bytes(b"%s\n%s\n%s\n" % (lines[0], base64.b64encode(broken),
                                                             lines[-1]))
    result = cli("certs", "check", str(out))
    assert result.code == 8
    assert "problem: client-key.pem: is not a readable private key" in result.out
