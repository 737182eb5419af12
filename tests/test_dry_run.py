"""--dry-run: prints what a real run would do, then exits 0 having changed nothing on
disk -- no file, backup, lock or staging folder, mode or mtime -- and agrees with the
real run that follows."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import run_tool
from test_prune import backups
from test_prune import made as made  # the module fixture, shared


def lstat_tree(folder: Path) -> dict[str, tuple[int, int, int, int, int]]:
    """Every entry under ``folder`` (and itself) by lstat: mode, size, mtime, inode,
    link count; a file or folder made, removed, moved, touched or chmod-ed shows."""
    found = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = os.lstat(path)
        found[str(path.relative_to(folder))] = (info.st_mode, info.st_size,
                                                info.st_mtime_ns, info.st_ino, info.st_nlink)
    return found


@pytest.fixture
def out(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "certs"
    shutil.copytree(made, copy, symlinks=True)
    return copy


def test_prune_dry_run_names_what_goes_and_the_real_run_agrees(out: Path) -> None:
    before, tree = backups(out), lstat_tree(out)
    dry = run_tool("certs", "prune", "--out", str(out), "--keep", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout == "".join(f"would remove: {out / name}\n" for name in before[:3])
    assert "Dry run: nothing was changed" in dry.stderr
    assert lstat_tree(out) == tree
    as_json = run_tool("certs", "prune", "--out", str(out), "--keep", "1", "--dry-run",
                       "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        "schema": 1, "directory": str(out), "removed": before[:3], "kept": before[3:],
        "left": [], "dry_run": True, "undo": []}
    assert lstat_tree(out) == tree
    real = run_tool("certs", "prune", "--out", str(out), "--keep", "1", "--json")
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["removed"] == before[:3]
    assert backups(out) == before[3:]


def test_prune_dry_run_refuses_as_the_real_run_does(out: Path, tmp_path: Path) -> None:
    tree = lstat_tree(out)
    usage = run_tool("certs", "prune", "--out", str(out), "--dry-run")
    assert usage.returncode == 2
    assert usage.stderr.strip().splitlines()[-1] == \
        "Error: say what to remove: --keep N, --older-than DAYS, or both"
    missing = run_tool("certs", "prune", "--out", str(tmp_path / "none"), "--keep", "1",
                       "--dry-run")
    assert missing.returncode == 6 and not (tmp_path / "none").exists()
    assert lstat_tree(out) == tree


def dry(out: Path, *args: str) -> tuple[int, str, str]:
    done = run_tool("certs", *args, "--out", str(out), "--dry-run")
    return done.returncode, done.stdout, done.stderr


def test_renew_dry_run_names_what_is_issued_moved_and_redeployed(out: Path) -> None:
    tree = lstat_tree(out)
    code, stdout, stderr = dry(out, "renew", "server", "--san", "10.1.1.1")
    assert code == 0, stderr
    assert stdout.splitlines() == [
        f"would issue: server (top-level) ({out}/server-cert.pem): CN=localhost, SANs "
        "DNS:localhost, IP:127.0.0.1, IP:10.1.1.1, ECDSA P-256 key, valid 365 days",
        f"would move to a backup folder: {out}/server-cert.pem",
        f"would move to a backup folder: {out}/server-key.pem",
        "would need new files: the daemon of the top-level pair: ca.pem, server-cert.pem, "
        "server-key.pem into its /etc/docker, then restart dockerd"]
    assert "Dry run: nothing was changed" in stderr
    code, stdout, _ = dry(out, "renew", "--all")  # all made today: none is due
    assert (code, stdout) == (0, "would issue nothing: nothing is due\n")
    assert lstat_tree(out) == tree


def test_renew_all_dry_run_then_the_real_run_agree(out: Path) -> None:
    tree = lstat_tree(out)
    code, stdout, stderr = dry(out, "renew", "--all", "--within", "100%")
    assert code == 0, stderr
    assert lstat_tree(out) == tree
    issued = [line.split("): ")[0] + ")" for line in stdout.splitlines()
              if line.startswith("would issue: ")]
    moved = sorted(line.split(": ", 1)[1] for line in stdout.splitlines()
                   if line.startswith("would move to a backup folder: "))
    assert issued == [f"would issue: server (top-level) ({out}/server-cert.pem)",
                      f"would issue: client (top-level) ({out}/client-cert.pem)",
                      f"would issue: client ci ({out}/clients/ci/cert.pem)"]
    before = set(backups(out))
    real = run_tool("certs", "renew", "--all", "--within", "100%", "--out", str(out), "-q")
    assert real.returncode == 0, real.stderr
    backup = out / (set(backups(out)) - before).pop()
    assert moved == sorted([str(out / entry.relative_to(backup)) for entry in backup.iterdir()
                            if entry.name != "clients"] + [str(out / "clients/ci")])
    assert sorted(p.name for p in (backup / "clients").iterdir()) == ["ci"]
    for line in stdout.splitlines():
        if line.startswith("would need new files: "):
            assert "  " + line.split(": ", 1)[1] in real.stderr


@pytest.mark.parametrize("args", [
    ["renew", "server", "--name", "nope"],
    ["renew", "--all", "--name", "x"],
    ["renew"],
])
def test_renew_dry_run_refuses_as_the_real_run_does(out: Path, args: list[str]) -> None:
    real = run_tool("certs", *args, "--out", str(out))
    assert real.returncode != 0
    tree = lstat_tree(out)  # a refused real run may have touched the folder's mtime
    code, stdout, stderr = dry(out, *args)
    assert (code, stdout, stderr.splitlines()[-1]) == (real.returncode, "",
                                                       real.stderr.splitlines()[-1])
    assert lstat_tree(out) == tree


def test_renew_all_dry_run_on_no_set_is_exit_6_and_makes_no_folder(tmp_path: Path) -> None:
    code, _, stderr = dry(tmp_path / "none", "renew", "--all")
    assert code == 6 and stderr.startswith("Error: ") and not (tmp_path / "none").exists()


def test_client_and_server_dry_runs_then_the_real_runs_agree(out: Path) -> None:
    tree = lstat_tree(out)
    code, stdout, stderr = dry(out, "client", "--name", "ci", "--name", "bob", "--force",
                               "--hours", "8")
    assert code == 0, stderr
    assert stdout.splitlines()[:3] == [
        f"would issue: client ci ({out}/clients/ci/cert.pem): CN=ci, ECDSA P-256 key, "
        "valid 8 hours",
        f"would issue: client bob ({out}/clients/bob/cert.pem): CN=bob, ECDSA P-256 key, "
        "valid 8 hours",
        f"would move to a backup folder: {out}/clients/ci"]
    code, server, stderr = dry(out, "server", "--name", "m1", "--san", "10.0.0.1")
    assert code == 0, stderr
    assert server.splitlines() == [
        f"would issue: server m1 ({out}/servers/m1/server-cert.pem): CN=10.0.0.1, SANs "
        "IP:10.0.0.1, DNS:localhost, IP:127.0.0.1, ECDSA P-256 key, valid 365 days",
        "would need new files: manager m1: servers/m1/ca.pem, servers/m1/server-cert.pem, "
        "servers/m1/server-key.pem into its /etc/docker, then restart dockerd"]
    assert lstat_tree(out) == tree
    before = set(backups(out))
    assert run_tool("certs", "client", "--out", str(out), "--name", "ci", "--name", "bob",
                    "--force", "--hours", "8", "-q").returncode == 0
    backup = out / (set(backups(out)) - before).pop()
    assert [str(p.relative_to(backup)) for p in backup.iterdir()] == ["clients"]
    assert [p.name for p in (backup / "clients").iterdir()] == ["ci"]
    assert (out / "clients/bob/cert.pem").is_file()


@pytest.mark.parametrize("args", [
    ["client", "--name", "ci"],  # a bundle is replaced only with --force: exit 4
    ["server", "--days", "0"],
])
def test_issue_dry_runs_refuse_as_the_real_runs_do(out: Path, args: list[str]) -> None:
    real = run_tool("certs", *args, "--out", str(out))
    assert real.returncode != 0
    tree = lstat_tree(out)
    code, stdout, stderr = dry(out, *args)
    assert (code, stdout, stderr.splitlines()[-1]) == (real.returncode, "",
                                                       real.stderr.splitlines()[-1])
    assert lstat_tree(out) == tree


def test_server_dry_run_without_a_ca_is_exit_5_and_makes_no_folder(tmp_path: Path) -> None:
    code, _, stderr = dry(tmp_path / "none", "server")
    assert code == 5 and stderr.startswith("Error: no CA in ")
    assert not (tmp_path / "none").exists()


def test_revoke_dry_run_then_the_real_run_agree(out: Path) -> None:
    tree = lstat_tree(out)
    code, stdout, stderr = dry(out, "revoke", "--name", "ci")
    assert code == 0, stderr
    assert lstat_tree(out) == tree
    lines = stdout.splitlines()
    assert lines[0].startswith(f"would issue: CA ({out}/ca.pem): CN=minipaas-ca ")
    moved = sorted(line.split(": ", 1)[1] for line in lines
                   if line.startswith("would move to a backup folder: "))
    revoked = [line.split(": ", 1)[1].rsplit("  revoked ", 1)[0] for line in lines
               if line.startswith("would revoke: ")]
    before = set(backups(out))
    real = run_tool("certs", "revoke", "--out", str(out), "--name", "ci")
    assert real.returncode == 0, real.stderr
    backup = out / (set(backups(out)) - before).pop()
    in_backup = [*(e for e in backup.iterdir() if e.is_file()), *backup.glob("*/*")]
    assert moved == sorted(str(out / e.relative_to(backup)) for e in in_backup)
    assert revoked == [line.split("Revoked ", 1)[1].rsplit("  revoked ", 1)[0]
                       for line in real.stderr.splitlines() if line.startswith("Revoked ")]
    ca_cn = lines[0].split("CN=", 1)[1][:len("minipaas-ca 20")]  # then a time stamp
    assert f"for CN={ca_cn}" in real.stderr


@pytest.mark.parametrize("args", [
    ["revoke"],
    ["revoke", "--name", "nope"],
])
def test_revoke_dry_run_refuses_as_the_real_run_does(out: Path, args: list[str]) -> None:
    real = run_tool("certs", *args, "--out", str(out))
    assert real.returncode != 0
    tree = lstat_tree(out)
    code, stdout, stderr = dry(out, *args)
    assert (code, stdout, stderr.splitlines()[-1]) == (real.returncode, "",
                                                       real.stderr.splitlines()[-1])
    assert lstat_tree(out) == tree


def test_revoke_dry_run_without_the_ca_key_is_exit_5(out: Path) -> None:
    (out / "ca-key.pem").unlink()
    tree = lstat_tree(out)
    code, stdout, stderr = dry(out, "revoke", "--name", "ci")
    assert (code, stdout) == (5, "") and stderr.startswith(f"Error: {out} holds no ca-key.pem")
    assert lstat_tree(out) == tree


@pytest.mark.parametrize("args", [["all"], ["all", "--force"], ["ca", "--force"]])
def test_new_ca_dry_runs_refuse_as_the_real_runs_do(out: Path, args: list[str]) -> None:
    real = run_tool("certs", *args, "--out", str(out))
    assert real.returncode == 4
    tree = lstat_tree(out)
    code, stdout, stderr = dry(out, *args)
    assert (code, stdout, stderr.splitlines()[-1]) == (4, "", real.stderr.splitlines()[-1])
    assert lstat_tree(out) == tree


@pytest.mark.parametrize("command", ["all", "ca"])
def test_force_reissue_dry_run_then_the_real_run_agree(out: Path, command: str) -> None:
    tree = lstat_tree(out)
    code, stdout, stderr = dry(out, command, "--force", "--reissue")
    assert code == 0, stderr
    assert lstat_tree(out) == tree
    lines = stdout.splitlines()
    issued = [line.split(" (")[0] for line in lines if line.startswith("would issue: ")]
    assert issued == ["would issue: CA", "would issue: server", "would issue: client",
                      "would issue: client ci"]
    moved = sorted(line.split(": ", 1)[1] for line in lines
                   if line.startswith("would move to a backup folder: "))
    before = set(backups(out))
    real = run_tool("certs", command, "--force", "--reissue", "--out", str(out), "-q")
    assert real.returncode == 0, real.stderr
    backup = out / (set(backups(out)) - before).pop()
    in_backup = [*(e for e in backup.iterdir() if e.is_file()), *backup.glob("*/*")]
    assert moved == sorted(str(out / e.relative_to(backup)) for e in in_backup)


def test_all_dry_run_in_a_new_folder_makes_no_folder(tmp_path: Path) -> None:
    code, stdout, stderr = dry(tmp_path / "new", "all", "--san", "10.0.0.5")
    assert code == 0, stderr
    assert stdout.splitlines()[0] == (f"would issue: CA ({tmp_path}/new/ca.pem): "
                                      "CN=minipaas-ca, ECDSA P-256 key, valid 3650 days")
    assert "would move" not in stdout and not (tmp_path / "new").exists()


def test_rotate_ca_finish_dry_run_refuses_then_agrees_with_the_real_run(out: Path) -> None:
    for args in (["rotate-ca", "finish"], ["rotate-ca", "finish", "--force"]):
        real = run_tool("certs", *args, "--out", str(out))  # no rollover: exit 5
        assert real.returncode == 5
        tree = lstat_tree(out)
        code, stdout, stderr = dry(out, *args)
        assert (code, stdout, stderr) == (5, "", real.stderr)
        assert lstat_tree(out) == tree
    assert run_tool("certs", "rotate-ca", "start", "--out", str(out), "-q").returncode == 0
    tree = lstat_tree(out)
    code, _, stderr = dry(out, "rotate-ca", "finish")  # old leaves remain: exit 4
    assert code == 4 and "still come from the old CA" in stderr
    code, stdout, stderr = dry(out, "rotate-ca", "finish", "--force")
    assert code == 0, stderr
    assert lstat_tree(out) == tree
    moved = sorted(line.split(": ", 1)[1] for line in stdout.splitlines()
                   if line.startswith("would move to a backup folder: "))
    before = set(backups(out))
    real = run_tool("certs", "rotate-ca", "finish", "--force", "--out", str(out), "-q")
    assert real.returncode == 0, real.stderr
    backup = out / (set(backups(out)) - before).pop()
    in_backup = [*(e for e in backup.iterdir() if e.is_file()), *backup.glob("*/*")]
    assert moved == sorted(str(out / e.relative_to(backup)) for e in in_backup)
