"""Client bundles and the Docker wiring commands: env, daemon-json, context."""

from __future__ import annotations

import json
import shlex
import stat
from pathlib import Path

import pytest
from conftest import load_cert, system_verify
from cryptography.x509.oid import NameOID

from minipaas_certs.docker_config import parse_host
from minipaas_certs.errors import InvalidInput


@pytest.fixture
def out(tmp_path: Path, cli) -> Path:
    folder = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(folder), "-q", "--san", "10.0.0.5",
               "--san", "*.swarm.example.com").code == 0
    return folder


# --- client bundles -----------------------------------------------------------------------

def test_named_bundles(out: Path, cli) -> None:
    before = {p.name: p.read_bytes() for p in out.iterdir()
              if p.is_file() and p.name != "SHA256SUMS"}
    result = cli("certs", "client", "--out", str(out), "--name", "ci", "--name", "alice",
                 "--name", "ci")
    assert result.code == 0, result.err
    assert sorted(Path(line).relative_to(out).as_posix() for line in result.out.split()) == [
        "SHA256SUMS", "clients/alice/ca.pem", "clients/alice/cert.pem", "clients/alice/key.pem",
        "clients/ci/ca.pem", "clients/ci/cert.pem", "clients/ci/key.pem"]
    assert {p.name: p.read_bytes() for p in out.iterdir()
            if p.is_file() and p.name != "SHA256SUMS"} == before
    for name in ("ci", "alice"):
        bundle = out / "clients" / name
        assert sorted(p.name for p in bundle.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
        assert (bundle / "ca.pem").read_bytes() == (out / "ca.pem").read_bytes()
        cert = load_cert(bundle / "cert.pem")
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        assert system_verify(bundle / "ca.pem", bundle / "cert.pem", "sslclient").returncode == 0
        assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
        assert stat.S_IMODE((bundle / "key.pem").stat().st_mode) == 0o600
        assert stat.S_IMODE((bundle / "cert.pem").stat().st_mode) == 0o644
    assert stat.S_IMODE((out / "clients").stat().st_mode) == 0o700
    assert not list(out.rglob("ca-key.pem"))[1:]  # only the CA's own, never in a bundle


def test_existing_bundle_needs_force(out: Path, cli) -> None:
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    old = (out / "clients" / "ci" / "cert.pem").read_bytes()
    result = cli("certs", "client", "--out", str(out), "--name", "ci", "--name", "bob")
    assert result.code == 4 and "clients/ci" in result.error_line
    assert (out / "clients" / "ci" / "cert.pem").read_bytes() == old
    assert not (out / "clients" / "bob").exists()
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "--force", "-q").code == 0
    assert (out / "clients" / "ci" / "cert.pem").read_bytes() != old
    (backup,) = out.glob("backup-*")
    assert (backup / "clients" / "ci" / "cert.pem").read_bytes() == old


@pytest.mark.parametrize("name", ["../escape", "a/b", ".", "..", "Upper", "with space", "x" * 65,
                                  "semi;colon", "-dash"])
def test_bad_bundle_name_is_refused(out: Path, cli, name: str) -> None:
    result = cli("certs", "client", "--out", str(out), "--name", name)
    assert result.code == 2 and "--name" in result.error_line
    assert not (out / "clients").exists()


def test_cn_and_name_do_not_mix(out: Path, cli) -> None:
    result = cli("certs", "client", "--out", str(out), "--name", "ci", "--cn", "other")
    assert result.code == 2 and "--cn and --name" in result.error_line


# --- host parsing -------------------------------------------------------------------------

@pytest.mark.parametrize("value,url", [
    ("10.0.0.5", "tcp://10.0.0.5:2376"),
    ("10.0.0.5:2377", "tcp://10.0.0.5:2377"),
    ("tcp://manager.example.com:2376", "tcp://manager.example.com:2376"),
    ("Manager.Example.com", "tcp://manager.example.com:2376"),
    ("[2001:db8::1]:2376", "tcp://[2001:db8::1]:2376"),
    ("2001:db8::1", "tcp://[2001:db8::1]:2376"),
])
def test_host_accepted(value: str, url: str) -> None:
    assert parse_host(value).url == url


