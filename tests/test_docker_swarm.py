"""Swarm clusters end to end: several real dockerds, one per manager bundle servers/NAME.

Each manager runs its own dockerd on its own loopback port, started from the files
`certs server --name NAME` wrote; clients use their clients/NAME bundles (or the
default pair in --out) through the real docker CLI.  Covered: one CA for every
manager and client, revoking a client, decommissioning a manager, and rotating the
CA across managers.  Skipped like test_docker.py where dockerd or root is missing.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
from pathlib import Path
from typing import Callable, Dict

import pytest
from conftest import certs, load_cert, run_tool
from cryptography import x509
from dockerd import Dockerd

pytestmark = pytest.mark.docker

Managers = Dict[str, Dockerd]
Make = Callable[[], Dockerd]


def cluster(out: Path, names: tuple[str, ...], *clients: str) -> None:
    """`certs all`, one bundle per manager (10.0.0.1N and the default SANs), clients."""
    certs("all", "--out", str(out))
    for number, name in enumerate(names, 1):
        certs("server", "--out", str(out), "--name", name, "--san", f"10.0.0.1{number}")
    if clients:
        certs("client", "--out", str(out), *(arg for c in clients for arg in ("--name", c)))


def start(daemons: Make, out: Path, names: tuple[str, ...]) -> Managers:
    return {name: daemons().start_with_files(out / "servers" / name) for name in names}


def restart(managers: Managers, out: Path) -> None:
    """What the operator does after copying servers/NAME to each manager's /etc/docker."""
    for name, daemon in managers.items():
        daemon.restart_with_files(out / "servers" / name)


def stash(bundle: Path, to: Path) -> Path:
    """A copy of a bundle as a client holds it (the tool may move or replace the original)."""
    return Path(shutil.copytree(bundle, to))


def revoked(out: Path) -> list[tuple[str, str]]:
    return [(entry["role"], entry["name"])
            for entry in json.loads((out / "revoked.json").read_text())["revoked"]]


def works(managers: Managers, *bundles: Path) -> None:
    for bundle in bundles:
        for name, daemon in managers.items():
            done = daemon.client(bundle, "version", "--format", "{{.Server.Version}}")
            assert done.returncode == 0, f"{bundle} on {name}: {done.stderr}"
            assert done.stdout.strip(), f"{bundle} on {name}: no server version"


def distrusts_server(daemon: Dockerd, bundle: Path) -> None:
    """The CLI with ``bundle`` rejects the daemon's certificate (its CA is not trusted)."""
    done = daemon.client(bundle)
    assert done.returncode != 0, f"{bundle} accepted {daemon.host}"
    assert "x509: certificate signed by unknown authority" in done.stderr, done.stderr


def refused_by_daemon(daemon: Dockerd, bundle: Path) -> None:
    """The daemon turns the client certificate away (its CA is no longer trusted)."""
    done = daemon.client(bundle)
    assert done.returncode != 0, f"{daemon.host} accepted {bundle}"
    # Go's CLI sees a TLS alert or a reset; the daemon's log says why.
    assert "tls" in done.stderr.lower() or "connection reset" in done.stderr, done.stderr
    log = daemon.log.read_text(errors="replace").rsplit("API listen on", 1)[-1]
    assert "TLS handshake error" in log
    assert "unknown authority" in log or "didn't provide a certificate" in log


def test_one_ca_for_three_managers_and_their_clients(tmp_path: Path, daemons: Make) -> None:
    out, names = tmp_path / "certs", ("m1", "m2", "m3")
    cluster(out, names, "alice", "bob")
    for number, name in enumerate(names, 1):
        folder = out / "servers" / name
        assert sorted(p.name for p in folder.iterdir()) == [
            "ca.pem", "server-cert.pem", "server-key.pem"]
        sans = load_cert(folder / "server-cert.pem").extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address(f"10.0.0.1{number}")} \
            <= set(sans.get_values_for_type(x509.IPAddress))
    managers = start(daemons, out, names)
    works(managers, out, out / "clients" / "alice", out / "clients" / "bob")


