"""Running `certs server` or `certs client` again is rotation: names are kept.

MiniPaaS's page says "Rotate server certificates periodically by re-running
`minipaas certs server --out .certs`": that command must keep what the current
certificate has (CN, SANs, key type and size, span) unless options name others,
and refuse (exit 2) options that would drop a name, naming each one and the two
ways on.  The end-to-end test restarts a real dockerd with the rotated pair and
connects with the real docker CLI by the name that used to be lost.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from as_user import ok
from conftest import load_cert
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from foreign import _foreign_server

OUT = "my certs'q"  # relative to the working folder: printed commands must paste


def _names(path: Path) -> list[str]:
    cert = load_cert(path)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return sorted([f"DNS:{n}" for n in sans.get_values_for_type(x509.DNSName)]
                  + [f"IP:{a}" for a in sans.get_values_for_type(x509.IPAddress)])


def _cn(path: Path) -> str:
    return str(load_cert(path).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def _key(path: Path) -> str:
    key = load_cert(path).public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa{key.key_size}"
    return f"ec{key.curve.key_size}" if isinstance(key, ec.EllipticCurvePublicKey) else "other"


def _days(path: Path) -> float:
    cert = load_cert(path)
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set as the page makes it, with a manager and a client bundle, RSA 2048, 30 days."""
    from minipaas_certs.cli import main

    out = tmp_path_factory.mktemp("made") / "certs"
    for args in (["all", "--san", "10.0.0.5", "--san", "manager.example.com", "--key-type",
                  "rsa", "--key-size", "2048", "--days", "30", "--client-cn", "ops"],
                 ["server", "--name", "m1", "--san", "10.0.0.11", "--san", "m1.example.com",
                  "--cn", "manager-1", "--hours", "48", "--key-type", "ecdsa",
                  "--key-size", "384"],
                 ["client", "--name", "alice", "--key-type", "rsa", "--key-size", "2048"]):
        assert main(["certs", *args, "--out", str(out), "-q"]) == 0
    return out


