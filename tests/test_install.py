"""The README's install, as a new user on Debian runs it, and the files in contrib/.

A fresh ``git clone`` of this repository (its committed HEAD) is installed with the
README's own install block on Debian's /usr/bin/python3, which PEP 668 marks as
externally managed; the README's quick start then runs verbatim with that install (no
PYTHONPATH, the checkout out of reach) against a real dockerd.  With
MINIPAAS_TEST_WHEELHOUSE (as CI sets it) the install runs offline: the block's ``pip
install`` gets ``--no-index --find-links WHEELHOUSE``, nothing else changes.

The units are checked with ``systemd-analyze verify``: the renewal service with the venv
that install made (its ExecStart is the path the install gives root: /root is replaced
by the test's home, nothing else), the dockerd drop-in against the docker.service of
Debian's docker.io on this machine.  What it cannot show here is systemd running them:
the machine has no systemd as PID 1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from conftest import unavailable
from dockerd import require_docker
from test_readme import ROOT, SH_BLOCK, run_quick_start, sections, shell

pytestmark = pytest.mark.invariant
SLOW = pytest.mark.slow  # every test that uses the `installed` fixture: 10 s or more
DEBIAN_PYTHON = Path("/usr/bin/python3")
# A new user's PATH as root: no pyenv, no venv of the tests; docker may be in /usr/local.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONTRIB = ROOT / "contrib"
DOCKER_UNIT = Path("/lib/systemd/system/docker.service")


def install_block() -> str:
    """The first of the two blocks: from a checkout (the other is the wheelhouse's)."""
    (block, _) = SH_BLOCK.findall(sections()["Install"])
    return textwrap.dedent(block).strip()


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        unavailable("needs systemd-analyze: apt-get install systemd")
    return found


def verify(*units: Path, unit_path: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` with ``unit_path`` searched first (drop-ins included)."""
    return subprocess.run([systemd_analyze(), "verify", "--man=no", *map(str, units)],
                          env={"PATH": SYSTEM_PATH, "SYSTEMD_UNIT_PATH": f"{unit_path}:"},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home where the README's install block ran on Debian's Python, from a fresh
    clone; yields that home."""
    if not DEBIAN_PYTHON.exists() or shutil.which("git") is None:
        unavailable("needs Debian's /usr/bin/python3 and git: apt-get install python3-venv git")
    # PEP 668: this Python refuses `pip install` outside a virtual environment.
    marker = subprocess.run([str(DEBIAN_PYTHON), "-c", "import os, sysconfig; print(os.path."
                             "join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED'))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert Path(marker).is_file(), f"{DEBIAN_PYTHON} is not marked externally managed"
    top = tmp_path_factory.mktemp("newuser")
    home = top / "home"
    home.mkdir()
    done = subprocess.run(["git", "clone", "--quiet", str(ROOT), str(top / "minipaas-certs")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    env = {"PATH": SYSTEM_PATH, "HOME": str(home), "PIP_CONFIG_FILE": os.devnull,
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "LC_ALL": "C.UTF-8"}
    which = subprocess.run(["bash", "-c", "command -v python3"], env=env, capture_output=True,
                           text=True)
    assert which.stdout.strip() == str(DEBIAN_PYTHON)
    refused = subprocess.run(["python3", "-m", "pip", "install", "--no-index",
                              "./minipaas-certs"], cwd=top, env=env, capture_output=True,
                             text=True)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr, \
        refused.stderr
    block = install_block()
    wheelhouse = os.environ.get("MINIPAAS_TEST_WHEELHOUSE")
    replace = {}
    if wheelhouse:
        replace = {"pip install ./minipaas-certs": "pip install --no-index --find-links "
                   f"{Path(wheelhouse).resolve()} ./minipaas-certs"}
    try:
        shell(block, top, replace=replace, base=env)
    except AssertionError as failed:
        if not wheelhouse and "pip install" in str(failed):
            unavailable("no package index for the install; set MINIPAAS_TEST_WHEELHOUSE to "
                        f"a `make wheelhouse` folder: {str(failed)[-300:]}")
        raise
    yield home


@SLOW
@pytest.mark.docker
def test_the_readme_install_works_on_debians_python_and_the_quick_start_runs(
        installed: Path, tmp_path: Path) -> None:
    require_docker()
    home = installed
    linked = home / ".local" / "bin" / "minipaas"
    assert linked.resolve() == (home / ".local/share/minipaas/bin/minipaas").resolve()
    # Only what the install gave: ~/.local/bin on PATH (as a login on Debian adds it),
    # no PYTHONPATH, no MINIPAAS_* settings; a folder away from any checkout.
    env = {"PATH": f"{home / '.local' / 'bin'}:{SYSTEM_PATH}", "HOME": str(home),
           "LC_ALL": "C.UTF-8"}
    found = shell("command -v minipaas; minipaas --version", tmp_path, base=env)
    assert found.stdout.splitlines()[0] == str(linked)
    done = run_quick_start(tmp_path, base=env)
    assert "Server:" in done.stdout and "Engine:" in done.stdout
    where = shell("head -n 1 ~/.local/share/minipaas/bin/minipaas", tmp_path, base=env)
    assert where.stdout.startswith(f"#!{home}/.local/share/minipaas/bin/python")


def renewal_units(home: Path, folder: Path) -> Path:
    """contrib's service and timer, ExecStart's /root/ made ``home``."""
    units = folder / "units"
    units.mkdir()
    service = (CONTRIB / "minipaas-certs-renew.service").read_text()
    assert service.count("ExecStart=/root/.local/share/minipaas/bin/minipaas ") == 1
    (units / "minipaas-certs-renew.service").write_text(
        service.replace("ExecStart=/root/", f"ExecStart={home}/"))
    shutil.copy(CONTRIB / "minipaas-certs-renew.timer", units)
    return units


@SLOW
def test_the_renewal_units_verify_with_the_installed_command(installed: Path,
                                                             tmp_path: Path) -> None:
    units = renewal_units(installed, tmp_path)
    done = verify(units / "minipaas-certs-renew.service", units / "minipaas-certs-renew.timer",
                  unit_path=units)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    # The command the service runs, on a folder of this test's in place of /etc/minipaas.
    command = re.search(r"(?m)^ExecStart=(.*)$",
                        (units / "minipaas-certs-renew.service").read_text()).group(1)
    out = tmp_path / "etc-minipaas-certs"
    env = {"PATH": SYSTEM_PATH, "HOME": str(installed), "LC_ALL": "C.UTF-8"}
    shell(f"{installed}/.local/share/minipaas/bin/minipaas certs all --out {out} -q",
          tmp_path, base=env)
    daily = shell(command.replace("/etc/minipaas/certs", str(out)), tmp_path, base=env)
    assert (daily.stdout, daily.stderr) == ("", "")


@SLOW
def test_a_unit_whose_command_is_missing_is_refused(installed: Path, tmp_path: Path) -> None:
    """The check above can fail: the shipped path, on a machine without the install."""
    units = renewal_units(installed / "not-installed", tmp_path)
    done = verify(units / "minipaas-certs-renew.service", unit_path=units)
    assert done.returncode != 0 and "is not executable" in done.stderr


@SLOW
def test_the_cron_file_names_the_installed_command(installed: Path) -> None:
    """cron's PATH is /usr/bin:/bin: the line must name the command by the path the
    install gives root."""
    (line,) = [line for line in (CONTRIB / "minipaas-certs.cron").read_text().splitlines()
               if line and not line.startswith("#")]
    user, command = line.split()[5:7]
    assert user == "root" and command == "/root/.local/share/minipaas/bin/minipaas"
    assert (installed / command[len("/root/"):]).is_file()


def drop_in_units(folder: Path, drop_in: str) -> Path:
    units = folder / "units"
    (units / "docker.service.d").mkdir(parents=True)
    (units / "docker.service.d" / "minipaas-tls.conf").write_text(drop_in)
    return units


def test_the_dockerd_drop_in_matches_debians_unit_and_verifies(tmp_path: Path) -> None:
    if not DOCKER_UNIT.is_file():
        unavailable("needs Debian's docker.io (its docker.service): apt-get install docker.io")
    drop_in = (CONTRIB / "docker.service.d" / "minipaas-tls.conf").read_text()
    packaged = re.findall(r"(?m)^ExecStart=(.+)$", DOCKER_UNIT.read_text())
    assert len(packaged) == 1 and " -H fd:// " in packaged[0]
    assert re.findall(r"(?m)^ExecStart=(.*)$", drop_in) == [
        "", packaged[0].replace(" -H fd:// ", " ")]
    done = verify(Path("docker.service"), unit_path=drop_in_units(tmp_path / "ok", drop_in))
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    # The drop-in is read: without its clearing line, systemd refuses a second ExecStart.
    broken = drop_in.replace("ExecStart=\n", "")
    done = verify(Path("docker.service"), unit_path=drop_in_units(tmp_path / "bad", broken))
    assert done.returncode != 0 and "more than one ExecStart" in done.stderr
