"""Defects found by an adversarial review of issue 22's claimed items (real openssl)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from conftest import load_cert
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _foreign_server(out: Path, dns: str | None = None,
                    usage: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.SERVER_AUTH,
                    key_usage: x509.KeyUsage | None = None, cn: str = "server",
                    forged: bool = False, sha1: bool = False) -> None:
    """A server pair signed by ``out``'s CA (not by the tool): one DNS SAN, or else
    IP:127.0.0.1, and an extendedKeyUsage of ``usage`` (None: no such extension), a
    keyUsage if given; ``forged``: the CA's names and key id, signed by another key."""
    ca = load_cert(out / "ca.pem")
    ca_key = load_pem_private_key((out / "ca-key.pem").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if sha1
                            else ca.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)] if dns else [
                   x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))  # type: ignore[arg-type]
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    signer = ec.generate_private_key(ec.SECP256R1()) if forged else ca_key
    # cryptography refuses to sign with SHA-1: self-signed here, openssl signs it again.
    cert = builder.sign(key if sha1 else signer, hashes.SHA256())  # type: ignore[arg-type]
    (out / "server-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if sha1:
        import subprocess

        from conftest import TOOL_OPENSSL

        subprocess.run([TOOL_OPENSSL, "x509", "-in", "server-cert.pem", "-CA", "ca.pem",
                        "-CAkey", "ca-key.pem", "-sha1", "-set_serial", "4711", "-days", "30",
                        "-out", "sha1.pem"], cwd=out, check=True, capture_output=True)
        (out / "sha1.pem").replace(out / "server-cert.pem")
    (out / "server-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (out / "server-key.pem").chmod(0o600)


def test_rotation_keeps_a_mixed_case_dns_name(cli, tmp_path: Path) -> None:
    """DNS names match without regard to case: a current SAN Manager.Example.com is kept
    (as manager.example.com) by `certs server`, not reported as dropped, and the
    advised `--san Manager.Example.com` must then work too."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    _foreign_server(out, "Manager.Example.com")
    assert cli("certs", "server", "--out", str(out), "-q").code == 0
    names = load_cert(out / "server-cert.pem").extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert [name.lower() for name in names] == ["manager.example.com"]


def test_renew_server_keeps_a_mixed_case_dns_name(cli, tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    _foreign_server(out, "Manager.Example.com")
    assert cli("certs", "renew", "server", "--out", str(out), "-q").code == 0


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


def test_rotation_key_size_alone_keeps_the_key_type(cli, tmp_path: Path) -> None:
    """README: rotation keeps the key type unless options name another; --key-size
    4096 alone on an RSA pair is an RSA 4096 key, not 'not valid for ecdsa keys'."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "--key-type", "rsa", "--key-size", "2048",
               "-q").code == 0
    result = cli("certs", "server", "--out", str(out), "--key-size", "4096", "-q")
    assert result.code == 0, result.err
    key = load_cert(out / "server-cert.pem").public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 4096


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


def test_dropped_wildcard_is_suggested_quoted_for_the_shell(cli, tmp_path: Path) -> None:
    """The refusal's `--san *.apps.example.com` is a glob pasted into a shell (zsh: "no
    matches found"); the CN in the same message is quoted, the SAN is not."""
    import shlex

    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "--san", "*.apps.example.com", "--san",
               "10.0.0.5", "-q").code == 0
    result = cli("certs", "server", "--out", str(out), "--san", "10.0.0.5")
    assert result.code == 2
    assert f"--san {shlex.quote('*.apps.example.com')}" in result.error_line, result.err


@pytest.mark.docker
def test_doctor_agrees_with_the_docker_cli_on_any_extended_key_usage(cli, tmp_path: Path,
                                                                   daemons) -> None:
    """A daemon certificate whose extendedKeyUsage is anyExtendedKeyUsage (as some
    organisations' CAs issue): Go accepts it and the docker CLI connects; doctor says
    "the daemon's certificate was not accepted: unsuitable certificate purpose" (exit 8)."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    served = tmp_path / "served"
    served.mkdir()
    for name in ("ca.pem", "ca-key.pem"):
        (served / name).write_bytes((out / name).read_bytes())
    (served / "ca-key.pem").chmod(0o600)
    _foreign_server(served, usage=x509.ObjectIdentifier("2.5.29.37.0"))
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
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    folder = tmp_path / "served"
    folder.mkdir()
    for name in ("ca.pem", "ca-key.pem"):
        (folder / name).write_bytes((out / name).read_bytes())
    (folder / "ca-key.pem").chmod(0o600)
    _foreign_server(folder, **served)  # type: ignore[arg-type]
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
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    folder = tmp_path / "served"
    folder.mkdir()
    for name in ("ca.pem", "ca-key.pem"):
        (folder / name).write_bytes((out / name).read_bytes())
    (folder / "ca-key.pem").chmod(0o600)
    _foreign_server(folder, cn="localhost")
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


def test_an_engine_address_with_credentials_is_refused_before_any_request() -> None:
    """VAULT_ADDR=http://user:s3cret@127.0.0.1:8200 passes the address check; the run then
    asks the resolver for the host "user:s3cret@127.0.0.1" (the password leaves in a DNS
    query) and prints it: "cannot reach the PKI engine at http://user:s3cret@...".
    The address check ("use http(s)://HOST:PORT") must refuse it at once, unprinted."""
    from minipaas_certs.errors import InvalidInput
    from minipaas_certs.vault import Engine

    with pytest.raises(InvalidInput) as refused:
        Engine("http://user:s3cret@127.0.0.1:8200", "pki", "docker-server", "token")
    assert "s3cret" not in str(refused.value)


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
