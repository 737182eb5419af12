"""No run leaves a mixed set, and no foreign bundle blocks a revocation.

After any exit 0, every certificate in --out verifies against the ca.pem beside it
(`check` is clean): a run that would replace ca.pem with another CA's while
leaving certificates of the old one is refused, or re-issues everything from the
new one.  A bundle this tool did not make (a CN it would not issue, a certificate
of the other role, no certificate) is named with the command that issues it again,
and never stops `revoke` or `renew --all` from doing the rest.
"""

from __future__ import annotations

import datetime
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from as_user import ok, paste, quoted_command, tool
from conftest import SYSTEM_OPENSSL, certs, load_cert, run_tool, system_verify
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from foreign import _foreign_server, foreign_leaf

OUT = "my certs'q"  # relative to the working folder: printed commands must paste


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _leaves(out: Path) -> list[tuple[Path, str]]:
    found = [(out / "server-cert.pem", "sslserver"), (out / "cert.pem", "sslclient")]
    found += [(path, "sslserver") for path in sorted(out.glob("servers/*/server-cert.pem"))]
    found += [(path, "sslclient") for path in sorted(out.glob("clients/*/cert.pem"))]
    return [(path, purpose) for path, purpose in found if path.exists()]


def _all_verify(out: Path, ca: Path) -> bool:
    return all(system_verify(ca, path, purpose).returncode == 0
               for path, purpose in _leaves(out))


@pytest.fixture
def orgs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two organisation CAs, and a folder signed by the first: top-level pairs, a
    manager, and two clients, one of them due soon."""
    first, second, out = tmp_path / "org-a", tmp_path / "org-b", tmp_path / "certs"
    certs("ca", "--out", str(first), "--cn", "Org A")
    certs("ca", "--out", str(second), "--cn", "Org B")
    for args in (["server", "--san", "10.0.0.5"], ["client"],
                 ["server", "--name", "m1", "--san", "10.0.0.11"],
                 ["client", "--name", "alice"], ["client", "--name", "ci", "--days", "5"]):
        certs(*args, "--out", str(out), "--ca-dir", str(first))
    return first, second, out


def test_renew_within_from_another_ca_reissues_everything(orgs: tuple[Path, Path, Path]
                                                          ) -> None:
    first, second, out = orgs
    done = run_tool("certs", "renew", "--all", "--within", "30", "--out", str(out),
                    "--ca-dir", str(second), "--force", "--json")
    assert done.returncode == 0, done.stderr
    assert "every certificate is re-issued from it, not only those due" in done.stderr
    report = json.loads(done.stdout)
    assert {entry["file"] for entry in report["renewed"]} == {
        "server-cert.pem", "client-cert.pem", "servers/m1/server-cert.pem",
        "clients/alice/cert.pem", "clients/ci/cert.pem"}
    assert _all_verify(out, second / "ca.pem") and not _all_verify(out, first / "ca.pem")
    assert run_tool("certs", "check", str(out), "--warn-days", "1").returncode == 0
    # Once everything is from the new CA, a daily run changes nothing again.
    before = _tree(out)
    again = run_tool("certs", "renew", "--all", "--within", "1", "--out", str(out),
                     "--ca-dir", str(second), "--force")
    assert again.returncode == 0 and _tree(out) == before


@pytest.mark.parametrize("args", [["server", "--san", "10.0.0.5"],
                                  ["client", "--name", "alice"],
                                  ["renew", "server", "--name", "m1"]])
def test_one_pair_from_another_ca_is_refused_with_the_command_that_moves_all(
        orgs: tuple[Path, Path, Path], args: list[str]) -> None:
    _, second, out = orgs
    before = _tree(out)
    done = run_tool("certs", *args, "--out", str(out), "--ca-dir", str(second), "--force")
    assert done.returncode == 4, done.stderr
    (line,) = done.stderr.splitlines()
    assert "would be left with certificates that the new ca.pem from" in line, line
    assert "servers/m1" in line or args[-1] == "m1"
    assert _tree(out) == before
    command = re.search(r"`(minipaas certs renew --all [^`]*)`", line)
    assert command is not None, line
    moved = run_tool(*shlex.split(command.group(1))[1:])
    assert moved.returncode == 0, moved.stderr
    assert _all_verify(out, second / "ca.pem")
    assert run_tool("certs", "check", str(out), "--warn-days", "1").returncode == 0


def _foreign_client(out: Path, name: str, common_name: str, server: bool = False) -> None:
    """A bundle another tool made: signed by the folder's CA, with a CN this tool would
    not issue (or a server certificate where a client's belongs)."""
    ca = load_cert(out / "ca.pem")
    ca_key = serialization.load_pem_private_key((out / "ca-key.pem").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=90))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca.public_key()), critical=False))  # type: ignore[arg-type]
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("legacy.example.com")]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    folder = out / "clients" / name
    folder.mkdir(mode=0o700)
    shutil.copy(out / "ca.pem", folder / "ca.pem")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / "key.pem").chmod(0o600)


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    out = tmp_path / "certs"
    certs("all", "--out", str(out), "--san", "10.0.0.5")
    certs("server", "--out", str(out), "--name", "m1", "--san", "10.0.0.11")
    certs("client", "--out", str(out), "--name", "alice", "--name", "bob")
    _foreign_client(out, "doe", "Doe, John")
    _foreign_client(out, "web", "web", server=True)
    (out / "clients" / "empty").mkdir(mode=0o700)  # a bundle whose certificate is gone
    for name in ("ca.pem", "key.pem"):
        shutil.copy(out / "clients" / "bob" / name, out / "clients" / "empty" / name)
    return out


