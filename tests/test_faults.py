"""Faults, with real processes, signals and filesystems: nothing lost, nothing half-written.

Each test checks the exit code, the single `Error:` line, and the directory's
contents byte for byte against what was there before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ALL_FILES, TOOL_OPENSSL, load_cert, run_tool, system_verify, unavailable
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from minipaas_certs import store as store_module
from minipaas_certs.store import STAGING_PREFIX, OutputDirectory


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def wrapper(folder: Path, body: str) -> Path:
    """An openssl stand-in: a shell script around the openssl under test."""
    script = folder / "openssl-wrapper"
    script.write_text(f"#!/bin/sh\nREAL='{TOOL_OPENSSL}'\n{body}\n")
    script.chmod(0o755)
    return script


def one_error_line(stderr: str) -> str:
    """The run's one `Error:` line: the last on stderr, after any progress lines."""
    lines = stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("Error: ")] == lines[-1:], stderr
    assert "Traceback" not in stderr
    return lines[-1]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_tool(*args: str, openssl: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "minipaas_certs", *args, "--openssl",
                             str(openssl)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


# --- signals ------------------------------------------------------------------------------

@pytest.mark.parametrize("signal_number,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_openssl_and_leaves_the_directory_as_it_was(
        tmp_path: Path, cli, signal_number: int, code: int) -> None:
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    before = snapshot(out)
    # Signing hangs (as RSA 4096 key generation on a slow box would): the run is mid-way.
    slow = wrapper(tmp_path, 'case " $* " in *" -CAkey "*|*" -newkey "*) exec sleep 60;; esac\n'
                             'exec "$REAL" "$@"')
    process = start_tool("certs", "server", "--out", str(out), "-q", openssl=slow)
    wait_for(lambda: list(out.glob(STAGING_PREFIX + "*")) and children_of(process.pid))
    children = children_of(process.pid)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == code
    assert one_error_line(stderr) == f"Error: interrupted by {signal.Signals(signal_number).name}"
    assert not any(alive(child) for child in children)  # the openssl children were stopped
    assert snapshot(out) == before
    assert not list(out.glob(STAGING_PREFIX + "*"))


def test_hung_openssl_times_out(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    hung = wrapper(tmp_path, 'case " $* " in *" req "*) exec sleep 60;; esac\nexec "$REAL" "$@"')
    started = time.monotonic()
    done = run_tool("certs", "all", "--out", str(out), "--openssl", str(hung),
                    env={"MINIPAAS_OPENSSL_TIMEOUT": "1"})
    assert time.monotonic() - started < 30
    assert done.returncode == 3
    assert "no answer after 1 s" in one_error_line(done.stderr)
    assert not out.exists()  # a failed run removes the folders it created


def test_bad_timeout_setting_is_refused(tmp_path: Path) -> None:
    done = run_tool("certs", "all", "--out", str(tmp_path / "c"),
                    env={"MINIPAAS_OPENSSL_TIMEOUT": "soon"})
    assert done.returncode == 2 and "MINIPAAS_OPENSSL_TIMEOUT" in one_error_line(done.stderr)


# --- two runs at once ---------------------------------------------------------------------

def test_two_real_processes_on_one_directory(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    slow = wrapper(tmp_path, 'case " $* " in *" req "*) sleep 1;; esac\nexec "$REAL" "$@"')
    first = start_tool("certs", "all", "--out", str(out), "-q", openssl=slow)
    wait_for(lambda: list(out.glob(STAGING_PREFIX + "*")))
    second = run_tool("certs", "all", "--out", str(out), "--force", "--openssl", TOOL_OPENSSL)
    assert second.returncode == 4
    assert "another minipaas certs run" in one_error_line(second.stderr)
    first.communicate(timeout=60)
    assert first.returncode == 0
    assert {p.name for p in out.iterdir()} == ALL_FILES
    assert system_verify(out / "ca.pem", out / "server-cert.pem", "sslserver").returncode == 0
    assert system_verify(out / "ca.pem", out / "cert.pem", "sslclient").returncode == 0


# --- openssl that claims success ----------------------------------------------------------

@pytest.mark.parametrize("command,code,message", [
    ("req", 6, "openssl exited 0 but wrote no request for server-key.pem"),  # the request
    ("ca", 6, "holds no PEM certificate"),  # the certificate
    ("genpkey", 6, "left server-key.pem empty (is the disk full?)"),  # the key
])
def test_empty_outputs_from_a_successful_openssl_are_caught(
        tmp_path: Path, command: str, code: int, message: str) -> None:
    out = tmp_path / "certs"
    assert run_tool("certs", "all", "--out", str(out), "-q").returncode == 0
    before = snapshot(out)
    # As on a full disk: openssl exits 0 but what it wrote (a file, or its output) is empty.
    truncating = wrapper(tmp_path, f'case "$1" in {command}) ;; *) exec "$REAL" "$@";; esac\n'
                                   '"$REAL" "$@" > /dev/null || exit $?\nprev=\nfor arg; do\n'
                                   '  [ "$prev" = "-out" ] && : > "$arg"\n'
                                   '  if [ "$prev" = "-outdir" ]; then\n'
                                   '    for made in "$arg"/*.pem; do : > "$made"; done\n'
                                   '  fi\n  prev=$arg\ndone\nexit 0')
    # RSA keys come from genpkey; ECDSA ones from the signing call itself.
    key = ["--key-type", "rsa", "--key-size", "2048"] if command == "genpkey" else []
    done = run_tool("certs", "server", "--out", str(out), "--openssl", str(truncating), *key)
    assert done.returncode == code
    assert message in one_error_line(done.stderr)
    assert snapshot(out) == before
    assert not list(out.glob(STAGING_PREFIX + "*"))


def test_a_request_failing_in_a_late_part_ends_the_run_with_its_error(tmp_path: Path) -> None:
    """Many bundles are signed part by part on a thread of their own: a request that
    fails in a later part ends the run with openssl's message, never a hang."""
    out = tmp_path / "certs"
    assert run_tool("certs", "all", "--out", str(out), "-q").returncode == 0
    before = snapshot(out)
    failing = wrapper(tmp_path, 'if [ "$1" = req ]; then\n  config=$(cat)\n'
                                '  case "$config" in *"= u19"*) echo "no entropy" >&2; exit 1;; '
                                'esac\n  printf "%s\\n" "$config" | "$REAL" "$@"\n  exit $?\n'
                                'fi\nexec "$REAL" "$@"')
    names = [arg for index in range(1, 21) for arg in ("--name", f"u{index}")]  # two parts
    # From another working directory, with a relative --out.
    done = run_tool("certs", "client", "--out", out.name, "-q", "--openssl", str(failing),
                    *names, cwd=tmp_path, timeout=60)
    assert done.returncode == 3
    assert "no entropy" in one_error_line(done.stderr)
    assert snapshot(out) == before
    assert not list(out.glob(STAGING_PREFIX + "*"))


def test_a_new_ca_failing_while_many_leaves_wait_ends_the_run(tmp_path: Path) -> None:
    """A revocation's new CA fails while most of its leaves' requests have not
    started: the thread that signs parts waits for none of them forever."""
    out = tmp_path / "certs"
    assert run_tool("certs", "all", "--out", str(out), "-q").returncode == 0
    names = [arg for index in range(1, 21) for arg in ("--name", f"u{index}")]
    assert run_tool("certs", "client", "--out", str(out), "-q", *names).returncode == 0
    before = snapshot(out)
    failing = wrapper(tmp_path, 'case " $* " in *" -x509 "*) echo "no CA today" >&2; '
                                'exit 1;; esac\nexec "$REAL" "$@"')
    done = run_tool("certs", "revoke", "--out", out.name, "--name", "u1", "-q",
                    "--openssl", str(failing), cwd=tmp_path, timeout=60)
    assert done.returncode == 3
    assert "no CA today" in one_error_line(done.stderr)
    assert snapshot(out) == before
    assert not list(out.glob(STAGING_PREFIX + "*"))


# --- full disk ----------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 512 KiB tmpfs (needs root and mount); skipped elsewhere, required under CI."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs",
                           str(mount_point)], capture_output=True, text=True)
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs (run as root to test a full disk): {done.stderr}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(folder: Path, leave: int) -> None:
    """Fill the filesystem under ``folder`` until only about ``leave`` bytes are free."""
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    if free > leave:
        (folder / "filler").write_bytes(b"\0" * (free - leave))


def test_full_disk_new_set_leaves_nothing(small_disk: Path) -> None:
    out = small_disk / "certs"
    out.mkdir()
    fill(small_disk, leave=8192)
    done = run_tool("certs", "all", "--out", str(out))
    assert done.returncode in (3, 6), done.stderr
    one_error_line(done.stderr)
    assert list(out.iterdir()) == []


def test_full_disk_rotation_keeps_the_old_set(tmp_path: Path, small_disk: Path) -> None:
    out = small_disk / "certs"
    assert run_tool("certs", "all", "--out", str(out), "-q").returncode == 0
    before = snapshot(out)
    fill(small_disk, leave=4096)
    for command in ("server", "client"):
        done = run_tool("certs", command, "--out", str(out))
        assert done.returncode in (3, 6), done.stderr
        one_error_line(done.stderr)
        assert snapshot(out) == before
        assert not list(out.glob(STAGING_PREFIX + "*"))


# --- failures and crashes during the final moves ------------------------------------------

def staged_run(out: Path, cli) -> dict[str, bytes]:
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    return snapshot(out)


@pytest.mark.parametrize("fail_at", [1, 2, 3, 5])
def test_failed_move_is_undone(tmp_path: Path, cli, monkeypatch, fail_at: int) -> None:
    out = tmp_path / "certs"
    before = staged_run(out, cli)
    real_replace, calls = os.replace, []

    def failing_replace(source, target):  # type: ignore[no-untyped-def]
        calls.append(target)
        if len(calls) == fail_at:
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(store_module.os, "replace", failing_replace)
    elsewhere = tmp_path / "elsewhere"  # and with a relative --out, from another folder
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli("certs", "all", "--out", "../certs", "--force", "--reissue", "-q")
    assert result.code == 6
    assert "holds the previous files, unchanged" in result.error_line
    assert snapshot(out) == before
    assert not list(out.glob("backup-*")) and not list(out.glob(STAGING_PREFIX + "*"))


CRASHING_RUN = """
import os, sys
from minipaas_certs import store
from minipaas_certs.cli import main
real, count, limit = os.replace, [0], int(sys.argv[1])
def crash(source, target):
    count[0] += 1
    if count[0] == limit:
        os._exit(99)  # as a power loss or SIGKILL would: no cleanup at all
    return real(source, target)
store.os.replace = crash
main(["certs", "all", "--out", sys.argv[2], "--force", "--reissue", "-q", "--openssl", sys.argv[3]])
"""


@pytest.mark.parametrize("crash_at", [1, 4, 8])
def test_crash_mid_commit_is_undone_by_the_next_run(tmp_path: Path, cli, crash_at: int) -> None:
    out = tmp_path / "certs"
    before = staged_run(out, cli)
    crashed = subprocess.run([sys.executable, "-c", CRASHING_RUN, str(crash_at), str(out),
                              TOOL_OPENSSL], capture_output=True, text=True)
    assert crashed.returncode == 99, crashed.stderr
    assert snapshot(out) != before  # the crash left the directory mid-way
    with OutputDirectory(out):  # the next run takes the lock and recovers
        pass
    assert snapshot(out) == before
    assert not list(out.glob(STAGING_PREFIX + "*")) and not list(out.glob("backup-*"))
    assert cli("certs", "server", "--out", str(out), "-q").code == 0


def test_abandoned_staging_folder_is_removed(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    out.mkdir()
    leftover = out / f"{STAGING_PREFIX}crashed"
    leftover.mkdir(mode=0o700)  # as the tool makes them (others are refused: test_safety)
    (leftover / "server-key.pem").write_text("half")
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert {p.name for p in out.iterdir()} == ALL_FILES


# --- the CA key ---------------------------------------------------------------------------

@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text("correct horse battery staple\n")
    path.chmod(0o600)
    return path


def test_encrypted_ca_key(tmp_path: Path, cli, passphrase_file: Path) -> None:
    out = tmp_path / "certs"
    result = cli("certs", "all", "--out", str(out), "--ca-passphrase-file", str(passphrase_file))
    assert result.code == 0, result.err
    assert "AES-256 encrypted" in result.err
    key_pem = (out / "ca-key.pem").read_bytes()
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        load_pem_private_key(key_pem, password=None)
    ca_key = load_pem_private_key(key_pem, password=b"correct horse battery staple")
    assert load_cert(out / "ca.pem").public_key() == ca_key.public_key()
    parsed = subprocess.run(["openssl", "asn1parse", "-in", str(out / "ca-key.pem")],
                            capture_output=True, text=True).stdout
    assert "PBES2" in parsed and "PBKDF2" in parsed and "aes-256-cbc" in parsed
    for name in ("server-key.pem", "client-key.pem", "key.pem"):  # Docker refuses encrypted keys
        load_pem_private_key((out / name).read_bytes(), password=None)
    assert cli("certs", "server", "--out", str(out), "-q", "--ca-passphrase-file",
               str(passphrase_file)).code == 0
    assert system_verify(out / "ca.pem", out / "server-cert.pem", "sslserver").returncode == 0


def test_encrypted_ca_key_needs_the_right_passphrase(tmp_path: Path, cli, monkeypatch,
                                                     passphrase_file: Path) -> None:
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q", "--ca-passphrase-file",
               str(passphrase_file)).code == 0
    before = snapshot(out)
    missing = cli("certs", "client", "--out", str(out))
    assert missing.code == 5 and "is encrypted" in missing.error_line
    monkeypatch.setenv("MINIPAAS_CA_PASSPHRASE", "not the passphrase")
    wrong = cli("certs", "client", "--out", str(out))
    assert wrong.code == 5 and "wrong passphrase" in wrong.error_line
    assert snapshot(out) == before
    monkeypatch.setenv("MINIPAAS_CA_PASSPHRASE", "correct horse battery staple")
    assert cli("certs", "client", "--out", str(out), "-q").code == 0


def test_passphrase_never_reaches_argv_or_environment(tmp_path: Path,
                                                      passphrase_file: Path) -> None:
    log = tmp_path / "seen"
    spy = wrapper(tmp_path, f'printf "%s\\n" "$*" >> {log}\nenv >> {log}\nexec "$REAL" "$@"')
    out = tmp_path / "certs"
    for args in (["all", "--ca-passphrase-file", str(passphrase_file)], ["server"], ["client"]):
        done = run_tool("certs", *args, "--out", str(out), "-q", "--openssl", str(spy),
                        env={"MINIPAAS_CA_PASSPHRASE": "correct horse battery staple"})
        assert done.returncode == 0, done.stderr
    seen = log.read_text()
    assert "-passin fd:" in seen and "-passout fd:" in seen
    assert "correct horse" not in seen and "MINIPAAS" not in seen


# --- the output directory -----------------------------------------------------------------

def test_gitignore_keeps_every_key_out_of_git(tmp_path: Path, cli) -> None:
    out = tmp_path / "repo" / "certs"
    out.parent.mkdir()
    subprocess.run(["git", "init", "-q", str(out.parent)], check=True)
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    assert cli("certs", "ca", "--out", str(out), "--force", "--reissue", "-q").code == 0
    files = [str(p.relative_to(out.parent)) for p in out.rglob("*") if p.is_file()]
    ignored = subprocess.run(["git", "-C", str(out.parent), "check-ignore", *files],
                             capture_output=True, text=True).stdout.split()
    keys = {f for f in files if f.endswith("key.pem")}
    assert keys and keys <= set(ignored)
    assert "certs/ca.pem" not in ignored and "certs/server-cert.pem" not in ignored


def test_existing_gitignore_is_left_alone(tmp_path: Path, cli) -> None:
    (tmp_path / ".gitignore").write_text("*\n")
    assert cli("certs", "all", "--out", str(tmp_path), "-q").code == 0
    assert (tmp_path / ".gitignore").read_text() == "*\n"


CRASHING_RECOVERY = """
import os, sys
from pathlib import Path
from minipaas_certs import store
real, count, limit = os.rename, [0], int(sys.argv[1])
def crash(source, target):
    count[0] += 1
    if count[0] == limit:
        os._exit(98)  # the recovery itself dies part-way
    return real(source, target)
store.os.rename = crash
with store.OutputDirectory(Path(sys.argv[2])):
    pass
"""


@pytest.mark.parametrize("recovery_crash_at", [1, 2, 3])
def test_a_recovery_cut_short_is_finished_by_the_next_run(tmp_path: Path, cli,
                                                          recovery_crash_at: int) -> None:
    out = tmp_path / "certs"
    before = staged_run(out, cli)
    crashed = subprocess.run([sys.executable, "-c", CRASHING_RUN, "6", str(out), TOOL_OPENSSL],
                             capture_output=True, text=True)
    assert crashed.returncode == 99, crashed.stderr
    cut = subprocess.run([sys.executable, "-c", CRASHING_RECOVERY, str(recovery_crash_at),
                          str(out)], capture_output=True, text=True)
    assert cut.returncode == 98, cut.stderr
    with OutputDirectory(out):
        pass
    assert snapshot(out) == before
