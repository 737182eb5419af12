"""The command line's refusals: one `Error:` line, a documented exit code, nothing lost."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from as_user import ok, tool
from conftest import ALL_FILES, run_tool
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from minipaas_certs import __version__
from minipaas_certs.store import OutputDirectory

OUT = "my certs"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


HOSTILE_SANS = [
    "ok.example.com\nIP.9 = 10.6.6.6\n[extensions]\nbasicConstraints = critical,CA:TRUE",
    "ok.example.com\r",
    "ok\x00.example.com",
    "docker#1.example.com",
    "$ENV::HOME.example.com",
    "${req::prompt}",
    "ok.example.com,IP:10.0.0.1,DNS:evil.example.com",
    '"quoted.example.com"',
    "'quoted.example.com'",
    "spaced name.example.com",
    "trailing.example.com\\",
    "-leading.example.com",
    "under_score.example.com",
    "*",
    "*.*.example.com",
    "a.*.example.com",
    "*.com",
    "bücher.example",
    "a" * 64 + ".example.com",
    ".".join(["a" * 60] * 5),
    "999.1.1.1",
    "10.0.0.1/24",
    "1.2.3",
    "010.0.0.1",
    "fe80::1%eth0",
    "IP:manager.example.com",
    "DNS:10.0.0.1",
    "DNS:",
    "",
]


@pytest.mark.parametrize("value", HOSTILE_SANS)
def test_hostile_or_invalid_san_is_refused_before_anything_is_written(
        tmp_path: Path, cli, value: str) -> None:
    out = tmp_path / "certs"
    result = cli("certs", "all", "--out", str(out), "--san", value)
    assert result.code == 2
    assert "--san" in result.error_line
    assert not out.exists()


def test_hostile_san_in_the_environment_is_refused(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("MINIPAAS_CERTS_SAN", "ok.example.com,evil#x")
    result = cli("certs", "all", "--out", str(tmp_path / "c"))
    assert result.code == 2 and "evil#x" in result.error_line
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("value,advice", [
    ("https://manager.example.com", "use --san manager.example.com"),
    ("tcp://10.0.0.5:2376", "use --san 10.0.0.5"),
    ("10.0.0.5:2376", "use --san 10.0.0.5"),
    ("URI:https://manager.example.com", "use --san manager.example.com"),
    ("[::1]:2376", "use --san ::1"),
    ("fe80::1%eth0", "use --san fe80::1"),
    ("10.0.0.5/24", "use --san 10.0.0.5"),
    ("10.0.0.5,10.0.0.6", "use --san 10.0.0.5 --san 10.0.0.6"),
])
def test_a_pasted_san_gets_the_bare_value_to_give(tmp_path: Path, cli, value: str,
                                                  advice: str) -> None:
    out = tmp_path / "certs"
    result = cli("certs", "all", "--out", str(out), "--san", value)
    assert result.code == 2
    assert result.error_line.startswith(f"Error: Invalid value for '--san': {value!r}")
    assert result.error_line.endswith(advice)
    assert not out.exists()
    fixed = advice[len("use "):].split()  # the advice, taken, works
    assert cli("certs", "all", "--out", str(out), "-q", *fixed).code == 0


def test_the_san_environment_variable_stays_a_comma_list(tmp_path: Path, cli,
                                                         monkeypatch) -> None:
    monkeypatch.setenv("MINIPAAS_CERTS_SAN", "10.0.0.5,10.0.0.6")
    assert cli("certs", "all", "--out", str(tmp_path / "c"), "-q").code == 0
    names = load_cert_names(tmp_path / "c" / "server-cert.pem")
    assert {"10.0.0.5", "10.0.0.6"} <= names
    monkeypatch.setenv("MINIPAAS_CERTS_SAN", "10.0.0.5,https://manager.example.com")
    result = cli("certs", "all", "--out", str(tmp_path / "d"))
    assert result.code == 2 and result.error_line.endswith("use --san manager.example.com")


def load_cert_names(path: Path) -> set[str]:
    extensions = x509.load_pem_x509_certificate(path.read_bytes()).extensions
    return {str(name.value) for name in
            extensions.get_extension_for_class(x509.SubjectAlternativeName).value}


HOSTILE_CNS = ["", "x" * 65, "ops\nCN = evil", "a,b", "a#b", "a/b", "$HOME", "a+b", "é",
               "a\tb", ' "q"', "trailing "]


@pytest.mark.parametrize("value", HOSTILE_CNS)
@pytest.mark.parametrize("command,option", [("all", "--client-cn"), ("all", "--ca-cn"),
                                            ("all", "--server-cn"), ("ca", "--cn")])
def test_bad_common_name_is_refused(tmp_path: Path, cli, command: str, option: str,
                                    value: str) -> None:
    result = cli("certs", command, "--out", str(tmp_path / "c"), option, value)
    assert result.code == 2
    assert option in result.error_line
    assert not (tmp_path / "c").exists()


def test_sixty_four_character_cn_is_accepted(tmp_path: Path, cli) -> None:
    assert cli("certs", "ca", "--out", str(tmp_path), "-q", "--cn", "c" * 64).code == 0


@pytest.mark.parametrize("days", ["0", "-1", "abc", "36501", "99999999999"])
@pytest.mark.parametrize("option", ["--days", "--ca-days"])
def test_bad_days_are_refused(tmp_path: Path, cli, option: str, days: str) -> None:
    result = cli("certs", "all", "--out", str(tmp_path / "c"), option, days)
    assert result.code == 2 and option in result.error_line
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("key_type,size", [("rsa", "1024"), ("rsa", "512"), ("rsa", "8192"),
                                           ("ecdsa", "521"), ("ecdsa", "2048"),
                                           ("ed25519", "384"), ("dsa", None)])
def test_bad_key_spec_is_refused(tmp_path: Path, cli, key_type: str, size: str | None) -> None:
    args = ["certs", "all", "--out", str(tmp_path / "c"), "--key-type", key_type]
    result = cli(*args, *(["--key-size", size] if size else []))
    assert result.code == 2
    assert "key" in result.error_line.lower()
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("days,ca_days", [("400", "100"), ("100", "100")])
def test_leaf_longer_than_ca_is_refused_up_front(tmp_path: Path, cli, days: str,
                                                 ca_days: str) -> None:
    result = cli("certs", "all", "--out", str(tmp_path / "c"), "--days", days,
                 "--ca-days", ca_days)
    assert result.code == 2 and "must be shorter than --ca-days" in result.error_line


# --- an existing CA is never replaced ---------------------------------------------------

@pytest.mark.parametrize("command", ["all", "ca"])
def test_existing_ca_is_never_replaced(tmp_path: Path, cli, command: str) -> None:
    assert cli("certs", "all", "--out", str(tmp_path), "-q").code == 0
    before = snapshot(tmp_path)
    result = cli("certs", command, "--out", str(tmp_path))
    assert result.code == 4
    assert "ca.pem" in result.error_line and "--force" in result.error_line
    assert snapshot(tmp_path) == before


def test_half_a_ca_is_not_replaced(tmp_path: Path, cli) -> None:
    (tmp_path / "ca.pem").write_text("only the certificate\n")
    result = cli("certs", "ca", "--out", str(tmp_path))
    assert result.code == 4
    assert (tmp_path / "ca.pem").read_text() == "only the certificate\n"
    assert not (tmp_path / "ca-key.pem").exists()


def test_force_moves_the_old_set_into_a_backup(tmp_path: Path, cli) -> None:
    assert cli("certs", "all", "--out", str(tmp_path), "-q").code == 0
    before = snapshot(tmp_path)
    result = cli("certs", "all", "--out", str(tmp_path), "--force")
    assert result.code == 0, result.err
    backups = list(tmp_path.glob("backup-*"))
    assert len(backups) == 1 and "backup-" in result.err
    assert snapshot(backups[0]) == {k: v for k, v in before.items()
                                    if k not in (".gitignore", "SHA256SUMS")}
    assert oct(backups[0].stat().st_mode & 0o777) == "0o700"
    assert oct((backups[0] / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "ca.pem").read_bytes() != before["ca.pem"]
    assert {p.name for p in tmp_path.iterdir()} == ALL_FILES | {backups[0].name}


def test_force_on_ca_alone_refuses_to_orphan_the_leaves(tmp_path: Path, cli) -> None:
    assert cli("certs", "all", "--out", str(tmp_path), "-q").code == 0
    old_ca = (tmp_path / "ca-key.pem").read_bytes()
    result = cli("certs", "ca", "--out", str(tmp_path), "--force")
    assert result.code == 4
    assert "server-cert.pem, client-cert.pem in " in result.error_line
    assert "previous CA" in result.error_line and "--reissue" in result.error_line
    assert not list(tmp_path.glob("backup-*"))
    away = tmp_path.parent / "away"  # the leaves moved out: nothing is orphaned
    away.mkdir()
    for name in ("server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem",
                 "cert.pem", "key.pem"):
        (tmp_path / name).rename(away / name)
    result = cli("certs", "ca", "--out", str(tmp_path), "--force")
    assert result.code == 0, result.err
    (backup,) = tmp_path.glob("backup-*")
    assert (backup / "ca-key.pem").read_bytes() == old_ca
    assert {p.name for p in backup.iterdir()} == {"ca.pem", "ca-key.pem"}


# --- signing needs a sound CA -------------------------------------------------------------

@pytest.mark.parametrize("command", ["server", "client"])
def test_leaf_without_a_ca_says_what_to_run(tmp_path: Path, cli, command: str) -> None:
    result = cli("certs", command, "--out", str(tmp_path / "c"))
    assert result.code == 5
    line = result.error_line
    assert "ca.pem" in line and "ca-key.pem" in line and "minipaas certs ca" in line
    assert not (tmp_path / "c").exists()  # a failed run removes the folders it created


def test_leaf_with_half_a_ca_names_the_missing_file(tmp_path: Path, cli) -> None:
    assert cli("certs", "ca", "--out", str(tmp_path), "-q").code == 0
    (tmp_path / "ca-key.pem").unlink()
    result = cli("certs", "server", "--out", str(tmp_path))
    assert result.code == 5 and "ca-key.pem is missing" in result.error_line


def test_ca_key_not_matching_its_certificate(tmp_path: Path, cli) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli("certs", "ca", "--out", str(one), "-q").code == 0
    assert cli("certs", "ca", "--out", str(two), "-q").code == 0
    (one / "ca-key.pem").write_bytes((two / "ca-key.pem").read_bytes())
    before = snapshot(one)
    result = cli("certs", "client", "--out", str(one))
    assert result.code == 5 and "does not match" in result.error_line
    assert snapshot(one) == before


def write_ca(folder: Path, *, days_ago: int, days: int, ca: bool = True,
             key_id: bool = True) -> None:
    """A CA made by cryptography, to get dates and flags openssl would not produce."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old-ca")])
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    if key_id:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "ca-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / "ca-key.pem").chmod(0o600)  # a CA key others can read is refused


