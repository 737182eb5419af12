"""``certs doctor`` speaks for the docker CLI: each verdict here is reached on a real
dockerd, and the docker CLI on the same files and address must fail (or succeed) with it.

Daemons are few (each start costs seconds): one serves an organisation's intermediate
chain to several cases, and the previous-CA cases each keep one running on the files
of before ``revoke`` or ``rotate-ca start``.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from conftest import certs, reissue, run_tool
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from dockerd import Dockerd
from foreign import _foreign_server
from test_chains import ca_dir, certificates, organisation

from minipaas_certs.certinfo import read_certificate


def judged(daemon: Dockerd, folder: Path, host: str = "127.0.0.1", *args: str
           ) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """`certs doctor` and `docker version` on the same files and address: both succeed or
    both fail (doctor agrees with the client it speaks for)."""
    address = f"{host}:{daemon.port}"
    done = run_tool("certs", "doctor", "--host", address, str(folder), *args)
    assert "Traceback" not in done.stderr, done.stderr
    bundle = folder / "clients" / args[args.index("--name") + 1] if "--name" in args else folder
    cli = daemon.client(bundle, "version", env={"DOCKER_HOST": f"tcp://{address}"})
    assert (done.returncode == 0) == (cli.returncode == 0), (done.stdout, cli.stderr)
    return done, cli


# --- an organisation's intermediate CA signs the folder's leaves -----------------------------

@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return organisation(tmp_path_factory.mktemp("org") / "pki")


@pytest.fixture(scope="module")
def chained(org: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Leaves from the intermediate (the chain in each leaf file), ca.pem the root alone;
    the server's only name is localhost."""
    base = tmp_path_factory.mktemp("chained")
    signer, out = ca_dir(org, base / "ca", "intermediate.pem", "root.pem"), base / "certs"
    certs("server", "--out", str(out), "--ca-dir", str(signer), "--no-default-san",
          "--san", "localhost")
    certs("client", "--out", str(out), "--ca-dir", str(signer))
    return out


@pytest.fixture(scope="module")
def chained_daemon(chained: Path) -> Iterator[Dockerd]:
    daemon = Dockerd()
    try:
        yield daemon.start_with_files(chained)
    finally:
        daemon.close()


@pytest.mark.docker
def test_intermediate_chain_is_ok(chained: Path, chained_daemon: Dockerd) -> None:
    done, _ = judged(chained_daemon, chained, "localhost")
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("OK: mutual TLS works with tcp://localhost:")


@pytest.mark.docker
def test_intermediate_chain_and_a_host_outside_the_sans(chained: Path,
                                                        chained_daemon: Dockerd) -> None:
    """Go checks the names before the chain: not "another CA", whose leaf is the
    intermediate's and not the root's."""
    done, cli = judged(chained_daemon, chained, "127.0.0.1")
    assert "doesn't contain any IP SANs" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith("127.0.0.1 is not among the daemon certificate's names "
                                  "(DNS:localhost): connect by one of them, or re-issue it "
                                  f"with `minipaas certs renew server --out {chained} --san "
                                  "127.0.0.1`"), done.stdout


@pytest.mark.docker
def test_a_client_certificate_not_yet_valid(org: Path, chained: Path, chained_daemon: Dockerd,
                                            tmp_path: Path) -> None:
    """Its start is tomorrow (a clock wrong here or where it was signed): the daemon
    refuses it, and the cause is its date, not another CA."""
    early = tmp_path / "early"
    shutil.copytree(chained, early)
    reissue(early / "cert.pem", chained.parent / "ca", days_ago=-1)
    with (early / "cert.pem").open("ab") as chain:  # the intermediate after the leaf
        chain.write((org / "intermediate.pem").read_bytes())
    start = read_certificate(early / "cert.pem").not_before
    done, cli = judged(chained_daemon, early, "localhost")
    assert "bad certificate" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith(f"the client certificate in cert.pem is valid only from "
                                  f"{start:%Y-%m-%d %H:%M:%S} UTC: is a clock wrong"), done.stdout
    assert "tlscacert" not in done.stdout


