"""``certs doctor`` speaks for the docker CLI: each verdict here is reached on a real
dockerd, and the docker CLI on the same files and address must fail (or succeed) with it.

Daemons are few (each start costs seconds): one serves an organisation's intermediate
chain to several cases, and the previous-CA cases each keep one running on the files
of before ``revoke`` or ``rotate-ca start``.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from conftest import certs, reissue, run_tool
from dockerd import Dockerd
from test_chains import ca_dir, certificates, organisation

from minipaas_certs.certinfo import read_certificate


def judged(daemon: Dockerd, folder: Path, host: str = "127.0.0.1", *args: str
           ) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """`certs doctor` and `docker version` on the same files and address: both succeed or
    both fail (doctor agrees with the client it speaks for)."""
    address = f"{host}:{daemon.port}"
    done = run_tool("certs", "doctor", "--host", address, str(folder), *args)
    assert "Traceback" not in done.stderr, done.stderr
    bundle = folder / "clients" / args[args.index("--name") + 1] if "--name" in args else folder
    cli = daemon.client(bundle, "version", env={"DOCKER_HOST": f"tcp://{address}"})
    assert (done.returncode == 0) == (cli.returncode == 0), (done.stdout, cli.stderr)
    return done, cli


# --- an organisation's intermediate CA signs the folder's leaves -----------------------------

@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return organisation(tmp_path_factory.mktemp("org") / "pki")


@pytest.fixture(scope="module")
def chained(org: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Leaves from the intermediate (the chain in each leaf file), ca.pem the root alone;
    the server's only name is localhost."""
    base = tmp_path_factory.mktemp("chained")
    signer, out = ca_dir(org, base / "ca", "intermediate.pem", "root.pem"), base / "certs"
    certs("server", "--out", str(out), "--ca-dir", str(signer), "--no-default-san",
          "--san", "localhost")
    certs("client", "--out", str(out), "--ca-dir", str(signer))
    return out


@pytest.fixture(scope="module")
def chained_daemon(chained: Path) -> Iterator[Dockerd]:
    daemon = Dockerd()
    try:
        yield daemon.start_with_files(chained)
    finally:
        daemon.close()


@pytest.mark.docker
def test_intermediate_chain_is_ok(chained: Path, chained_daemon: Dockerd) -> None:
    done, _ = judged(chained_daemon, chained, "localhost")
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("OK: mutual TLS works with tcp://localhost:")


@pytest.mark.docker
def test_intermediate_chain_and_a_host_outside_the_sans(chained: Path,
                                                        chained_daemon: Dockerd) -> None:
    """Go checks the names before the chain: not "another CA", whose leaf is the
    intermediate's and not the root's."""
    done, cli = judged(chained_daemon, chained, "127.0.0.1")
    assert "doesn't contain any IP SANs" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith("127.0.0.1 is not among the daemon certificate's names "
                                  "(DNS:localhost): connect by one of them, or re-issue it "
                                  f"with `minipaas certs renew server --out {chained} --san "
                                  "127.0.0.1`"), done.stdout


@pytest.mark.docker
def test_a_client_certificate_not_yet_valid(org: Path, chained: Path, chained_daemon: Dockerd,
                                            tmp_path: Path) -> None:
    """Its start is tomorrow (a clock wrong here or where it was signed): the daemon
    refuses it, and the cause is its date, not another CA."""
    early = tmp_path / "early"
    shutil.copytree(chained, early)
    reissue(early / "cert.pem", chained.parent / "ca", days_ago=-1)
    with (early / "cert.pem").open("ab") as chain:  # the intermediate after the leaf
        chain.write((org / "intermediate.pem").read_bytes())
    start = read_certificate(early / "cert.pem").not_before
    done, cli = judged(chained_daemon, early, "localhost")
    assert "bad certificate" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith(f"the client certificate in cert.pem is valid only from "
                                  f"{start:%Y-%m-%d %H:%M:%S} UTC: is a clock wrong"), done.stdout
    assert "tlscacert" not in done.stdout


