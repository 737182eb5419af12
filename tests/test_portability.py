"""Carrying certificates across an air gap (SHA256SUMS), an offline install from the
wheelhouse, and an organisation's own templates."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ALL_FILES, TOOL_OPENSSL, load_cert, system_verify, unavailable
from cryptography import x509
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def out(tmp_path: Path, cli) -> Path:
    folder = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(folder), "-q").code == 0
    assert cli("certs", "client", "--out", str(folder), "--name", "ci", "-q").code == 0
    return folder


# --- SHA256SUMS ---------------------------------------------------------------------------

def test_sums_cover_every_certificate_and_no_key(out: Path) -> None:
    lines = (out / "SHA256SUMS").read_text().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}
    assert set(listed) == {"ca.pem", "server-cert.pem", "client-cert.pem", "cert.pem",
                           "clients/ci/ca.pem", "clients/ci/cert.pem"}
    for name, digest in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    # the format of coreutils: `sha256sum -c` agrees
    done = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=out,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_sums_follow_every_change(out: Path, cli) -> None:
    for args in (["server"], ["renew", "client", "--name", "ci"], ["rotate-ca", "start"]):
        assert cli("certs", *args, "--out", str(out), "-q").code == 0
        assert cli("certs", "verify-sums", str(out)).code == 0
    assert "ca-old.pem" in (out / "SHA256SUMS").read_text()
    assert cli("certs", "rotate-ca", "finish", "--out", str(out), "-q", "--force").code == 0
    assert "ca-old.pem" not in (out / "SHA256SUMS").read_text()
    assert cli("certs", "verify-sums", str(out)).code == 0


def test_verify_sums_ok(out: Path, cli) -> None:
    result = cli("certs", "verify-sums", str(out))
    assert result.code == 0 and result.out.strip() == f"OK: {out}: 6 files match SHA256SUMS"


@pytest.mark.parametrize("damage,expected", [
    (lambda d: (d / "ca.pem").write_text("tampered"), "problem: ca.pem: its SHA-256 differs"),
    (lambda d: (d / "clients" / "ci" / "cert.pem").unlink(),
     "problem: clients/ci/cert.pem: listed in SHA256SUMS but missing"),
    (lambda d: shutil.copy(d / "ca.pem", d / "extra-ca.pem"),
     "problem: extra-ca.pem: not listed in SHA256SUMS"),
    (lambda d: (d / "SHA256SUMS").unlink(), "problem: SHA256SUMS: missing"),
    (lambda d: (d / "SHA256SUMS").open("a").write(f"{'0' * 64}  ../../etc/passwd\n"),
     "problem: SHA256SUMS: line 7 is not a checksum of a certificate file"),
])
def test_verify_sums_finds_damage(out: Path, cli, damage, expected: str) -> None:
    damage(out)
    result = cli("certs", "verify-sums", str(out))
    assert result.code == 8
    assert expected in result.out


# --- offline install from the wheelhouse ---------------------------------------------------

OFFLINE_PYTHONS = [p for p in os.environ.get("MINIPAAS_TEST_OFFLINE_PYTHONS", "").split(
    os.pathsep) if p] or [sys.executable]


@pytest.mark.invariant  # the Pythons it installs into are named, not the one running it
@pytest.mark.parametrize("python", OFFLINE_PYTHONS)
def test_offline_install_from_the_wheelhouse(tmp_path: Path, python: str) -> None:
    wheelhouse = os.environ.get("MINIPAAS_TEST_WHEELHOUSE")
    if not wheelhouse:
        unavailable("run `make wheelhouse` and set MINIPAAS_TEST_WHEELHOUSE=wheelhouse")
    folder = Path(wheelhouse).resolve()
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    env_dir = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(env_dir)], check=True)
    # No index, no pip configuration from this machine: only the wheelhouse.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull,
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--no-index",
                           "--find-links", str(folder), "minipaas-certs"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    work = tmp_path / "bastion"
    work.mkdir()
    done = subprocess.run([str(env_dir / "bin" / "minipaas"), "certs", "all", "--out", "certs",
                           "-q"], cwd=work, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (work / "certs").iterdir()} == ALL_FILES
    assert system_verify(work / "certs" / "ca.pem", work / "certs" / "cert.pem",
                         "sslclient").returncode == 0


# --- an organisation's own templates -------------------------------------------------------

def shipped_templates(folder: Path) -> Path:
    shutil.copytree(ROOT / "templates", folder, ignore=shutil.ignore_patterns("*.py", "__*"))
    return folder


@pytest.mark.parametrize("command", [("ca",), ("all",), ("rotate-ca", "start")])
def test_a_ca_template_naming_its_issuer_makes_a_ca_that_verifies(
        tmp_path: Path, cli, monkeypatch, command: tuple[str, ...]) -> None:
    """authorityKeyIdentifier with ``issuer:always`` puts the issuer's serial in every
    certificate: a new CA's must be its own (the provisional CA it is made from has
    the same serial), and a CA that does not verify against itself is never written."""
    own = shipped_templates(tmp_path / "tpl")
    ca = (own / "ca.cnf.j2").read_text()
    (own / "ca.cnf.j2").write_text(ca.replace(
        "subjectKeyIdentifier = hash",
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always, issuer:always"))
    out = tmp_path / "c"
    if command[0] == "rotate-ca":
        assert cli("certs", "all", "--out", str(out), "-q").code == 0
    monkeypatch.setenv("MINIPAAS_TEMPLATES", str(own))
    result = cli("certs", *command, "--out", str(out), "-q")
    assert result.code == 0, result.err
    monkeypatch.delenv("MINIPAAS_TEMPLATES")
    new_ca = load_cert(out / "ca.pem")  # the new CA first (a rollover bundle holds both)
    key_id = new_ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert key_id.authority_cert_serial_number == new_ca.serial_number
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    assert system_verify(out / "ca.pem", out / "clients" / "ci" / "cert.pem",
                         "sslclient").returncode == 0
    rolling = command[0] == "rotate-ca"  # the other pairs still wait for the new CA
    assert cli("certs", "check", str(out)).code == (7 if rolling else 0)


def test_a_ca_that_does_not_verify_against_itself_is_refused(tmp_path: Path) -> None:
    """As ``ca -selfsign -ss_cert`` makes one when the serials differ: its
    authorityKeyIdentifier names a certificate that does not exist."""
    from minipaas_certs import authority
    from minipaas_certs.openssl import OpenSSL
    from minipaas_certs.render import SHIPPED

    work = tmp_path / "w"
    work.mkdir()
    (work / "x.cnf").write_text(
        "[ req ]\nprompt = no\ndistinguished_name = dn\n[ dn ]\nCN = x\n"
        "[ extensions ]\nbasicConstraints = critical, CA:TRUE\n"
        "keyUsage = critical, keyCertSign\nsubjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid:always, issuer:always\n"
        "[ ca ]\ndefault_ca = s\n[ s ]\ndatabase = index.txt\nnew_certs_dir = .\n"
        "serial = serial\npolicy = p\nunique_subject = no\n[ p ]\ncommonName = optional\n")
    (work / "index.txt").write_text("")
    (work / "serial").write_text("1000\n")
    run = functools.partial(subprocess.run, cwd=work, capture_output=True, check=True)
    run([TOOL_OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "k.pem", "-out", "p.pem", "-config", "x.cnf",
         "-extensions", "extensions", "-set_serial", "7"])
    run([TOOL_OPENSSL, "ca", "-batch", "-config", "x.cnf", "-selfsign", "-keyfile", "k.pem",
         "-cert", "p.pem", "-ss_cert", "p.pem", "-out", "ca.pem", "-extfile", "x.cnf",
         "-extensions", "extensions", "-days", "30", "-md", "sha256", "-notext"])
    with pytest.raises(authority.OutputError, match=r"ca.pem fails `openssl verify -x509_strict` "
                                                r"against ca.pem: error 20"):
        authority._verify_anchor(OpenSSL(TOOL_OPENSSL), work / "ca.pem", SHIPPED)


def test_own_templates_add_subject_fields_and_a_policy(tmp_path: Path, cli, monkeypatch) -> None:
    own = shipped_templates(tmp_path / "tpl")
    base = (own / "base.cnf.j2").read_text()
    (own / "base.cnf.j2").write_text(base.replace("CN = {{ common_name }}",
                                                  "O  = Example Corp\nCN = {{ common_name }}"))
    server = (own / "server.cnf.j2").read_text()
    (own / "server.cnf.j2").write_text(server.replace(
        "subjectAltName         = @alt_names",
        "subjectAltName         = @alt_names\ncertificatePolicies    = 1.3.6.1.4.1.99999.1"))
    monkeypatch.setenv("MINIPAAS_TEMPLATES", str(own))
    result = cli("certs", "all", "--out", str(tmp_path / "c"), "-q")
    assert result.code == 0, result.err
    server_cert = load_cert(tmp_path / "c" / "server-cert.pem")
    assert server_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == \
        "Example Corp"
    policies = server_cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["1.3.6.1.4.1.99999.1"]
    assert system_verify(tmp_path / "c" / "ca.pem", tmp_path / "c" / "server-cert.pem",
                         "sslserver").returncode == 0


@pytest.mark.parametrize("change,expected", [
    (lambda d: (d / "client.cnf.j2").unlink(), "lacks client.cnf.j2"),
    (lambda d: (d / "ca.cnf.j2").write_text("{% if %}"), "ca.cnf.j2: line 1:"),
    (lambda d: (d / "ca.cnf.j2").write_text("[ req ]\nprompt = no\nCN = {{ nickname }}\n"),
     "'nickname' is undefined (the values are common_name, key_type, dns_names, ip_addresses)"),
    (lambda d: (d / "ca.cnf.j2").write_text(
        "[ req ]\nprompt = no\ndistinguished_name = s\n[ s ]\nCN = {{ common_name }}\n"),
     "ca.cnf.j2: the rendered config lacks an [ extensions ] section"),
    (lambda d: (d / "server.cnf.j2").write_text(
        (d / "server.cnf.j2").read_text().replace("subjectAltName         = @alt_names", "")),
     "its subjectAltName differs from the names asked (check the templates in"),
    (lambda d: (d / "ca.cnf.j2").write_text((d / "ca.cnf.j2").read_text().replace(
        "CA:TRUE, pathlen:0", "CA:FALSE")), "without CA:TRUE and keyCertSign (check the templates"),
])
def test_templates_that_lack_what_the_tool_needs(tmp_path: Path, cli, change,
                                                 expected: str) -> None:
    own = shipped_templates(tmp_path / "tpl")
    change(own)
    result = cli("certs", "all", "--out", str(tmp_path / "c"), "--templates", str(own), "-q")
    assert result.code in (2, 6)
    assert expected in result.error_line
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").glob("*.pem"))


def test_templates_folder_must_exist(tmp_path: Path, cli) -> None:
    result = cli("certs", "ca", "--out", str(tmp_path / "c"), "--templates", str(tmp_path / "no"))
    assert result.code == 2 and "is not a directory" in result.error_line


def test_values_stay_inert_in_own_templates(tmp_path: Path) -> None:
    """Own templates get the same strict environment: unsafe values never render."""
    from minipaas_certs import render
    from minipaas_certs.errors import InvalidInput

    own = render.Templates.load(shipped_templates(tmp_path / "tpl"))
    with pytest.raises(InvalidInput, match="refusing to render"):
        own.render("client.cnf.j2", common_name="x\n[ extensions ]", key_type="rsa")
