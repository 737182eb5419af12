"""A CA key others can read is refused before anything is written, as ssh refuses an
"UNPROTECTED PRIVATE KEY FILE": in --out and in --ca-dir, through a symlink too."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from as_user import ok, tool
from conftest import certs, run_tool
from test_safety import snapshot

OUT = "my certs"


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
            ["renew", "--all", "--within", "100%"], ["rotate-ca", "start"]]


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


def test_a_ca_key_that_is_no_file_is_not_met_with_chmod_advice(tmp_path: Path) -> None:
    """README (Bounded input): a FIFO or a device is refused at once.  A --ca-dir whose
    ca-key.pem is a symlink to a device (here a FIFO of mode 0644, as /dev/zero is
    0666) is refused with "UNPROTECTED PRIVATE KEY FILE … run `chmod 600 …`":
    the mode is judged before the file type, and the command given would chmod the
    device the link leads to (as root, /dev/zero for everyone)."""
    ok(tmp_path, "ca", "--out", "org")
    (tmp_path / "org" / "ca-key.pem").unlink()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    fifo.chmod(0o644)
    (tmp_path / "org" / "ca-key.pem").symlink_to(fifo)
    done = tool(tmp_path, "client", "--out", OUT, "--ca-dir", "org", "--name", "q")
    assert done.returncode == 5, done.stderr
    assert "chmod" not in done.stderr, done.stderr
    assert oct(fifo.stat().st_mode & 0o777) == "0o644"