@pytest.mark.docker
def test_intermediate_chain_and_a_client_certificate_served(org: Path, chained: Path,
                                                             tmp_path: Path, daemons) -> None:
    """The daemon serves the client pair (with its chain): not a server certificate."""
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(chained / "ca.pem", served / "ca.pem")
    shutil.copy(chained / "client-cert.pem", served / "server-cert.pem")
    shutil.copy(chained / "client-key.pem", served / "server-key.pem")
    assert len(certificates(served / "server-cert.pem")) == 2  # leaf + intermediate
    daemon = daemons().start_with_files(served)
    done, cli = judged(daemon, chained, "localhost")
    assert "certificate is not valid for any names" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith("the daemon's certificate is not a server certificate "
                                  "(its extendedKeyUsage lacks serverAuth, and it names no "
                                  "host)"), done.stdout


@pytest.mark.docker
def test_a_server_certificate_not_yet_valid(tmp_path: Path, daemons) -> None:
    """Go checks the leaf's dates first; doctor words it as `show` does."""
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    reissue(out / "server-cert.pem", out, days_ago=-1)
    start = read_certificate(out / "server-cert.pem").not_before
    daemon = daemons().start_with_files(out)
    done, cli = judged(daemon, out)
    assert "certificate has expired or is not yet valid" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith(f"the daemon's certificate is valid only from "
                                  f"{start:%Y-%m-%d %H:%M:%S} UTC: is a clock wrong"), done.stdout


# --- the daemon still runs the files of before a new CA ------------------------------------

@pytest.fixture(scope="module")
def revoked_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Dockerd]]:
    """`revoke --name bob` done, the daemon not restarted: it runs the files of before."""
    base = tmp_path_factory.mktemp("revoked")
    out = base / "certs"
    certs("all", "--out", str(out))
    certs("client", "--out", str(out), "--name", "bob")
    shutil.copytree(out, base / "before")
    daemon = Dockerd()
    try:
        daemon.start_with_files(base / "before")
        certs("revoke", "--out", str(out), "--name", "bob")
        yield out, daemon
    finally:
        daemon.close()


@pytest.mark.docker
def test_daemon_still_on_the_previous_ca_after_revoke(
        revoked_set: tuple[Path, Dockerd]) -> None:
    out, daemon = revoked_set
    (backup,) = (path.name for path in out.glob("backup-*"))
    done, cli = judged(daemon, out)
    assert "certificate signed by unknown authority" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith(f"the daemon still runs the previous CA (CN=minipaas-ca, "
                                  f"kept in {backup}/ca.pem): deploy the new ca.pem, "
                                  "server-cert.pem and server-key.pem to it"), done.stdout
    assert "restart dockerd" in done.stdout
    assert "another CA" not in done.stdout and "intermediate" not in done.stdout


@pytest.mark.docker
def test_the_previous_ca_is_known_by_its_files_not_its_name(
        revoked_set: tuple[Path, Dockerd], tmp_path: Path) -> None:
    """Without the backup, revoked.json still names the CA of what it cut off; a backup
    ca.pem without its key (a copy another CA's replaced) is no CA of this folder's."""
    out, daemon = revoked_set
    (backup,) = (path.name for path in out.glob("backup-*"))
    record_only = tmp_path / "record-only"
    shutil.copytree(out, record_only, ignore=shutil.ignore_patterns("backup-*"))
    done, cli = judged(daemon, record_only)
    assert done.returncode == 8 and cli.returncode != 0
    assert done.stdout.startswith("the daemon still runs the previous CA (CN=minipaas-ca, "
                                  "named in revoked.json)"), done.stdout
    keyless = tmp_path / "keyless"
    shutil.copytree(out, keyless)
    (keyless / backup / "ca-key.pem").unlink()
    (keyless / "revoked.json").unlink()
    done, cli = judged(daemon, keyless)
    assert done.returncode == 8 and cli.returncode != 0
    assert done.stdout.startswith("the daemon's certificate comes from another CA (issuer "
                                  "CN=minipaas-ca;"), done.stdout


