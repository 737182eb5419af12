"""Findings of the second adversarial review of issue 22 (items 1, 4, 8, 10).

Each test fails on the code under review.  Printed commands are pasted into bash as a
user would (``minipaas`` being this checkout), from the folder the run was made in, with
an --out that holds a space and a quote.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SYSTEM_OPENSSL, load_cert, run_tool, system_verify
from cryptography.x509.oid import NameOID

OUT = "my certs'q"  # relative to the working folder: printed commands must paste


def tool(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_tool("certs", *args, cwd=cwd)


def ok(cwd: Path, *args: str) -> None:
    done = tool(cwd, *args, "-q")
    assert done.returncode == 0, done.stderr


def paste(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` as a user pastes it into bash."""
    script = f'minipaas() {{ "{sys.executable}" -m minipaas_certs "$@"; }}\n{command} -q\n'
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def quoted_command(line: str) -> str:
    found = re.search(r"`(minipaas certs [^`]*)`", line)
    assert found is not None, line
    return found.group(1)


def foreign_leaf(folder: Path, role: str, cn: str, curve: str, ca_cert: Path, ca_key: Path,
                 san: str = "") -> None:
    """A ``role`` certificate this tool did not make, signed by ``ca_cert``, in ``folder``
    (a bundle, under the file names of its kind; or the top level of --out)."""
    folder.mkdir(parents=True, exist_ok=True)
    bundle = folder.parent.name in ("clients", "servers")
    kind = {"clients": "client", "servers": "server"}.get(folder.parent.name, role)
    cert, key = (("server-cert.pem", "server-key.pem") if kind == "server"
                 else ("cert.pem", "key.pem") if bundle else ("client-cert.pem", "client-key.pem"))
    extra = ["-addext", f"subjectAltName={san}"] if san else []
    subprocess.run([SYSTEM_OPENSSL, "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                    f"ec_paramgen_curve:{curve}", "-nodes", "-keyout", str(folder / key),
                    "-out", str(folder / cert), "-CA", str(ca_cert), "-CAkey", str(ca_key),
                    "-subj", f"/CN={cn}", "-days", "200",
                    "-addext", f"extendedKeyUsage={role}Auth",
                    "-addext", "basicConstraints=critical,CA:FALSE", *extra],
                   check=True, capture_output=True)
    (folder / key).chmod(0o600)
    if bundle:
        (folder / "ca.pem").write_bytes(ca_cert.read_bytes())


@pytest.fixture
def work(tmp_path: Path) -> Path:
    ok(tmp_path, "all", "--out", OUT, "--san", "10.0.0.5")
    ok(tmp_path, "client", "--out", OUT, "--name", "alice")
    return tmp_path


# Item 8: `renew --all` (same CA) leaves a foreign bundle in place and names the command
# that issues it again "under names this tool accepts".  For a server bundle with a bad CN,
# and for any P-521 key, that command is refused (exit 2, "cannot renew ... as it is"):
# --force does not stop the rotation from reading the current CN and key.
@pytest.mark.parametrize("folder,role,cn,curve,san", [
    ("servers/doe", "server", "Doe, Server", "P-256", "DNS:doe.example"),
    ("servers/big", "server", "big", "P-521", "DNS:big.example"),
    ("clients/big", "client", "big", "P-521", ""),
    (".", "server", "Docker, Prod", "P-256", "DNS:prod.example.com,IP:10.0.0.5"),
])
def test_renew_all_names_foreign_pairs_with_commands_that_work(
        work: Path, folder: str, role: str, cn: str, curve: str, san: str) -> None:
    out = work / OUT
    foreign_leaf(out / folder, role, cn, curve, out / "ca.pem", out / "ca-key.pem", san)
    done = tool(work, "renew", "--all", "--out", OUT, "--json", "-q")
    assert done.returncode == 0, done.stderr
    (skipped,) = json.loads(done.stdout)["skipped"]
    again = paste(skipped["command"], work)
    assert again.returncode == 0, (skipped["command"], again.stderr)
    assert tool(work, "check", OUT).returncode == 0


