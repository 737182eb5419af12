"""A real dockerd on loopback, started from generated server files, for the end-to-end tests.

Needs Debian's docker.io (dockerd and its containerd) and root.  Without them the
tests that use it are skipped with a reason, unless MINIPAAS_REQUIRE_SYSTEM_TESTS=1
(set by .ci/run), which turns that skip into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import unavailable

# Sandbox flags: no iptables, no bridge, a storage driver that needs no kernel module.
SANDBOX_FLAGS = ["--iptables=false", "--ip6tables=false", "--bridge=none",
                 "--storage-driver=vfs"]
READY_TIMEOUT = 60.0
HOW_TO_RUN = ("needs dockerd and the docker CLI as root: `apt-get install docker.io`, then "
              "`make test` as root (CI sets MINIPAAS_REQUIRE_SYSTEM_TESTS=1 so this cannot skip)")


def require_docker() -> tuple[str, str]:
    """The dockerd and docker binaries, or skip (fail under MINIPAAS_REQUIRE_SYSTEM_TESTS=1)."""
    dockerd, docker = shutil.which("dockerd"), shutil.which("docker")
    problem = None
    if not dockerd or not docker:
        problem = "dockerd or docker not found"
    elif os.geteuid() != 0:
        problem = "not root"
    if problem:
        unavailable(f"{problem}: {HOW_TO_RUN}")
    return dockerd, docker  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Dockerd:
    """One dockerd process listening with --tlsverify on 127.0.0.1:<port>."""

    def __init__(self, port: int | None = None) -> None:
        self.binary, self.docker = require_docker()
        # Short on purpose: containerd's socket lives under the exec root, and a unix
        # socket path must fit in 108 bytes (pytest's tmp_path can be longer).
        self.workdir = Path(tempfile.mkdtemp(prefix="mpd-", dir="/tmp"))
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.workdir / "dockerd.log"

    @property
    def host(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start_with_files(self, cert_dir: Path) -> Dockerd:
        """Start from ca.pem, server-cert.pem and server-key.pem in ``cert_dir``."""
        config = self.workdir / "daemon.json"
        config.write_text(json.dumps({
            "tlsverify": True, "tlscacert": str(cert_dir / "ca.pem"),
            "tlscert": str(cert_dir / "server-cert.pem"),
            "tlskey": str(cert_dir / "server-key.pem"), "hosts": [self.host]}))
        return self.start_with_config(config)

    @property
    def socket(self) -> Path:
        """Where a unix socket of daemon.json's hosts is moved (see start_with_config)."""
        return self.workdir / "docker.sock"

    def start_with_config(self, config: Path) -> Dockerd:
        """Start from a daemon.json (its TLS settings and hosts), plus the sandbox flags.

        A unix socket among its hosts (`certs daemon-json` keeps /var/run/docker.sock)
        is moved into the sandbox: the machine's own socket belongs to its own dockerd,
        and several test daemons run at once.
        """
        settings = json.loads(config.read_text())
        settings["hosts"] = [f"unix://{self.socket}" if host.startswith("unix://") else host
                             for host in settings.get("hosts", [])]
        config = self.workdir / "daemon-sandboxed.json"
        config.write_text(json.dumps(settings))
        argv = [self.binary, "--config-file", str(config),
                "--data-root", str(self.workdir / "root"),
                "--exec-root", str(self.workdir / "exec"),
                "--pidfile", str(self.workdir / "dockerd.pid"), *SANDBOX_FLAGS]
        seen = self.log.stat().st_size if self.log.exists() else 0  # a restart appends
        log = self.log.open("ab")
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        marker = f"API listen on 127.0.0.1:{self.port}"
        while marker not in self.log.read_bytes()[seen:].decode(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                pytest.fail(f"dockerd did not start (`{' '.join(argv)}`):\n{tail}")
            time.sleep(0.05)
        return self

    def close(self) -> None:
        """Stop dockerd and remove its working folder."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def stop(self) -> None:
        """Stop dockerd by its own pid and wait: nothing is left running."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None

    def restart_with_files(self, cert_dir: Path) -> None:
        self.stop()
        self.start_with_files(cert_dir)

    def local(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI over the daemon's (sandboxed) unix socket, as root on the
        manager would: no TLS."""
        return subprocess.run([self.docker, "-H", f"unix://{self.socket}", *(args or ("version",))],
                              capture_output=True, text=True, timeout=60,
                              env={"PATH": os.environ.get("PATH", ""),
                                   "HOME": str(self.workdir / "home")})

    def client(self, cert_path: Path, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI with only DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH."""
        base = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.workdir / "home"),
                "DOCKER_HOST": self.host, "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(cert_path)}
        return subprocess.run([self.docker, *(args or ("version",))], capture_output=True,
                              text=True, timeout=60, env={**base, **(env or {})})