def test_expired_ca_is_refused(tmp_path: Path, cli) -> None:
    write_ca(tmp_path, days_ago=20, days=10)
    result = cli("certs", "server", "--out", str(tmp_path))
    assert result.code == 5 and "expired" in result.error_line


def test_not_a_ca_is_refused(tmp_path: Path, cli) -> None:
    write_ca(tmp_path, days_ago=1, days=100, ca=False)
    result = cli("certs", "client", "--out", str(tmp_path))
    assert result.code == 5 and "not a CA" in result.error_line


def test_leaf_outliving_the_ca_is_refused_with_the_days_that_fit(tmp_path: Path, cli) -> None:
    write_ca(tmp_path, days_ago=1, days=31)
    result = cli("certs", "server", "--out", str(tmp_path), "--days", "365")
    assert result.code == 5
    assert "--days 29 or less" in result.error_line
    assert cli("certs", "server", "--out", str(tmp_path), "--days", "29", "-q").code == 0


def test_ca_without_subject_key_identifier_is_refused(tmp_path: Path, cli) -> None:
    write_ca(tmp_path, days_ago=1, days=100, key_id=False)
    result = cli("certs", "client", "--out", str(tmp_path))
    assert result.code == 5 and "subjectKeyIdentifier" in result.error_line


def test_garbage_ca_certificate_is_a_ca_problem(tmp_path: Path, cli) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    (tmp_path / "ca.pem").write_text(pem)
    (tmp_path / "ca-key.pem").write_text("x")
    (tmp_path / "ca-key.pem").chmod(0o600)
    assert cli("certs", "server", "--out", str(tmp_path)).code == 5


