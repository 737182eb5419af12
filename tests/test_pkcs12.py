"""``certs p12``: client.p12 made by the openssl under test, read by others.

OpenSSL (the one under test, and the system's 3.x without ``-legacy``),
``cryptography`` and Java's keytool each open the file with the password; the
password never reaches an openssl command line or environment; bad input
changes nothing on disk.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from as_user import ok, tool
from conftest import SYSTEM_OPENSSL, TOOL_OPENSSL, certs, load_cert, reissue, unavailable
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12
from test_chains import ca_dir, organisation
from test_safety import snapshot

OUT = "my certs"

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set with a client bundle ``ci`` (copied by each test that writes)."""
    out = tmp_path_factory.mktemp("p12") / "certs"
    certs("all", "--out", str(out), "--san", "10.0.0.5")
    certs("client", "--out", str(out), "--name", "ci")
    return out


@pytest.fixture
def out(prepared: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "certs"
    shutil.copytree(prepared, copy, symlinks=True)
    return copy


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "p12-password"
    path.write_text(PASSWORD + "\n")
    return path


def info(openssl: str, p12: Path, password_file: Path) -> str:
    done = subprocess.run([openssl, "pkcs12", "-info", "-noout", "-in", str(p12),
                           "-passin", f"file:{password_file}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def loaded(p12: Path) -> tuple[object, object, list[object], bytes | None]:
    """The key, the leaf, the certificates above it, and the leaf's friendly name."""
    key, cert, chain = pkcs12.load_key_and_certificates(p12.read_bytes(), PASSWORD.encode())
    named = pkcs12.load_pkcs12(p12.read_bytes(), PASSWORD.encode()).cert
    assert named is not None and named.certificate == cert
    return key, cert, chain, named.friendly_name


def test_the_default_pair_is_encrypted_with_aes_and_a_sha256_mac(out: Path, password_file: Path,
                                                                  cli) -> None:
    result = cli("certs", "p12", "--out", str(out), "--password-file", str(password_file))
    assert result.code == 0, result.err
    p12 = out / "client.p12"
    assert str(p12) in result.out.splitlines()
    assert "Writing" in result.err and "AES-256-CBC" in result.err
    assert stat.S_IMODE(p12.stat().st_mode) == 0o600
    shown = info(TOOL_OPENSSL, p12, password_file)
    assert "MAC: sha256" in shown
    assert shown.count("PBES2, PBKDF2, AES-256-CBC") == 2  # the certificates and the key
    assert "PRF hmacWithSHA256" in shown
    assert "RC2" not in shown and "3DES" not in shown and "sha1" not in shown.lower()
    # OpenSSL 3 without -legacy refuses RC2 and 3DES: it reads what 1.1.1 made too.
    assert "Shrouded Keybag: PBES2" in info(SYSTEM_OPENSSL, p12, password_file)


def export_default_pair(out: Path, password_file: Path, cli):  # type: ignore[no-untyped-def]
    """`certs p12` for the default client pair; the file must hold its key and leaf.
    Returns the chain and the friendly name it holds."""
    assert cli("certs", "p12", "--out", str(out), "--password-file", str(password_file),
               "-q").code == 0
    key, cert, chain, name = loaded(out / "client.p12")
    own_key = load_pem_private_key((out / "client-key.pem").read_bytes(), None)
    assert key.public_key() == own_key.public_key()  # type: ignore[attr-defined]
    assert cert == load_cert(out / "client-cert.pem")
    return chain, name


def test_it_holds_the_key_the_leaf_and_the_root(out: Path, password_file: Path, cli) -> None:
    chain, name = export_default_pair(out, password_file, cli)
    assert chain == [load_cert(out / "ca.pem")]
    assert name == b"client"


def test_a_named_bundle_gets_its_own_file(out: Path, password_file: Path, cli) -> None:
    result = cli("certs", "p12", "--out", str(out), "--name", "ci", "--password-file",
                 str(password_file), "-q")
    assert result.code == 0 and result.err == ""
    p12 = out / "clients" / "ci" / "client.p12"
    assert str(p12) in result.out.splitlines()
    assert not (out / "client.p12").exists()
    key, cert, chain, name = loaded(p12)
    own_key = load_pem_private_key((out / "clients" / "ci" / "key.pem").read_bytes(), None)
    assert key.public_key() == own_key.public_key()  # type: ignore[attr-defined]
    assert cert == load_cert(out / "clients" / "ci" / "cert.pem")
    assert chain == [load_cert(out / "clients" / "ci" / "ca.pem")]
    assert name == b"ci"


def keytool_list(p12: Path, password_file: Path) -> str:
    keytool = shutil.which("keytool")
    if keytool is None:
        unavailable("Java's keytool is missing (apt-get install default-jre-headless)")
    done = subprocess.run([keytool, "-list", "-v", "-storetype", "PKCS12", "-keystore", str(p12),
                           "-storepass:file", str(password_file)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_java_keytool_lists_one_private_key_entry(out: Path, password_file: Path,
                                                  cli) -> None:
    assert cli("certs", "p12", "--out", str(out), "--name", "ci", "--password-file",
               str(password_file), "-q").code == 0
    listed = keytool_list(out / "clients" / "ci" / "client.p12", password_file)
    assert "Your keystore contains 1 entry" in listed
    assert "Entry type: PrivateKeyEntry" in listed
    assert "Alias name: ci" in listed
    assert "Certificate chain length: 2" in listed


def test_an_intermediate_chain_goes_in_whole(tmp_path: Path, password_file: Path,
                                            cli) -> None:
    org = organisation(tmp_path / "org")
    signer, out = ca_dir(org, tmp_path / "ca", "intermediate.pem", "root.pem"), tmp_path / "o"
    certs("client", "--out", str(out), "--ca-dir", str(signer), "--name", "ci")
    assert cli("certs", "p12", "--out", str(out), "--name", "ci", "--password-file",
               str(password_file), "-q").code == 0
    p12 = out / "clients" / "ci" / "client.p12"
    _, cert, chain, _ = loaded(p12)
    assert cert == load_cert(out / "clients" / "ci" / "cert.pem")  # the leaf, first of the file
    assert chain == [load_cert(org / "intermediate.pem"), load_cert(org / "root.pem")]
    if shutil.which("keytool") or os.environ.get("MINIPAAS_REQUIRE_SYSTEM_TESTS") == "1":
        assert "Certificate chain length: 3" in keytool_list(p12, password_file)


WRAPPER = """#!/bin/sh
printf '%s\\n' "$0 $*" >> "{log}"
env >> "{log}"
exec "{openssl}" "$@"
"""


def test_the_password_never_reaches_argv_or_the_environment(out: Path, tmp_path: Path,
                                                            password_file: Path, cli,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    log, wrapper = tmp_path / "argv.log", tmp_path / "openssl"
    wrapper.write_text(WRAPPER.format(log=log, openssl=shutil.which(TOOL_OPENSSL)))
    wrapper.chmod(0o700)
    assert cli("certs", "p12", "--out", str(out), "--password-file", str(password_file),
               "--openssl", str(wrapper), "-q").code == 0
    monkeypatch.setenv("MINIPAAS_P12_PASSWORD", PASSWORD)
    assert cli("certs", "p12", "--out", str(out), "--name", "ci", "--openssl", str(wrapper),
               "-q").code == 0
    logged = log.read_text()
    assert "pkcs12 -export" in logged and "-passout fd:" in logged
    assert "-passin fd:" in logged  # the file is read back with the password
    assert PASSWORD not in logged and PASSWORD.split()[0] not in logged


def test_the_file_is_private_under_umask_000(out: Path, password_file: Path, cli) -> None:
    old = os.umask(0)
    try:
        assert cli("certs", "p12", "--out", str(out), "--password-file", str(password_file),
                   "-q").code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((out / "client.p12").stat().st_mode) == 0o600


def test_running_again_replaces_it_with_no_backup(out: Path, tmp_path: Path,
                                                  password_file: Path, cli) -> None:
    assert cli("certs", "p12", "--out", str(out), "--password-file", str(password_file),
               "-q").code == 0
    other = tmp_path / "other-password"
    other.write_text("another secret\n")
    assert cli("certs", "p12", "--out", str(out), "--password-file", str(other), "-q").code == 0
    assert pkcs12.load_key_and_certificates((out / "client.p12").read_bytes(),
                                            b"another secret")[0] is not None
    assert not list(out.glob("backup-*"))


def test_a_new_default_pair_takes_the_stale_file_into_the_backup(out: Path, password_file: Path,
                                                                 cli) -> None:
    assert cli("certs", "p12", "--out", str(out), "--password-file", str(password_file),
               "-q").code == 0
    old = (out / "client.p12").read_bytes()
    certs("client", "--out", str(out))
    assert not (out / "client.p12").exists()
    [backup] = out.glob("backup-*")
    assert (backup / "client.p12").read_bytes() == old
    assert (backup / "client-cert.pem").exists()
    assert stat.S_IMODE((backup / "client.p12").stat().st_mode) == 0o600


def test_check_show_and_verify_sums_take_it_in_their_stride(out: Path, password_file: Path,
                                                            cli) -> None:
    for name in ((), ("--name", "ci")):
        assert cli("certs", "p12", "--out", str(out), *name, "--password-file",
                   str(password_file), "-q").code == 0
    assert "p12" not in (out / "SHA256SUMS").read_text()
    assert cli("certs", "verify-sums", str(out)).code == 0
    assert cli("certs", "show", str(out)).code == 0
    assert cli("certs", "check", str(out)).code == 0
    (out / "clients" / "ci" / "client.p12").chmod(0o644)
    checked = cli("certs", "check", str(out))
    assert checked.code == 8
    assert "clients/ci/client.p12: readable by others" in checked.out


def test_gitignore_ignores_it(out: Path, password_file: Path, cli) -> None:
    assert "*.p12" in (out / ".gitignore").read_text().splitlines()
    # One written before client.p12 existed gets the line; a user's own gets a warning.
    own = (out / ".gitignore").read_text().replace("*.p12\n", "")
    (out / ".gitignore").write_text(own)
    assert cli("certs", "p12", "--out", str(out), "--password-file", str(password_file),
               "-q").code == 0
    assert (out / ".gitignore").read_text() == own + "*.p12\n"
    (out / ".gitignore").write_text("*key.pem\n")
    result = cli("certs", "p12", "--out", str(out), "--password-file", str(password_file))
    assert result.code == 0
    assert "does not ignore *.p12" in result.err
    assert (out / ".gitignore").read_text() == "*key.pem\n"


def _break(out: Path, how: str) -> None:
    if how == "no key":
        (out / "client-key.pem").unlink()
    elif how == "wrong key":
        shutil.copy(out / "server-key.pem", out / "client-key.pem")
    elif how == "server cert":
        shutil.copy(out / "server-cert.pem", out / "client-cert.pem")
    elif how == "expired":
        reissue(out / "client-cert.pem", out, days_ago=400, days=30)
    elif how == "other CA":
        certs("ca", "--out", str(out / "elsewhere"))
        shutil.copy(out / "elsewhere" / "ca.pem", out / "ca.pem")
        shutil.rmtree(out / "elsewhere")
    elif how == "folder in its place":  # not replaced: the keystore replaces only a file
        (out / "client.p12").mkdir()
        (out / "client.p12" / "notes.txt").write_text("someone's files\n")


BAD = {  # case -> (arguments, password file content or None, environment, exit code, says)
    "no password": ([], None, None, 2, "--password-file FILE (or MINIPAAS_P12_PASSWORD_FILE"),
    "empty variable": ([], None, "", 2, "is empty"),
    "short": ([], b"abcde\n", None, 2, "shorter than 6 characters, which Java's keytool"),
    "short variable": ([], None, "abc", 2, "shorter than 6"),
    "two lines": ([], b"abcdefg\nhij\n", None, 2, "single line"),
    "not ASCII": ([], "pässwörd1\n".encode(), None, 2, "printable ASCII"),
    "folder": ([], "folder", None, 2, "is not a regular file"),
    "fifo": ([], "fifo", None, 2, "is not a regular file"),
    "no bundle": (["--name", "ghost"], b"secret-1\n", None, 5,
                  "minipaas certs client --out"),
    "hostile name": (["--name", "../ci"], b"secret-1\n", None, 2, "invalid bundle name"),
    "newline name": (["--name", "ci\nx"], b"secret-1\n", None, 2, "invalid bundle name"),
    "no key": ([], b"secret-1\n", None, 5, "client-key.pem is missing"),
    "wrong key": ([], b"secret-1\n", None, 5, "does not match the certificate"),
    "server cert": ([], b"secret-1\n", None, 5, "is not a client certificate"),
    "other CA": ([], b"secret-1\n", None, 5, "was not issued by a CA in"),
    "expired": ([], b"secret-1\n", None, 5, "expired on"),
    "CR LF": ([], b"secret-1\r\n", None, 2, "ends with CR LF"),
    "folder in its place": ([], b"secret-1\n", None, 4, "exists and is not a file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_error_line_and_changes_nothing(
        case: str, out: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    extra, content, variable, code, says = BAD[case]
    _break(out, case)
    arguments = ["certs", "p12", "--out", str(out), *extra]
    if content is not None:
        path = tmp_path / "password"
        if content == "folder":
            path.mkdir()
        elif content == "fifo":
            os.mkfifo(path)
        else:
            path.write_bytes(content)  # type: ignore[arg-type]
        arguments += ["--password-file", str(path)]
    if variable is not None:
        monkeypatch.setenv("MINIPAAS_P12_PASSWORD", variable)
    before = snapshot(out)
    result = cli(*arguments)
    assert result.code == code, result.err
    assert says in result.error_line
    assert snapshot(out) == before


def test_a_missing_out_is_not_created(tmp_path: Path, password_file: Path, cli) -> None:
    result = cli("certs", "p12", "--out", str(tmp_path / "none"), "--password-file",
                 str(password_file))
    assert result.code == 6
    assert result.error_line == (f"Error: {tmp_path / 'none'} is not a directory: make a set "
                                 f"there with `minipaas certs all --out {tmp_path / 'none'}`")
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_other_key_types(key_type: str, tmp_path: Path, password_file: Path, cli) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out), "--key-type", key_type,
          *(["--key-size", "2048"] if key_type == "rsa" else []))
    export_default_pair(out, password_file, cli)
    if shutil.which("keytool") or os.environ.get("MINIPAAS_REQUIRE_SYSTEM_TESTS") == "1":
        assert "Entry type: PrivateKeyEntry" in keytool_list(out / "client.p12", password_file)


def test_the_readme_example_runs_as_written(prepared: Path, tmp_path: Path) -> None:
    if shutil.which("keytool") is None:
        unavailable("Java's keytool is missing (apt-get install default-jre-headless)")
    readme = (Path(__file__).parent.parent / "README.rst").read_text()
    section = readme.split("Give a Java client a keystore\n", 1)[1]
    block = re.findall(r"\.\. code-block:: sh\n\n((?:[ \t]+\S.*\n|\n)+)", section)[0]
    shutil.copytree(prepared, tmp_path / ".certs", symlinks=True)
    package_root = Path(__file__).parent.parent
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(tmp_path), "MINIPAAS_OPENSSL": TOOL_OPENSSL,
           "PYTHONPATH": str(package_root)}  # this checkout's code, however it is installed
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", textwrap.dedent(block)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "PrivateKeyEntry" in done.stdout
    assert stat.S_IMODE((tmp_path / "p12-password").stat().st_mode) == 0o600


def _readme_block(containing: str) -> str:
    readme = (Path(__file__).parent.parent / "README.rst").read_text()
    section = readme.split("Give a Java client a keystore\n", 1)[1].split("\n---", 1)[0]
    blocks = re.findall(r"\.\. code-block:: sh\n\n((?:[ \t]+\S.*\n|\n)+)", section)
    (block,) = [textwrap.dedent(block) for block in blocks if containing in block]
    return block


@pytest.mark.parametrize("rollover", [False, True])
def test_the_readme_truststore_commands_run_unattended(prepared: Path, tmp_path: Path,
                                                       rollover: bool) -> None:
    """Run as written with stdin closed (cron, CI): keytool without a store password
    once asked for one, wrote nothing and exited 0.  During a CA rollover both CAs of
    ca.pem are trusted (keytool -importcert takes a file's first certificate only)."""
    keytool = shutil.which("keytool")
    if keytool is None:
        unavailable("Java's keytool is missing (apt-get install default-jre-headless)")
    shutil.copytree(prepared, tmp_path / ".certs", symlinks=True)
    if rollover:
        certs("rotate-ca", "start", "--out", str(tmp_path / ".certs"))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c",
                           "exec 0<&-\n" + _readme_block("-importcert")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".certs", "truststore-password", "truststore.p12"]
    listed = subprocess.run([keytool, "-list", "-rfc", "-storetype", "PKCS12", "-keystore",
                             str(tmp_path / "truststore.p12"), "-storepass:file",
                             str(tmp_path / "truststore-password")],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    trusted = x509.load_pem_x509_certificates(listed.stdout.encode())
    cas = x509.load_pem_x509_certificates((tmp_path / ".certs" / "ca.pem").read_bytes())
    assert len(cas) == (2 if rollover else 1)
    assert sorted(cert.fingerprint(hashes.SHA256()) for cert in trusted) == \
        sorted(ca.fingerprint(hashes.SHA256()) for ca in cas)
    assert listed.stdout.count("Entry type: trustedCertEntry") == len(cas)


def test_without_a_ca_it_says_to_make_the_set_first(tmp_path: Path, password_file: Path,
                                                    cli) -> None:
    (tmp_path / "empty").mkdir()
    result = cli("certs", "p12", "--out", str(tmp_path / "empty"), "--name", "ci",
                 "--password-file", str(password_file))
    assert result.code == 5
    assert f"`minipaas certs all --out {tmp_path / 'empty'}`, then `minipaas certs client " \
        f"--out {tmp_path / 'empty'} --name ci`" in result.error_line


def test_readme_truststore_block_run_again_during_a_rollover(tmp_path: Path) -> None:
    """The README's trust store block, made once, then run again after `rotate-ca start`
    (the rollover it names: ca.pem then holds two CAs): it makes a new password for
    the existing truststore.p12, and every keytool call fails; the store keeps one CA."""
    import shutil
    import subprocess

    import pytest
    from conftest import run_tool

    if not shutil.which("keytool"):
        pytest.skip("keytool not installed")
    readme = (Path(__file__).parent.parent / "README.rst").read_text()
    # The line that makes the password, wherever it starts (the fix keeps an existing one).
    start = readme.rindex("\n", 0, readme.index(
        "(umask 077 && openssl rand -base64 24 > truststore-password)")) + 1
    block = readme[start:readme.index("\n\n", start)]
    for args in (["all"], ["client", "--name", "ci"]):
        assert run_tool("certs", *args, "--out", ".certs", "-q", cwd=tmp_path).returncode == 0
    assert subprocess.run(["sh", "-c", block], cwd=tmp_path, capture_output=True,
                          stdin=subprocess.DEVNULL).returncode == 0
    password = (tmp_path / "truststore-password").read_bytes()
    assert run_tool("certs", "rotate-ca", "start", "--out", ".certs", "-q",
                    cwd=tmp_path).returncode == 0
    again = subprocess.run(["sh", "-c", block], cwd=tmp_path, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
    assert "keytool error" not in again.stdout + again.stderr, again.stdout + again.stderr
    assert again.stdout.count("trustedCertEntry") == 2
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "truststore-password").read_bytes() == password
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".certs", "truststore-password", "truststore.p12"]


def test_the_p12_advice_after_a_revocation_names_the_bundle(tmp_path: Path) -> None:
    """``revoke`` (and ``renew --all``) print, for each client, "where a client.p12 was
    used, make it again with `minipaas certs p12`": pasted, that command acts on
    ./.certs and the default pair, not on clients/ci of this --out.  The command
    should carry --out and --name as every other printed command does."""
    ok(tmp_path, "all", "--out", OUT)
    ok(tmp_path, "client", "--out", OUT, "--name", "ci")
    ok(tmp_path, "client", "--out", OUT, "--name", "gone")
    done = tool(tmp_path, "revoke", "--out", OUT, "--name", "gone", "-q")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if "client ci:" in x)
    command = re.search(r"`(minipaas certs p12[^`]*)`", line)
    assert command is not None, line
    words = shlex.split(command.group(1))
    assert "--out" in words and words[words.index("--out") + 1] == OUT, line
    assert "--name" in words and words[words.index("--name") + 1] == "ci", line
