"""revocations.py: the record of revoked identities, read strictly, written whole; what
`revoke` says, and the name of its own each new CA gets."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from as_user import ok, paste, quoted_command, tool
from conftest import load_cert, run_tool, system_verify
from cryptography.x509.oid import NameOID

from minipaas_certs.certinfo import read_certificate
from minipaas_certs.errors import OutputError, quote
from minipaas_certs.identity import CLIENT, Identity
from minipaas_certs.plan import successor_cn
from minipaas_certs.revocations import Revocation, read, render

OUT = "my certs'q"  # relative to the working folder: printed commands must paste


@pytest.fixture
def work(tmp_path: Path) -> Path:
    ok(tmp_path, "all", "--out", OUT, "--san", "10.0.0.5")
    ok(tmp_path, "client", "--out", OUT, "--name", "alice")
    return tmp_path


def test_a_record_reads_back_as_written(tmp_path: Path) -> None:
    assert read(tmp_path) == []  # no record yet
    assert run_tool("certs", "all", "--out", str(tmp_path), "-q").returncode == 0
    certificate = read_certificate(tmp_path / "cert.pem")
    moment = datetime.datetime(2026, 11, 27, 12, 0, 1, 500, tzinfo=datetime.timezone.utc)
    entry = Revocation.of(Identity(CLIENT, "ci"), certificate, moment)
    assert entry.serial == f"{certificate.serial:x}" and entry.revoked_at.endswith(":01+00:00")
    (tmp_path / "revoked.json").write_bytes(render([entry, entry]))
    assert read(tmp_path) == [entry, entry]
    assert "clients/ci  CN=client  serial" in entry.line()


@pytest.mark.parametrize("text", [
    "", "[]", "{}", '{"version": 2, "revoked": []}', '{"version": 1}',
    '{"version": 1, "revoked": [{"name": "x"}]}',
    '{"version": 1, "revoked": [{"role": "client", "name": "x", "common_name": "x", '
    '"serial": "1", "sha256": "", "issuer": "", "not_after": "", "revoked_at": "", '
    '"extra": 1}]}',
    '{"version": 1, "revoked": [{"role": "bogus", "name": "x", "common_name": "x", '
    '"serial": "1", "sha256": "", "issuer": "", "not_after": "", "revoked_at": ""}]}',
    '{"version": 1, "revoked": [{"role": "client", "name": "a\\nb", "common_name": "x", '
    '"serial": "1", "sha256": "", "issuer": "", "not_after": "", "revoked_at": ""}]}',
    '{"version": 1, "revoked": [{"role": "client", "name": "a", "common_name": "\\u001b[2J", '
    '"serial": "1", "sha256": "", "issuer": "", "not_after": "", "revoked_at": ""}]}',
])
def test_a_record_this_tool_did_not_write_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "revoked.json").write_text(text)
    with pytest.raises(OutputError, match="not a revocation record this tool wrote"):
        read(tmp_path)


def _ca_cn(folder: Path) -> str:
    return read_certificate(folder / "ca.pem").subject_cn or ""


def test_every_new_ca_gets_a_name_of_its_own(tmp_path: Path) -> None:
    """Two revocations and a rollover in a row, within seconds: three CNs, each the
    first one's with one UTC stamp (doctor's messages and Go's errors name them)."""
    out = tmp_path / "certs"
    for args in (["all", "--ca-cn", "Ops CA"], ["client", "--name", "a", "--name", "b"]):
        assert run_tool("certs", *args, "--out", str(out), "-q").returncode == 0
    names = [_ca_cn(out)]
    for args in (["revoke", "--name", "a"], ["revoke", "--name", "b"],
                 ["rotate-ca", "start"]):
        assert run_tool("certs", *args, "--out", str(out), "-q").returncode == 0
        names.append(_ca_cn(out))
    assert len(set(names)) == 4, names
    for name in names[1:]:
        assert re.fullmatch(r"Ops CA \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", name), name


def test_a_successor_name_never_repeats_the_old_one() -> None:
    moment = datetime.datetime(2026, 12, 7, 21, 30, 5, tzinfo=datetime.timezone.utc)
    assert successor_cn("Ops CA 2026-12-07", moment) == "Ops CA 2026-12-07 21:30:05Z"
    assert successor_cn("Ops CA 2026-12-07 21:30:05Z", moment) == "Ops CA 2026-12-07 21:30:06Z"
    assert successor_cn("Ops CA 2026-12-07 21:30:09Z", moment) == "Ops CA 2026-12-07 21:30:10Z"
    assert successor_cn("Ops CA 2026-12-06 23:59:59Z", moment) == "Ops CA 2026-12-07 21:30:05Z"
    assert successor_cn(None, moment) == "minipaas-ca 2026-12-07 21:30:05Z"
    long = successor_cn("x" * 64, moment)
    assert len(long) == 64 and long.endswith(" 2026-12-07 21:30:05Z")