# Item 8 with --ca-dir: the folder has no CA key of its own, so the command printed for a
# foreign bundle must name the --ca-dir; without it, it fails (exit 5, ca-key.pem missing).
def test_renew_all_from_another_ca_names_foreign_bundles_with_their_ca_dir(
        tmp_path: Path) -> None:
    ok(tmp_path, "ca", "--out", "org a", "--cn", "Org A")
    ok(tmp_path, "ca", "--out", "org b", "--cn", "Org B")
    ok(tmp_path, "server", "--out", OUT, "--ca-dir", "org a", "--san", "10.0.0.5")
    ok(tmp_path, "client", "--out", OUT, "--ca-dir", "org a", "--name", "alice")
    foreign_leaf(tmp_path / OUT / "clients" / "doe", "client", "Doe, John", "P-256",
                 tmp_path / "org a" / "ca.pem", tmp_path / "org a" / "ca-key.pem")
    done = tool(tmp_path, "renew", "--all", "--out", OUT, "--ca-dir", "org b", "--force",
                "--json", "-q")
    assert done.returncode == 0, done.stderr
    (skipped,) = json.loads(done.stdout)["skipped"]
    again = paste(skipped["command"], tmp_path)
    assert again.returncode == 0, (skipped["command"], again.stderr)
    assert system_verify(tmp_path / OUT / "ca.pem", tmp_path / OUT / "clients" / "doe" /
                         "cert.pem", "sslclient").returncode == 0


# Item 1: `renew client --name web` where clients/web holds a server certificate says
# "issue it again with `minipaas certs client --out ... --name web`"; pasted, that is
# refused (exit 4: the bundle exists, --force needed).
def test_renew_of_the_other_roles_bundle_suggests_a_command_that_works(work: Path) -> None:
    out = work / OUT
    foreign_leaf(out / "clients" / "web", "server", "web", "P-256", out / "ca.pem",
                 out / "ca-key.pem", "DNS:web.example")
    done = tool(work, "renew", "client", "--out", OUT, "--name", "web")
    assert done.returncode == 5, done.stderr
    again = paste(quoted_command(done.stderr), work)
    assert again.returncode == 0, again.stderr


# Item 1: re-running `certs server` (or `renew`) on a pair this tool did not make (a CN or
# key it would not issue) is refused with no way on: no command is named, and `--force`
# alone is refused the same way.
@pytest.mark.parametrize("folder,role,cn,curve,command", [
    (".", "server", "Docker, Prod", "P-521", ["server"]),
    ("clients/doe", "client", "Doe, John", "P-256", ["renew", "client", "--name", "doe"]),
])
def test_rotating_a_foreign_pair_names_a_way_on(work: Path, folder: str, role: str, cn: str,
                                                curve: str, command: list[str]) -> None:
    out = work / OUT
    foreign_leaf(out / folder, role, cn, curve, out / "ca.pem", out / "ca-key.pem",
                 "DNS:prod.example.com" if role == "server" else "")
    done = tool(work, *command, "--out", OUT)
    assert done.returncode == 2, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    again = paste(quoted_command(line), work)
    assert again.returncode == 0, (line, again.stderr)


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


# Item 4: `rotate-ca finish --force` with a bundle still from the old CA (a foreign one that
# renew --all could not carry over) exits 0 and leaves it beside a ca.pem that does not
# trust it: check then says "problem" (exit 8).  revoke moves such a bundle to the backup.
def test_rotate_ca_finish_never_leaves_a_mixed_set(work: Path) -> None:
    out = work / OUT
    foreign_leaf(out / "clients" / "doe", "client", "Doe, John", "P-256", out / "ca.pem",
                 out / "ca-key.pem")
    ok(work, "rotate-ca", "start", "--out", OUT)
    ok(work, "renew", "--all", "--out", OUT)
    done = tool(work, "rotate-ca", "finish", "--out", OUT, "--force")
    if done.returncode == 0:
        checked = tool(work, "check", OUT, "--warn-days", "1")
        assert checked.returncode == 0, checked.stdout


# Item 1 (check's side, commit a31be66 "check's fix commands work"): a bundle holding the
# other role's certificate gets "fix: minipaas certs renew client ... --name web", which
# is refused when pasted (exit 5, "is not a client certificate").
def test_checks_fix_for_the_other_roles_bundle_works(work: Path) -> None:
    out = work / OUT
    foreign_leaf(out / "clients" / "web", "server", "web", "P-256", out / "ca.pem",
                 out / "ca-key.pem", "DNS:web.example")
    checked = tool(work, "check", OUT)
    assert checked.returncode == 8
    (line,) = [line for line in checked.stdout.splitlines()
               if line.startswith("problem: clients/web/cert.pem")]
    again = paste(line.split("; fix: ", 1)[1], work)
    assert again.returncode == 0, (line, again.stderr)
    assert tool(work, "check", OUT).returncode == 0