@pytest.mark.docker
def test_intermediate_chain_and_a_client_certificate_served(org: Path, chained: Path,
                                                             tmp_path: Path, daemons) -> None:
    """The daemon serves the client pair (with its chain): not a server certificate."""
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(chained / "ca.pem", served / "ca.pem")
    shutil.copy(chained / "client-cert.pem", served / "server-cert.pem")
    shutil.copy(chained / "client-key.pem", served / "server-key.pem")
    assert len(certificates(served / "server-cert.pem")) == 2  # leaf + intermediate
    daemon = daemons().start_with_files(served)
    done, cli = judged(daemon, chained, "localhost")
    assert "certificate is not valid for any names" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith("the daemon's certificate is not a server certificate "
                                  "(its extendedKeyUsage lacks serverAuth, and it names no "
                                  "host)"), done.stdout


@pytest.mark.docker
def test_a_server_certificate_not_yet_valid(tmp_path: Path, daemons) -> None:
    """Go checks the leaf's dates first; doctor words it as `show` does."""
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    reissue(out / "server-cert.pem", out, days_ago=-1)
    start = read_certificate(out / "server-cert.pem").not_before
    daemon = daemons().start_with_files(out)
    done, cli = judged(daemon, out)
    assert "certificate has expired or is not yet valid" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith(f"the daemon's certificate is valid only from "
                                  f"{start:%Y-%m-%d %H:%M:%S} UTC: is a clock wrong"), done.stdout


# --- the daemon still runs the files of before a new CA ------------------------------------

@pytest.fixture(scope="module")
def revoked_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Dockerd]]:
    """`revoke --name bob` done, the daemon not restarted: it runs the files of before."""
    base = tmp_path_factory.mktemp("revoked")
    out = base / "certs"
    certs("all", "--out", str(out))
    certs("client", "--out", str(out), "--name", "bob")
    shutil.copytree(out, base / "before")
    daemon = Dockerd()
    try:
        daemon.start_with_files(base / "before")
        certs("revoke", "--out", str(out), "--name", "bob")
        yield out, daemon
    finally:
        daemon.close()


@pytest.mark.docker
def test_daemon_still_on_the_previous_ca_after_revoke(
        revoked_set: tuple[Path, Dockerd]) -> None:
    out, daemon = revoked_set
    (backup,) = (path.name for path in out.glob("backup-*"))
    done, cli = judged(daemon, out)
    assert "certificate signed by unknown authority" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith(f"the daemon still runs the previous CA (CN=minipaas-ca, "
                                  f"kept in {backup}/ca.pem): deploy the new ca.pem, "
                                  "server-cert.pem and server-key.pem to it"), done.stdout
    assert "restart dockerd" in done.stdout
    assert "another CA" not in done.stdout and "intermediate" not in done.stdout


@pytest.mark.docker
def test_the_previous_ca_is_known_by_its_files_not_its_name(
        revoked_set: tuple[Path, Dockerd], tmp_path: Path) -> None:
    """Without the backup, revoked.json still names the CA of what it cut off; a backup
    ca.pem without its key (a copy another CA's replaced) is no CA of this folder's."""
    out, daemon = revoked_set
    (backup,) = (path.name for path in out.glob("backup-*"))
    record_only = tmp_path / "record-only"
    shutil.copytree(out, record_only, ignore=shutil.ignore_patterns("backup-*"))
    done, cli = judged(daemon, record_only)
    assert done.returncode == 8 and cli.returncode != 0
    assert done.stdout.startswith("the daemon still runs the previous CA (CN=minipaas-ca, "
                                  "named in revoked.json)"), done.stdout
    keyless = tmp_path / "keyless"
    shutil.copytree(out, keyless)
    (keyless / backup / "ca-key.pem").unlink()
    (keyless / "revoked.json").unlink()
    done, cli = judged(daemon, keyless)
    assert done.returncode == 8 and cli.returncode != 0
    assert done.stdout.startswith("the daemon's certificate comes from another CA (issuer "
                                  "CN=minipaas-ca;"), done.stdout


