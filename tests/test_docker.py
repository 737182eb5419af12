"""End to end with a real dockerd and the real docker CLI and SDK: the project's acceptance test.

Each test starts its own dockerd on 127.0.0.1 from files the tool generated.
Skipped (with the reason and how to run them) where dockerd or root is missing;
CI sets MINIPAAS_REQUIRE_SYSTEM_TESTS=1, which turns any such skip into a failure.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REQUIRED, TOOL_OPENSSL, certs, reissue, run_tool, unavailable
from dockerd import Dockerd

pytestmark = pytest.mark.docker

SDK_SCRIPT = """
import sys, docker
host, cert_dir = sys.argv[1], sys.argv[2]
tls = docker.tls.TLSConfig(client_cert=(cert_dir + "/cert.pem", cert_dir + "/key.pem"),
                           ca_cert=cert_dir + "/ca.pem", verify=True)
client = docker.DockerClient(base_url=host, tls=tls, timeout=30)
print(sys.version_info[:2], client.version()["ApiVersion"])
"""


def peer_certificate(daemon: Dockerd, cert_dir: Path) -> bytes:
    """The certificate the daemon presents, read through a mutual-TLS handshake."""
    context = ssl.create_default_context(cafile=str(cert_dir / "ca.pem"))
    context.load_cert_chain(cert_dir / "cert.pem", cert_dir / "key.pem")
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return tls.getpeercert(binary_form=True) or b""


def pem_to_der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


@pytest.mark.parametrize("key_type", ["ecdsa", "rsa", "ed25519"])
def test_docker_cli_over_mutual_tls(tmp_path: Path, daemons, key_type: str) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out), "--key-type", key_type,
          *(["--key-size", "2048"] if key_type == "rsa" else []))
    daemon = daemons().start_with_files(out)
    done = daemon.client(out, "version", "--format", "{{.Server.Version}}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()  # the server's version: the API answered over TLS


def test_client_of_another_ca_is_refused(tmp_path: Path, daemons) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    certs("all", "--out", str(ours))
    certs("all", "--out", str(theirs))
    daemon = daemons().start_with_files(ours)
    # Even trusting our CA, a client certificate from another CA is turned away.
    shutil.copy(ours / "ca.pem", theirs / "ca.pem")
    refused = daemon.client(theirs)
    assert refused.returncode != 0
    # The daemon's side says why (the CLI may see a TLS alert or just a reset).
    log = daemon.log.read_text(errors="replace")
    assert "TLS handshake error" in log and "certificate signed by unknown authority" in log
    assert daemon.client(ours).returncode == 0


def test_server_rotation_keeps_existing_clients(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    daemon = daemons().start_with_files(out)
    assert peer_certificate(daemon, out) == pem_to_der(out / "server-cert.pem")
    client_before = (out / "cert.pem").read_bytes()
    certs("server", "--out", str(out))
    daemon.restart_with_files(out)  # dockerd reads TLS files only at start
    assert (out / "cert.pem").read_bytes() == client_before
    assert peer_certificate(daemon, out) == pem_to_der(out / "server-cert.pem")
    done = daemon.client(out)
    assert done.returncode == 0, done.stderr


def test_short_lived_client_and_a_renewal_from_a_timer(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    certs("client", "--out", str(out), "--name", "ci", "--hours", "1")
    reissue(out / "server-cert.pem", out, days_ago=360)  # five days left
    daemon = daemons().start_with_files(out)
    done = daemon.client(out / "clients" / "ci")
    assert done.returncode == 0, done.stderr  # a one-hour CI credential works
    old_server = (out / "server-cert.pem").read_bytes()
    certs("renew", "--all", "--within", "7", "--out", str(out))  # the server and ci are due
    assert (out / "server-cert.pem").read_bytes() != old_server
    daemon.restart_with_files(out)  # the deploy step the renewal prints
    assert peer_certificate(daemon, out) == pem_to_der(out / "server-cert.pem")
    for folder in (out, out / "clients" / "ci"):
        done = daemon.client(folder)
        assert done.returncode == 0, done.stderr


def sdk_python() -> str:
    """The newest Python with the docker SDK: MINIPAAS_TEST_SDK_PYTHON, else this one."""
    chosen = os.environ.get("MINIPAAS_TEST_SDK_PYTHON") or sys.executable
    probe = subprocess.run([chosen, "-c", "import docker"], capture_output=True)
    if probe.returncode != 0:
        unavailable(f"{chosen} lacks the docker SDK: `pip install docker`, or set "
                    "MINIPAAS_TEST_SDK_PYTHON to a Python that has it (CI uses 3.13)")
    return chosen


@pytest.mark.parametrize("key_type", ["ecdsa", "rsa", "ed25519"])
def test_docker_sdk_connects(tmp_path: Path, daemons, key_type: str) -> None:
    python = sdk_python()
    out = tmp_path / "certs"
    certs("all", "--out", str(out), "--key-type", key_type,
          *(["--key-size", "2048"] if key_type == "rsa" else []))
    daemon = daemons().start_with_files(out)
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the SDK's CA file
    # (a pitfall the README documents); the SDK must be tested with the CA it is given.
    env = {name: value for name, value in os.environ.items()
           if name not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    done = subprocess.run([python, "-c", SDK_SCRIPT, f"https://127.0.0.1:{daemon.port}",
                           str(out)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    if REQUIRED:
        assert done.stdout.startswith("(3, 13)"), "CI must run the SDK on Python 3.13"


def test_named_bundles_are_ready_cert_paths(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    certs("client", "--out", str(out), "--name", "ci", "--name", "alice")
    daemon = daemons().start_with_files(out)
    for name in ("ci", "alice"):
        bundle = out / "clients" / name
        assert sorted(p.name for p in bundle.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
        done = daemon.client(bundle, "info", "--format", "{{.ID}}")
        assert done.returncode == 0, done.stderr


def test_env_output_evaluated_by_a_shell(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    certs("client", "--out", str(out), "--name", "ci")
    daemon = daemons().start_with_files(out)
    tool = f"{shlex.quote(sys.executable)} -m minipaas_certs"
    script = (f'eval "$({tool} certs env --out {shlex.quote(str(out))} '
              f'--host 127.0.0.1:{daemon.port} --name ci)" && '
              f'echo "$DOCKER_CERT_PATH" && {shlex.quote(daemon.docker)} version')
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                               "MINIPAAS_OPENSSL": TOOL_OPENSSL,
                               "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str((out / "clients" / "ci").resolve())
    assert "Server:" in done.stdout
    assert done.stderr == ""  # 127.0.0.1 is among the SANs: no warning


def test_daemon_json_output_configures_a_real_dockerd(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    daemon = daemons()
    done = run_tool("certs", "daemon-json", "--cert-dir", str(out),
                    "--listen", f"tcp://127.0.0.1:{daemon.port}")
    assert done.returncode == 0, done.stderr
    assert "ExecStart=" in done.stderr and "restart" in done.stderr
    assert "keeps unix:///var/run/docker.sock" in done.stderr
    config = tmp_path / "daemon.json"
    config.write_text(done.stdout)
    daemon.start_with_config(config)
    assert daemon.client(out).returncode == 0
    # The local socket it kept (moved into the sandbox) serves docker on the manager.
    local = daemon.local()
    assert local.returncode == 0 and "Server:" in local.stdout, local.stderr


def test_context_command_creates_a_working_context(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    certs("client", "--out", str(out), "--name", "ci")
    daemon = daemons().start_with_files(out)
    done = run_tool("certs", "context", "--out", str(out), "--host",
                    f"127.0.0.1:{daemon.port}", "--name", "ci")
    assert done.returncode == 0, done.stderr
    command = done.stdout.strip()
    assert command.startswith("if docker context inspect minipaas-ci ")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "DOCKER_CONFIG": str(tmp_path / "docker-config")}

    def stored_cert() -> bytes:
        (path,) = (tmp_path / "docker-config" / "contexts" / "tls").rglob("cert.pem")
        return path.read_bytes()

    for run in ("create", "update after a renewal"):
        if run != "create":
            certs("renew", "client", "--out", str(out), "--name", "ci")
        made = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env,
                              timeout=60)
        assert made.returncode == 0, (run, made.stderr)
        # The context keeps its own copy of the files: the current ones, after each run.
        assert stored_cert() == (out / "clients" / "ci" / "cert.pem").read_bytes(), run
        used = subprocess.run([daemon.docker, "--context", "minipaas-ci", "version"],
                              capture_output=True, text=True, env=env, timeout=60)
        assert used.returncode == 0, used.stderr
        assert "Server:" in used.stdout


def test_missing_ip_san_fails_as_the_env_warning_says(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out), "--no-default-san", "--san", "localhost")
    daemon = daemons().start_with_files(out)
    env = run_tool("certs", "env", "--out", str(out), "--host", f"127.0.0.1:{daemon.port}")
    assert env.returncode == 0
    assert "127.0.0.1 is not among the server certificate's names" in env.stderr
    # doctor, which sees the daemon, gives the same fix in the same words.
    told = run_tool("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(out))
    assert told.returncode == 8
    fix = env.stderr.strip().split("\": ", 1)[1]
    assert fix.startswith("connect by one of them, or re-issue it with `minipaas certs renew "
                          f"server --out {out} --san 127.0.0.1`"), env.stderr
    assert told.stdout.startswith("127.0.0.1 is not among the daemon certificate's names "
                                  f"(DNS:localhost): {fix}"), told.stdout
    failed = daemon.client(out)
    assert failed.returncode != 0
    assert "IP SANs" in failed.stderr or "127.0.0.1" in failed.stderr


def test_ca_rollover_without_downtime(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    daemon = daemons().start_with_files(out)
    old_client = tmp_path / "old-client"  # a client that received the bundle, nothing else
    old_client.mkdir()
    for name in ("cert.pem", "key.pem"):
        shutil.copy(out / name, old_client / name)

    def old_client_with(ca_file: Path) -> subprocess.CompletedProcess[str]:
        shutil.copy(ca_file, old_client / "ca.pem")
        return daemon.client(old_client)

    # 1. start: the bundle goes to the daemon (restart) and to the clients
    certs("rotate-ca", "start", "--out", str(out))
    daemon.restart_with_files(out)
    assert old_client_with(out / "ca.pem").returncode == 0
    # 2. re-issue from the new CA; during the rollover, old and new clients both work
    certs("server", "--out", str(out))
    certs("client", "--out", str(out), "--name", "new")
    daemon.restart_with_files(out)
    assert old_client_with(out / "ca.pem").returncode == 0
    new_client = daemon.client(out / "clients" / "new")
    assert new_client.returncode == 0, new_client.stderr
    # 3. finish: only the new CA is trusted; the old client is refused
    certs("rotate-ca", "finish", "--out", str(out), "--force")
    daemon.restart_with_files(out)
    assert old_client_with(out / "ca.pem").returncode != 0
    # Go's client withholds a certificate whose CA the server does not list, so the
    # daemon sees either an unknown authority or no certificate at all.
    log = daemon.log.read_text(errors="replace").rsplit("API listen on", 1)[-1]
    assert "TLS handshake error" in log
    assert "unknown authority" in log or "didn't provide a certificate" in log
    assert daemon.client(out / "clients" / "new").returncode == 0


def doctor(daemon: Dockerd, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`certs doctor`, cross-checked: the docker CLI on the same files and address must
    reach the same verdict."""
    host = f"{args[0] if args else '127.0.0.1'}:{daemon.port}"
    done = run_tool("certs", "doctor", "--host", host, str(folder), *args[1:])
    bundle = folder / "clients" / args[args.index("--name") + 1] if "--name" in args else folder
    cli = daemon.client(bundle, env={"DOCKER_HOST": f"tcp://{host}"})
    assert (done.returncode == 0) == (cli.returncode == 0), (done.stdout, cli.stderr)
    return done