def test_different_ca_copy_is_not_replaced_without_force(tmp_path: Path, cli) -> None:
    ca_dir, out = tmp_path / "ca", tmp_path / "out"
    assert cli("certs", "ca", "--out", str(ca_dir), "-q").code == 0
    assert cli("certs", "ca", "--out", str(out), "-q").code == 0
    os.remove(out / "ca-key.pem")
    before = snapshot(out)
    result = cli("certs", "client", "--out", str(out), "--ca-dir", str(ca_dir))
    assert result.code == 4 and "different CA" in result.error_line
    assert snapshot(out) == before
    assert cli("certs", "client", "--out", str(out), "--ca-dir", str(ca_dir), "--force",
               "-q").code == 0
    assert (out / "ca.pem").read_bytes() == (ca_dir / "ca.pem").read_bytes()
    (backup,) = out.glob("backup-*")
    assert (backup / "ca.pem").read_bytes() == before["ca.pem"]


# --- the environment: openssl and the output directory ------------------------------------

def fake_openssl(folder: Path, version_text: str) -> Path:
    script = folder / "openssl"
    script.write_text(f"#!/bin/sh\necho '{version_text}'\n")
    script.chmod(0o755)
    return script


def test_missing_openssl(tmp_path: Path, cli) -> None:
    result = cli("certs", "all", "--out", str(tmp_path / "c"), "--openssl",
                 str(tmp_path / "no-such-openssl"))
    assert result.code == 3 and "openssl not found" in result.error_line
    assert not (tmp_path / "c").exists()