@pytest.mark.docker
def test_doctor_names_a_revoked_bundle(revoked_set: tuple[Path, Dockerd]) -> None:
    """Its bundle went into the backup with the old CA: doctor says it was revoked, and
    when, instead of asking to create it (exit 5)."""
    out, daemon = revoked_set
    done, cli = judged(daemon, out, "127.0.0.1", "--name", "bob")
    assert cli.returncode != 0  # no files to read
    assert done.returncode == 8, done.stderr
    (entry,) = json.loads((out / "revoked.json").read_text())["revoked"]
    when = datetime.datetime.fromisoformat(entry["revoked_at"])
    assert when.utcoffset() == datetime.timedelta(0)
    assert done.stdout.startswith(f"clients/bob was revoked on {when:%Y-%m-%d %H:%M} UTC "
                                  f"(CN=bob, serial {entry['serial']}, "), done.stdout
    assert f"recorded in {out}/revoked.json" in done.stdout
    assert f"`minipaas certs client --out {out} --name bob`" in done.stdout
    assert done.stderr == ""


@pytest.mark.docker
def test_daemon_still_on_the_previous_ca_during_a_rollover(tmp_path: Path, daemons) -> None:
    """`rotate-ca start` and every leaf re-issued: ca.pem trusts both CAs, so the old
    daemon's certificate passes, and the daemon refuses the new client."""
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    shutil.copytree(out, tmp_path / "before")
    daemon = daemons().start_with_files(tmp_path / "before")
    certs("rotate-ca", "start", "--out", str(out), "--cn", "minipaas-ca-2")
    certs("renew", "--all", "--out", str(out))
    done, cli = judged(daemon, out)
    assert "bad certificate" in cli.stderr, cli.stderr
    assert done.returncode == 8
    assert done.stdout.startswith("the daemon still runs the previous CA (CN=minipaas-ca, kept "
                                  "in ca-old.pem): deploy the new ca.pem"), done.stdout
    assert "tlscacert" not in done.stdout


# --- a start in the future, in `show` ----------------------------------------------------------

def test_show_names_a_start_in_the_future(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    reissue(out / "client-cert.pem", out, days_ago=-2)
    start = read_certificate(out / "client-cert.pem").not_before
    shown = cli("certs", "show", str(out)).out
    assert (f"(not yet valid: valid only from {start:%Y-%m-%d %H:%M:%S} UTC: is a clock "
            "wrong") in shown, shown
    assert shown.count("not yet valid") == 1  # the others started five minutes ago


def test_a_start_ahead_reads_the_same_whichever_signed_it(tmp_path: Path) -> None:
    """An OpenBao leaf starts 30 s back (the role's not_before_duration), a local one five
    minutes back: seen from a clock a minute behind, only the engine's is ahead, and
    `show` and `doctor` word it as they word a local one's."""
    from test_vault import OpenBao, tool

    from minipaas_certs.certinfo import starts_later
    from minipaas_certs.inventory import inventory
    from minipaas_certs.reports import show_text

    local, engine_out = tmp_path / "local", tmp_path / "engine"
    certs("all", "--out", str(local))
    engine = OpenBao()
    try:
        assert engine.call("GET", "pki/roles/docker-client")["data"]["not_before_duration"] \
            == 30
        done = tool(engine, "client", "--out", str(engine_out), "--vault-role",
                    "docker-client", "-q")
        assert done.returncode == 0, done.stderr
    finally:
        engine.stop()
    ours, theirs = (read_certificate(folder / "client-cert.pem")
                    for folder in (local, engine_out))
    issued = datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(seconds=25) < issued - theirs.not_before \
        < datetime.timedelta(seconds=60)
    assert datetime.timedelta(minutes=4) < issued - ours.not_before
    behind = issued - datetime.timedelta(minutes=1)
    assert starts_later(ours, behind) is None and starts_later(theirs, behind) is not None
    for folder, leaf in ((local, ours), (engine_out, theirs)):
        ahead = leaf.not_before - datetime.timedelta(seconds=10)
        shown = show_text(folder, inventory(folder), ahead)
        line = f"valid only from {leaf.not_before:%Y-%m-%d %H:%M:%S} UTC: is a clock wrong"
        assert "client-cert.pem  (client)" in shown
        assert f"(not yet valid: {line}" in shown, shown
