"""`certs check` (check.py): its findings, each with the command that fixes it, exit
codes 0/7/8 and --json, on real files (expired and near-expiry ones made with short
validity or re-signed with backdated dates)."""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from as_user import ok, tool
from conftest import load_cert, reissue, run_tool
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from foreign import _foreign_server
from test_vault_answers import openssl

OUT = "my certs"


def test_check_passes_on_a_fresh_set(out: Path, cli) -> None:
    result = cli("certs", "check", str(out))
    assert result.code == 0
    # ca.pem, server-cert.pem, client-cert.pem: cert.pem is client-cert.pem's copy.
    assert result.out.strip() == f"OK: {out}: 3 certificates, none expires within 30 days"


def test_check_counts_in_the_singular(tmp_path: Path, cli) -> None:
    assert cli("certs", "ca", "--out", str(tmp_path), "-q").code == 0
    result = cli("certs", "check", str(tmp_path), "--warn-days", "1")
    assert result.out.strip() == f"OK: {tmp_path}: 1 certificate, none expires within 1 day"


def test_check_warns_before_expiry(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
                                   ) -> None:
    """Issue 25: 10-day pairs warn once less than min(--warn-days, a third of their
    lifetime) is left: not when made (they did before), but 7 days on (3 left)."""
    from minipaas_certs import clock

    folder = tmp_path / "c"
    assert cli("certs", "all", "--out", str(folder), "-q", "--days", "10").code == 0
    assert cli("certs", "check", str(folder)).code == 0
    ahead = clock.now() + datetime.timedelta(days=7)
    monkeypatch.setattr(clock, "now", lambda: ahead)
    assert cli("certs", "check", str(folder)).code == 7
    result = cli("certs", "check", str(folder), "--warn-days", "2")
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


@pytest.mark.parametrize("broken", ["server-cert.pem", "ca.pem"])
def test_check_reports_an_unreadable_certificate(out: Path, cli, broken: str) -> None:
    (out / broken).write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
    result = cli("certs", "check", str(out))
    assert result.code == 8
    assert f"problem: {broken}: holds no valid PEM certificate" in result.out


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


def test_check_reports_a_certificate_not_valid_yet(cli, tmp_path: Path) -> None:
    """A client bundle that starts in two days is refused by the docker CLI ("certificate
    has expired or is not yet valid"); `show` says "not yet valid", `check` says OK."""
    from conftest import reissue

    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "--name", "alice", "-q").code == 0
    reissue(out / "clients" / "alice" / "cert.pem", out, days_ago=-2)
    assert "not yet valid" in cli("certs", "show", str(out)).out
    result = cli("certs", "check", str(out))
    assert result.code == 8, result.out + result.err
    assert "clients/alice" in result.out + result.err
    line = next(line for line in result.out.splitlines() if "clients/alice" in line)
    start = load_cert(out / "clients" / "alice" / "cert.pem").not_valid_before_utc
    assert line.startswith(f"problem: clients/alice/cert.pem: not yet valid: valid only from "
                           f"{start:%Y-%m-%d %H:%M:%S} UTC: is a clock wrong"), line
    assert "fix: set the clock right" in line and "minipaas certs renew client" in line, line


