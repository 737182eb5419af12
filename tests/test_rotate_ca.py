"""`certs rotate-ca start` and `finish` (rotate_ca.py): the CA rollover, on real files."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from as_user import ok, paste, tool
from conftest import load_cert, run_tool, system_verify, write_ca
from cryptography.x509.oid import NameOID
from test_vault_answers import openssl

OUT = "my certs"


def cn(path: Path) -> str:
    return load_cert(path).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


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
    assert "a CA rollover waits for re-issues" in " ".join(
        cli("certs", "check", "--help").out.split())  # check's help names this exit 7
    # each leaf's fix is the one command that re-issues it keeping its lifetime
    quoted = shlex.quote(str(out))
    assert ("clients/ci/cert.pem: still issued by the old CA during a rollover; fix: "
            f"minipaas certs renew client --out {quoted} --name ci\n") in checked.out
    assert ("warning: server-cert.pem: still issued by the old CA during a rollover; fix: "
            f"minipaas certs renew server --out {quoted}\n") in checked.out
    # a second start and an early finish are refused
    assert cli("certs", "rotate-ca", "start", "--out", str(out)).code == 4
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    early = cli("certs", "rotate-ca", "finish", "--out", str(out))
    assert early.code == 4 and "still come from the old CA" in early.error_line
    # the one command that re-issues them all, runnable as printed
    assert (f"would stop working: re-issue them first (`minipaas certs renew --all "
            f"--within 100% --out {quoted}`), or use --force") in early.error_line
    assert (f"from the new CA (`minipaas certs renew --all --within 100% --out {quoted}`), then "
            f"`minipaas certs rotate-ca finish --out {quoted}`") in shown["rollover"]
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


def test_rotate_ca_in_a_folder_signed_from_a_ca_dir_names_an_option_it_has(
        tmp_path: Path) -> None:
    """``rotate-ca start --out`` on a folder whose bundles come from an organisation's
    --ca-dir (no ca-key.pem there) says "name the folder that holds both with
    --ca-dir"; ``rotate-ca start`` has no --ca-dir ("No such option", exit 2).  The
    advice should be one that rotate-ca accepts (as revoke's is: run it where the CA
    is)."""
    ok(tmp_path, "ca", "--out", "org ca", "--cn", "Org CA")
    ok(tmp_path, "client", "--out", OUT, "--ca-dir", "org ca", "--name", "q")
    done = tool(tmp_path, "rotate-ca", "start", "--out", OUT)
    assert done.returncode == 5, done.stderr
    for command in re.findall(r"`(minipaas certs rotate-ca [^`]*)`", done.stderr):
        assert "--ca-dir" not in shlex.split(command), (command, done.stderr)


def test_rotate_ca_start_replaces_a_ca_with_a_short_rsa_key(tmp_path: Path) -> None:
    """A 1024-bit RSA CA: signing with it is refused with the advice `rotate-ca start
    --key-type ecdsa`, which must then read it (to keep it trusted until finish)."""
    out = tmp_path / "certs"
    out.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", str(out / "ca-key.pem"),
            "-out", str(out / "ca.pem"), "-subj", "/CN=short", "-days", "900", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    (out / "ca-key.pem").chmod(0o600)
    refused = run_tool("certs", "client", "--out", str(out), "--name", "ci")
    assert refused.returncode == 5, refused.stderr
    assert "`minipaas certs rotate-ca start --key-type ecdsa`" in refused.stderr
    done = run_tool("certs", "rotate-ca", "start", "--out", str(out), "--key-type", "ecdsa",
                    "-q")
    assert done.returncode == 0, done.stderr
    assert run_tool("certs", "client", "--out", str(out), "--name", "ci", "-q").returncode == 0


def _commands(stderr: str) -> list[str]:
    return re.findall(r"`(minipaas certs [^`]*)`", stderr)


def _run_as_said(command: str, cwd: Path, **placeholders: str) -> None:
    for placeholder, value in placeholders.items():
        command = command.replace(placeholder, shlex.quote(value))
    done = paste(command, cwd)
    assert done.returncode == 0, (command, done.stderr)


def test_a_folder_signed_from_a_ca_folder_rolls_over_as_the_refusals_say(
        tmp_path: Path) -> None:
    """rotate-ca start and finish in a folder whose CA key is in another folder refuse
    up front, and the commands they give, run in order, roll the CA over there and
    give this folder the new CA, with both trusted in between."""
    ok(tmp_path, "ca", "--out", "ca folder", "--cn", "Ops CA")
    for args in (["server", "--san", "10.0.0.5"], ["client"], ["client", "--name", "ci"]):
        ok(tmp_path, *args, "--out", OUT, "--ca-dir", "ca folder")
    out, ca = tmp_path / OUT, tmp_path / "ca folder"
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    done = tool(tmp_path, "rotate-ca", "start", "--out", OUT)
    assert done.returncode == 5, done.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    start, renew, finish, *engine = _commands(done.stderr)
    assert start == "minipaas certs rotate-ca start --out CA_FOLDER"
    assert renew == (f"minipaas certs renew --all --within 100% --out '{OUT}' "
                     "--ca-dir CA_FOLDER --force")
    assert finish == "minipaas certs rotate-ca finish --out CA_FOLDER"
    assert engine[-1].endswith("--vault-server-role ROLE --vault-client-role ROLE --force")
    _run_as_said(start, tmp_path, CA_FOLDER="ca folder")
    _run_as_said(renew, tmp_path, CA_FOLDER="ca folder")
    assert ca_blocks(out / "ca.pem") == 2 and ca_blocks(out / "clients/ci/ca.pem") == 2
    new_ca = load_cert(ca / "ca.pem")
    for name in ("server-cert.pem", "cert.pem", "clients/ci/cert.pem"):
        assert load_cert(out / name).issuer == new_ca.subject, name
    assert tool(tmp_path, "check", OUT).returncode == 0
    done = tool(tmp_path, "rotate-ca", "finish", "--out", OUT)  # the finish is the CA's
    assert done.returncode == 5, done.stderr
    assert _commands(done.stderr) == [start, finish, renew]
    _run_as_said(finish, tmp_path, CA_FOLDER="ca folder")
    _run_as_said(renew, tmp_path, CA_FOLDER="ca folder")
    assert ca_blocks(out / "ca.pem") == 1 and load_cert(out / "ca.pem") == new_ca
    assert load_cert(out / "clients/ci/ca.pem") == new_ca
    assert tool(tmp_path, "check", OUT).returncode == 0