def test_doctor_on_a_working_daemon(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    certs("client", "--out", str(out), "--name", "ci")
    daemon = daemons().start_with_files(out)
    for args in ((), ("localhost",), ("127.0.0.1", "--name", "ci")):
        done = doctor(daemon, out, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("OK: mutual TLS works with tcp://")
        assert "Docker Engine" in done.stdout and "API 1." in done.stdout


def test_doctor_explains_a_host_outside_the_sans(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out), "--no-default-san", "--san", "localhost")
    daemon = daemons().start_with_files(out)
    done = doctor(daemon, out)
    assert done.returncode == 8
    assert done.stdout.startswith("127.0.0.1 is not among the daemon certificate's names "
                                  "(DNS:localhost)")
    assert "--san 127.0.0.1" in done.stdout and "restart dockerd" in done.stdout


def test_doctor_explains_a_daemon_of_another_ca(tmp_path: Path, daemons) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    certs("all", "--out", str(ours))
    certs("all", "--out", str(theirs), "--ca-cn", "their-ca")
    daemon = daemons().start_with_files(theirs)
    done = doctor(daemon, ours)
    assert done.returncode == 8
    assert done.stdout.startswith("the daemon's certificate comes from another CA "
                                  "(issuer CN=their-ca; ca.pem holds CN=minipaas-ca)")


def test_doctor_explains_an_expired_server_certificate(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    reissue(out / "server-cert.pem", out, days_ago=40, days=30)
    daemon = daemons().start_with_files(out)
    done = doctor(daemon, out)
    assert done.returncode == 8
    assert done.stdout.startswith("the daemon's certificate expired on ")
    assert "minipaas certs renew server" in done.stdout


def test_doctor_explains_a_client_certificate_serving(tmp_path: Path, daemons) -> None:
    out, served = tmp_path / "certs", tmp_path / "served"
    certs("all", "--out", str(out), "--no-default-san", "--san", "127.0.0.1")
    served.mkdir()
    shutil.copy(out / "ca.pem", served / "ca.pem")
    shutil.copy(out / "client-cert.pem", served / "server-cert.pem")  # the wrong pair
    shutil.copy(out / "client-key.pem", served / "server-key.pem")
    daemon = daemons().start_with_files(served)
    done = doctor(daemon, out)
    assert done.returncode == 8
    assert done.stdout.startswith("the daemon's certificate is not a server certificate")


def test_doctor_explains_a_refused_client(tmp_path: Path, daemons) -> None:
    out, served, other = tmp_path / "certs", tmp_path / "served", tmp_path / "other"
    certs("all", "--out", str(out))
    certs("client", "--out", str(out), "--name", "new")
    certs("all", "--out", str(other), "--ca-cn", "other-ca")
    shutil.copytree(out, served)  # our server pair, but the daemon trusts another CA
    shutil.copy(other / "ca.pem", served / "ca.pem")
    daemon = daemons().start_with_files(served)
    done = doctor(daemon, out, "127.0.0.1", "--name", "new")
    assert done.returncode == 8
    assert done.stdout.startswith("the daemon refused the client certificate")
    assert "tlscacert" in done.stdout