def test_revoked_client_is_refused_by_every_manager_after_restart(tmp_path: Path,
                                                                  daemons: Make) -> None:
    out, names = tmp_path / "certs", ("m1", "m2", "m3")
    cluster(out, names, "alice", "bob")
    managers = start(daemons, out, names)
    alice = stash(out / "clients" / "alice", tmp_path / "alice")
    certs("revoke", "--out", str(out), "--name", "alice")
    assert not (out / "clients" / "alice").exists()
    assert len(list(out.glob("backup-*/clients/alice/cert.pem"))) == 1
    assert revoked(out) == [("client", "alice")]
    # dockerd reads its TLS files at start only: until the restart, alice still gets in.
    works(managers, alice)
    restart(managers, out)
    for daemon in managers.values():
        distrusts_server(daemon, alice)
    works(managers, out, out / "clients" / "bob")
    # Even given the new ca.pem (she trusts the daemons), her certificate is refused; and
    # doctor, with the record at hand, says why, as the docker CLI fails.
    shutil.copy(out / "ca.pem", alice / "ca.pem")
    shutil.copy(out / "revoked.json", alice / "revoked.json")
    for daemon in managers.values():
        refused_by_daemon(daemon, alice)
        doctor = run_tool("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(alice))
        assert doctor.returncode == 8, doctor.stdout
        assert "cert.pem was revoked (clients/alice  CN=alice" in doctor.stdout, doctor.stdout


def test_doctor_names_the_manager_whose_certificate_lacks_the_address(
        tmp_path: Path, daemons: Make) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    certs("server", "--out", str(out), "--name", "m1", "--san", "10.0.0.11",
          "--no-default-san")
    daemon = daemons().start_with_files(out / "servers" / "m1")
    cli = daemon.client(out)
    assert cli.returncode != 0 and "valid for 10.0.0.11, not 127.0.0.1" in cli.stderr
    doctor = run_tool("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}", str(out))
    assert doctor.returncode == 8
    assert f"renew server --out {out} --name m1 --san 127.0.0.1" in doctor.stdout, doctor.stdout
    certs("renew", "server", "--out", str(out), "--name", "m1", "--san", "127.0.0.1")
    daemon.restart_with_files(out / "servers" / "m1")
    assert daemon.client(out).returncode == 0
    assert run_tool("certs", "doctor", "--host", f"127.0.0.1:{daemon.port}",
                    str(out)).returncode == 0


def test_decommissioned_manager_is_no_longer_trusted(tmp_path: Path, daemons: Make) -> None:
    out, names = tmp_path / "certs", ("m1", "m2", "m3")
    cluster(out, names, "bob")
    old_m3 = stash(out / "servers" / "m3", tmp_path / "old-m3")
    old_bob = stash(out / "clients" / "bob", tmp_path / "old-bob")
    certs("revoke", "--out", str(out), "--server", "m3")
    assert sorted(p.name for p in (out / "servers").iterdir()) == ["m1", "m2"]
    assert revoked(out) == [("server", "m3")]
    managers = start(daemons, out, ("m1", "m2"))
    works(managers, out, out / "clients" / "bob")
    rogue = daemons().start_with_files(old_m3)  # m3 still running on its old files
    works({"old m3": rogue}, old_bob)  # it is up and answers its own CA's clients
    distrusts_server(rogue, out / "clients" / "bob")
    distrusts_server(rogue, out)


def test_ca_rotation_across_managers(tmp_path: Path, daemons: Make) -> None:
    out, names = tmp_path / "certs", ("m1", "m2")
    cluster(out, names, "alice", "bob")
    managers = start(daemons, out, names)
    old_client = stash(out / "clients" / "alice", tmp_path / "old-client")
    # 1. start: every ca.pem trusts both CAs; managers and clients receive it
    certs("rotate-ca", "start", "--out", str(out))
    for folder in (out, *out.glob("servers/*"), *out.glob("clients/*")):
        assert (folder / "ca.pem").read_text().count("BEGIN CERTIFICATE") == 2, folder
    shutil.copy(out / "ca.pem", old_client / "ca.pem")  # its cert is still the old CA's
    restart(managers, out)
    certs("renew", "client", "--out", str(out), "--name", "bob")
    new_client = out / "clients" / "bob"
    works(managers, old_client, new_client)
    # every pair but the managers' from the new CA: finishing would strand them, refused
    certs("renew", "server", "--out", str(out))
    certs("renew", "client", "--out", str(out))
    certs("renew", "client", "--out", str(out), "--name", "alice")
    early = run_tool("certs", "rotate-ca", "finish", "--out", str(out))
    assert early.returncode == 4, early.stdout + early.stderr
    named = re.match(r"Error: (servers/m[12]/server-cert\.pem), (servers/m[12]/server-cert\.pem) "
                     r"in .* still come from the old CA", early.stderr)
    assert named and {*named.groups()} == {"servers/m1/server-cert.pem",
                                           "servers/m2/server-cert.pem"}, early.stderr
    # 2. re-issue every pair (the managers' too) from the new CA; restart
    certs("renew", "--all", "--within", "100%", "--out", str(out))
    restart(managers, out)
    works(managers, old_client, new_client)
    # 3. finish: the old CA is gone from every ca.pem; restart
    done = run_tool("certs", "rotate-ca", "finish", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    for folder in (out, *out.glob("servers/*"), *out.glob("clients/*")):
        assert (folder / "ca.pem").read_text().count("BEGIN CERTIFICATE") == 1, folder
    restart(managers, out)
    works(managers, new_client, out)
    for daemon in managers.values():
        refused_by_daemon(daemon, old_client)


def test_daemon_json_configures_each_manager_from_its_bundle(tmp_path: Path,
                                                            daemons: Make) -> None:
    """A manager's bundle is what its /etc/docker holds: copied as it is, it serves
    the daemon.json that `certs daemon-json` prints."""
    out, names = tmp_path / "certs", ("m1", "m2")
    cluster(out, names, "ci")
    for name in names:
        etc_docker = tmp_path / f"etc-{name}"
        shutil.copytree(out / "servers" / name, etc_docker)  # the provisioning role's copy
        daemon = daemons()
        done = run_tool("certs", "daemon-json", "--cert-dir", str(etc_docker), "-q",
                        "--listen", f"tcp://127.0.0.1:{daemon.port}")
        assert done.returncode == 0, done.stderr
        config = tmp_path / f"daemon-{name}.json"
        config.write_text(done.stdout)
        daemon.start_with_config(config)
        works({name: daemon}, out, out / "clients" / "ci")