@pytest.mark.docker
def test_doctor_names_a_revoked_bundle(revoked_set: tuple[Path, Dockerd]) -> None:
    """Its bundle went into the backup with the old CA: doctor says it was revoked, and
    when, instead of asking to create it (exit 5)."""
    out, daemon = revoked_set
    done, cli = judged(daemon, out, "127.0.0.1", "--name", "bob")
    assert cli.returncode != 0  # no files to read
    assert done.returncode == 8, done.stderr
    (entry,) = json.loads((out / "revoked.json").read_text())["revoked"]
    when = datetime.datetime.fromisoformat(entry["revoked_at"])
    assert when.utcoffset() == datetime.timedelta(0)
    assert done.stdout.startswith(f"clients/bob was revoked on {when:%Y-%m-%d %H:%M} UTC "
                                  f"(CN=bob, serial {entry['serial']}, "), done.stdout
    assert f"recorded in {out}/revoked.json" in done.stdout
    assert f"`minipaas certs client --out {out} --name bob`" in done.stdout
    assert done.stderr == ""


@pytest.mark.docker
def test_daemon_still_on_the_previous_ca_during_a_rollover(tmp_path: Path, daemons) -> None:
    """`rotate-ca start` and every leaf re-issued: ca.pem trusts both CAs, so the old
    daemon's certificate passes, and the daemon refuses the new client."""
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    shutil.copytree(out, tmp_path / "before")
    daemon = daemons().start_with_files(tmp_path / "before")
    certs("rotate-ca", "start", "--out", str(out), "--cn", "minipaas-ca-2")
    certs("renew", "--all", "--within", "100%", "--out", str(out))
    done, cli = judged(daemon, out)
    assert "bad certificate" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith("the daemon still runs the previous CA (CN=minipaas-ca, kept "
                                  "in ca-old.pem): deploy the new ca.pem"), done.stdout
    assert "tlscacert" not in done.stdout


# --- a start in the future, in `show` ----------------------------------------------------------


def test_a_start_ahead_reads_the_same_whichever_signed_it(tmp_path: Path) -> None:
    """An OpenBao leaf starts 30 s back (the role's not_before_duration), a local one five
    minutes back: seen from a clock a minute behind, only the engine's is ahead, and
    `show` and `doctor` word it as they word a local one's."""
    from test_vault import OpenBao, tool

    from minipaas_certs.certinfo import starts_later
    from minipaas_certs.inventory import inventory
    from minipaas_certs.reports import show_text

    local, engine_out = tmp_path / "local", tmp_path / "engine"
    certs("all", "--out", str(local))
    engine = OpenBao()
    try:
        assert engine.call("GET", "pki/roles/docker-client")["data"]["not_before_duration"] \
            == 30
        done = tool(engine, "client", "--out", str(engine_out), "--vault-role",
                    "docker-client", "-q")
        assert done.returncode == 0, done.stderr
    finally:
        engine.stop()
    ours, theirs = (read_certificate(folder / "client-cert.pem")
                    for folder in (local, engine_out))
    issued = datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(seconds=25) < issued - theirs.not_before \
        < datetime.timedelta(seconds=60)
    assert datetime.timedelta(minutes=4) < issued - ours.not_before
    behind = issued - datetime.timedelta(minutes=1)
    assert starts_later(ours, behind) is None and starts_later(theirs, behind) is not None
    for folder, leaf in ((local, ours), (engine_out, theirs)):
        ahead = leaf.not_before - datetime.timedelta(seconds=10)
        shown = show_text(folder, inventory(folder), ahead)
        line = f"valid only from {leaf.not_before:%Y-%m-%d %H:%M:%S} UTC: is a clock wrong"
        assert "client-cert.pem  (client)" in shown
        assert f"(not yet valid: {line}" in shown, shown


