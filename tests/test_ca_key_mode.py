"""A CA key others can read is refused before anything is written, as ssh refuses an
"UNPROTECTED PRIVATE KEY FILE": in --out and in --ca-dir, through a symlink too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import certs, run_tool
from test_safety import snapshot


def one_error(stderr: str) -> str:
    """The one Error line, last (a progress line such as "Renewing ..." may come first)."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors == lines[-1:] and "Traceback" not in stderr, stderr
    return errors[0]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mode") / "certs"
    certs("all", "--out", str(out), "--san", "10.0.0.5")
    certs("client", "--out", str(out), "--name", "ci")
    return out


COMMANDS = [["server"], ["client", "--name", "zed"], ["renew", "server"],
            ["renew", "--all"], ["rotate-ca", "start"]]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_ca_key_others_can_read_is_refused(prepared: Path, tmp_path: Path,
                                            args: list[str], mode: int) -> None:
    out = tmp_path / "certs"
    shutil.copytree(prepared, out, symlinks=True)
    key = out / "ca-key.pem"
    key.chmod(mode)
    before = snapshot(out)
    done = run_tool("certs", *args, "--out", str(out))
    assert done.returncode == 5, done.stderr
    line = one_error(done.stderr)
    assert line == (f"Error: UNPROTECTED PRIVATE KEY FILE: {key} is open to others "
                    f"(mode {mode:04o}): run `chmod 600 {key}`")
    assert snapshot(out) == before
    key.chmod(0o600)  # the command it names is the fix
    assert run_tool("certs", *args, "--out", str(out), "-q").returncode == 0


def test_in_ca_dir_and_through_a_symlink_before_out_is_made(prepared: Path,
                                                            tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    ca.mkdir()
    shutil.copy(prepared / "ca.pem", ca / "ca.pem")
    real = tmp_path / "keys" / "ca-key.pem"
    real.parent.mkdir()
    shutil.copy(prepared / "ca-key.pem", real)
    real.chmod(0o640)
    (ca / "ca-key.pem").symlink_to(real)
    before = snapshot(tmp_path)
    new = tmp_path / "new" / "certs"
    done = run_tool("certs", "client", "--out", str(new), "--ca-dir", str(ca))
    assert done.returncode == 5
    assert f"run `chmod 600 {ca / 'ca-key.pem'}`" in one_error(done.stderr)
    assert snapshot(tmp_path) == before and not new.parent.exists()
    real.chmod(0o600)
    assert run_tool("certs", "client", "--out", str(new), "--ca-dir", str(ca),
                    "-q").returncode == 0