@pytest.mark.parametrize("value", ["", "host:0", "host:65536", "host:port", "ho st", "a#b",
                                   "*.example.com", "10.0.0.1/24", "[::1", "[nothost]:1",
                                   "10.0.0.5:2376\nexport X=1", "$(id)", "999.1.1.1"])
def test_host_refused(value: str) -> None:
    with pytest.raises(InvalidInput):
        parse_host(value)


# --- env ----------------------------------------------------------------------------------

def test_env_prints_exports_with_absolute_path(out: Path, cli, monkeypatch) -> None:
    monkeypatch.chdir(out.parent)
    result = cli("certs", "env", "--out", "certs", "--host", "10.0.0.5")
    assert result.code == 0 and result.err == ""
    assert result.out.splitlines() == [
        "export DOCKER_HOST=tcp://10.0.0.5:2376", "export DOCKER_TLS_VERIFY=1",
        f"export DOCKER_CERT_PATH={shlex.quote(str(out.resolve()))}"]


def test_env_for_a_bundle_and_a_wildcard_name(out: Path, cli) -> None:
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    result = cli("certs", "env", "--out", str(out), "--host", "node1.swarm.example.com:2377",
                 "--name", "ci")
    assert result.code == 0 and result.err == ""
    assert "export DOCKER_HOST=tcp://node1.swarm.example.com:2377" in result.out
    assert f"DOCKER_CERT_PATH={out.resolve() / 'clients' / 'ci'}" in result.out


@pytest.mark.parametrize("host", ["10.0.0.9", "a.b.swarm.example.com", "swarm.example.com"])
def test_env_warns_when_the_host_is_not_a_san(out: Path, cli, host: str) -> None:
    result = cli("certs", "env", "--out", str(out), "--host", host)
    assert result.code == 0
    assert f"{host} is not among the server certificate's names" in result.err
    # The one SAN fix doctor gives too: renew keeps the other names and the lifetime.
    fix = f"minipaas certs renew server --out {out} --san {host}"
    assert result.err.endswith(f": connect by one of them, or re-issue it with `{fix}` and "
                               "restart dockerd (it reads TLS files only at start)\n")
    assert result.out.count("export ") == 3  # the exports still print: eval stays usable
    assert cli(*fix.split()[1:], "-q").code == 0
    again = cli("certs", "env", "--out", str(out), "--host", host)
    assert again.code == 0 and again.err == ""


def test_env_without_a_client_says_what_to_run(tmp_path: Path, cli) -> None:
    assert cli("certs", "ca", "--out", str(tmp_path), "-q").code == 0
    result = cli("certs", "env", "--out", str(tmp_path), "--host", "10.0.0.5")
    assert result.code == 5
    assert "cert.pem, key.pem" in result.error_line and "minipaas certs client" in result.error_line
    missing = cli("certs", "env", "--out", str(tmp_path), "--host", "10.0.0.5", "--name", "ci")
    assert missing.code == 5 and "--name ci" in missing.error_line
    assert result.out == ""


@pytest.mark.parametrize("command", ["env", "context"])
def test_a_folder_without_a_ca_gets_certs_all(tmp_path: Path, cli, command: str) -> None:
    """`certs client` cannot work where there is no CA: the first-day fix is `certs all`,
    naming the host among the server's SANs; it works as printed."""
    out = tmp_path / "certs"
    out.mkdir()  # an empty folder; with none at all, the same fix (exit 6, as for renew...)
    result = cli("certs", command, "--out", str(out), "--host", "manager.example.com:2376")
    assert result.code == 5 and result.out == ""
    assert result.error_line == (
        f"Error: {out} lacks ca.pem, cert.pem, key.pem: {out} holds no CA: create the set "
        f"with `minipaas certs all --out {out} --san manager.example.com`")
    out.rmdir()
    gone = cli("certs", command, "--out", str(out), "--host", "manager.example.com:2376")
    assert gone.code == 6 and gone.error_line == (
        f"Error: {out} is not a directory: make a set there with "
        f"`minipaas certs all --out {out} --san manager.example.com`")
    named = cli("certs", command, "--out", str(out), "--host", "10.0.0.5", "--name", "ci")
    assert named.code == 6 and named.error_line.endswith(
        f"`minipaas certs all --out {out} --san 10.0.0.5`, then "
        f"`minipaas certs client --out {out} --name ci`")
    fix = result.error_line.split("`")[1].split()[1:]
    assert cli(*fix, "-q").code == 0
    done = cli("certs", command, "--out", str(out), "--host", "manager.example.com:2376")
    assert done.code == 0 and done.err == ""