def _foreign_daemon_files(cli, tmp_path: Path, **served: object) -> tuple[Path, Path]:
    """A new set in ``certs``, and beside it a daemon's folder (``served``) holding its
    CA and a server certificate that CA signs as ``foreign._foreign_server`` makes it."""
    out, folder = tmp_path / "certs", tmp_path / "served"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    folder.mkdir()
    for name in ("ca.pem", "ca-key.pem"):
        (folder / name).write_bytes((out / name).read_bytes())
    (folder / "ca-key.pem").chmod(0o600)
    _foreign_server(folder, **served)  # type: ignore[arg-type]
    return out, folder


@pytest.mark.docker
def test_doctor_agrees_with_the_docker_cli_on_any_extended_key_usage(cli, tmp_path: Path,
                                                                   daemons) -> None:
    """A daemon certificate whose extendedKeyUsage is anyExtendedKeyUsage (as some
    organisations' CAs issue): Go accepts it and the docker CLI connects; doctor says
    "the daemon's certificate was not accepted: unsuitable certificate purpose" (exit 8)."""
    out, served = _foreign_daemon_files(cli, tmp_path,
                                        usage=x509.ObjectIdentifier("2.5.29.37.0"))
    daemon = daemons().start_with_files(served)
    assert daemon.client(out, "version").returncode == 0
    result = cli("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(out))
    assert result.code == 0, result.out + result.err


_KEY_CERT_SIGN_ONLY = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
    encipher_only=False, decipher_only=False)