def test_missing_openssl_on_path(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.delenv("MINIPAAS_OPENSSL")
    monkeypatch.setenv("PATH", str(tmp_path))
    result = cli("certs", "ca", "--out", str(tmp_path / "c"))
    assert result.code == 3 and "openssl not found on PATH" in result.error_line


@pytest.mark.parametrize("text", ["OpenSSL 1.0.2k-fips  26 Jan 2017", "OpenSSL 1.1.0l  10 Sep 2019",
                                  "BoringSSL", "LibreSSL 2.8.3", ""])
def test_old_or_unknown_openssl(tmp_path: Path, cli, text: str) -> None:
    result = cli("certs", "all", "--out", str(tmp_path / "c"), "--openssl",
                 str(fake_openssl(tmp_path, text)))
    assert result.code == 3
    assert "1.1.1" in result.error_line
    assert not (tmp_path / "c").exists()


def test_openssl_from_the_environment_variable(tmp_path: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("MINIPAAS_OPENSSL", str(fake_openssl(tmp_path, "OpenSSL 1.0.1")))
    assert cli("certs", "ca", "--out", str(tmp_path / "c")).code == 3


def test_inherited_openssl_settings_change_nothing(tmp_path: Path, cli, monkeypatch) -> None:
    bad = tmp_path / "bad.cnf"
    bad.write_text("openssl_conf = init\n[init]\nalg_section = algs\n"
                   "[algs]\ndefault_properties = fips=yes\n")
    monkeypatch.setenv("OPENSSL_CONF", str(bad))
    monkeypatch.setenv("OPENSSL_MODULES", str(tmp_path))
    result = cli("certs", "all", "--out", str(tmp_path / "c"), "-q")
    assert result.code == 0, result.err


def test_out_is_a_file(tmp_path: Path, cli) -> None:
    target = tmp_path / "file"
    target.write_text("keep me")
    for out in (target, target / "sub"):
        result = cli("certs", "all", "--out", str(out))
        assert result.code == 6, result.err
        assert result.error_line
    assert target.read_text() == "keep me"


def test_a_second_run_on_a_locked_directory_fails_at_once(tmp_path: Path, cli) -> None:
    with OutputDirectory(tmp_path):
        result = cli("certs", "all", "--out", str(tmp_path))
    assert result.code == 4 and "another minipaas certs run" in result.error_line
    assert {p.name for p in tmp_path.iterdir()} == set()


def test_symlink_planted_where_a_key_goes_is_replaced_not_followed(tmp_path: Path, cli) -> None:
    assert cli("certs", "ca", "--out", str(tmp_path), "-q").code == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "server-key.pem").symlink_to(victim)
    assert cli("certs", "server", "--out", str(tmp_path), "-q").code == 0
    assert victim.read_text() == "precious"
    assert not (tmp_path / "server-key.pem").is_symlink()
    assert oct((tmp_path / "server-key.pem").stat().st_mode & 0o777) == "0o600"


def test_existing_key_file_modes_are_not_reused(tmp_path: Path, cli) -> None:
    assert cli("certs", "all", "--out", str(tmp_path), "-q").code == 0
    os.chmod(tmp_path / "server-key.pem", 0o666)
    assert cli("certs", "server", "--out", str(tmp_path), "-q").code == 0
    assert oct((tmp_path / "server-key.pem").stat().st_mode & 0o777) == "0o600"


# --- entry points and help --------------------------------------------------------------

def test_version(cli) -> None:
    result = cli("--version")
    assert result.code == 0 and __version__ in result.out


def test_certs_help_has_examples_and_exit_codes(cli) -> None:
    result = cli("certs", "--help")
    assert result.code == 0
    assert "minipaas certs all --out .certs" in result.out
    assert "DOCKER_CERT_PATH" in result.out and "Exit codes" in result.out
    for command in ("all", "ca", "server", "client"):
        assert command in result.out


def command_paths() -> list[list[str]]:
    """Every command as it is typed: ``certs all`` ... ``certs rotate-ca start``."""
    import click

    from minipaas_certs import cli as cli_module

    paths = []
    for name in cli_module.COMMANDS:
        command = cli_module.certs.get_command(click.Context(cli_module.certs), name)
        paths.append(["certs", name])
        if isinstance(command, click.Group):
            paths += [["certs", name, sub] for sub in command.commands]
    return paths


def test_the_exit_codes_are_shown_once(cli) -> None:
    """The table is under `certs --help` (and in README.rst), each command points there."""
    assert cli("certs", "--help").out.count("Exit codes:") == 1
    for path in command_paths():
        text = cli(*path, "--help").out
        assert "130  interrupted" not in text, path
        assert "Exit codes: see `minipaas certs --help`." in text, path


PASSPHRASE = {
    "new": "Encrypt a new CA key (AES-256), or unlock an encrypted one, with the one line",
    "unlock": "Unlock an encrypted CA key with the one line of FILE",
    "next": "Unlock the encrypted CA key, and encrypt the new one (AES-256), with the one",
}


@pytest.mark.parametrize("path,does", [
    (["all"], "new"), (["ca"], "new"), (["server"], "unlock"), (["client"], "unlock"),
    (["check"], "unlock"), (["renew"], "unlock"), (["revoke"], "next"),
    (["rotate-ca", "start"], "next"),
])
def test_the_passphrase_help_says_what_each_command_does(cli, path: list[str],
                                                         does: str) -> None:
    text = " ".join(cli("certs", *path, "--help").out.split())
    option = text.split("--ca-passphrase-file FILE ", 1)[1].split(" -h, --help", 1)[0]
    assert option.startswith(PASSPHRASE[does])
    if does == "unlock":  # these commands never make a CA key: no promise to encrypt one
        assert "AES" not in option and "new" not in option


def test_rotate_ca_lists_its_steps_in_order(cli) -> None:
    listing = cli("certs", "rotate-ca", "--help").out.split("Commands:\n", 1)[1]
    lines = listing.split("\n\n", 1)[0].splitlines()  # up to the epilog
    assert [line.split()[0] for line in lines] == ["start", "finish"]


def test_rotate_ca_help_gives_the_readmes_three_commands(cli) -> None:
    """Step 2 is the one command that re-issues every pair (bundles too), as in README."""
    helped = re.findall(r"^ {2,}\d\. (minipaas .*)$", cli("certs", "rotate-ca", "--help").out,
                        re.MULTILINE)
    readme = (Path(__file__).resolve().parent.parent / "README.rst").read_text()
    block = readme.split("Replace the CA without downtime\n", 1)[1].split("\n\n\n", 1)[0]
    said = re.findall(r"^ +(minipaas certs \S+(?: \S+)*?)(?: +#.*)?$", block, re.MULTILINE)
    assert helped == said == ["minipaas certs rotate-ca start --out .certs",
                              "minipaas certs renew --all --within 100% --out .certs",
                              "minipaas certs rotate-ca finish --out .certs"]


@pytest.mark.parametrize("path", [[], ["certs"], ["certs", "rotate-ca"]])
@pytest.mark.parametrize("columns", ["80", "50"])
def test_no_listing_line_is_cut_mid_sentence(cli, monkeypatch, path: list[str],
                                             columns: str) -> None:
    """click cuts a command's first sentence to fit a listing ('...'): every listed
    command has a short help that fits, or wraps."""
    monkeypatch.setenv("COLUMNS", columns)
    listing = cli(*path, "--help").out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    entries = re.split(r"\n(?=  \S)", listing.rstrip("\n"))
    assert len(entries) >= 1
    for entry in entries:
        text = " ".join(entry.split()[1:])
        assert text.endswith(".") and not text.endswith("..."), entry


def test_python_dash_m_is_the_same_command(tmp_path: Path) -> None:
    assert __version__ in run_tool("--version").stdout
    done = run_tool("certs", "all", "--out", str(tmp_path / "c"), "-q")
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "c").iterdir()} == ALL_FILES
    failed = run_tool("certs", "all", "--out", str(tmp_path / "c"))
    assert failed.returncode == 4
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("Error: ")


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "minipaas"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and __version__ in done.stdout