# Item 10: a new CA made over an old one by `all --force --reissue` or `ca --force
# --reissue` (it re-issues every bundle from it) keeps the very CN of the old one
# (minipaas-ca): the daemons' old CA and the new cannot be told apart, as in issue 22.
@pytest.mark.parametrize("command", [["all", "--force", "--reissue"],
                                     ["ca", "--force", "--reissue"]])
def test_a_replacement_ca_gets_a_cn_of_its_own(work: Path, command: list[str]) -> None:
    old = load_cert(work / OUT / "ca.pem")
    ok(work, *command, "--out", OUT)
    new = load_cert(work / OUT / "ca.pem")
    assert new.serial_number != old.serial_number
    assert new.subject.get_attributes_for_oid(NameOID.COMMON_NAME) != \
        old.subject.get_attributes_for_oid(NameOID.COMMON_NAME)


# Item 10: `rotate-ca start --cn` naming the current CA's CN is accepted: ca.pem then holds
# two CAs both "CN=minipaas-ca", which check itself cannot tell apart.
def test_rotate_ca_start_refuses_the_current_cas_cn(work: Path) -> None:
    done = tool(work, "rotate-ca", "start", "--out", OUT, "--cn", "minipaas-ca")
    assert done.returncode == 2, done.stderr


# README: "The command prints what goes where" and renew --all prints it "even with -q,
# as it needs a person".  revoke -q prints nothing on stderr: no word that the change only
# takes effect once each manager restarts with its new files.
def test_revoke_quiet_still_says_where_the_new_files_go(work: Path) -> None:
    ok(work, "server", "--out", OUT, "--name", "m1")
    done = tool(work, "revoke", "--out", OUT, "--name", "alice", "-q")
    assert done.returncode == 0, done.stderr
    assert "servers/m1/server-cert.pem" in done.stderr and "restart" in done.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_name_finds_a_bundle_of_either_role(work: Path) -> None:
    ok(work, "server", "--out", OUT, "--name", "m1", "--san", "10.0.0.11")
    ok(work, "revoke", "--out", OUT, "--name", "m1")
    ok(work, "revoke", "--out", OUT, "--name", "alice")
    out = work / OUT
    assert not (out / "servers" / "m1").exists() and not (out / "clients" / "alice").exists()
    assert [(entry.role, entry.name) for entry in read(out)] == [("server", "m1"),
                                                                  ("client", "alice")]
    assert tool(work, "check", OUT).returncode == 0


def test_a_name_both_roles_hold_is_refused_up_front(work: Path) -> None:
    ok(work, "server", "--out", OUT, "--name", "alice", "--san", "10.0.0.11")
    before = snapshot(work / OUT)
    done = tool(work, "revoke", "--out", OUT, "--name", "alice")
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"Error: servers/alice and clients/alice both exist in {OUT}: say "
                           "which to revoke with --server alice or --client alice\n")
    assert snapshot(work / OUT) == before
    ok(work, "revoke", "--out", OUT, "--client", "alice")
    assert (work / OUT / "servers" / "alice").is_dir()
    assert not (work / OUT / "clients" / "alice").exists()


def test_the_explicit_forms_name_the_other_role_when_it_has_the_bundle(work: Path) -> None:
    before = snapshot(work / OUT)
    done = tool(work, "revoke", "--out", OUT, "--server", "alice")
    assert done.returncode == 2 and done.stderr.endswith(
        "to revoke (present: none); did you mean --client alice?\n"), done.stderr
    assert snapshot(work / OUT) == before


