"""An organisation's intermediate CA as the signer: chains in the leaf files, the root
as ca.pem.  The root and intermediate are made here by openssl, as an organisation's
PKI team would; every result is checked with ``cryptography``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from as_user import paste
from conftest import TOOL_OPENSSL, load_cert
from cryptography import x509
from cryptography.hazmat.primitives import serialization

ORG_CONFIG = """\
[ req ]
prompt = no
distinguished_name = dn
[ dn ]
O = Example Corp
OU = Security
CN = Example Root CA
[ root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ intermediate ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run([TOOL_OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


def organisation(folder: Path) -> Path:
    """An organisation root and an intermediate under it; returns the folder."""
    folder.mkdir(parents=True)
    (folder / "org.cnf").write_text(ORG_CONFIG)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
            "-keyout", "root-key.pem", "-out", "root.pem", "-config", "org.cnf",
            "-extensions", "root", "-days", "3650", cwd=folder)
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "intermediate-key.pem", "-out", "intermediate.csr", "-subj",
            "/O=Example Corp/OU=Platform/CN=Example Docker Intermediate", cwd=folder)
    openssl("x509", "-req", "-in", "intermediate.csr", "-CA", "root.pem", "-CAkey",
            "root-key.pem", "-set_serial", "4660", "-out", "intermediate.pem", "-days", "1800",
            "-sha384", "-extfile", "org.cnf", "-extensions", "intermediate", cwd=folder)
    return folder


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return organisation(tmp_path_factory.mktemp("org") / "pki")


def ca_dir(org: Path, to: Path, *parts: str) -> Path:
    """A --ca-dir: ca.pem from ``parts`` in that order, ca-key.pem the intermediate's."""
    to.mkdir()
    (to / "ca.pem").write_bytes(b"".join((org / part).read_bytes() for part in parts))
    shutil.copy(org / "intermediate-key.pem", to / "ca-key.pem")
    (to / "ca-key.pem").chmod(0o600)  # whatever the umask gave openssl 1.1.1
    return to


def certificates(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


@pytest.mark.parametrize("order", [("intermediate.pem", "root.pem"),
                                   ("root.pem", "intermediate.pem")])
def test_leaves_carry_the_intermediate_and_ca_pem_is_the_root(
        org: Path, tmp_path: Path, cli, order: tuple[str, str]) -> None:
    signer, out = ca_dir(org, tmp_path / "ca", *order), tmp_path / "certs"
    for args in (["server", "--san", "10.0.0.5"], ["client"], ["client", "--name", "ci"],
                 ["server", "--name", "m1", "--san", "10.0.0.11"]):
        result = cli("certs", *args, "--out", str(out), "--ca-dir", str(signer), "-q")
        assert result.code == 0, result.err
    root, intermediate = load_cert(org / "root.pem"), load_cert(org / "intermediate.pem")
    for name in ("ca.pem", "clients/ci/ca.pem", "servers/m1/ca.pem"):
        assert certificates(out / name) == [root], name  # the trust anchor alone
    for name in ("server-cert.pem", "client-cert.pem", "cert.pem", "clients/ci/cert.pem",
                 "servers/m1/server-cert.pem"):
        leaf, *chain = certificates(out / name)
        assert chain == [intermediate], name  # what a peer trusting only the root needs
        leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)
    assert not (out / "ca-key.pem").exists()
    checked = cli("certs", "check", str(out))
    assert checked.code == 0, checked.out  # no false problems on chains
    assert cli("certs", "verify-sums", str(out)).code == 0
    shown = cli("certs", "show", str(out)).out
    assert "subject   O=Example Corp, OU=Security, CN=Example Root CA" in shown
    assert "chain     O=Example Corp, OU=Platform, CN=Example Docker Intermediate" in shown
    assert "rollover" not in shown
    entries = json.loads(cli("certs", "show", str(out), "--json").out)["certificates"]
    server = next(e for e in entries if e["file"] == "server-cert.pem")
    assert server["chain"] == ["O=Example Corp, OU=Platform, CN=Example Docker Intermediate"]
    assert server["issuer_dn"].endswith("CN=Example Docker Intermediate")
    # renew keeps the names and the chain
    assert cli("certs", "renew", "server", "--out", str(out), "--ca-dir", str(signer),
               "-q").code == 0
    assert certificates(out / "server-cert.pem")[1:] == [intermediate]
    assert "IP:10.0.0.5" in cli("certs", "show", str(out)).out
    assert cli("certs", "check", str(out)).code == 0


def test_the_ca_folder_itself_checks_and_shows_the_chain(org: Path, tmp_path: Path,
                                                         cli) -> None:
    signer = ca_dir(org, tmp_path / "ca", "root.pem", "intermediate.pem")
    assert cli("certs", "check", str(signer)).code == 0  # the key is the intermediate's
    shown = cli("certs", "show", str(signer)).out
    assert "ca.pem  (ca (root))" in shown and "ca.pem  (ca (intermediate))" in shown


def test_an_intermediate_without_its_issuers_is_refused_with_the_fix(
        org: Path, tmp_path: Path, cli) -> None:
    signer, out = ca_dir(org, tmp_path / "ca", "intermediate.pem"), tmp_path / "certs"
    result = cli("certs", "server", "--out", str(out), "--ca-dir", str(signer))
    assert result.code == 5
    assert "holds CN=Example Docker Intermediate but not its issuer" in result.error_line
    assert "cat intermediate.pem root.pem > ca.pem" in result.error_line
    assert not out.exists()


def test_a_key_that_matches_no_certificate_of_the_chain(org: Path, tmp_path: Path,
                                                        cli) -> None:
    signer = ca_dir(org, tmp_path / "ca", "intermediate.pem", "root.pem")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
            str(signer / "ca-key.pem"), cwd=tmp_path)
    result = cli("certs", "client", "--out", str(tmp_path / "certs"), "--ca-dir", str(signer))
    assert result.code == 5 and "matches none of the 2 certificates" in result.error_line