@pytest.mark.docker
@pytest.mark.parametrize("served, works, verdict", [
    # Go ignores a leaf's keyUsage; OpenSSL: "unsuitable certificate purpose".
    ({"key_usage": _KEY_CERT_SIGN_ONLY}, True, "OK: mutual TLS works"),
    ({"usage": x509.ObjectIdentifier("2.5.29.37.0"), "key_usage": _KEY_CERT_SIGN_ONLY}, True,
     "OK: mutual TLS works"),
    ({"usage": None}, True, "OK: mutual TLS works"),  # no EKU: any purpose, for both
    # Server Gated Crypto: OpenSSL takes it for serverAuth, Go 1.24 does not.
    ({"usage": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3")}, False,
     "is not a server certificate"),
    ({"usage": x509.ObjectIdentifier("2.16.840.1.113730.4.1")}, False,
     "is not a server certificate"),
    ({"usage": ExtendedKeyUsageOID.CODE_SIGNING}, False, "is not a server certificate"),
    # Go's purposes allow it, so the signature decides: OpenSSL's, with purposes off.
    ({"usage": x509.ObjectIdentifier("2.5.29.37.0"), "forged": True}, False,
     "not accepted: certificate signature failure"),
    # ...and Go's refusal of SHA-1, which `openssl verify` lets pass.
    ({"usage": x509.ObjectIdentifier("2.5.29.37.0"), "sha1": True}, False,
     "signed with SHA-1, which Go refuses: renew it with `minipaas certs renew server"),
], ids=["keyCertSign", "any-keyCertSign", "no-EKU", "ms-sgc", "netscape-sgc", "codeSigning",
        "any-forged", "any-sha1"])
def test_doctor_judges_the_daemons_purposes_as_go_does(cli, tmp_path: Path, daemons,
                                                       served: dict[str, object], works: bool,
                                                       verdict: str) -> None:
    """doctor's verdict is the docker CLI's on the daemon certificate's purposes:
    Go ignores the leaf's keyUsage and takes anyExtendedKeyUsage or no EKU for a
    server, refuses an EKU without serverAuth; OpenSSL's purpose rules differ, and its
    refusal must not hide a signature that does not hold."""
    out, folder = _foreign_daemon_files(cli, tmp_path, **served)
    daemon = daemons().start_with_files(folder)
    assert (daemon.client(out, "version").returncode == 0) is works
    result = cli("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(out))
    assert result.code == (0 if works else 8), result.out + result.err
    assert verdict in result.out, result.out


@pytest.mark.docker
def test_doctor_does_not_read_the_common_name_as_go_does_not(cli, tmp_path: Path,
                                                            daemons) -> None:
    """A daemon certificate with CN=localhost and only IP:127.0.0.1 among its SANs, and
    --host localhost: Go ignores the CN ("certificate is not valid for any names, but
    wanted to match localhost"); OpenSSL falls back to it when the SANs hold no DNS name."""
    out, folder = _foreign_daemon_files(cli, tmp_path, cn="localhost")
    daemon = daemons().start_with_files(folder)
    host = f"localhost:{daemon.port}"
    docker = daemon.client(out, "version", env={"DOCKER_HOST": f"tcp://{host}"})
    assert "wanted to match localhost" in docker.stderr, docker.stderr
    result = cli("certs", "doctor", "--host", host, str(out))
    assert result.code == 8, result.out
    assert "localhost is not among the daemon certificate's names (IP:127.0.0.1)" in result.out


@pytest.mark.docker
def test_doctor_names_a_ca_whose_key_usage_forbids_signing(cli, tmp_path: Path,
                                                          daemons) -> None:
    """A root in ca.pem (CA:TRUE) whose keyUsage is digitalSignature and cRLSign issued
    the daemon's certificate: Go refuses it ("parent certificate cannot sign this kind
    of certificate"), whatever its purposes; doctor said only OpenSSL's "invalid CA
    certificate", with no cause nor fix."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd root")])
    root = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    served = tmp_path / "served"
    served.mkdir()
    (served / "ca.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (served / "ca-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    _foreign_server(served)
    (served / "ca.pem").write_bytes((out / "ca.pem").read_bytes())  # it verifies our client
    with (out / "ca.pem").open("ab") as bundle:  # the client trusts the odd root too
        bundle.write(root.public_bytes(serialization.Encoding.PEM))
    daemon = daemons().start_with_files(served)
    docker = daemon.client(out, "version")
    assert "parent certificate cannot sign" in docker.stderr, docker.stderr
    result = cli("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(out))
    assert result.code == 8, result.out
    assert "CN=odd root may not sign certificates (its keyUsage lacks keyCertSign)" \
        in result.out, result.out


@pytest.mark.docker
def test_doctor_says_what_to_do_when_the_daemon_serves_the_leaf_without_its_intermediate(
        cli, tmp_path: Path, daemons) -> None:
    """dockerd started with server-cert.pem cut to the leaf (the intermediate dropped): the
    docker CLI fails "signed by unknown authority"; doctor's verdict ends "...lacks it
    after the leaf (...) and restart dockerd": no step before "and" says what to do
    (copy the whole server-cert.pem from the folder to the daemon)."""
    import re
    import shlex
    import shutil

    from test_chains import ca_dir, organisation

    org = organisation(tmp_path / "org")
    signer, out = ca_dir(org, tmp_path / "ca", "intermediate.pem", "root.pem"), tmp_path / "c"
    assert cli("certs", "server", "--out", str(out), "--ca-dir", str(signer), "--san",
               "127.0.0.1", "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "--ca-dir", str(signer), "-q").code == 0
    served = tmp_path / "served"
    shutil.copytree(out, served)
    leaf = (out / "server-cert.pem").read_text().split("-----END CERTIFICATE-----")[0]
    (served / "server-cert.pem").write_text(leaf + "-----END CERTIFICATE-----\n")
    daemon = daemons().start_with_files(served)
    assert daemon.client(out, "version").returncode != 0
    verdict = cli("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(out))
    assert verdict.code == 8
    assert re.search(r"\b(copy|deploy|install|put)\b", verdict.out, re.IGNORECASE), verdict.out
    # The file it names holds the leaf and the intermediate: the daemon's fix as it is.
    assert f"deploy {out / 'server-cert.pem'}, which holds the leaf and the intermediate" \
        in verdict.out, verdict.out
    # No file of the folder holds that chain: the command that writes one, and it works.
    (out / "server-cert.pem").write_text(leaf + "-----END CERTIFICATE-----\n")
    verdict = cli("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(out))
    assert verdict.code == 8
    fix = re.search(r"`minipaas (certs server [^`]*)`", verdict.out)
    assert fix and "deploy server-cert.pem and server-key.pem" in verdict.out, verdict.out
    argv = [str(signer) if arg == "CA_FOLDER" else arg for arg in shlex.split(fix.group(1))]
    assert cli(*argv, "-q").code == 0
    assert (out / "server-cert.pem").read_text().count("BEGIN CERTIFICATE") == 2


@pytest.mark.docker
def test_doctor_resolves_a_host_as_the_docker_cli_does(cli, tmp_path: Path, daemons) -> None:
    """--host 0x7f000001: the docker CLI cannot resolve it ("no such host"); doctor
    connects to 127.0.0.1 (the C resolver reads hex as an address) and advises
    `renew server --san 0x7f000001`, a DNS name no client can connect by."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    daemon = daemons().start_with_files(out)
    host = f"0x7f000001:{daemon.port}"
    docker = daemon.client(out, "version", env={"DOCKER_HOST": f"tcp://{host}"})
    assert docker.returncode != 0, docker.stdout  # Go: "lookup 0x7f000001: no such host"
    verdict = cli("certs", "doctor", "--host", host, str(out))
    assert "--san 0x7f000001" not in verdict.out + verdict.err, verdict.out
    # The other forms C's resolver reads as 127.0.0.1 and Go looks up as names: the
    # docker CLI's verdict, not a connection (nor exit 2, "invalid IP address").
    for name in ("0x7f000001", "127.1", "0177.0.0.1", "2130706433"):
        host = f"{name}:{daemon.port}"
        docker = daemon.client(out, "version", env={"DOCKER_HOST": f"tcp://{host}"})
        assert "no such host" in docker.stderr, (name, docker.stderr)
        verdict = cli("certs", "doctor", "--host", host, str(out))
        assert verdict.code == 8, (name, verdict.out + verdict.err)
        assert "no such host" in verdict.out and "connect by 127.0.0.1" in verdict.out, \
            (name, verdict.out)
    assert cli("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(out)).code == 0


@pytest.mark.docker
def test_doctor_fix_for_a_server_pair_used_as_the_client_works(cli, tmp_path: Path,
                                                               daemons) -> None:
    """cert.pem/key.pem and client-*.pem hold the server pair: doctor's verdict and the
    docker CLI agree (refused), but the fix doctor prints, `minipaas certs client --out
    DIR`, is itself refused since rotation keeps the current pair ("is not a client
    certificate: give --force")."""
    import re
    import shlex

    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    daemon = daemons().start_with_files(out)
    for server, client in (("server-cert.pem", "cert.pem"), ("server-key.pem", "key.pem"),
                           ("server-cert.pem", "client-cert.pem"),
                           ("server-key.pem", "client-key.pem")):
        (out / client).write_bytes((out / server).read_bytes())
    assert daemon.client(out, "version").returncode != 0
    verdict = cli("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(out))
    fix = re.search(r"`minipaas (certs client [^`]*)`", verdict.out)
    assert fix, verdict.out
    result = cli(*shlex.split(fix.group(1)), "-q")
    assert result.code == 0, result.err


def test_a_tls_server_that_is_not_dockerd_is_not_ok(tmp_path: Path) -> None:
    """The daemon's files served by `openssl s_server -www` with client certificates
    required: mutual TLS works, but GET /version is no Docker API's answer, and the docker
    CLI fails there too.  Not "OK (Docker Engine ?, API ?)"."""
    import time

    from conftest import SYSTEM_OPENSSL
    from dockerd import free_port

    out = tmp_path / "certs"
    certs("all", "--out", str(out), "--san", "127.0.0.1")
    port = free_port()
    server = subprocess.Popen(
        [SYSTEM_OPENSSL, "s_server", "-www", "-accept", f"127.0.0.1:{port}", "-cert",
         str(out / "server-cert.pem"), "-key", str(out / "server-key.pem"), "-CAfile",
         str(out / "ca.pem"), "-Verify", "1", "-quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            done = run_tool("certs", "doctor", "--out", str(out), "--host", f"127.0.0.1:{port}")
            if "nothing listens" not in done.stderr + done.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done.returncode == 8, done.stdout + done.stderr
        assert f"127.0.0.1:{port} answers over mutual TLS, but not as a Docker daemon" in \
               done.stdout + done.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