def test_the_top_level_client_pair_is_revoked_and_nothing_takes_its_place(work: Path) -> None:
    out = work / OUT
    old = load_cert(out / "cert.pem")
    (work / "pw").write_text("s3cret-pass\n")
    ok(work, "p12", "--out", OUT, "--password-file", "pw")  # made of the pair: it goes too
    done = tool(work, "revoke", "--out", OUT, "--client-pair")
    assert done.returncode == 0, done.stderr
    assert "Revoked client-cert.pem  CN=client  serial" in done.stderr
    pair = ("client-cert.pem", "client-key.pem", "cert.pem", "key.pem", "client.p12")
    assert not any((out / name).exists() for name in pair)
    (backup,) = out.glob("backup-*")
    assert all((backup / name).is_file() for name in pair)
    (entry,) = read(out)
    assert (entry.role, entry.name, int(entry.serial, 16)) == ("client", "", old.serial_number)
    assert "client-cert.pem  CN=client" in tool(work, "show", OUT).stdout
    assert tool(work, "check", OUT).returncode == 0  # no client pair is no problem
    assert tool(work, "verify-sums", OUT).returncode == 0
    # the others
    assert tool(work, "renew", "--all", "--within", "100%", "--out", OUT, "-q").returncode == 0
    for command in (["env", "--out", OUT, "--host", "10.0.0.5"],
                    ["doctor", "--host", "127.0.0.1:9", OUT]):
        done = tool(work, *command)
        assert done.returncode in (5, 8), done.stderr
        said = (done.stdout + done.stderr).strip().replace("Error: ", "", 1)
        assert said.startswith(f"the top-level client pair of {OUT} (client-cert.pem) was "
                               "revoked on "), said
        assert said.endswith(": give --name NAME for a client bundle, or issue a new pair "
                             f"with `minipaas certs client --out {quote(OUT)}`"), said
    done = tool(work, "renew", "client", "--out", OUT)
    assert done.returncode == 5 and "client-cert.pem does not exist" in done.stderr
    # The env of a bundle still works; a new pair comes from the new CA.
    assert tool(work, "env", "--out", OUT, "--host", "10.0.0.5", "--name",
                "alice").returncode == 0
    ok(work, "client", "--out", OUT)
    assert load_cert(out / "cert.pem").issuer == load_cert(out / "ca.pem").subject
    assert tool(work, "env", "--out", OUT, "--host", "10.0.0.5").returncode == 0
    assert tool(work, "check", OUT).returncode == 0


def test_a_top_level_pair_named_as_a_bundle_is_explained(work: Path) -> None:
    before = snapshot(work / OUT)
    done = tool(work, "revoke", "--out", OUT, "--name", "client")
    assert done.returncode == 2 and done.stderr.endswith(
        "; the top-level client pair (client-cert.pem) is revoked with --client-pair\n")
    for args in (["--name", "server"], ["--server", "10.0.0.5"]):  # its name, or its CN
        done = tool(work, "revoke", "--out", OUT, *args)
        assert done.returncode == 2, done.stderr
        assert "; the top-level server pair (server-cert.pem) is not revoked but re-issued, " \
               "with a new key, by every revoke; to stop its current certificate being " \
               "trusted with nothing cut off, replace the CA: " in done.stderr, done.stderr
        assert snapshot(work / OUT) == before
    old = load_cert(work / OUT / "server-cert.pem")
    done = paste(quoted_command(done.stderr), work)  # the way it names works
    assert done.returncode == 0, done.stderr
    new_ca = load_cert(work / OUT / "ca.pem")
    assert load_cert(work / OUT / "server-cert.pem").issuer == new_ca.subject
    assert old.issuer != new_ca.subject
    ok(work, "revoke", "--out", OUT, "--client-pair")
    done = tool(work, "revoke", "--out", OUT, "--client-pair")
    assert done.returncode == 2 and done.stderr == (
        f"Error: no top-level client pair to revoke in {OUT} (client-cert.pem does not exist)\n")


def test_a_folder_signed_from_a_ca_folder_is_revoked_as_the_refusal_says(
        tmp_path: Path) -> None:
    """revoke makes a CA, which it cannot do where the key is not: it refuses up front,
    and its by-hand steps for a CA folder of this tool, followed, cut the bundle off."""
    import shlex
    import shutil

    ok(tmp_path, "ca", "--out", "ca folder")
    for args in (["server"], ["client"], ["client", "--name", "ci"]):
        ok(tmp_path, *args, "--out", OUT, "--ca-dir", "ca folder")
    out = tmp_path / OUT
    before = snapshot(out)
    done = tool(tmp_path, "revoke", "--out", OUT, "--name", "ci")
    assert done.returncode == 5, done.stderr
    assert snapshot(out) == before
    assert f"for a CA folder of this tool, by hand: move {OUT}/clients/ci out of {OUT}, " \
           "then " in done.stderr, done.stderr
    commands = re.findall(r"`(minipaas certs [^`]*)`", done.stderr)
    assert commands[-2:] == [
        "minipaas certs ca --out CA_FOLDER --force",
        f"minipaas certs renew --all --within 100% --out {quote(OUT)} --ca-dir CA_FOLDER --force"]
    shutil.move(str(out / "clients" / "ci"), str(tmp_path / "ci"))
    for command in commands[-2:]:
        done = paste(command.replace("CA_FOLDER", shlex.quote("ca folder")), tmp_path)
        assert done.returncode == 0, (command, done.stderr)
    new_ca = load_cert(tmp_path / "ca folder" / "ca.pem")
    assert load_cert(out / "ca.pem") == new_ca
    assert load_cert(out / "cert.pem").issuer == new_ca.subject
    assert system_verify(out / "ca.pem", tmp_path / "ci" / "cert.pem",
                         "sslclient").returncode != 0  # cut off
    assert system_verify(out / "ca.pem", out / "cert.pem", "sslclient").returncode == 0
    assert tool(tmp_path, "check", OUT).returncode == 0