@pytest.mark.parametrize("args", [["--host", "bad host"], ["--host", "10.0.0.5", "--name", "../x"],
                                  []])
def test_env_refusals(out: Path, cli, args: list[str]) -> None:
    result = cli("certs", "env", "--out", str(out), *args)
    assert result.code == 2 and result.error_line


# --- daemon-json --------------------------------------------------------------------------

def test_daemon_json_defaults(cli) -> None:
    result = cli("certs", "daemon-json")
    assert result.code == 0
    assert json.loads(result.out) == {
        "tlsverify": True, "tlscacert": "/etc/docker/ca.pem",
        "tlscert": "/etc/docker/server-cert.pem", "tlskey": "/etc/docker/server-key.pem",
        "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]}
    assert "ExecStart=\n" in result.err and "daemon-reload" in result.err
    assert "restart" in result.err


def test_daemon_json_advice_gives_the_shipped_drop_in(cli) -> None:
    """The drop-in on stderr is contrib's, which matches Debian's docker.io unit
    (tests/test_install.py), not a bare /usr/bin/dockerd that Debian does not have."""
    shipped = (Path(__file__).resolve().parent.parent / "contrib" / "docker.service.d"
               / "minipaas-tls.conf").read_text()
    lines = [line for line in shipped.splitlines() if line and not line.startswith("#")]
    advice = cli("certs", "daemon-json").err
    assert "\n".join(f"  {line}" for line in lines) + "\n" in advice
    assert "/usr/bin/dockerd" not in advice


def test_daemon_json_options(cli) -> None:
    result = cli("certs", "daemon-json", "--cert-dir", "/srv/tls/", "--listen",
                 "tcp://[::]:2376", "--listen", "tcp://10.0.0.5:2376", "-q")
    assert result.code == 0 and result.err == ""
    settings = json.loads(result.out)
    assert settings["tlscert"] == "/srv/tls/server-cert.pem"
    assert settings["hosts"] == ["unix:///var/run/docker.sock", "tcp://[::]:2376",
                                 "tcp://10.0.0.5:2376"]


def test_daemon_json_keeps_the_local_socket_and_says_so(cli) -> None:
    """`hosts` replaces dockerd's default socket: --listen tcp://... alone would leave
    `docker` on the manager itself with nothing to connect to."""
    result = cli("certs", "daemon-json", "--listen", "tcp://0.0.0.0:2376")
    assert result.code == 0
    assert json.loads(result.out)["hosts"] == ["unix:///var/run/docker.sock",
                                               "tcp://0.0.0.0:2376"]
    assert result.err.splitlines()[0] == (
        'Note: "hosts" keeps unix:///var/run/docker.sock, so docker on the daemon\'s host '
        'still works (a "hosts" list replaces dockerd\'s default socket); --no-local-socket '
        "leaves it out.")
    assert "Note:" not in cli("certs", "daemon-json").err  # the default holds it anyway


@pytest.mark.parametrize("args,hosts", [
    (["--no-local-socket", "--listen", "tcp://0.0.0.0:2376"], ["tcp://0.0.0.0:2376"]),
    (["--no-local-socket"], ["tcp://0.0.0.0:2376"]),
    # An explicit unix:// value takes the local socket's place.
    (["--listen", "unix:///run/docker-tls.sock", "--listen", "tcp://10.0.0.5:2376"],
     ["unix:///run/docker-tls.sock", "tcp://10.0.0.5:2376"]),
])
def test_daemon_json_without_the_added_socket(cli, args: list[str], hosts: list[str]) -> None:
    result = cli("certs", "daemon-json", *args)
    assert result.code == 0 and "Note:" not in result.err
    assert json.loads(result.out)["hosts"] == hosts


def test_daemon_json_help_says_the_socket_is_kept(cli) -> None:
    text = " ".join(cli("certs", "daemon-json", "--help").out.split())
    assert "unix:///var/run/docker.sock stays in it" in text
    assert "--no-local-socket Leave unix:///var/run/docker.sock out" in text


@pytest.mark.parametrize("args", [["--cert-dir", "relative/dir"], ["--cert-dir", '/a"b'],
                                  ["--listen", "http://0.0.0.0:2376"],
                                  ["--listen", "tcp://0.0.0.0:99999"],
                                  ["--listen", "unix://relative.sock"],
                                  ["--listen", "tcp://0.0.0.0:2376,evil"]])
def test_daemon_json_refusals(cli, args: list[str]) -> None:
    result = cli("certs", "daemon-json", *args)
    assert result.code == 2 and result.error_line and result.out == ""


# --- context ------------------------------------------------------------------------------

def test_context_command_line(out: Path, cli) -> None:
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    result = cli("certs", "context", "--out", str(out), "--host", "10.0.0.5", "--name", "ci")
    assert result.code == 0 and result.err == ""
    words = shlex.split(result.out)
    bundle = out.resolve() / "clients" / "ci"
    endpoint = (f"host=tcp://10.0.0.5:2376,ca={bundle}/ca.pem,cert={bundle}/cert.pem,"
                f"key={bundle}/key.pem")
    # Created if absent, updated from the current files if present: it can run again.
    assert words == ["if", "docker", "context", "inspect", "minipaas-ci", ">/dev/null",
                     "2>&1;", "then", "docker", "context", "update", "minipaas-ci", "--docker",
                     endpoint + ";", "else", "docker", "context", "create", "minipaas-ci",
                     "--docker", endpoint + ";", "fi"]
    named = cli("certs", "context", "--out", str(out), "--host", "10.0.0.5", "--context", "prod")
    assert shlex.split(named.out)[4] == "prod"


def test_context_refuses_paths_docker_cannot_parse(tmp_path: Path, cli) -> None:
    folder = tmp_path / "a,b"
    assert cli("certs", "all", "--out", str(folder), "-q").code == 0
    result = cli("certs", "context", "--out", str(folder), "--host", "10.0.0.5")
    assert result.code == 2 and "comma" in result.error_line


def test_context_refuses_a_bad_name(out: Path, cli) -> None:
    result = cli("certs", "context", "--out", str(out), "--host", "10.0.0.5",
                 "--context", "bad name")
    assert result.code == 2 and "context name" in result.error_line


def test_daemon_json_lists_each_address_once(cli) -> None:
    """dockerd binds each "hosts" entry: a repeated address would fail to bind."""
    result = cli("certs", "daemon-json", "-q", "--listen", "tcp://0.0.0.0:2376",
                 "--listen", "tcp://0.0.0.0", "--listen", "unix:///var/run/docker.sock",
                 "--listen", "unix:///var/run/docker.sock")
    assert json.loads(result.out)["hosts"] == ["tcp://0.0.0.0:2376",
                                               "unix:///var/run/docker.sock"]


def test_env_in_a_copied_client_folder_names_the_ca_folder(tmp_path: Path, cli) -> None:
    """ca.pem without ca-key.pem: `certs client` needs the CA key, so --ca-dir."""
    (tmp_path / "ca.pem").write_text("copied from the admin\n")
    result = cli("certs", "env", "--out", str(tmp_path), "--host", "10.0.0.5")
    assert result.code == 5
    assert f"`minipaas certs client --out {tmp_path} --ca-dir CA_FOLDER` ({tmp_path} holds " \
        "ca.pem but not ca-key.pem)" in result.err


@pytest.mark.parametrize("command", [["env"], ["context"], ["doctor"]])
def test_a_managers_bundle_named_as_a_client_says_so(cli, tmp_path: Path,
                                                     command: list[str]) -> None:
    """``env --name m1`` where m1 is a manager: not "clients/m1 lacks ca.pem..."."""
    out = tmp_path / "certs"
    for args in (["all"], ["server", "--name", "m1", "--san", "10.0.0.11"],
                 ["client", "--name", "ci"]):
        assert cli("certs", *args, "--out", str(out), "-q").code == 0
    result = cli("certs", *command, "--out", str(out), "--host", "127.0.0.1:1", "--name", "m1")
    assert (result.code, result.out) == (5, "")
    assert result.error_line == (
        f"Error: {out}/servers/m1 is a manager's bundle; a client connects with a client "
        "bundle: name one (present: clients/ci), or make one with "
        f"`minipaas certs client --out {out} --name m1`")
