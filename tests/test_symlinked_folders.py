"""A bundle folder (clients/NAME, servers/NAME) or role folder (clients/, servers/)
that is a symlink out of --out: every command that would write into or replace it
refuses (exit 4, one Error line naming it and the fix), nothing is written on
either side of the link, and ``check`` reports it.

Once ``p12 --name ci2`` replaced the client.p12 where clients/ci2 led (no backup)
while ``check`` said OK, and a symlinked clients/ had ``client --name zed`` write
its key where the link led.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import certs, run_tool
from test_safety import snapshot

from minipaas_certs.errors import Conflict
from minipaas_certs.store import OutputDirectory


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A set with a client bundle ci, a manager's bundle m1, and a rollover started
    (in ``rolling``, for rotate-ca finish)."""
    top = tmp_path_factory.mktemp("linked")
    out = top / "steady"
    certs("all", "--out", str(out), "--san", "10.0.0.5")
    certs("client", "--out", str(out), "--name", "ci")
    certs("server", "--out", str(out), "--name", "m1", "--san", "10.0.0.11")
    shutil.copytree(out, top / "rolling", symlinks=True)
    certs("rotate-ca", "start", "--out", str(top / "rolling"))
    return top


# (the set, the command, the bundle it writes into or replaces)
COMMANDS = [
    ("steady", ["client", "--name", "ci", "--force"], "clients/ci"),
    ("steady", ["client", "--name", "ci"], "clients/ci"),  # not "use --force"
    ("steady", ["server", "--name", "m1", "--san", "10.0.0.11"], "servers/m1"),
    ("steady", ["renew", "client", "--name", "ci"], "clients/ci"),
    ("steady", ["renew", "server", "--name", "m1"], "servers/m1"),
    ("steady", ["renew", "--all", "--within", "100%"], "servers/m1"),
    ("steady", ["renew", "--all", "--within", "100%"], "clients/ci"),
    ("steady", ["revoke", "--name", "ci"], "clients/ci"),  # moved into the backup
    ("steady", ["revoke", "--server", "m1"], "clients/ci"),  # re-issued
    ("steady", ["rotate-ca", "start"], "clients/ci"),
    ("rolling", ["rotate-ca", "finish", "--force"], "servers/m1"),
    ("steady", ["all", "--force", "--reissue"], "clients/ci"),
    ("steady", ["p12", "--name", "ci", "--password-file", "PASSWORD"], "clients/ci"),
]
# Each with the bundle folder linked, then its role folder; a new bundle in a linked
# role folder too.
CASES = [(source, args, folder) for source, args, bundle in COMMANDS
         for folder in (bundle, bundle.split("/")[0])]
CASES += [("steady", ["client", "--name", "zed"], "clients"),
          ("steady", ["server", "--name", "m2", "--san", "10.0.0.12"], "servers")]


def _link(out: Path, folder: str, elsewhere: Path) -> Path:
    """Move ``out/folder`` to ``elsewhere`` and leave a symlink to it in its place."""
    shutil.move(str(out / folder), str(elsewhere))
    (out / folder).symlink_to(elsewhere)
    return out / folder


@pytest.mark.parametrize("source,args,folder", CASES,
                         ids=[" ".join(args) + f" ({folder})" for _, args, folder in CASES])
def test_every_writing_command_refuses_a_symlinked_folder(
        prepared: Path, tmp_path: Path, source: str, args: list[str], folder: str) -> None:
    out = tmp_path / "certs"
    shutil.copytree(prepared / source, out, symlinks=True)
    (tmp_path / "password").write_text("correct horse battery\n")
    args = [str(tmp_path / "password") if arg == "PASSWORD" else arg for arg in args]
    link = _link(out, folder, tmp_path / "elsewhere")
    before = snapshot(out), snapshot(tmp_path / "elsewhere")
    done = run_tool("certs", *args, "--out", str(out))
    assert done.returncode == 4, done.stderr
    lines = done.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("Error: ")] == lines[-1:], done.stderr
    assert not [line for line in lines if line.startswith("Generating")], done.stderr
    assert lines[-1] == (
        f"Error: {link} is a symlink (to {tmp_path / 'elsewhere'}): minipaas certs never "
        "writes through a symlinked folder; replace the link by the real folder: "
        f"`rm {link} && mv {tmp_path / 'elsewhere'} {link}`, and run again")
    assert (snapshot(out), snapshot(tmp_path / "elsewhere")) == before
    assert done.stdout == ""