FOREIGN = {"clients/doe": "invalid current common name 'Doe, John'",
           "clients/web": "it holds a server certificate, not a client one",
           "clients/empty": "it holds no valid certificate"}


def _warnings(stderr: str) -> dict[str, str]:
    return {line.split()[1]: line for line in stderr.splitlines()
            if line.startswith("Warning: clients/")}


def test_a_foreign_bundle_does_not_block_an_emergency_revocation(foreign: Path) -> None:
    done = run_tool("certs", "revoke", "--out", str(foreign), "--name", "alice")
    assert done.returncode == 0, done.stderr
    warnings = _warnings(done.stderr)
    assert set(warnings) == set(FOREIGN), done.stderr
    (backup,) = foreign.glob("backup-*")
    for label, reason in FOREIGN.items():
        line = warnings[label]
        assert f"could not be carried over to the new CA ({reason}" in line, line
        assert f"it is in {backup} and stops working once the daemons restart" in line, line
        assert (backup / label).is_dir() and not (foreign / label).exists()
    assert (backup / "clients" / "alice").is_dir()
    assert _all_verify(foreign, foreign / "ca.pem")
    assert run_tool("certs", "check", str(foreign)).returncode == 0
    # Each printed command issues the identity again under names the tool accepts.
    for label, line in warnings.items():
        command = re.search(r"`(minipaas certs [^`]*)`", line)
        assert command is not None, line
        again = run_tool(*shlex.split(command.group(1))[1:], "-q")
        assert again.returncode == 0, (line, again.stderr)
        assert load_cert(foreign / label / "cert.pem")
    assert run_tool("certs", "check", str(foreign)).returncode == 0


