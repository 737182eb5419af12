"""``certs doctor --host NAME=HOST:PORT``: what each daemon of a fleet serves, against the
files of servers/NAME.  dockerd reads its TLS files at start only (moby/moby#23936), so
a daemon not restarted after `renew` or `revoke` serves what the folder has replaced.

The daemons here run on the folder's own files: a renewal rewrites them on disk, and
the daemon keeps what it loaded, exactly as a manager not restarted does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import certs, run_tool
from dockerd import free_port

from minipaas_certs.certinfo import read_certificate


def doctor(out: Path, *args: str) -> tuple[int, list[str]]:
    done = run_tool("certs", "doctor", "--out", str(out), *args)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout.splitlines()


def as_json(out: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = run_tool("certs", "doctor", "--out", str(out), "--json", *args)
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet") / "certs"
    certs("all", "--out", str(out))
    for name in ("m1", "m2"):
        certs("server", "--out", str(out), "--name", name)
    return out


# --- without a daemon ---------------------------------------------------------------------

def test_a_host_nothing_listens_on_is_unreachable(fleet: Path, tmp_path: Path) -> None:
    port = free_port()
    listing = tmp_path / "hosts"
    listing.write_text(f"# the managers\nm1=127.0.0.1:{port}  # first\n\nserver=[::1]:{port}\n")
    code, lines = doctor(fleet, "--hosts-file", str(listing))
    assert code == 8
    assert lines == [f"m1 127.0.0.1:{port}: unreachable: nothing listens on 127.0.0.1:{port}: "
                     f"is dockerd running with -H tcp://0.0.0.0:{port} (or hosts in "
                     "daemon.json)? Is it the right address?",
                     f"server [::1]:{port}: unreachable: nothing listens on ::1:{port}: is "
                     f"dockerd running with -H tcp://0.0.0.0:{port} (or hosts in "
                     "daemon.json)? Is it the right address?"]
    code, report = as_json(fleet, "--host", f"m2=127.0.0.1:{port}")
    assert code == 8
    assert report == {"schema": 1, "directory": str(fleet), "hosts": [
        {"name": "m2", "address": f"127.0.0.1:{port}", "verdict": "unreachable",
         "serial": None, "days_left": None, "tls_version": None, "cipher": None,
         "message": f"nothing listens on 127.0.0.1:{port}: is dockerd running with -H "
                    f"tcp://0.0.0.0:{port} (or hosts in daemon.json)? Is it the right "
                    "address?"}]}
    code, report = as_json(fleet, "--host", f"127.0.0.1:{port}")  # one plain address
    assert code == 8 and report["hosts"][0]["name"] is None  # type: ignore[index]


@pytest.mark.parametrize("args, message", [
    (["--host", "m9=127.0.0.1:2376"], "--host m9=...: {out} holds no "
     "servers/m9/server-cert.pem (server bundles: server, m1, m2)"),
    (["--host", "m1=127.0.0.1", "--host", "10.0.0.5"], "--host '10.0.0.5': name each of "
     "several daemons as NAME=HOST:PORT (NAME: its servers/NAME bundle, or server for the "
     "top-level pair)"),
    (["--host", "m1=127.0.0.1:99999"], "invalid --host '127.0.0.1:99999': the port must "
     "be 1-65535"),
    (["--host", "M1=127.0.0.1"], "invalid bundle name 'M1': use 1-64 lower-case letters, "
     "digits, '.', '_' or '-', starting with a letter or digit"),
    (["--hosts-file", "{hosts}"], "{hosts} line 2: '10.0.0.5' is not NAME=HOST:PORT"),
    (["--hosts-file", "{empty}"], "{empty} names no host: one NAME=HOST:PORT a line"),
    ([], "give the daemon's address with --host HOST[:PORT], or --host NAME=HOST:PORT / "
         "--hosts-file FILE for several"),
])
def test_bad_hosts_are_one_error_before_any_connection(fleet: Path, tmp_path: Path,
                                                       args: list[str], message: str) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("m1=127.0.0.1\n10.0.0.5\n")
    empty = tmp_path / "empty"
    empty.write_text("# none yet\n\n")
    done = run_tool("certs", "doctor", "--out", str(fleet),
                    *(arg.format(hosts=hosts, empty=empty) for arg in args))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"Error: {message.format(out=fleet, hosts=hosts, empty=empty)}\n"


def test_a_hosts_file_that_cannot_be_read(fleet: Path, tmp_path: Path) -> None:
    done = run_tool("certs", "doctor", "--out", str(fleet), "--hosts-file",
                    str(tmp_path / "missing"))
    assert (done.returncode, done.stdout) == (6, "")
    assert done.stderr == f"Error: cannot read {tmp_path / 'missing'}: No such file or directory\n"


# --- real daemons -------------------------------------------------------------------------

@pytest.mark.docker
@pytest.mark.slow
def test_renewed_without_restart_is_stale_then_ok(tmp_path: Path, daemons) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    certs("server", "--out", str(out), "--name", "m1")
    daemon = daemons().start_with_files(out / "servers" / "m1")
    host = f"m1=127.0.0.1:{daemon.port}"
    before = read_certificate(out / "servers" / "m1" / "server-cert.pem")
    days = int(before.days_left() // 1)  # as `show` counts them

    code, (line,) = doctor(out, "--host", host)
    assert code == 0, line
    assert line.startswith(f"m1 127.0.0.1:{daemon.port}: OK: serves serial {before.serial:x} "
                           f"({days} days left; TLSv1.3 TLS_"), line
    assert daemon.client(out, "version").returncode == 0

    certs("renew", "server", "--out", str(out), "--name", "m1")
    (backup,) = (path.name for path in out.glob("backup-*"))
    code, (line,) = doctor(out, "--host", host)
    assert code == 8
    assert line.startswith(f"m1 127.0.0.1:{daemon.port}: stale: still serves serial "
                           f"{before.serial:x} (the one now in {backup}/servers/m1/"
                           f"server-cert.pem); restart dockerd on m1 ({days} days left; "
                           "TLSv1.3 TLS_"), line
    # The handshake alone still works: the docker CLI, and doctor on a plain address.
    assert daemon.client(out, "version").returncode == 0
    assert doctor(out, "--host", f"127.0.0.1:{daemon.port}")[0] == 0
    unkept = tmp_path / "unkept"  # the backup gone: the line still says what to do
    shutil.copytree(out, unkept, ignore=shutil.ignore_patterns("backup-*"))
    code, (line,) = doctor(unkept, "--host", host)
    assert code == 8
    assert f"stale: still serves serial {before.serial:x} (not the one in servers/m1/" \
        "server-cert.pem); restart dockerd on m1 (" in line, line
    code, report = as_json(out, "--host", host)
    (entry,) = report["hosts"]  # type: ignore[misc]
    assert code == 8 and entry["verdict"] == "stale" and entry["name"] == "m1"
    assert entry["serial"] == f"{before.serial:x}" and entry["days_left"] == days
    assert entry["tls_version"] == "TLSv1.3" and entry["cipher"].startswith("TLS_")

    daemon.restart_with_files(out / "servers" / "m1")
    after = read_certificate(out / "servers" / "m1" / "server-cert.pem")
    code, report = as_json(out, "--host", host)
    assert code == 0
    (entry,) = report["hosts"]  # type: ignore[misc]
    assert (entry["verdict"], entry["serial"]) == ("ok", f"{after.serial:x}")
    # m1's daemon named as the top-level pair's: not stale, the wrong address.
    code, (line,) = doctor(out, "--host", f"server=127.0.0.1:{daemon.port}")
    assert (code, line) == (8, f"server 127.0.0.1:{daemon.port}: broken: serves "
                               "servers/m1/server-cert.pem, not server-cert.pem: is "
                               f"127.0.0.1:{daemon.port} server's address? ({days} days "
                               f"left; TLSv1.3 {entry['cipher']})")


@pytest.mark.docker
@pytest.mark.slow
def test_revoke_names_the_one_manager_not_restarted(tmp_path: Path, daemons) -> None:
    """Three managers; after `revoke`, m1 and m2 restart on their new files, m3 runs on."""
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    names = ("m1", "m2", "m3")
    for name in names:
        certs("server", "--out", str(out), "--name", name)
    certs("client", "--out", str(out), "--name", "bob")
    shutil.copytree(out / "servers" / "m3", tmp_path / "m3-before")
    days = int(read_certificate(out / "servers" / "m3" / "server-cert.pem").days_left() // 1)
    managers = {name: daemons().start_with_files(
        tmp_path / "m3-before" if name == "m3" else out / "servers" / name) for name in names}
    certs("revoke", "--out", str(out), "--name", "bob")
    (backup,) = (path.name for path in out.glob("backup-*"))
    for name in ("m1", "m2"):
        managers[name].restart_with_files(out / "servers" / name)
    listing = tmp_path / "managers"
    listing.write_text("".join(f"{name}=127.0.0.1:{daemon.port}\n"
                               for name, daemon in managers.items()))

    code, lines = doctor(out, "--hosts-file", str(listing))
    assert code == 8
    assert [line.split(":", 2)[2].split(" ", 2)[1] for line in lines] == \
        ["OK:", "OK:", "previous-ca:"], lines
    assert lines[2].startswith(f"m3 127.0.0.1:{managers['m3'].port}: previous-ca: still runs "
                               f"the previous CA (CN=minipaas-ca, kept in {backup}/ca.pem): "
                               "deploy servers/m3/ca.pem, servers/m3/server-cert.pem, "
                               "servers/m3/server-key.pem and restart dockerd on m3 "
                               f"({days} days left; TLSv1.3 TLS_"), lines[2]
    # With bob's revoked bundle, every daemon is broken, and the line says why.
    code, lines = doctor(out, "--hosts-file", str(listing), "--name", "bob")
    assert code == 8 and len(lines) == 3
    assert all(line.split(": ", 2)[1:] == ["broken", lines[0].split(": ", 2)[2]]
               for line in lines), lines
    assert lines[0].split(": ", 2)[2].startswith("clients/bob was revoked on "), lines
    # The docker CLI agrees: m3 refuses the new client, the others take it.
    for name, daemon in managers.items():
        assert (daemon.client(out, "version").returncode == 0) == (name != "m3"), name
