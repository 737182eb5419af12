"""The built wheel, installed in a fresh virtual environment, runs outside the source tree."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import ALL_FILES, unavailable

ROOT = Path(__file__).resolve().parent.parent
# Installs on the oldest and newest Python are test_portability's offline install.
pytestmark = pytest.mark.invariant


def run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    done = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "-w", dist, ROOT)
    assert done.returncode == 0, done.stderr
    (built,) = dist.glob("minipaas_certs-*.whl")
    return built


def test_wheel_ships_the_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("base.cnf.j2", "ca.cnf.j2", "server.cnf.j2", "client.cnf.j2"):
        assert f"minipaas_certs/templates/{template}" in names
    assert not any(name.startswith(("templates/", "tests/")) for name in names)


def test_wheel_installs_and_runs_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    done = run(python, "-m", "pip", "install", "--quiet", wheel)
    if done.returncode != 0:
        unavailable(f"no package index to install click and jinja2 from: {done.stderr[-300:]}")
    elsewhere = tmp_path / "elsewhere"  # not the source tree: only the installed copy is found
    elsewhere.mkdir()
    done = run(env_dir / "bin" / "minipaas", "certs", "all", "--out", "certs", "-q",
               cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (elsewhere / "certs").iterdir()} == ALL_FILES
    where = run(python, "-c", "import minipaas_certs; print(minipaas_certs.__file__)",
                cwd=elsewhere)
    assert str(env_dir) in where.stdout
    version = run(python, "-m", "minipaas_certs", "--version", cwd=elsewhere)
    assert version.returncode == 0 and "minipaas-certs" in version.stdout