@pytest.mark.parametrize("folder", ["clients/ci", "servers/m1", "clients", "servers"])
def test_check_reports_a_symlinked_folder_and_its_fix_works(
        prepared: Path, tmp_path: Path, folder: str) -> None:
    out = tmp_path / "certs"
    shutil.copytree(prepared / "steady", out, symlinks=True)
    elsewhere = tmp_path / "elsewhere"
    link = _link(out, folder, elsewhere)
    done = run_tool("certs", "check", str(out))
    assert done.returncode == 8, done.stdout
    assert done.stdout.splitlines() == [
        f"problem: {folder}: a symlink (to {elsewhere}): every command that would write into "
        f"it refuses to; fix: replace the link by the real folder: `rm {link} && mv "
        f"{elsewhere} {link}`"]
    fix = done.stdout.split("fix: replace the link by the real folder: ", 1)[1].strip("`\n")
    assert subprocess.run(["sh", "-c", fix]).returncode == 0  # the fix, as printed
    assert not link.is_symlink() and not elsewhere.exists()
    assert run_tool("certs", "check", str(out)).returncode == 0


@pytest.mark.parametrize("folder", ["clients/ci", "clients"])
def test_a_link_that_leads_nowhere_is_refused_and_reported_with_its_own_fix(
        prepared: Path, tmp_path: Path, folder: str) -> None:
    out = tmp_path / "certs"
    shutil.copytree(prepared / "steady", out, symlinks=True)
    shutil.rmtree(out / folder)
    (out / folder).symlink_to(tmp_path / "nowhere")
    before = snapshot(out)
    done = run_tool("certs", "client", "--out", str(out), "--name", "ci", "--force")
    assert done.returncode == 4
    assert done.stderr.strip().endswith(
        f"never writes through a symlinked folder; remove the link, which leads to no "
        f"folder: `rm {out / folder}`, and run again"), done.stderr
    assert snapshot(out) == before and not (tmp_path / "nowhere").exists()
    checked = run_tool("certs", "check", str(out))
    assert checked.returncode == 8
    assert checked.stdout.splitlines() == [
        f"problem: {folder}: a symlink (to {tmp_path / 'nowhere'}): every command that would "
        f"write into it refuses to; fix: remove the link, which leads to no folder: "
        f"`rm {out / folder}`"]  # and not also a warning that it is a stranger


@pytest.mark.parametrize("linked", ["clients", "clients/x"])
@pytest.mark.parametrize("what", ["folder", "file", "archive"])
def test_the_commit_itself_refuses_to_move_through_one(tmp_path: Path, linked: str,
                                                       what: str) -> None:
    """Whatever a command checked before, the store's commit checks again."""
    out, elsewhere = tmp_path / "d", tmp_path / "elsewhere"
    out.mkdir()
    (elsewhere / "x").mkdir(parents=True)
    (elsewhere / "x" / "cert.pem").write_text("theirs")
    if linked == "clients":
        (out / "clients").symlink_to(elsewhere)
    else:
        (out / "clients").mkdir()
        (out / "clients" / "x").symlink_to(elsewhere / "x")
    before = snapshot(out), snapshot(elsewhere)
    with OutputDirectory(out) as held:
        held.stage("clients/x/cert.pem", b"ours", 0o644)
        held.stage("clients/x/client.p12", b"ours", 0o600)
        with pytest.raises(Conflict, match=f"{out / linked} is a symlink"):
            if what == "folder":
                held.commit({}, folders=["clients/x"])
            elif what == "file":
                held.commit({"clients/x/client.p12": 0o600})
            else:
                held.commit({}, archive=["clients/x"])
    assert (snapshot(out), snapshot(elsewhere)) == before
