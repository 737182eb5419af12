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
from conftest import SYSTEM_OPENSSL, certs, load_cert, run_tool, system_verify
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


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
    done = run_tool("certs", "renew", "--all", "--out", str(foreign), "-q", "--json")
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
    text = run_tool("certs", "renew", "--all", "--out", str(foreign), "-q")
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
