"""Short-lived certificates (--hours) and unattended renewal (renew --all --within),
with the real openssl; the resulting certificates are read with ``cryptography``."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pytest
from conftest import certs, load_cert, reissue

BACKDATE = datetime.timedelta(minutes=5)


def validity(path: Path) -> datetime.timedelta:
    cert = load_cert(path)
    return cert.not_valid_after_utc - cert.not_valid_before_utc


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file and folder under ``folder``: mode, modification time, content."""
    found = {}
    for path in sorted([folder, *folder.rglob("*")]):
        info = path.lstat()
        found[str(path.relative_to(folder))] = (
            info.st_mode, info.st_mtime_ns, b"" if path.is_dir() else path.read_bytes())
    return found


@pytest.fixture
def cluster(tmp_path: Path) -> Path:
    """A CA, the top-level pairs, a manager's bundle and a CI client of 8 hours."""
    out = tmp_path / "certs"
    certs("all", "--out", str(out), "--san", "10.0.0.5")
    certs("server", "--out", str(out), "--name", "m1", "--san", "10.0.0.11")
    certs("client", "--out", str(out), "--name", "ci", "--hours", "8")
    return out


def test_hours_make_an_exact_validity(cluster: Path) -> None:
    # Exactly N hours after issue, plus the backdating (notBefore is 5 minutes back).
    assert validity(cluster / "clients/ci/cert.pem") == datetime.timedelta(hours=8) + BACKDATE
    certs("server", "--out", str(cluster), "--name", "m2", "--san", "10.0.0.12", "--hours",
          "36")
    assert validity(cluster / "servers/m2/server-cert.pem") == \
        datetime.timedelta(hours=36) + BACKDATE
    assert validity(cluster / "server-cert.pem") == datetime.timedelta(days=365) + BACKDATE


@pytest.mark.parametrize("arguments, message", [
    (["--hours", "0"], "0 is not in the range 1<=x<=8760"),
    (["--hours", "8761"], "8761 is not in the range 1<=x<=8760"),
    (["--days", "2", "--hours", "2"], "--days and --hours cannot be combined"),
])
def test_hours_out_of_range_or_beside_days_are_refused(cluster: Path, cli, arguments: list[str],
                                                       message: str) -> None:
    before = snapshot(cluster)
    for command in (["client", "--name", "x"], ["server", "--name", "x"]):
        result = cli("certs", *command, "--out", str(cluster), *arguments)
        assert result.code == 2 and message in result.err, result.err
        assert "Traceback" not in result.err
    result = cli("certs", "renew", "--all", "--out", str(cluster), *arguments)
    assert result.code == 2 and message in result.err
    assert snapshot(cluster) == before


def test_show_and_check_count_hours_when_under_a_day(cluster: Path, cli) -> None:
    shown = cli("certs", "show", str(cluster))
    assert "(7 hours left)" in shown.out
    data = json.loads(cli("certs", "show", str(cluster), "--json").out)
    ci = next(entry for entry in data["certificates"] if entry["file"] == "clients/ci/cert.pem")
    assert (ci["days_left"], ci["hours_left"]) == (0, 7)
    checked = cli("certs", "check", str(cluster), "--warn-days", "1")
    assert checked.code == 7, checked.out
    warning = next(line for line in checked.out.splitlines() if "clients/ci" in line)
    assert "in 7 hours" in warning and " UTC" in warning
    assert "certs renew client --out" in warning and "--name ci" in warning


def test_renew_keeps_a_span_of_hours(cluster: Path) -> None:
    certs("renew", "client", "--out", str(cluster), "--name", "ci")
    assert validity(cluster / "clients/ci/cert.pem") == datetime.timedelta(hours=8) + BACKDATE
    certs("renew", "client", "--out", str(cluster), "--name", "ci", "--hours", "2")
    assert validity(cluster / "clients/ci/cert.pem") == datetime.timedelta(hours=2) + BACKDATE


