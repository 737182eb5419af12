"""README.rst's shell blocks, run as written: the quick start against a real dockerd, and
each "How do I ..." task with real openssl (dockerd, OpenBao, keytool where the task
needs them).

What a block cannot do here is named where it happens: 2376 becomes a free port and the
``dockerd`` line is run by the test (same config file, plus the sandbox flags a container
needs); a manager's address becomes 127.0.0.1 where a block connects to it; the engine's
example address becomes the test engine's.  Two blocks are not run, and
``test_every_task_is_run`` names them: copying to a remote manager over ssh, and
installing systemd units (those are checked by tests/test_contrib.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from conftest import TOOL_OPENSSL, load_cert
from cryptography import x509
from dockerd import Dockerd, free_port, require_docker

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.rst"
DEVELOPMENT = ROOT / "docs" / "development.rst"
pytestmark = pytest.mark.invariant
SH_BLOCK = re.compile(r"\.\. code-block:: sh\n\n((?:[ \t]+\S.*\n|\n)+)")
QUICK_START = "Quick start: ``docker version`` over mutual TLS"
ENGINE_EXAMPLE = "https://bao.example.com:8200"


def sections(path: Path = README) -> dict[str, str]:
    """Each titled section's text (up to the next title of any level), by title."""
    text = path.read_text()
    heading = re.compile(r"^(\S.*)\n([=-])\2+\n", re.MULTILINE)
    found = list(heading.finditer(text))
    return {match.group(1): text[match.end():(found[i + 1].start() if i + 1 < len(found)
                                               else len(text))]
            for i, match in enumerate(found)}


def blocks(title: str) -> list[str]:
    return [textwrap.dedent(block).strip() for block in SH_BLOCK.findall(sections()[title])]


def tasks() -> list[str]:
    """The "How do I ..." titles, in order."""
    text = README.read_text()
    part = text.split("\nHow do I ...\n====", 1)[1].split("\nCommand reference\n====", 1)[0]
    return re.findall(r"^(\S.*)\n-+\n", part, re.MULTILINE)


# Where each task's blocks run; the two not run say why.
TASKS = {
    "Onboard a developer or a CI job": "test_onboard_a_developer_or_a_ci_job",
    "Give a manager its files": "test_give_a_manager_its_files (not its scp and ssh "
                                "lines: they copy to a remote manager)",
    "Set up three managers": "test_set_up_three_managers",
    "Rotate a server certificate": "test_rotate_a_server_certificate",
    "Cut off a leaked key": "test_cut_off_a_leaked_key",
    "Confirm each daemon took its new files": "test_confirm_each_daemon_took_its_new_files",
    "Renew unattended": "test_renew_unattended (not its unit install: it needs systemd as "
                        "PID 1; tests/test_install.py checks the units and the cron file)",
    "Use an organisation's intermediate CA": "test_use_an_organisations_intermediate_ca",
    "Sign through OpenBao or Vault": "test_the_engine_roles_block, test_sign_through_the_engine,"
                                     " test_renew_an_engine_signed_folder_unattended,"
                                     " test_cut_off_a_key_through_the_engine",
    "Give a Java client a keystore": "tests/test_pkcs12.py: test_the_readme_example_runs_as_"
                                     "written, test_the_readme_truststore_commands_*",
    "Check what expires": "test_check_what_expires",
    "Feed Prometheus or Nagios": "test_feed_prometheus_or_nagios",
    "Clean up old backups": "test_clean_up_old_backups",
    "Replace the CA without downtime": "test_replace_the_ca_without_downtime",
}


def test_every_task_is_run() -> None:
    assert tasks() == list(TASKS)
    assert all(blocks(title) for title in TASKS), "each task shows its commands"
    install = blocks("Renew unattended")[1]
    assert install.splitlines()[0] == "cd minipaas-certs/contrib"
    named = set(re.findall(r"minipaas-certs[\w.-]*\.(?:service|timer|cron)", install))
    assert named == {p.name for p in (ROOT / "contrib").iterdir() if p.is_file()}


def test_every_contrib_file_the_readme_names_exists() -> None:
    named = set(re.findall(r"minipaas-certs/(contrib/[\w./-]+\w)", README.read_text()))
    assert named and all((ROOT / name).is_file() for name in named), named


# --- running blocks ----------------------------------------------------------------------

def environment(home: Path) -> dict[str, str]:
    # PYTHONPATH: the `minipaas` beside this Python runs this checkout's package.
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(home), "MINIPAAS_OPENSSL": TOOL_OPENSSL, "PYTHONPATH": str(ROOT),
            "LC_ALL": "C.UTF-8"}