def test_a_leaf_never_outlives_the_intermediate(org: Path, tmp_path: Path, cli) -> None:
    signer = ca_dir(org, tmp_path / "ca", "intermediate.pem", "root.pem")
    result = cli("certs", "client", "--out", str(tmp_path / "certs"), "--ca-dir", str(signer),
                 "--days", "2000")
    assert result.code == 5
    assert "CN=Example Docker Intermediate" in result.error_line and "--days 17" in \
        result.error_line


@pytest.mark.docker
def test_dockerd_trusting_only_the_root_accepts_the_cli(org: Path, tmp_path: Path) -> None:
    """The usual organisation set-up, end to end: dockerd and the docker CLI each trust
    only the organisation root; the intermediate travels in the certificate files."""
    from conftest import run_tool
    from dockerd import Dockerd

    signer, out = ca_dir(org, tmp_path / "ca", "intermediate.pem", "root.pem"), tmp_path / "c"
    for args in (["server"], ["client"], ["client", "--name", "ci"]):
        done = run_tool("certs", *args, "--out", str(out), "--ca-dir", str(signer), "-q")
        assert done.returncode == 0, done.stderr
    assert (out / "ca.pem").read_bytes() == (org / "root.pem").read_bytes()
    daemon = Dockerd()
    try:
        daemon.start_with_files(out)  # tlscacert: the root alone
        for cert_path in (out, out / "clients" / "ci"):
            done = daemon.client(cert_path, "version", "--format", "{{.Server.Version}}")
            assert done.returncode == 0, (cert_path, done.stderr)
        # Without the intermediate in cert.pem, the same daemon refuses the client, as Go
        # sends exactly what cert.pem holds: the chain in the files is what makes it work.
        bare = tmp_path / "bare"
        shutil.copytree(out / "clients" / "ci", bare)
        (bare / "cert.pem").write_bytes(certificates(bare / "cert.pem")[0].public_bytes(
            serialization.Encoding.PEM))
        # ... also when ca.pem holds the intermediate (Python's ssl would complete the
        # chain from it; Go does not, and neither may doctor).
        completing = tmp_path / "completing"
        shutil.copytree(bare, completing)
        (completing / "ca.pem").write_bytes((org / "intermediate.pem").read_bytes()
                                            + (org / "root.pem").read_bytes())
        verdicts = {}
        for folder in (out, out / "clients" / "ci", bare, completing):
            cli = daemon.client(folder)
            done = run_tool("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(folder))
            assert (cli.returncode == 0) == (done.returncode == 0), (folder, done.stdout,
                                                                    cli.stderr)
            verdicts[folder.name] = done.stdout
        assert verdicts["c"].startswith("OK: mutual TLS works")
        assert verdicts["ci"].startswith("OK: mutual TLS works")
        assert "issued by CN=Example Docker Intermediate, which ca.pem (CN=Example Root CA) " \
               "does not hold: if CN=Example Docker Intermediate is an intermediate" \
               in verdicts["bare"]
        assert verdicts["completing"].startswith(
            "cert.pem lacks the intermediate that issued it (CN=Example Docker Intermediate)")
        # A daemon whose server-cert.pem lacks the intermediate: refused by Go's client
        # trusting the root, and doctor says so.
        stripped = tmp_path / "stripped"
        shutil.copytree(out, stripped)
        (stripped / "server-cert.pem").write_bytes(certificates(
            stripped / "server-cert.pem")[0].public_bytes(serialization.Encoding.PEM))
        daemon.restart_with_files(stripped)
        cli = daemon.client(out)
        assert cli.returncode != 0 and "unknown authority" in cli.stderr, cli.stderr
        done = run_tool("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(out))
        assert done.returncode == 8
        assert "the daemon's server-cert.pem lacks it after the leaf" in done.stdout
    finally:
        daemon.close()


def test_an_organisations_intermediate_is_not_replaced_by_a_local_ca(
        org: Path, tmp_path: Path, cli) -> None:
    """rotate-ca and revoke make a new CA: never in place of the organisation's."""
    signer = ca_dir(org, tmp_path / "ca", "intermediate.pem", "root.pem")
    assert cli("certs", "client", "--out", str(signer), "--name", "ci", "-q").code == 0
    assert certificates(signer / "clients" / "ci" / "ca.pem") == [load_cert(org / "root.pem")]
    before = {p: p.read_bytes() for p in signer.rglob("*") if p.is_file()}
    result = cli("certs", "rotate-ca", "start", "--out", str(signer))
    assert result.code == 5 and "holds an intermediate CA of your organisation" in \
        result.error_line
    result = cli("certs", "revoke", "--out", str(signer), "--name", "ci")
    assert result.code == 5 and "no revocation cuts a certificate off while they trust " \
        "that root" in result.error_line
    assert {p: p.read_bytes() for p in signer.rglob("*") if p.is_file()} == before
    assert cli("certs", "check", str(signer)).code == 0  # bundles hold the root alone


def test_another_root_in_the_ca_file_is_refused(org: Path, tmp_path: Path, cli) -> None:
    """Beside an intermediate, ca.pem copies hold its root alone: another root there would
    make every daemon and client trust what it signs."""
    other = organisation(tmp_path / "other")
    signer = ca_dir(org, tmp_path / "ca", "intermediate.pem", "root.pem")
    with (signer / "ca.pem").open("ab") as bundle:
        bundle.write((other / "root.pem").read_bytes())
    result = cli("certs", "client", "--out", str(tmp_path / "c"), "--ca-dir", str(signer))
    assert result.code == 5 and "is not on the path from CN=Example Docker Intermediate" in \
        result.error_line
    twice = ca_dir(org, tmp_path / "twice", "intermediate.pem", "root.pem", "root.pem",
                   "intermediate.pem")
    assert cli("certs", "client", "--out", str(tmp_path / "d"), "--ca-dir", str(twice),
               "-q").code == 0
    assert certificates(tmp_path / "d" / "ca.pem") == [load_cert(org / "root.pem")]


def successor(org: Path, to: Path) -> Path:
    """A --ca-dir with a second intermediate under the same root, as an organisation
    issues a successor: ca.pem its chain, ca-key.pem its key."""
    to.mkdir()
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(to / "ca-key.pem"), "-out", str(to / "next.csr"), "-subj",
            "/O=Example Corp/OU=Platform/CN=Example Docker Intermediate 2", cwd=org)
    openssl("x509", "-req", "-in", str(to / "next.csr"), "-CA", "root.pem", "-CAkey",
            "root-key.pem", "-set_serial", "4661", "-out", str(to / "next.pem"), "-days",
            "1800", "-sha384", "-extfile", "org.cnf", "-extensions", "intermediate", cwd=org)
    (to / "ca.pem").write_bytes((to / "next.pem").read_bytes() + (org / "root.pem").read_bytes())
    for name in ("next.csr", "next.pem"):
        (to / name).unlink()
    (to / "ca-key.pem").chmod(0o600)
    return to


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_an_intermediate_in_the_folder_is_replaced_as_rotate_ca_says(
        org: Path, tmp_path: Path) -> None:
    """rotate-ca start refuses an organisation's intermediate and says what works: its
    successor put in place, then renew --all, which this test does.  revoke refuses,
    saying why no revocation cuts off what a trusted root signed: the certificate
    revoked by hand and re-issued around still verifies against the folder's ca.pem."""
    from as_user import tool

    signer = ca_dir(org, tmp_path / "ca", "intermediate.pem", "root.pem")
    assert tool(tmp_path, "client", "--out", "ca", "--name", "ci", "-q").returncode == 0
    before = snapshot(signer)
    done = tool(tmp_path, "rotate-ca", "start", "--out", "ca")
    assert done.returncode == 5, done.stderr
    assert "put it in place of this one (ca.pem with its chain, ca-key.pem), then " \
           "`minipaas certs renew --all --within 100% --out ca` (and `minipaas certs renew " \
           "--all --within 100% --out FOLDER --ca-dir ca` for each folder it signs)" \
           in done.stderr, done.stderr
    done = tool(tmp_path, "revoke", "--out", "ca", "--name", "ci")
    assert done.returncode == 5, done.stderr
    assert "ca's certificates come from the intermediate CA CN=Example Docker Intermediate, " \
           "whose root every daemon trusts: no revocation cuts a certificate off while they " \
           "trust that root" in done.stderr, done.stderr
    assert "stays valid until it expires (clients/ci until 20" in done.stderr
    assert "move ca/clients/ci out of ca and put an intermediate under another root from " \
           "your organisation in place of this one" in done.stderr
    assert snapshot(signer) == before
    revoked = tmp_path / "ci-revoked"
    shutil.move(str(signer / "clients" / "ci"), str(revoked))
    assert tool(tmp_path, "client", "--out", "ca", "--name", "ops", "-q").returncode == 0
    following = successor(org, tmp_path / "next")
    for name in ("ca.pem", "ca-key.pem"):
        shutil.copy(following / name, signer / name)
    done = tool(tmp_path, "renew", "--all", "--within", "100%", "--out", "ca", "-q")
    assert done.returncode == 0, done.stderr
    assert certificates(signer / "clients" / "ops" / "cert.pem")[1] == \
        certificates(following / "ca.pem")[0]
    assert tool(tmp_path, "check", "ca").returncode == 0
    # Why revoke refused: the old intermediate's certificate still verifies.
    held = subprocess.run([TOOL_OPENSSL, "verify", "-purpose", "sslclient", "-CAfile",
                           str(signer / "ca.pem"), "-untrusted", str(revoked / "cert.pem"),
                           str(revoked / "cert.pem")], capture_output=True, text=True)
    assert held.returncode == 0, held.stderr


def test_a_folder_signed_by_an_intermediate_elsewhere_moves_to_its_successor(
        org: Path, tmp_path: Path) -> None:
    from as_user import tool

    signer = ca_dir(org, tmp_path / "ca", "intermediate.pem", "root.pem")
    for args in (["server"], ["client", "--name", "ci"]):
        done = tool(tmp_path, *args, "--out", "certs", "--ca-dir", str(signer), "-q")
        assert done.returncode == 0, done.stderr
    out = tmp_path / "certs"
    before = snapshot(out)
    done = tool(tmp_path, "rotate-ca", "start", "--out", "certs")
    assert done.returncode == 5, done.stderr
    assert "come from the intermediate CA CN=Example Docker Intermediate of your " \
           "organisation" in done.stderr
    (renew,) = re.findall(r"`(minipaas certs [^`]*)`", done.stderr)
    assert renew == "minipaas certs renew --all --within 100% --out certs --ca-dir NEW_CA_FOLDER"
    done = tool(tmp_path, "revoke", "--out", "certs", "--name", "ci")
    assert done.returncode == 5 and "no revocation cuts a certificate off" in done.stderr
    assert "in a new folder NEW_CA_FOLDER (ca.pem with its chain, ca-key.pem), then " \
           "`minipaas certs renew --all --within 100% --out certs --ca-dir NEW_CA_FOLDER --force`" \
           in done.stderr, done.stderr
    assert snapshot(out) == before
    successor(org, tmp_path / "next")
    done = paste(renew.replace("NEW_CA_FOLDER", "next"), tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("server-cert.pem", "clients/ci/cert.pem"):
        assert certificates(out / name)[1].subject.rfc4514_string().startswith(
            "CN=Example Docker Intermediate 2,"), name
    assert certificates(out / "ca.pem") == [load_cert(org / "root.pem")]
    assert tool(tmp_path, "check", "certs").returncode == 0