def test_renew_all_renews_the_rest_and_names_the_foreign_bundles(foreign: Path) -> None:
    before = {label: (foreign / label / "cert.pem").read_bytes()
              for label in ("clients/doe", "clients/web")}
    done = run_tool("certs", "renew", "--all", "--within", "100%", "--out", str(foreign),
                    "-q", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    reasons = {f"clients/{item['bundle']}": item["reason"] for item in report["skipped"]}
    assert set(reasons) == set(FOREIGN)
    assert all(reasons[label].startswith(reason) for label, reason in FOREIGN.items())
    assert {entry["file"] for entry in report["renewed"]} == {
        "server-cert.pem", "client-cert.pem", "servers/m1/server-cert.pem",
        "clients/alice/cert.pem", "clients/bob/cert.pem"}
    for label, data in before.items():  # left as they were: same CA, still valid
        assert (foreign / label / "cert.pem").read_bytes() == data
    text = run_tool("certs", "renew", "--all", "--within", "100%", "--out", str(foreign), "-q")
    warnings = _warnings(text.stderr)
    assert "was not renewed (invalid current common name 'Doe, John': " in \
        warnings["clients/doe"]
    assert "): it works until it expires; issue it again" in warnings["clients/doe"]
    assert warnings["clients/doe"].endswith(
        f"`minipaas certs client --out {foreign} --name doe --force`")


def test_a_foreign_top_level_server_pair_is_carried_off_with_its_names(tmp_path: Path
                                                                       ) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out), "--san", "10.0.0.5")
    # The server pair replaced by one with a CN this tool would not issue.
    subprocess.run([SYSTEM_OPENSSL, "req", "-x509", "-new", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    str(out / "server-key.pem"), "-out", str(out / "server-cert.pem"),
                    "-CA", str(out / "ca.pem"), "-CAkey", str(out / "ca-key.pem"),
                    "-subj", "/CN=Docker, Prod", "-days", "30",
                    "-addext", "subjectAltName=IP:10.0.0.5,DNS:prod.example.com",
                    "-addext", "extendedKeyUsage=serverAuth",
                    "-addext", "basicConstraints=critical,CA:FALSE"],
                   check=True, capture_output=True)
    certs("client", "--out", str(out), "--name", "alice")
    done = run_tool("certs", "revoke", "--out", str(out), "--name", "alice")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines()
                if line.startswith("Warning: server-cert.pem could not be carried over"))
    command = re.search(r"`(minipaas certs [^`]*)`", line)
    assert command is not None and command.group(1) == (
        f"minipaas certs server --out {out} --san prod.example.com --san 10.0.0.5"), line
    assert not (out / "server-cert.pem").exists()
    assert run_tool(*shlex.split(command.group(1))[1:], "-q").returncode == 0
    assert run_tool("certs", "check", str(out)).returncode == 0