def shell(script: str, cwd: Path, env: dict[str, str] | None = None,
          replace: dict[str, str] | None = None,
          base: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in bash -euo pipefail; ``base`` replaces the whole environment."""
    for old, new in (replace or {}).items():
        assert old in script, old
        script = script.replace(old, new)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd,
                          env={**(environment(cwd) if base is None else base), **(env or {})},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    return done


def tool(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "minipaas_certs", "certs", *args],
                          cwd=cwd, env=environment(cwd), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The folder the tasks start from, as "How do I ..." says."""
    intro = sections()["How do I ..."]
    assert "``minipaas certs all --out .certs\n--san 10.0.0.5``" in intro
    tool(tmp_path, "all", "--out", ".certs", "--san", "10.0.0.5", "-q")
    return tmp_path


def sans(path: Path) -> set[str]:
    names = load_cert(path).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    return {str(value) for value in names.get_values_for_type(x509.DNSName)} | \
        {str(value) for value in names.get_values_for_type(x509.IPAddress)}


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# --- the quick start ---------------------------------------------------------------------

def test_the_quick_start_has_the_expected_shape() -> None:
    certs, daemon, client = blocks(QUICK_START)
    assert certs.startswith("minipaas certs all ")
    assert daemon.splitlines()[-1] == "dockerd --config-file daemon.json &"
    assert client.splitlines()[-1] == "docker version"


def run_quick_start(folder: Path, base: dict[str, str] | None = None,
                    readme: Path = README) -> subprocess.CompletedProcess[str]:
    """The quick start's three blocks in ``folder``, its dockerd started by the test."""
    daemon = Dockerd()
    port = {"2376": str(daemon.port)}
    certs, daemon_block, client = [textwrap.dedent(block).strip() for block in
                                   SH_BLOCK.findall(sections(readme)[QUICK_START])]
    try:
        shell(certs, folder, base=base)
        *before, dockerd_line = daemon_block.splitlines()
        shell("\n".join(before), folder, replace=port, base=base)
        assert dockerd_line == "dockerd --config-file daemon.json &"
        daemon.start_with_config(folder / "daemon.json")
        done = shell(client, folder, replace=port, base=base)
        # daemon-json kept the local socket: docker on the machine itself still works.
        assert daemon.local().returncode == 0
        return done
    finally:
        daemon.close()


@pytest.mark.docker
def test_the_quick_start_reaches_docker_version_over_tls(tmp_path: Path) -> None:
    require_docker()
    done = run_quick_start(tmp_path)
    assert "Server:" in done.stdout and "Engine:" in done.stdout


# --- How do I ... ------------------------------------------------------------------------

@pytest.mark.docker
def test_onboard_a_developer_or_a_ci_job(work: Path, daemons) -> None:
    issue, on_her_machine = blocks("Onboard a developer or a CI job")
    shell(issue, work)
    ci = load_cert(work / ".certs" / "clients" / "ci-build" / "cert.pem")
    assert ci.not_valid_after_utc - ci.not_valid_before_utc == timedelta(hours=8, minutes=5)
    # Alice's machine: only the tarball, her own home; the manager is a real dockerd
    # (its certificate names 127.0.0.1 as every server certificate does by default).
    daemon = daemons().start_with_files(work / ".certs")
    alice = work / "alice-machine"
    alice.mkdir()
    shutil.copy(work / "alice.tgz", alice)
    done = shell(on_her_machine, alice, {"HOME": str(alice)},
                 {"10.0.0.5:2376": f"127.0.0.1:{daemon.port}"})
    assert "Server:" in done.stdout
    assert sorted(os.listdir(alice / ".docker" / "minipaas" / "alice")) == \
        ["ca.pem", "cert.pem", "key.pem"]


def test_give_a_manager_its_files(work: Path) -> None:
    """Its local lines run; its scp and ssh lines would copy what they name, which is
    there: the bundle, the daemon.json just made, the checkout's drop-in."""
    tool(work, "server", "--out", ".certs", "--name", "m1", "--san", "10.0.0.11", "-q")
    (block,) = blocks("Give a manager its files")
    local = [line for line in block.splitlines() if not line.startswith(("scp ", "ssh "))]
    assert local and all(line.startswith("minipaas certs daemon-json ") for line in local)
    shell("\n".join(local), work)
    daemon = json.loads((work / "daemon.json").read_text())
    assert (daemon["tlscacert"], daemon["tlscert"], daemon["tlskey"]) == (
        "/etc/docker/ca.pem", "/etc/docker/server-cert.pem", "/etc/docker/server-key.pem")
    assert daemon["tlsverify"] is True
    assert daemon["hosts"] == ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]
    (checkout := work / "minipaas-certs").symlink_to(ROOT)
    for line in block.splitlines():
        if line.startswith("scp "):
            *sources, _destination = line.split()[1:]
            for source in sources:
                assert list(work.glob(source)), source
    assert sorted(p.name for p in work.glob(".certs/servers/m1/*")) == [
        "ca.pem", "server-cert.pem", "server-key.pem"]
    assert (checkout / "contrib" / "docker.service.d" / "minipaas-tls.conf").is_file()