@pytest.fixture
def out(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "certs"
    shutil.copytree(made, copy, symlinks=True)
    return copy


TOP = ["DNS:localhost", "DNS:manager.example.com", "IP:10.0.0.5", "IP:127.0.0.1"]
M1 = ["DNS:localhost", "DNS:m1.example.com", "IP:10.0.0.11", "IP:127.0.0.1"]


@pytest.mark.parametrize(("args", "cert", "names", "cn", "key", "days"), [
    ([], "server-cert.pem", TOP, "10.0.0.5", "rsa2048", 30),
    (["--name", "m1"], "servers/m1/server-cert.pem", M1, "manager-1", "ec384", 2),
    (["--days", "10"], "server-cert.pem", TOP, "10.0.0.5", "rsa2048", 10),
    (["--key-type", "ecdsa"], "server-cert.pem", TOP, "10.0.0.5", "ec256", 30),
    (["--san", "10.0.0.5", "--san", "manager.example.com", "--san", "10.0.0.9"],
     "server-cert.pem", sorted([*TOP, "IP:10.0.0.9"]), "10.0.0.5", "rsa2048", 30),
], ids=["page's command", "manager", "new span", "new key type", "a name added"])
def test_server_rotation_keeps_what_the_options_do_not_name(
        cli, out: Path, args: list[str], cert: str, names: list[str], cn: str, key: str,
        days: int) -> None:
    before = load_cert(out / cert).serial_number
    result = cli("certs", "server", "--out", str(out), *args)
    assert result.code == 0, result.err
    assert load_cert(out / cert).serial_number != before
    assert (_names(out / cert), _cn(out / cert), _key(out / cert)) == (names, cn, key)
    assert abs(_days(out / cert) - days - 5 / 1440) < 1 / 1440
    assert cli("certs", "check", str(out), "--warn-days", "1").code == 0


@pytest.mark.parametrize(("args", "dropped", "keep"), [
    (["--san", "10.0.0.9"], "DNS:manager.example.com, IP:10.0.0.5",
     "add --san manager.example.com --san 10.0.0.5 to keep them"),
    (["--no-default-san", "--san", "10.0.0.5", "--san", "manager.example.com"],
     "DNS:localhost, IP:127.0.0.1", "add --san localhost --san 127.0.0.1 to keep them"),
    (["--cn", "other"], "CN=10.0.0.5", "give --cn 10.0.0.5 instead to keep the CN"),
    (["--name", "m1", "--san", "10.0.0.11"], "DNS:m1.example.com",
     "add --san m1.example.com to keep it"),
    (["--name", "m1", "--cn", "m1", "--san", "10.0.0.12"],
     "CN=manager-1, DNS:m1.example.com, IP:10.0.0.11",
     "add --san m1.example.com --san 10.0.0.11 to keep them; give --cn manager-1 instead "
     "to keep the CN"),
], ids=["other --san", "--no-default-san", "--cn", "manager --san", "manager --cn --san"])
def test_server_options_that_would_drop_a_name_are_refused_until_forced(
        cli, out: Path, args: list[str], dropped: str, keep: str) -> None:
    before = _tree(out)
    result = cli("certs", "server", "--out", str(out), *args)
    assert result.code == 2
    line = result.error_line
    assert f"holds {dropped}, which this run would drop" in line, line
    assert f": {keep}; or give --force to drop" in line, line
    assert _tree(out) == before
    forced = cli("certs", "server", "--out", str(out), *args, "--force")
    assert forced.code == 0, forced.err
    assert cli("certs", "check", str(out), "--warn-days", "1").code == 0


def test_client_rotation_keeps_the_cn_and_key(cli, out: Path) -> None:
    assert cli("certs", "client", "--out", str(out), "-q").code == 0
    assert (_cn(out / "cert.pem"), _key(out / "cert.pem")) == ("ops", "rsa2048")
    assert (out / "cert.pem").read_bytes() == (out / "client-cert.pem").read_bytes()
    before = _tree(out)
    refused = cli("certs", "client", "--out", str(out), "--cn", "ci")
    assert refused.code == 2 and "holds CN=ops, which this run would drop: give --cn ops " \
        "instead to keep the CN" in refused.error_line
    assert _tree(out) == before
    assert cli("certs", "client", "--out", str(out), "--cn", "ci", "--force", "-q").code == 0
    assert _cn(out / "cert.pem") == "ci"
    # A bundle is someone's credentials: replaced only with --force, keeping its key type.
    assert cli("certs", "client", "--out", str(out), "--name", "alice").code == 4
    assert cli("certs", "client", "--out", str(out), "--name", "alice", "--force",
               "-q").code == 0
    assert (_cn(out / "clients/alice/cert.pem"), _key(out / "clients/alice/cert.pem")) == \
        ("alice", "rsa2048")


def test_a_first_issue_still_takes_the_defaults(cli, tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert cli("certs", "ca", "--out", str(out), "-q").code == 0
    assert cli("certs", "server", "--out", str(out), "--name", "m1", "--san", "10.0.0.11",
               "-q").code == 0
    cert = out / "servers/m1/server-cert.pem"
    assert (_names(cert), _cn(cert), _key(cert)) == (
        ["DNS:localhost", "IP:10.0.0.11", "IP:127.0.0.1"], "10.0.0.11", "ec256")
    assert abs(_days(cert) - 365 - 5 / 1440) < 1 / 1440
    assert cli("certs", "client", "--out", str(out), "-q").code == 0
    assert _cn(out / "cert.pem") == "client"


def test_renew_server_and_a_rerun_of_server_are_one_idea(cli, out: Path, tmp_path: Path) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(out, twin, symlinks=True)
    assert cli("certs", "renew", "server", "--out", str(out), "--name", "m1", "-q").code == 0
    assert cli("certs", "server", "--out", str(twin), "--name", "m1", "-q").code == 0
    first, second = out / "servers/m1/server-cert.pem", twin / "servers/m1/server-cert.pem"
    assert (_names(first), _cn(first), _key(first), round(_days(first), 3)) == \
        (_names(second), _cn(second), _key(second), round(_days(second), 3))


@pytest.mark.docker
def test_the_pages_rotation_keeps_the_name_clients_connect_by(tmp_path: Path, daemons) -> None:
    """Connected by 127.0.0.2 (a name `all --san` gave): after the page's rotation and a
    restart, the docker CLI still connects by it, to the top-level pair and to a manager."""
    from conftest import certs

    out = tmp_path / "certs"
    certs("all", "--out", str(out), "--san", "127.0.0.2", "--san", "manager.example.com")
    certs("server", "--out", str(out), "--name", "m1", "--san", "127.0.0.3")
    daemon = daemons()
    port = daemon.port

    def serve(cert_dir: Path, address: str) -> None:
        config = tmp_path / "daemon.json"
        config.write_text(json.dumps({
            "tlsverify": True, "tlscacert": str(cert_dir / "ca.pem"),
            "tlscert": str(cert_dir / "server-cert.pem"),
            "tlskey": str(cert_dir / "server-key.pem"),
            "hosts": [daemon.host, f"tcp://{address}:{port}"]}))
        daemon.stop()
        daemon.start_with_config(config)

    def connect(address: str) -> int:
        return daemon.client(out, "version", env={"DOCKER_HOST": f"tcp://{address}:{port}"}
                             ).returncode

    for cert_dir, address, args in ((out, "127.0.0.2", []),
                                    (out / "servers" / "m1", "127.0.0.3", ["--name", "m1"])):
        serve(cert_dir, address)
        assert connect(address) == 0
        certs("server", "--out", str(out), *args)  # the page's rotation
        serve(cert_dir, address)  # dockerd reads its files only at start
        assert connect(address) == 0, address
    # What a rotation that dropped the name would have done: the docker CLI refuses it.
    certs("server", "--out", str(out), "--san", "10.0.0.9", "--force")
    serve(out, "127.0.0.2")
    refused = daemon.client(out, "version", env={"DOCKER_HOST": f"tcp://127.0.0.2:{port}"})
    assert refused.returncode != 0 and "127.0.0.2" in refused.stderr


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


# Item 1 (low): `server --san new.example --force` drops 10.0.0.5 from the SANs but keeps
# CN=10.0.0.5, a name the certificate no longer covers (show, doctor and CN-reading
# clients then name a host it does not serve).
def test_a_dropped_san_does_not_stay_as_the_cn(tmp_path: Path) -> None:
    ok(tmp_path, "all", "--out", OUT, "--san", "10.0.0.5")
    ok(tmp_path, "server", "--out", OUT, "--san", "new.example", "--force")
    cert = load_cert(tmp_path / OUT / "server-cert.pem")
    (cn,) = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert cn.value != "10.0.0.5"