def test_revoke_goes_ahead_with_a_mixed_case_dns_name(cli, tmp_path: Path) -> None:
    """An emergency revocation re-issues every other identity keeping its names: a server
    pair with DNS:Manager.Example.com (the same name as manager.example.com) blocks
    `revoke --name alice` with exit 2 and advice (`--san ...`) revoke does not take."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "--name", "alice", "-q").code == 0
    _foreign_server(out, "Manager.Example.com")
    result = cli("certs", "revoke", "--out", str(out), "--name", "alice", "-q")
    assert result.code == 0, result.err
    assert not (out / "clients" / "alice").exists()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    ok(tmp_path, "all", "--out", OUT, "--san", "10.0.0.5")
    ok(tmp_path, "client", "--out", OUT, "--name", "alice")
    return tmp_path


# Item 8: `renew --all` (same CA) leaves a foreign bundle in place and names the command
# that issues it again "under names this tool accepts".  For a server bundle with a bad CN,
# and for any P-521 key, that command is refused (exit 2, "cannot renew ... as it is"):
# --force does not stop the rotation from reading the current CN and key.
@pytest.mark.parametrize("folder,role,cn,curve,san", [
    ("servers/doe", "server", "Doe, Server", "P-256", "DNS:doe.example"),
    ("servers/big", "server", "big", "P-521", "DNS:big.example"),
    ("clients/big", "client", "big", "P-521", ""),
    (".", "server", "Docker, Prod", "P-256", "DNS:prod.example.com,IP:10.0.0.5"),
])
def test_renew_all_names_foreign_pairs_with_commands_that_work(
        work: Path, folder: str, role: str, cn: str, curve: str, san: str) -> None:
    out = work / OUT
    foreign_leaf(out / folder, role, cn, curve, out / "ca.pem", out / "ca-key.pem", san)
    done = tool(work, "renew", "--all", "--within", "100%", "--out", OUT, "--json", "-q")
    assert done.returncode == 0, done.stderr
    (skipped,) = json.loads(done.stdout)["skipped"]
    again = paste(skipped["command"], work)
    assert again.returncode == 0, (skipped["command"], again.stderr)
    assert tool(work, "check", OUT).returncode == 0


# Item 8 with --ca-dir: the folder has no CA key of its own, so the command printed for a
# foreign bundle must name the --ca-dir; without it, it fails (exit 5, ca-key.pem missing).
def test_renew_all_from_another_ca_names_foreign_bundles_with_their_ca_dir(
        tmp_path: Path) -> None:
    ok(tmp_path, "ca", "--out", "org a", "--cn", "Org A")
    ok(tmp_path, "ca", "--out", "org b", "--cn", "Org B")
    ok(tmp_path, "server", "--out", OUT, "--ca-dir", "org a", "--san", "10.0.0.5")
    ok(tmp_path, "client", "--out", OUT, "--ca-dir", "org a", "--name", "alice")
    foreign_leaf(tmp_path / OUT / "clients" / "doe", "client", "Doe, John", "P-256",
                 tmp_path / "org a" / "ca.pem", tmp_path / "org a" / "ca-key.pem")
    done = tool(tmp_path, "renew", "--all", "--within", "100%", "--out", OUT, "--ca-dir",
                "org b", "--force", "--json", "-q")
    assert done.returncode == 0, done.stderr
    (skipped,) = json.loads(done.stdout)["skipped"]
    again = paste(skipped["command"], tmp_path)
    assert again.returncode == 0, (skipped["command"], again.stderr)
    assert system_verify(tmp_path / OUT / "ca.pem", tmp_path / OUT / "clients" / "doe" /
                         "cert.pem", "sslclient").returncode == 0


# Item 1: `renew client --name web` where clients/web holds a server certificate says
# "issue it again with `minipaas certs client --out ... --name web`"; pasted, that is
# refused (exit 4: the bundle exists, --force needed).
def test_renew_of_the_other_roles_bundle_suggests_a_command_that_works(work: Path) -> None:
    out = work / OUT
    foreign_leaf(out / "clients" / "web", "server", "web", "P-256", out / "ca.pem",
                 out / "ca-key.pem", "DNS:web.example")
    done = tool(work, "renew", "client", "--out", OUT, "--name", "web")
    assert done.returncode == 5, done.stderr
    again = paste(quoted_command(done.stderr), work)
    assert again.returncode == 0, again.stderr


# Item 1: re-running `certs server` (or `renew`) on a pair this tool did not make (a CN or
# key it would not issue) is refused with no way on: no command is named, and `--force`
# alone is refused the same way.
@pytest.mark.parametrize("folder,role,cn,curve,command", [
    (".", "server", "Docker, Prod", "P-521", ["server"]),
    ("clients/doe", "client", "Doe, John", "P-256", ["renew", "client", "--name", "doe"]),
])
def test_rotating_a_foreign_pair_names_a_way_on(work: Path, folder: str, role: str, cn: str,
                                                curve: str, command: list[str]) -> None:
    out = work / OUT
    foreign_leaf(out / folder, role, cn, curve, out / "ca.pem", out / "ca-key.pem",
                 "DNS:prod.example.com" if role == "server" else "")
    done = tool(work, *command, "--out", OUT)
    assert done.returncode == 2, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    again = paste(quoted_command(line), work)
    assert again.returncode == 0, (line, again.stderr)


# Item 4: `rotate-ca finish --force` with a bundle still from the old CA (a foreign one that
# renew --all could not carry over) exits 0 and leaves it beside a ca.pem that does not
# trust it: check then says "problem" (exit 8).  revoke moves such a bundle to the backup.
def test_rotate_ca_finish_never_leaves_a_mixed_set(work: Path) -> None:
    out = work / OUT
    foreign_leaf(out / "clients" / "doe", "client", "Doe, John", "P-256", out / "ca.pem",
                 out / "ca-key.pem")
    ok(work, "rotate-ca", "start", "--out", OUT)
    ok(work, "renew", "--all", "--within", "100%", "--out", OUT)
    done = tool(work, "rotate-ca", "finish", "--out", OUT, "--force")
    if done.returncode == 0:
        checked = tool(work, "check", OUT, "--warn-days", "1")
        assert checked.returncode == 0, checked.stdout


# Item 1 (check's side, commit a31be66 "check's fix commands work"): a bundle holding the
# other role's certificate gets "fix: minipaas certs renew client ... --name web", which
# is refused when pasted (exit 5, "is not a client certificate").
def test_checks_fix_for_the_other_roles_bundle_works(work: Path) -> None:
    out = work / OUT
    foreign_leaf(out / "clients" / "web", "server", "web", "P-256", out / "ca.pem",
                 out / "ca-key.pem", "DNS:web.example")
    checked = tool(work, "check", OUT)
    assert checked.returncode == 8
    (line,) = [line for line in checked.stdout.splitlines()
               if line.startswith("problem: clients/web/cert.pem")]
    again = paste(line.split("; fix: ", 1)[1], work)
    assert again.returncode == 0, (line, again.stderr)
    assert tool(work, "check", OUT).returncode == 0


# Item 1: rotation keeps the SANs or refuses to drop them; a URI or e-mail SAN (SPIFFE
# ids, authorization plugins) is dropped silently by `server --name`, `renew server` and
# revoke, exit 0, without --force and without a word.
@pytest.mark.parametrize("command", [["server", "--name", "uri"],
                                     ["renew", "server", "--name", "uri"]])
def test_rotation_never_drops_a_uri_san_silently(work: Path, command: list[str]) -> None:
    out = work / OUT
    foreign_leaf(out / "servers" / "uri", "server", "uri.example", "P-256", out / "ca.pem",
                 out / "ca-key.pem", "DNS:uri.example,URI:spiffe://example.org/docker")
    done = tool(work, *command, "--out", OUT)
    if done.returncode == 0:
        text = (out / "servers" / "uri" / "server-cert.pem").read_text()
        shown = subprocess.run([SYSTEM_OPENSSL, "x509", "-noout", "-ext", "subjectAltName"],
                               input=text, capture_output=True, text=True).stdout
        assert "URI:spiffe://example.org/docker" in shown, shown
    else:
        assert done.returncode == 2 and "spiffe://example.org/docker" in done.stderr


# Item 8 wording: renew --all says of a bundle that holds no certificate at all "it works
# until it expires" -- it does not work now; the user is told there is no hurry.
def test_renew_all_does_not_say_an_empty_bundle_works(work: Path) -> None:
    empty = work / OUT / "clients" / "empty"
    empty.mkdir(mode=0o700)
    (empty / "ca.pem").write_bytes((work / OUT / "ca.pem").read_bytes())
    done = tool(work, "renew", "--all", "--within", "100%", "--out", OUT, "-q")
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines()
               if line.startswith("Warning: clients/empty")]
    assert "it works until it expires" not in line, line


# Item 8: revoking the bundle itself when it holds the other role's certificate is refused
# (exit 5) with "move the broken bundle away by hand instead".  servers/cli holding a
# client certificate of the CA is a working client credential to every daemon: moving the
# folder cuts nothing off, while revoke (a new CA) would.
def test_a_bundle_holding_the_other_roles_certificate_can_be_revoked(work: Path) -> None:
    out = work / OUT
    foreign_leaf(out / "servers" / "cli", "client", "cli", "P-256", out / "ca.pem",
                 out / "ca-key.pem")
    assert system_verify(out / "ca.pem", out / "servers" / "cli" / "server-cert.pem",
                         "sslclient").returncode == 0  # a client credential that works
    done = tool(work, "revoke", "--out", OUT, "--server", "cli", "-q")
    assert done.returncode == 0, done.stderr
    assert system_verify(out / "ca.pem", out / "clients" / "alice" / "cert.pem",
                         "sslclient").returncode == 0
    assert not (out / "servers" / "cli").exists()
    assert tool(work, "check", OUT).returncode == 0