def test_set_up_three_managers(work: Path) -> None:
    (managers,) = blocks("Set up three managers")
    done = shell(managers, work)
    assert done.stdout.splitlines()[-3:] == ["ca.pem", "server-cert.pem", "server-key.pem"]
    for i in (1, 2, 3):
        assert sans(work / ".certs" / "servers" / f"m{i}" / "server-cert.pem") == {
            f"10.0.0.1{i}", f"m{i}.example.com", "localhost", "127.0.0.1"}


def test_rotate_a_server_certificate(work: Path) -> None:
    out = work / ".certs"
    tool(work, "server", "--out", ".certs", "--name", "m1", "--san", "10.0.0.11", "-q")
    before = {path: load_cert(out / path) for path in ("server-cert.pem",
                                                        "servers/m1/server-cert.pem")}
    (rotate,) = blocks("Rotate a server certificate")
    shell(rotate, work)
    assert sans(out / "server-cert.pem") == {"10.0.0.5", "localhost", "127.0.0.1"}
    assert sans(out / "servers" / "m1" / "server-cert.pem") == {
        "10.0.0.11", "10.0.0.21", "localhost", "127.0.0.1"}
    for path, old in before.items():
        assert load_cert(out / path).serial_number != old.serial_number, path
    assert list(out.glob("backup-*"))


@pytest.mark.docker
def test_cut_off_a_leaked_key(work: Path, daemons) -> None:
    out = work / ".certs"
    tool(work, "client", "--out", ".certs", "--name", "alice", "--name", "ci-build", "-q")
    leaked = Path(shutil.copytree(out / "clients" / "ci-build", work / "leaked"))
    daemon = daemons().start_with_files(out)
    assert daemon.client(leaked).returncode == 0
    (revoke,) = blocks("Cut off a leaked key")
    shell(revoke, work)
    assert daemon.client(leaked).returncode == 0, "it works until the daemon restarts"
    daemon.restart_with_files(out)
    refused = daemon.client(leaked)
    assert refused.returncode != 0 and "Server:" not in refused.stdout
    assert daemon.client(out / "clients" / "alice").returncode == 0
    (entry,) = json.loads((out / "revoked.json").read_text())["revoked"]
    assert (entry["role"], entry["name"]) == ("client", "ci-build")


@pytest.mark.docker
@pytest.mark.slow
def test_confirm_each_daemon_took_its_new_files(work: Path, daemons) -> None:
    """m1 renewed (`Rotate a server certificate`) and not restarted: stale, then OK."""
    for i in (1, 2):
        tool(work, "server", "--out", ".certs", "--name", f"m{i}", "--san", f"10.0.0.1{i}", "-q")
    managers = [daemons().start_with_files(work / ".certs" / "servers" / f"m{i}")
                for i in (1, 2)]
    tool(work, "renew", "server", "--out", ".certs", "--name", "m1", "-q")
    (confirm,) = blocks("Confirm each daemon took its new files")
    local = {f"10.0.0.1{i}:2376": f"127.0.0.1:{daemon.port}"
             for i, daemon in enumerate(managers, 1)}
    for old, new in local.items():
        confirm = confirm.replace(old, new)
    stale = subprocess.run(["bash", "-euo", "pipefail", "-c", confirm], cwd=work,
                           env=environment(work), capture_output=True, text=True, timeout=300)
    assert stale.returncode == 8, stale.stderr
    m1, m2 = stale.stdout.splitlines()
    assert m1.startswith(f"m1 127.0.0.1:{managers[0].port}: stale: still serves serial ")
    assert "restart dockerd on m1" in m1
    assert m2.startswith(f"m2 127.0.0.1:{managers[1].port}: OK: serves serial "), m2
    managers[0].restart_with_files(work / ".certs" / "servers" / "m1")
    done = shell(confirm, work)
    assert [line.split(": ")[1] for line in done.stdout.splitlines()] == ["OK", "OK"]