def test_unknown_option_is_one_error_line(cli) -> None:
    result = cli("certs", "all", "--no-such-option")
    assert result.code == 2 and "--no-such-option" in result.error_line


# --- one set of conventions: groups, and --out on the commands that read a folder -------

@pytest.mark.parametrize("path", [[], ["certs"], ["certs", "rotate-ca"]])
def test_a_bare_group_prints_its_help_on_stdout(cli, path: list[str]) -> None:
    """Not the help squashed into one `Error: Usage: ...` line, exit 2 (click >= 8.2)."""
    result = cli(*path)
    assert (result.code, result.err) == (0, "")
    assert result.out == cli(*path, "--help").out and "Commands:" in result.out


@pytest.mark.parametrize("args,message", [
    (["renew", "servr"], "Error: Invalid value for '[server|client]': 'servr' is not one of "
                         "'server', 'client'. Did you mean 'server'?"),
    (["all", "--key-type", "ecdsaa"], "Error: Invalid value for '--key-type': 'ecdsaa' is not "
                                      "one of 'ecdsa', 'rsa', 'ed25519'. Did you mean 'ecdsa'?"),
    (["renew", "xyz"], "Error: Invalid value for '[server|client]': 'xyz' is not one of "
                       "'server', 'client'."),
])
def test_a_mistyped_choice_gets_did_you_mean(cli, tmp_path: Path, args: list[str],
                                             message: str) -> None:
    """``renew servr`` is as near a subcommand as ``certs servr``: the same suggestion."""
    result = cli("certs", *args, "--out", str(tmp_path / "c"))
    assert (result.code, result.error_line) == (2, message)
    assert not (tmp_path / "c").exists()


def test_a_bare_group_prints_its_help_from_a_real_process() -> None:
    done = run_tool("certs", "rotate-ca")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("Usage: minipaas certs rotate-ca [OPTIONS] COMMAND")