# Item 10: `rotate-ca start --cn` naming the current CA's CN is accepted: ca.pem then holds
# two CAs both "CN=minipaas-ca", which check itself cannot tell apart.
def test_rotate_ca_start_refuses_the_current_cas_cn(work: Path) -> None:
    done = tool(work, "rotate-ca", "start", "--out", OUT, "--cn", "minipaas-ca")
    assert done.returncode == 2, done.stderr


# Item 1: rotation keeps the SANs or refuses to drop them; a URI or e-mail SAN (SPIFFE
# ids, authorization plugins) is dropped silently by `server --name`, `renew server` and
# revoke, exit 0, without --force and without a word.
@pytest.mark.parametrize("command", [["server", "--name", "uri"],
                                     ["renew", "server", "--name", "uri"]])
def test_rotation_never_drops_a_uri_san_silently(work: Path, command: list[str]) -> None:
    out = work / OUT
    foreign_leaf(out / "servers" / "uri", "server", "uri.example", "P-256", out / "ca.pem",
                 out / "ca-key.pem", "DNS:uri.example,URI:spiffe://example.org/docker")
    done = tool(work, *command, "--out", OUT)
    if done.returncode == 0:
        text = (out / "servers" / "uri" / "server-cert.pem").read_text()
        shown = subprocess.run([SYSTEM_OPENSSL, "x509", "-noout", "-ext", "subjectAltName"],
                               input=text, capture_output=True, text=True).stdout
        assert "URI:spiffe://example.org/docker" in shown, shown
    else:
        assert done.returncode == 2 and "spiffe://example.org/docker" in done.stderr


# README: "The command prints what goes where" and renew --all prints it "even with -q,
# as it needs a person".  revoke -q prints nothing on stderr: no word that the change only
# takes effect once each manager restarts with its new files.
def test_revoke_quiet_still_says_where_the_new_files_go(work: Path) -> None:
    ok(work, "server", "--out", OUT, "--name", "m1")
    done = tool(work, "revoke", "--out", OUT, "--name", "alice", "-q")
    assert done.returncode == 0, done.stderr
    assert "servers/m1/server-cert.pem" in done.stderr and "restart" in done.stderr


# Item 8 wording: renew --all says of a bundle that holds no certificate at all "it works
# until it expires" -- it does not work now; the user is told there is no hurry.
def test_renew_all_does_not_say_an_empty_bundle_works(work: Path) -> None:
    empty = work / OUT / "clients" / "empty"
    empty.mkdir(mode=0o700)
    (empty / "ca.pem").write_bytes((work / OUT / "ca.pem").read_bytes())
    done = tool(work, "renew", "--all", "--out", OUT, "-q")
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines()
               if line.startswith("Warning: clients/empty")]
    assert "it works until it expires" not in line, line


# Item 1 (low): `server --san new.example --force` drops 10.0.0.5 from the SANs but keeps
# CN=10.0.0.5, a name the certificate no longer covers (show, doctor and CN-reading
# clients then name a host it does not serve).
def test_a_dropped_san_does_not_stay_as_the_cn(tmp_path: Path) -> None:
    ok(tmp_path, "all", "--out", OUT, "--san", "10.0.0.5")
    ok(tmp_path, "server", "--out", OUT, "--san", "new.example", "--force")
    cert = load_cert(tmp_path / OUT / "server-cert.pem")
    (cn,) = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert cn.value != "10.0.0.5"


# Item 8: revoking the bundle itself when it holds the other role's certificate is refused
# (exit 5) with "move the broken bundle away by hand instead".  servers/cli holding a
# client certificate of the CA is a working client credential to every daemon: moving the
# folder cuts nothing off, while revoke (a new CA) would.
def test_a_bundle_holding_the_other_roles_certificate_can_be_revoked(work: Path) -> None:
    out = work / OUT
    foreign_leaf(out / "servers" / "cli", "client", "cli", "P-256", out / "ca.pem",
                 out / "ca-key.pem")
    assert system_verify(out / "ca.pem", out / "servers" / "cli" / "server-cert.pem",
                         "sslclient").returncode == 0  # a client credential that works
    done = tool(work, "revoke", "--out", OUT, "--server", "cli", "-q")
    assert done.returncode == 0, done.stderr
    assert system_verify(out / "ca.pem", out / "clients" / "alice" / "cert.pem",
                         "sslclient").returncode == 0
    assert not (out / "servers" / "cli").exists()
    assert tool(work, "check", OUT).returncode == 0