def test_renew_unattended(work: Path) -> None:
    daily = blocks("Renew unattended")[0]
    before = files(work / ".certs")
    done = shell(daily, work)
    assert (done.stdout, done.stderr) == ("", "")  # nothing due: silent, nothing changed
    assert files(work / ".certs") == before
    assert "changes nothing (and with ``-q`` prints nothing)" in " ".join(
        sections()["Renew unattended"].split())
    told = shell(daily.replace(" -q", ""), work)  # without -q: one line says why
    assert (told.stdout, told.stderr) == (
        "", "Nothing to renew in .certs: no certificate has less than a third of its "
            "lifetime left\n")
    assert files(work / ".certs") == before


def test_use_an_organisations_intermediate_ca(tmp_path: Path) -> None:
    from test_chains import organisation

    pki = organisation(tmp_path / "pki")
    work = tmp_path / "work"
    work.mkdir()
    for name in ("root.pem", "intermediate.pem", "intermediate-key.pem"):
        shutil.copy(pki / name, work)
    (org,) = blocks("Use an organisation's intermediate CA")
    shell(org, work)
    out = work / ".certs"
    assert (out / "ca.pem").read_bytes() == (pki / "root.pem").read_bytes()
    for leaf, purpose in (("server-cert.pem", "sslserver"),
                          ("clients/ci/cert.pem", "sslclient")):
        done = subprocess.run([TOOL_OPENSSL, "verify", "-purpose", purpose, "-CAfile",
                               str(out / "ca.pem"), "-untrusted", str(out / leaf),
                               str(out / leaf)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    # revoke and rotate-ca in a folder signed from --ca-dir: refused as the reference says
    said = " ".join(sections()["revoke"].split())
    assert "``rotate-ca`` refuse before writing anything (exit 5) and print" in said
    before = files(out)
    for args in (["revoke", "--name", "ci"], ["rotate-ca", "start"]):
        refused = subprocess.run([sys.executable, "-m", "minipaas_certs", "certs", *args,
                                  "--out", ".certs"], cwd=work, env=environment(work),
                                 capture_output=True, text=True, timeout=300)
        assert refused.returncode == 5 and refused.stderr.startswith("Error: "), refused.stderr
    assert files(out) == before


def test_the_details_say_what_revoke_does_through_an_engine() -> None:
    """docs/details.rst names the revoke the tool takes for an engine-signed folder (not
    "no --vault-* option", nor renew --force as the way to revoke)."""
    details = " ".join((ROOT / "docs" / "details.rst").read_text().split())
    where = details.split("When the CA is elsewhere", 1)[1].split("An organisation's CA", 1)[0]
    assert "take no ``--vault" not in where and "They take no ``--ca-dir``" in where
    assert "``revoke --name NAME --vault-server-role ROLE --vault-client-role ROLE``" in where
    assert "default=next" not in where
    helped = subprocess.run([sys.executable, "-m", "minipaas_certs", "certs", "revoke",
                             "--help"], capture_output=True, text=True, check=True).stdout
    assert "--vault-server-role" in helped and "--vault-client-role" in helped


@contextlib.contextmanager
def bao_engine() -> Iterator[tuple[str, Path]]:
    """A bare OpenBao dev server on loopback, set up by the README's roles block with the
    real ``bao`` CLI; its address and the folder holding ``bao``."""
    from test_vault import ROOT_TOKEN, bao_binary

    bao = Path(bao_binary())
    home = Path(tempfile.mkdtemp(prefix="bao-readme-"))
    address = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [str(bao), "server", "-dev", f"-dev-listen-address={address[7:]}",
         f"-dev-root-token-id={ROOT_TOKEN}", "-dev-no-store-token"],
        env={"HOME": str(home), "PATH": os.environ["PATH"]}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        env = bao_admin(address, home)
        deadline = time.monotonic() + 30
        while subprocess.run([str(bao), "status"], env=env, capture_output=True).returncode:
            assert process.poll() is None and time.monotonic() < deadline, "bao did not start"
            time.sleep(0.2)
        roles = blocks("Sign through OpenBao or Vault")[0]
        shell(roles, home, env)
        yield address, home
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def bao_admin(address: str, home: Path) -> dict[str, str]:
    """The environment of the engine's admin: its address, the root token, ``bao``."""
    from test_vault import ROOT_TOKEN, bao_binary

    return {"BAO_ADDR": address, "BAO_TOKEN": ROOT_TOKEN, "HOME": str(home),
            "PATH": f"{Path(bao_binary()).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[str, Path]]:
    """One engine for the tests that leave its root as it is."""
    with bao_engine() as running:
        yield running


def test_the_engine_roles_block(engine: tuple[str, Path]) -> None:
    address, home = engine
    from test_vault import ROOT_TOKEN, bao_binary

    listed = subprocess.run([bao_binary(), "list", "-format=json", "pki/roles"],
                            env={"BAO_ADDR": address, "BAO_TOKEN": ROOT_TOKEN,
                                 "HOME": str(home)}, capture_output=True, text=True)
    assert sorted(json.loads(listed.stdout)) == ["docker-client", "docker-server"]


def sign_through_the_engine(engine: tuple[str, Path], work: Path) -> None:
    from test_vault import ROOT_TOKEN

    address, _ = engine
    (work / ".vault-token").write_text(ROOT_TOKEN + "\n")
    os.chmod(work / ".vault-token", 0o600)
    sign = blocks("Sign through OpenBao or Vault")[1]
    shell(sign, work, replace={ENGINE_EXAMPLE: address})


def test_sign_through_the_engine(engine: tuple[str, Path], tmp_path: Path) -> None:
    sign_through_the_engine(engine, tmp_path)
    out = tmp_path / ".certs"
    assert not (out / "ca-key.pem").exists()
    assert sans(out / "servers" / "m1" / "server-cert.pem") >= {"10.0.0.11"}
    assert load_cert(out / "clients" / "ci" / "cert.pem").subject.rfc4514_string() == "CN=ci"


def test_renew_an_engine_signed_folder_unattended(engine: tuple[str, Path],
                                                  tmp_path: Path) -> None:
    sign_through_the_engine(engine, tmp_path)
    out = tmp_path / ".certs"
    before = {path: load_cert(out / path).serial_number
              for path in ("servers/m1/server-cert.pem", "clients/ci/cert.pem")}
    sign, renew = blocks("Sign through OpenBao or Vault")[1:3]
    exports = sign.splitlines()[0]  # the engine and the token file, as the reader has them
    # Everything due: both roles are renewed, each by its engine role.
    shell(f"{exports}\n{renew}", tmp_path,
          replace={ENGINE_EXAMPLE: engine[0], "--within 30": "--within 400"})
    for path, serial in before.items():
        assert load_cert(out / path).serial_number != serial, path


def test_cut_off_a_key_through_the_engine(tmp_path: Path) -> None:
    """The README's engine revocation, on an engine of its own (it changes the root):
    the admin's two bao lines, then revoke with the reader's exports."""
    with bao_engine() as running:
        sign_through_the_engine(running, tmp_path)
        out = tmp_path / ".certs"
        old_root = (out / "ca.pem").read_bytes()
        exports = blocks("Sign through OpenBao or Vault")[1].splitlines()[0]
        revoke = blocks("Sign through OpenBao or Vault")[3]
        admin = bao_admin(*running)
        # The reader's HOME (~/.vault-token is in it) and PATH (minipaas), with bao.
        del admin["HOME"]
        admin["PATH"] = f"{Path(admin['PATH'].split(os.pathsep)[0])}{os.pathsep}" \
                        f"{environment(tmp_path)['PATH']}"
        shell(f"{exports}\n{revoke}", tmp_path, admin, replace={ENGINE_EXAMPLE: running[0]})
    assert (out / "ca.pem").read_bytes() != old_root
    assert not (out / "clients" / "ci").exists()
    assert [entry["name"] for entry in json.loads((out / "revoked.json").read_text())
            ["revoked"]] == ["ci"]
    root = load_cert(out / "ca.pem")
    assert root.subject.rfc4514_string() == "CN=Docker CA 2"
    assert load_cert(out / "servers" / "m1" / "server-cert.pem").issuer == root.subject
    assert (out / "servers" / "m1" / "ca.pem").read_bytes() == (out / "ca.pem").read_bytes()


def test_check_what_expires(work: Path) -> None:
    (check,) = blocks("Check what expires")
    done = shell(check, work)
    listed = dict(line.split("\t")[::-1] for line in done.stdout.splitlines()
                  if "\t" in line)
    assert set(listed) >= {"ca.pem", "server-cert.pem", "client-cert.pem"}, done.stdout
    assert listed["server-cert.pem"] in ("364", "365")


def test_feed_prometheus_or_nagios(work: Path) -> None:
    (block,) = blocks("Feed Prometheus or Nagios")
    collected = work / "node-exporter"
    collected.mkdir()
    done = shell(block, work, replace={"/var/lib/prometheus/node-exporter": str(collected)})
    metrics = (collected / "minipaas-certs.prom").read_text()
    assert 'x509_cert_not_after{filepath="' in metrics
    assert done.stdout.startswith("OK: .certs: 3 certificates")
    nagios = done.stdout.splitlines()[1]
    assert nagios.startswith("CERTS OK - .certs: 3 certificates, none expires within 30 days")
    assert "'server'=364d;30:;0:" in nagios


def test_replace_the_ca_without_downtime(work: Path) -> None:
    out = work / ".certs"
    old = (out / "ca.pem").read_bytes()
    (rollover,) = blocks("Replace the CA without downtime")
    shell(rollover, work)
    new = (out / "ca.pem").read_bytes()
    assert new != old and new.count(b"BEGIN CERTIFICATE") == 1
    for leaf, purpose in (("server-cert.pem", "sslserver"), ("cert.pem", "sslclient")):
        done = subprocess.run([TOOL_OPENSSL, "verify", "-purpose", purpose, "-CAfile",
                               str(out / "ca.pem"), str(out / leaf)], capture_output=True)
        assert done.returncode == 0, leaf
    assert tool(work, "check", ".certs").returncode == 0


def test_clean_up_old_backups(work: Path) -> None:
    out = work / ".certs"
    for _ in range(4):
        tool(work, "renew", "server", "--out", ".certs", "-q")
    made = sorted(p.name for p in out.glob("backup-*"))
    assert len(made) == 4
    assert "4 backup folders still hold private keys" in tool(work, "check", ".certs").stderr
    assert "live credentials" in sections()["Clean up old backups"]
    prune, cron = blocks("Clean up old backups")[0].splitlines()
    done = shell(prune, work)
    assert done.stdout.splitlines() == [f"removed: .certs/{name}" for name in made[:2]]
    assert sorted(p.name for p in out.glob("backup-*")) == made[2:]
    shell(cron.replace("renew --all", "renew server"), work)  # one more, then two again
    kept = sorted(p.name for p in out.glob("backup-*"))
    assert len(kept) == 2 and kept[0] == made[3] and kept[1] not in made


# --- docs/development.rst ----------------------------------------------------------------

def test_the_development_guide_says_how_to_run_every_skippable_test() -> None:
    """A reader of docs/development.rst can run what skips: every setting the tests read
    and CI sets is explained there, and the CI paragraph names each one .ci/run exports."""
    section = DEVELOPMENT.read_text().split("Tests that need more than Python and openssl\n",
                                            1)[1]
    used = set()
    for path in [*ROOT.glob("tests/*.py"), ROOT / ".ci" / "run"]:
        used |= set(re.findall(r"MINIPAAS_(?:TEST|REQUIRE)_[A-Z_]+", path.read_text()))
    used.discard("MINIPAAS_TEST_SEED")  # explained beside test_signals, above
    assert used and all(f"``{name}" in section for name in used), used
    ci = section.split("CI (``.ci/run``", 1)[1]
    exported = re.findall(r"export (MINIPAAS_[A-Z_]+)", (ROOT / ".ci" / "run").read_text())
    assert exported and all(f"``{name}" in ci for name in exported), exported
    assert "``MINIPAAS_REQUIRE_SYSTEM_TESTS=1``: a test whose system part is missing then " \
           "fails instead of skipping" in " ".join(ci.split())


def test_the_readme_stays_short_and_user_facing() -> None:
    text = README.read_text()
    assert len(text.splitlines()) < 650  # tasks grow; the fine print goes to docs/
    # The "More" section points developers on; the user's text above it never mentions tests.
    user = text.split("\nMore\n====\n", 1)[0]
    prose = SH_BLOCK.sub("", re.sub(r"``[^`]*``", "", user)).lower()
    assert "test" not in prose, "user text does not talk about the test suite"
    assert text.count("only when it starts") + text.count("only at start") == 1


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    """CI runs what a reader is told to run: README's test command is a line of .ci/run."""
    (command,) = re.findall(r"in a venv with ``pip install -e '\.\[dev\]'``:\s+``([^`]+)``",
                            README.read_text())
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert command == "make test" and command in (line.strip() for line in ci)