def test_hours_that_outlive_the_ca_name_the_option_that_fits(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    certs("ca", "--out", str(out), "--ca-days", "1")
    result = cli("certs", "client", "--out", str(out), "--hours", "30")
    assert result.code == 5, result.err
    assert "use --hours 23 or less" in result.err
    assert not (out / "client-cert.pem").exists()


def test_renew_within_changes_nothing_when_nothing_is_due(cluster: Path, cli) -> None:
    before = snapshot(cluster)
    result = cli("certs", "renew", "--all", "--within", "0", "--out", str(cluster))
    assert result.code == 0 and result.out == ""
    assert "Nothing to renew" in result.err
    result = cli("certs", "renew", "--all", "--within", "0", "--out", str(cluster), "--json")
    report = json.loads(result.out)
    assert result.code == 0
    assert report == {"directory": str(cluster), "changed": False, "within_days": 0,
                      "renewed": [], "deploy": [], "written": [], "skipped": [],
                      "skipped_to": None}
    quiet = cli("certs", "renew", "--all", "--within", "0", "--out", str(cluster), "-q")
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")
    assert snapshot(cluster) == before  # SHA256SUMS, modes and times included


def test_renew_within_a_fresh_folder_leaves_it_byte_identical(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    certs("all", "--out", str(out))
    before = snapshot(out)
    result = cli("certs", "renew", "--all", "--within", "30", "--out", str(out))
    assert result.code == 0, result.err
    assert snapshot(out) == before


def test_renew_within_renews_only_what_is_due_in_one_commit(cluster: Path, cli) -> None:
    reissue(cluster / "servers/m1/server-cert.pem", cluster, days_ago=350)  # 15 days left
    untouched = {name: (cluster / name).read_bytes()
                 for name in ("ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem",
                              "client-cert.pem", "cert.pem", "key.pem")}
    old_m1 = (cluster / "servers/m1/server-key.pem").read_bytes()
    result = cli("certs", "renew", "--all", "--within", "30", "--out", str(cluster),
                 "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["changed"] is True
    assert sorted(entry["file"] for entry in report["renewed"]) == [
        "clients/ci/cert.pem", "servers/m1/server-cert.pem"]
    m1 = next(entry for entry in report["renewed"] if entry["bundle"] == "m1")
    assert (m1["role"], m1["common_name"], m1["validity"]) == ("server", "10.0.0.11",
                                                              "365 days")
    assert any(line.startswith("manager m1:") and "restart dockerd" in line
               for line in report["deploy"])
    assert any(line.startswith("client ci:") for line in report["deploy"])
    assert str(cluster / "SHA256SUMS") in report["written"]
    for name, content in untouched.items():
        assert (cluster / name).read_bytes() == content, name
    assert (cluster / "servers/m1/server-key.pem").read_bytes() != old_m1
    assert validity(cluster / "servers/m1/server-cert.pem") == \
        datetime.timedelta(days=365) + BACKDATE
    assert validity(cluster / "clients/ci/cert.pem") == datetime.timedelta(hours=8) + BACKDATE
    backups = [p for p in cluster.iterdir() if p.name.startswith("backup-")]
    assert len(backups) == 1  # one commit
    assert sorted(str(p.relative_to(backups[0])) for p in backups[0].rglob("*.pem")) == [
        "clients/ci/ca.pem", "clients/ci/cert.pem", "clients/ci/key.pem",
        "servers/m1/ca.pem", "servers/m1/server-cert.pem", "servers/m1/server-key.pem"]
    assert cli("certs", "check", str(cluster), "--warn-days", "0").code == 0
    assert cli("certs", "verify-sums", str(cluster)).code == 0


def test_renew_within_says_what_it_renewed_and_where_it_goes(cluster: Path, cli) -> None:
    result = cli("certs", "renew", "--all", "--within", "1", "--out", str(cluster), "-q")
    assert result.code == 0, result.err
    assert sorted(result.out.splitlines()) == sorted(
        str(cluster / name) for name in ("clients/ci/ca.pem", "clients/ci/cert.pem",
                                         "clients/ci/key.pem", "SHA256SUMS"))
    # Even with -q: what was renewed and where it must go needs a human.
    assert f"Renewed {cluster / 'clients/ci/cert.pem'} (CN=ci, was to expire " in result.err
    assert "client ci: the folder clients/ci (its DOCKER_CERT_PATH)" in result.err
    assert "Generating" not in result.err  # progress lines stay quiet


@pytest.mark.parametrize("arguments", [["server", "--within", "3"], ["client", "--json"]])
def test_within_and_json_go_with_all(cluster: Path, cli, arguments: list[str]) -> None:
    result = cli("certs", "renew", *arguments, "--out", str(cluster))
    assert result.code == 2 and "--within and --json go with --all" in result.err


def test_renew_within_on_a_missing_folder_is_an_error(tmp_path: Path, cli) -> None:
    result = cli("certs", "renew", "--all", "--within", "30", "--out", str(tmp_path / "none"))
    assert result.code == 6 and "is not a directory" in result.err
    assert not os.path.lexists(tmp_path / "none")


def documented_renewal() -> list[str]:
    """The renewal command contrib/ gives cron and the systemd service (the same one)."""
    import re

    contrib = Path(__file__).resolve().parent.parent / "contrib"
    cron = re.findall(r"(?m)^17 3 \* \* \* root /root/\.local/share/minipaas/bin/(minipaas .*)$",
                      (contrib / "minipaas-certs.cron").read_text())
    service = re.findall(r"(?m)^ExecStart=/root/\.local/share/minipaas/bin/(minipaas .*)$",
                         (contrib / "minipaas-certs-renew.service").read_text())
    assert len(cron) == 1 and cron == service
    return cron[0].split()


def test_the_documented_daily_renewal_runs_as_written(tmp_path: Path) -> None:
    from conftest import run_tool

    command = documented_renewal()
    out = tmp_path / "etc-minipaas-certs"
    arguments = [str(out) if arg == "/etc/minipaas/certs" else arg for arg in command[1:]]
    assert arguments.count(str(out)) == 1 and "-q" in arguments
    certs("all", "--out", str(out), "--san", "10.0.0.5")
    daily = run_tool(*arguments)
    assert (daily.returncode, daily.stdout, daily.stderr) == (0, "", "")  # cron mails nothing
    before = snapshot(out)
    reissue(out / "server-cert.pem", out, days_ago=340)  # 25 days left: due
    due = run_tool(*arguments)
    assert due.returncode == 0, due.stderr
    assert str(out / "server-cert.pem") in due.stdout.splitlines()
    assert "the daemon of the top-level pair: ca.pem, server-cert.pem, server-key.pem into " \
        "its /etc/docker, then restart dockerd" in due.stderr
    after = snapshot(out)
    assert after != before
    again = run_tool(*arguments)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")
    assert snapshot(out) == after


def test_renew_within_after_a_crash_says_it_changed_files(cluster: Path, cli) -> None:
    """A crashed run's change is undone first, which changes files: never "changed":
    false then, although nothing was due."""
    import subprocess
    import sys

    from conftest import TOOL_OPENSSL, run_tool
    from test_faults import CRASHING_RUN

    crashed = subprocess.run([sys.executable, "-c", CRASHING_RUN, "4", str(cluster),
                              TOOL_OPENSSL], capture_output=True, text=True)
    assert crashed.returncode == 99, crashed.stderr
    elsewhere = cluster.parent / "elsewhere"  # the timer runs from another folder
    elsewhere.mkdir()
    result = run_tool("certs", "renew", "--all", "--within", "0", "--out",
                      os.path.relpath(cluster, elsewhere), "--json", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["changed"], report["renewed"]) == (True, [])
    assert "Undid the change of an interrupted run" in result.stderr
    assert not list(cluster.glob(".minipaas-staging-*"))
    assert cli("certs", "check", str(cluster), "--warn-days", "0").code == 0


def test_renewed_json_gives_the_validity_in_hours_too(cluster: Path, cli) -> None:
    result = cli("certs", "renew", "--all", "--within", "1", "--out", str(cluster), "--json")
    (ci,) = json.loads(result.out)["renewed"]
    assert (ci["validity"], ci["validity_hours"]) == ("8 hours", 8)