@pytest.mark.parametrize("path,message", [
    (["cert"], "No such command 'cert'. Did you mean 'certs'?"),
    (["certs", "servr"], "No such command 'servr'. Did you mean 'server'?"),
    (["certs", "clinet", "--name", "ci"], "No such command 'clinet'. Did you mean 'client'?"),
    (["certs", "verify-sum"], "No such command 'verify-sum'. Did you mean 'verify-sums'?"),
    (["certs", "rotate-ca", "strat"], "No such command 'strat'. Did you mean 'start'?"),
    (["certs", "frobnicate"],
     "No such command 'frobnicate'; `minipaas certs --help` lists the commands."),
    (["certs", "rotate-ca", "undo"],
     "No such command 'undo'; `minipaas certs rotate-ca --help` lists the commands."),
])
def test_an_unknown_command_gets_did_you_mean_at_every_level(
        cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: list[str],
        message: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(*path)
    assert result.code == 2
    assert result.error_line == f"Error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_several_close_commands_are_all_offered() -> None:
    from minipaas_certs.groups import no_such_command

    assert no_such_command("stat", ["start", "state", "finish"], "x") == (
        "No such command 'stat'. Did you mean 'state' or 'start'?")  # closest first
    assert no_such_command("sever", ["server", "severe", "serve", "client"], "x") == (
        "No such command 'sever'. Did you mean 'severe', 'server' or 'serve'?")


READERS = {"show": [], "check": [], "verify-sums": [], "doctor": ["--host", "127.0.0.1:1"]}


@pytest.mark.parametrize("command", list(READERS))
def test_a_command_that_reads_a_folder_takes_out_and_still_dir(
        cli, out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    """--out as every other command takes it (MINIPAAS_CERTS_OUT, default .certs); DIR
    stays as its alias, and the two naming different folders is a usage error."""
    asked = ["certs", command, *READERS[command]]
    by_dir = cli(*asked, str(out))
    assert by_dir.code in (0, 8), by_dir.err  # doctor: nothing listens on port 1
    seen = (by_dir.code, by_dir.out, by_dir.err)
    assert (lambda r: (r.code, r.out, r.err))(cli(*asked, "--out", str(out))) == seen
    assert (lambda r: (r.code, r.out, r.err))(cli(*asked, f"--out={out}", f"{out}/")) == seen
    monkeypatch.setenv("MINIPAAS_CERTS_OUT", str(tmp_path / "elsewhere"))
    assert (lambda r: (r.code, r.out, r.err))(cli(*asked, str(out))) == seen  # DIR first
    monkeypatch.setenv("MINIPAAS_CERTS_OUT", str(out))
    assert (lambda r: (r.code, r.out, r.err))(cli(*asked)) == seen
    monkeypatch.delenv("MINIPAAS_CERTS_OUT")
    monkeypatch.chdir(out.parent)  # the same folder, named two ways
    assert cli(*asked, "--out", out.name, str(out)).code == by_dir.code
    for given in (["--out", "elsewhere", str(out)], [str(out), "--out", "elsewhere"]):
        before = snapshot(out)
        result = cli(*asked, *given)
        assert result.code == 2
        assert result.error_line == (f"Error: DIR {out} and --out elsewhere name different "
                                     "folders: give one")
        assert snapshot(out) == before and not (tmp_path / "elsewhere").exists()
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".certs").symlink_to(out)  # the default, .certs
    assert cli(*asked).code == by_dir.code


@pytest.mark.parametrize("command", list(READERS))
def test_the_help_of_a_reader_shows_dir_as_the_same_as_out(cli, command: str) -> None:
    text = cli("certs", command, "--help").out
    assert f"Usage: minipaas certs {command} [OPTIONS] [DIR]" in text
    option = " ".join(text.split("--out DIR", 1)[1].split())
    assert option.startswith("The folder to read; a DIR argument is the same "
                             "[env MINIPAAS_CERTS_OUT]. [default: .certs]")


# --- the command table ---------------------------------------------------------------

def test_every_command_is_listed_and_resolves() -> None:
    """`certs --help` lists commands from a table, without importing them: keep it true."""
    import click

    from minipaas_certs import cli, commands

    commands_of_groups = {id(sub) for value in vars(commands).values()
                          if isinstance(value, click.Group) for sub in value.commands.values()}
    defined = {name for name, value in vars(commands).items()
               if isinstance(value, click.Command) and id(value) not in commands_of_groups}
    assert {attribute for attribute, _ in cli.COMMANDS.values()} == defined
    for name in cli.COMMANDS:
        command = cli.certs.get_command(click.Context(cli.certs), name)
        assert command is not None and command.name == name


def test_help_does_not_import_the_commands_or_the_core() -> None:
    import subprocess
    import sys

    code = ("import sys; from minipaas_certs.cli import main; main(['certs', '--help']); "
            "print(sorted(m for m in sys.modules if m.startswith(('minipaas_certs.', 'jinja2'))), "
            "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stderr.strip() == "['minipaas_certs.cli', 'minipaas_certs.errors', " \
                                  "'minipaas_certs.groups', 'minipaas_certs.layout', " \
                                  "'minipaas_certs.output']"


def test_a_new_set_loads_no_code_for_revoking_engines_or_parsing_dates(tmp_path: Path) -> None:
    """What `certs all` does not need is not imported: each module costs start-up time."""
    import subprocess
    import sys

    code = ("import sys; from minipaas_certs.cli import main; "
            f"code = main(['certs', 'all', '--out', {str(tmp_path / 'c')!r}, '-q']); "
            "print(sorted(m for m in sys.modules if m in ('minipaas_certs.vault', "
            "'minipaas_certs.revocations', '_strptime')), file=sys.stderr); "
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("comment", ["# rotate the server pair", "# a new client pair"])
def test_certs_help_example_works_after_its_setup_example(cli, tmp_path: Path,
                                                          comment: str) -> None:
    """`minipaas certs --help` lists `all --san 10.0.0.5 --san manager.example.com`, then
    `server --out .certs --san 10.0.0.5  # rotate the server pair` and `client --out
    .certs --cn ci  # a new client pair`: run after the first, each is refused (exit 2:
    it would drop manager.example.com, or CN=client)."""
    import shlex

    lines = [line.strip() for line in cli("certs", "--help").out.splitlines()]
    setup = next(line for line in lines if line.startswith("minipaas certs all "))
    example = next(line for line in lines if line.endswith(comment))
    out = str(tmp_path / "certs")
    for line in (setup, example.split("#")[0]):
        argv = [out if arg == ".certs" else arg for arg in shlex.split(line)[1:]]
        result = cli(*argv, "-q")
        assert result.code == 0, (line, result.err)


def test_the_force_way_on_offered_for_no_default_san_works(tmp_path: Path) -> None:
    """Item 1 / README: a refused rotation names "two ways on: --san NAME to keep it,
    --force to drop it".  ``server --no-default-san`` is refused naming every SAN, and
    the same command with ``--force``, as the message says, fails with exit 2 "a server
    certificate needs at least one --san": the offered way on is a dead end."""
    ok(tmp_path, "all", "--out", OUT, "--san", "10.0.0.5", "--san", "manager.example.com")
    refused = tool(tmp_path, "server", "--out", OUT, "--no-default-san")
    assert refused.returncode == 2, refused.stderr
    assert "--force" in refused.stderr
    forced = tool(tmp_path, "server", "--out", OUT, "--no-default-san", "--force", "-q")
    assert forced.returncode == 0, forced.stderr


def _bundles(cwd: Path, *signer: str) -> None:
    """--out with a client and a manager bundle: its own CA, or signed from ``signer``."""
    if signer:
        ok(cwd, "ca", "--out", "org old", "--cn", "Org old CA")
        ok(cwd, "server", "--out", OUT, *signer)
    else:
        ok(cwd, "all", "--out", OUT)
    ok(cwd, "client", "--out", OUT, "--name", "ci", *signer)
    ok(cwd, "server", "--out", OUT, "--name", "m1", *signer)


@pytest.mark.parametrize("command", [
    ["server", "--out", OUT, "--ca-dir", "org ca"],
    ["client", "--out", OUT, "--ca-dir", "org ca", "--name", "new"],
    ["all", "--out", OUT],
], ids=["server-ca-dir", "client-ca-dir", "all"])
def test_an_exit_4_refusal_offering_force_is_not_followed_by_another(
        tmp_path: Path, command: list[str]) -> None:
    """The new exit-4 refusals: a message that says "use --force" (or "--force to move
    the old files into a backup folder") leads, once --force is given as told, to a
    second exit-4 refusal with other advice (``renew --all --ca-dir … --force``, or
    ``--reissue``).  A refusal should name the way on that works at once."""
    _bundles(tmp_path, *(["--ca-dir", "org old"] if "--ca-dir" in command else []))
    ok(tmp_path, "ca", "--out", "org ca", "--cn", "Org CA")
    first = tool(tmp_path, *command)
    assert first.returncode == 4, first.stderr
    assert "--force" in first.stderr
    if "renew --all" in first.stderr or "--reissue" in first.stderr:
        return  # the way on that works is named at once
    second = tool(tmp_path, *command, "--force", "-q")
    assert second.returncode != 4, (first.stderr, second.stderr)


def test_certs_help_shows_the_readmes_exit_code_table(tmp_path: Path) -> None:
    """README: "The same for every command (``minipaas certs --help`` shows this
    table…)".  The help's table leaves out what this issue added: exit 2 for an option
    given twice, exit 4 for a symlinked bundle folder, exit 5 for a CA key open to
    others, and that 130/143 mean the change was not made."""
    done = tool(tmp_path, "--help")
    assert done.returncode == 0
    table = " ".join(done.stdout.split("Exit codes:")[1].split("Options:")[0].split())
    for words in ("given twice", "symlink", "open to others", "before the change",
                  "the PKI engine refused or cannot be reached"):  # exit 5, as README's
        assert words in table, (words, table)


def test_an_unreadable_server_pair_is_not_replaced_with_defaults_without_force(
        tmp_path: Path) -> None:
    """``server --help``: --force is what it takes to "replace a pair that cannot be
    read".  A truncated server-cert.pem (a bad copy, a full disk) is replaced by
    ``certs server --out`` without --force, exit 0, with the default names only: the
    headline symptom of this issue (10.0.0.5 gone, ``check`` OK), through a path the
    rotation check does not see."""
    ok(tmp_path, "all", "--out", OUT, "--san", "10.0.0.5", "--san", "manager.example.com")
    cert = tmp_path / OUT / "server-cert.pem"
    cert.write_text(cert.read_text()[:300])
    done = tool(tmp_path, "server", "--out", OUT, "-q")
    assert done.returncode != 0, "replaced without --force: " + done.stdout
    assert done.stderr.count("Error:") == 1 and "--force" in done.stderr, done.stderr


@pytest.mark.parametrize("command", [["env"], ["context"], ["p12"], ["all"], ["renew"],
                                     ["revoke"], ["rotate-ca", "finish"]])
def test_out_is_not_called_an_output_directory_where_it_is_read(cli, command: list[str]
                                                                ) -> None:
    """env and context only read --out: its help says what it is, for every command."""
    text = " ".join(cli("certs", *command, "--help").out.split())
    assert "--out DIR The certificates' folder [env MINIPAAS_CERTS_OUT]." in text
    assert "Output directory" not in text


@pytest.mark.parametrize("command", list(READERS))
def test_a_reading_commands_examples_name_the_folder_with_out(cli, command: str) -> None:
    """As README does: DIR stays an alias, but what a user copies says --out."""
    examples = [line.strip() for line in cli("certs", command, "--help").out.splitlines()
                if line.strip().startswith(f"minipaas certs {command} ")]
    assert all(" --out " in line for line in examples), examples


@pytest.mark.parametrize("command,option", [("server", "--ca-dir"), ("client", "--ca-dir"),
                                            ("renew", "--ca-dir"),
                                            ("daemon-json", "--cert-dir")])
def test_every_folder_option_shows_dir(cli, command: str, option: str) -> None:
    """A folder is DIR in every help, as --out and --templates show it (not PATH, TEXT)."""
    text = " ".join(cli("certs", command, "--help").out.split())
    assert f"{option} DIR " in text


@pytest.mark.parametrize("command", [["revoke", "--name", "ci"], ["rotate-ca", "start"],
                                     ["rotate-ca", "finish"]])
def test_a_command_that_changes_the_ca_refuses_ca_dir_saying_why(
        cli, out: Path, tmp_path: Path, command: list[str]) -> None:
    """Not "No such option. Did you mean --ca-days?": what it cannot do, and the way on."""
    before = snapshot(out)
    path = command[:2] if command[0] == "rotate-ca" else command[:1]
    result = cli("certs", *command, "--out", str(out), "--ca-dir", str(tmp_path / "org"))
    assert (result.code, result.error_line) == (2, (
        f"Error: minipaas certs {' '.join(path)} takes no --ca-dir: it changes the CA itself, "
        "which it can do only in the folder "
        "holding the CA key; run it without --ca-dir to be told what works for this folder"))
    assert snapshot(out) == before
    assert "--ca-dir" not in cli("certs", *path, "--help").out


# A command that works on a set already made, given a folder that is not there: one
# line, the same words and exit code (6) from each, and nothing made.
NEEDS_A_MADE_SET = [
    ["renew", "--all", "--within", "100%"], ["revoke", "--name", "ci"],
    ["revoke", "--client-pair"], ["rotate-ca", "start"], ["rotate-ca", "finish"],
    ["p12", "--password-file", "p12-password"], ["env", "--host", "10.0.0.5"],
    ["context", "--host", "10.0.0.5"], ["doctor", "--host", "127.0.0.1:9"], ["show"],
    ["check"], ["verify-sums"]]


@pytest.mark.parametrize("command", NEEDS_A_MADE_SET, ids=" ".join)
def test_a_missing_folder_is_one_error_for_every_command_that_reads_a_set(
        tmp_path: Path, cli, command: list[str]) -> None:
    missing = tmp_path / "not-there"
    (tmp_path / "p12-password").write_text("a good password\n")  # only p12 reads it
    command = [str(tmp_path / word) if word == "p12-password" else word for word in command]
    result = cli("certs", *command, "--out", str(missing))
    assert (result.code, result.out) == (6, "")
    made = f": make a set there with `minipaas certs all --out {missing}"
    made += " --san 10.0.0.5`" if command[0] in ("env", "context") else "`"
    reader = command[0] in ("doctor", "show", "check", "verify-sums")  # DIR may be a copy
    assert result.err == f"Error: {missing} is not a directory{'' if reader else made}\n"
    assert not missing.exists()


def test_an_empty_folder_gets_what_is_true_of_it(tmp_path: Path, cli) -> None:
    """No "CA kept elsewhere" for a folder that holds none, no --ca-dir offered to a
    command that takes none, no SHA256SUMS to re-generate where nothing was written."""
    empty = tmp_path / "empty"
    empty.mkdir()
    revoke = cli("certs", "revoke", "--out", str(empty), "--client-pair")
    assert revoke.code == 5 and revoke.error_line == (
        f"Error: no CA in {empty} (ca.pem and ca-key.pem are missing): it holds no set to "
        "revoke from")
    start = cli("certs", "rotate-ca", "start", "--out", str(empty))
    assert start.code == 5 and start.error_line == (
        f"Error: no CA in {empty} (ca.pem and ca-key.pem are missing): create one with "
        f"`minipaas certs ca --out {empty}`")
    sums = cli("certs", "verify-sums", "--out", str(empty))
    assert (sums.code, sums.out) == (8, f"problem: SHA256SUMS: missing, and {empty} holds no "
                                        "certificate: is it the folder you meant?\n")
    assert os.listdir(empty) == []