def test_check_advice_for_a_foreign_staging_folder_is_what_server_does(cli,
                                                                      tmp_path: Path) -> None:
    """A .minipaas-staging-* folder of mode 0755 (not the tool's 0700): `check` says any
    writing command removes it, but `server` refuses (exit 6) and leaves it."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    (out / ".minipaas-staging-0123456789ab").mkdir(mode=0o755)
    (out / ".minipaas-staging-0123456789ab").chmod(0o755)
    advice = cli("certs", "check", str(out)).out
    result = cli("certs", "server", "--out", str(out), "-q")
    removed = result.code == 0 and not (out / ".minipaas-staging-0123456789ab").exists()
    # Either the writing command removes it, as check says, or check says what to do.
    assert removed or "removes it" not in advice, (advice, result.err)


def test_check_fix_for_an_expiring_server_pair_without_server_auth_is_a_command(
        cli, tmp_path: Path) -> None:
    """server-cert.pem with anyExtendedKeyUsage (Go's docker CLI accepts it) expiring in
    30 days: check's warning says `fix: minipaas certs renew other --out ...`, a command
    that does not exist (renew takes server or client)."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    _foreign_server(out, usage=x509.ObjectIdentifier("2.5.29.37.0"))
    report = cli("certs", "check", str(out))
    assert "renew other" not in report.out + report.err, report.out


@pytest.mark.docker
def test_check_does_not_say_go_rejects_a_sha1_self_signed_root(cli, tmp_path: Path,
                                                                daemons) -> None:
    """A root whose own self-signature is SHA-1 (its leaves SHA-256): Go never checks a
    root's self-signature, and dockerd and the docker CLI connect; `check` says
    "ca.pem: signed with SHA-1, which Go (dockerd, the docker CLI) rejects" (exit 8)."""
    import subprocess

    from conftest import SYSTEM_OPENSSL  # the fixture, whatever openssl the tool runs

    out = tmp_path / "certs"
    out.mkdir()
    subprocess.run([SYSTEM_OPENSSL, "req", "-x509", "-sha1", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca-key.pem", "-out",
                    "ca.pem", "-subj", "/CN=sha1 root", "-days", "900", "-addext",
                    "basicConstraints=critical,CA:TRUE", "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign"], cwd=out, check=True,
                   capture_output=True)
    (out / "ca-key.pem").chmod(0o600)
    _foreign_server(out)  # IP:127.0.0.1, serverAuth, SHA-256
    client = tmp_path / "client"
    client.mkdir()
    for name in ("ca.pem", "ca-key.pem"):
        (client / name).write_bytes((out / name).read_bytes())
    (client / "ca-key.pem").chmod(0o600)
    _foreign_server(client, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    for cert, key in (("client-cert.pem", "client-key.pem"), ("cert.pem", "key.pem")):
        (out / cert).write_bytes((client / "server-cert.pem").read_bytes())
        (out / key).write_bytes((client / "server-key.pem").read_bytes())
        (out / key).chmod(0o600)
    daemon = daemons().start_with_files(out)
    assert daemon.client(out, "version").returncode == 0  # Go accepts the set
    report = cli("certs", "check", str(out))
    assert "which Go (dockerd, the docker CLI) rejects" not in report.out, report.out


def test_check_and_show_rollover_advice_pastes_for_the_folder_checked(tmp_path: Path) -> None:
    """README (CA rollover): "certs show and certs check say where a rollover stands";
    each finding names "the command that fixes it".  After ``rotate-ca start`` and
    ``renew --all`` on an --out other than .certs, both print
    `minipaas certs rotate-ca finish` without --out: pasted, it acts on ./.certs (here
    absent, so it fails) instead of the folder in rollover."""
    ok(tmp_path, "all", "--out", OUT)
    ok(tmp_path, "rotate-ca", "start", "--out", OUT)
    ok(tmp_path, "renew", "--all", "--within", "100%", "--out", OUT)
    for command in (["check", OUT], ["show", OUT]):
        done = tool(tmp_path, *command)
        text = done.stdout + done.stderr
        finish = [c for c in re.findall(r"`(minipaas certs [^`]*)`", text) if "finish" in c]
        assert finish, text
        for line in finish:
            assert shlex.split(line)[4:] == ["--out", OUT], line


@pytest.mark.xfail(strict=True, reason="a folder signed from --ca-dir records nowhere which "
                   "folder that was, so check cannot name it; left for a later issue")
def test_checks_fix_for_a_folder_signed_from_a_ca_dir_works(tmp_path: Path) -> None:
    """README (check): each finding names "the command that fixes it".  In an --out
    whose bundles are signed from an organisation's --ca-dir (no ca-key.pem in --out),
    the fix printed is `minipaas certs renew client --out … --name q`, which exits 5
    ("ca-key.pem is missing … name the folder that holds both with --ca-dir")."""
    ok(tmp_path, "ca", "--out", "org ca", "--cn", "Org CA")
    ok(tmp_path, "client", "--out", OUT, "--ca-dir", "org ca", "--name", "q", "--days", "20")
    done = tool(tmp_path, "check", OUT)
    assert done.returncode == 7, done.stdout + done.stderr
    fix = (done.stdout + done.stderr).split("fix: ")[1].splitlines()[0].strip()
    assert fix.startswith("minipaas certs renew"), fix
    script = f'minipaas() {{ "{sys.executable}" -m minipaas_certs "$@"; }}\n{fix} -q\n'
    pasted = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert pasted.returncode == 0, (fix, pasted.stderr)


def test_check_after_rotate_ca_start_is_what_the_readme_says(tmp_path: Path) -> None:
    """README: "No run leaves a mixed set: after any exit 0, every certificate in --out
    verifies against the ca.pem beside it, so certs check is clean", and exit 7 is
    "a certificate expires within --warn-days (nothing else)".  After ``rotate-ca
    start`` (exit 0), with nothing near expiry, ``check`` exits 7 on "still issued by
    the old CA during a rollover" warnings: a daily cron check alerts as if something
    expired.  Either check is clean (0) here, or the README must list this cause."""
    ok(tmp_path, "all", "--out", OUT)
    ok(tmp_path, "rotate-ca", "start", "--out", OUT)
    done = tool(tmp_path, "check", OUT)
    assert "expires" not in done.stdout + done.stderr
    readme = (Path(__file__).resolve().parents[1] / "README.rst").read_text()
    documented = "rollover" in readme.split("\ncheck\n-----\n")[1].split("\ndoctor\n------\n")[0]
    assert done.returncode == 0 or documented, done.stdout + done.stderr


@pytest.mark.parametrize("digest", ["sha1", "md5"])
def test_check_reports_a_weak_signature(tmp_path: Path, digest: str) -> None:
    """A leaf, or a CA, in the folder signed with SHA-1 or MD5: exit 8, named."""
    out = tmp_path / "certs"
    keys = ["--key-type", "rsa", "--key-size", "2048"] if digest == "md5" else []
    assert run_tool("certs", "all", "--out", str(out), "-q", *keys).returncode == 0
    assert run_tool("certs", "check", str(out)).returncode == 0
    leaf = out / "server-cert.pem"
    request = tmp_path / "server.csr"
    openssl("x509", "-x509toreq", "-in", str(leaf), "-signkey", str(out / "server-key.pem"),
            "-copy_extensions", "copyall", "-out", str(request))
    openssl("x509", "-req", "-in", str(request), "-CA", str(out / "ca.pem"), "-CAkey",
            str(out / "ca-key.pem"), "-copy_extensions", "copy", "-days", "30",
            f"-{digest}", "-set_serial", "0x77", "-out", str(leaf))
    name = {"sha1": "SHA-1", "md5": "MD5"}[digest]
    done = run_tool("certs", "check", str(out))
    assert done.returncode == 8, done.stdout + done.stderr
    assert f"server-cert.pem: signed with {name}" in done.stdout, done.stdout
    # The CA itself, re-signed by its key with the weak digest (same name and key): a
    # root's own signature Go does not check, so only a warning (the leaf stays a problem).
    openssl("x509", "-in", str(out / "ca.pem"), "-signkey", str(out / "ca-key.pem"),
            f"-{digest}", "-days", "3650", "-out", str(out / "ca.pem"))
    done = run_tool("certs", "check", str(out))
    assert done.returncode == 8, done.stdout
    assert f"warning: ca.pem: signed with {name}" in done.stdout, done.stdout
    assert f"problem: server-cert.pem: signed with {name}" in done.stdout, done.stdout


@pytest.mark.parametrize("digest", ["sha1", "md5"])
def test_check_warns_of_a_weak_self_signature_on_a_root(tmp_path: Path, digest: str) -> None:
    """A root whose own signature is SHA-1 or MD5, its leaves SHA-256: Go never checks
    a root's self-signature (the docker CLI connects: see the SHA-1 root test above), so
    check warns (exit 7) that this tool will not sign with it, not that Go rejects it;
    signing with it is refused (exit 5)."""
    out = tmp_path / "certs"
    keys = ["--key-type", "rsa", "--key-size", "2048"] if digest == "md5" else []
    assert run_tool("certs", "all", "--out", str(out), "-q", *keys).returncode == 0
    openssl("x509", "-in", str(out / "ca.pem"), "-signkey", str(out / "ca-key.pem"),
            f"-{digest}", "-days", "3650", "-out", str(out / "ca.pem"))
    name = {"sha1": "SHA-1", "md5": "MD5"}[digest]
    done = run_tool("certs", "check", str(out))
    assert done.returncode == 7, done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("warning: ca.pem"))
    assert f"signed with {name}" in line and "rejects" not in line, line
    assert "this tool will not sign with it" in line, line
    fix = line.split("fix: replace it with `")[1].rstrip("`")
    assert fix == f"minipaas certs rotate-ca start --out {out}", line
    refused = run_tool("certs", "client", "--out", str(out), "--name", "ci")
    assert refused.returncode == 5 and f"signed with {name}" in refused.stderr, refused.stderr
    assert "accepts it as a root, but this tool does not sign with it" in refused.stderr
    assert "rotate-ca start" in refused.stderr and "rejects" not in refused.stderr
    # The fix check and the refusal give replaces it: rotate-ca start reads the weak CA
    # only to keep it trusted until `finish`; what is signed from now on is SHA-256.
    done = run_tool(*fix.split()[1:], "-q")
    assert done.returncode == 0, done.stderr
    assert run_tool("certs", "client", "--out", str(out), "--name", "ci", "-q").returncode == 0
    assert load_cert(out / "clients" / "ci" / "cert.pem").signature_hash_algorithm.name == \
        "sha256"


def _fixes(output: str, file_prefix: str) -> set[str]:
    return {line.split("; fix: ", 1)[1] for line in output.splitlines()
            if line.split(": ", 2)[1].startswith(file_prefix)}


def test_one_fix_per_bundle_and_it_keeps_the_lifetime(tmp_path: Path, cli) -> None:
    """An 8-hour CI bundle of the previous CA (`all --force` with the bundle moved aside,
    then put back): its ca.pem's two faults are one finding, and every finding about the
    bundle names one fix, `renew`, which clears them and keeps the 8 hours (`client
    --force` on a missing half would have issued it for a year: no longer offered)."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "--hours", "8",
               "-q").code == 0
    shutil.move(str(out / "clients"), str(tmp_path / "aside"))
    assert cli("certs", "all", "--out", str(out), "--force", "-q").code == 0
    shutil.move(str(tmp_path / "aside"), str(out / "clients"))
    result = cli("certs", "check", str(out))
    assert result.code == 8
    fix = f"minipaas certs renew client --out {out} --name ci"
    assert _fixes(result.out, "clients/ci/") == {fix}, result.out
    ca_lines = [line for line in result.out.splitlines() if "clients/ci/ca.pem" in line]
    assert len(ca_lines) == 1 and " instead of ca.pem's CN=" in ca_lines[0], result.out
    assert cli(*shlex.split(fix)[1:], "-q").code == 0
    after = cli("certs", "check", str(out))
    # Issue 25: an 8-hour certificate just made is sound (a third of its life is left),
    # although its 8 hours are within --warn-days (it was a warning before).
    assert after.code == 0, after.out
    assert after.out.strip().endswith("none expires within 30 days but 1 short-lived one, "
                                      "not in the last third of its lifetime"), after.out
    cert = load_cert(out / "clients/ci/cert.pem")
    assert cert.not_valid_after_utc - cert.not_valid_before_utc < datetime.timedelta(hours=9)


@pytest.mark.parametrize("lost", ["key.pem", "ca.pem"])
def test_a_bundle_missing_a_half_is_renewed(tmp_path: Path, cli, lost: str) -> None:
    """With its certificate in place, renew makes the rest: the fix keeps the 8 hours."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "--hours", "8",
               "-q").code == 0
    (out / "clients/ci" / lost).unlink()
    result = cli("certs", "check", str(out))
    assert result.code == 8
    fix = f"minipaas certs renew client --out {out} --name ci"
    assert _fixes(result.out, "clients/ci/") == {fix}, result.out
    assert cli(*shlex.split(fix)[1:], "-q").code == 0
    assert cli("certs", "check", str(out)).code == 0  # issue 25: 8 hours just made are sound


def test_a_bundle_without_its_certificate_is_issued_anew(tmp_path: Path, cli) -> None:
    """Nothing to keep: the bundle is made again (--force over its key)."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    (out / "clients/ci/cert.pem").unlink()
    result = cli("certs", "check", str(out))
    assert _fixes(result.out, "clients/ci/") == {
        f"minipaas certs client --out {out} --name ci --force"}, result.out
