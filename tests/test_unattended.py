"""Short-lived certificates (--hours) and unattended renewal (renew --all --within),
with the real openssl; the resulting certificates are read with ``cryptography``."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pytest
from conftest import certs, load_cert, reissue

from minipaas_certs import clock

BACKDATE = datetime.timedelta(minutes=5)
DAY = datetime.timedelta(days=1)


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
    result = cli("certs", "renew", "--all", "--within", "100%", "--out", str(cluster), *arguments)
    assert result.code == 2 and message in result.err
    assert snapshot(cluster) == before


def test_show_and_check_count_hours_when_under_a_day(cluster: Path, cli,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shown = cli("certs", "show", str(cluster))
    assert "(7 hours left)" in shown.out
    data = json.loads(cli("certs", "show", str(cluster), "--json").out)
    ci = next(entry for entry in data["certificates"] if entry["file"] == "clients/ci/cert.pem")
    assert (ci["days_left"], ci["hours_left"]) == (0, 7)
    # Issue 25: no warning before its last third, though its 8 hours are within --warn-days.
    assert cli("certs", "check", str(cluster), "--warn-days", "1").code == 0
    ahead = clock.now() + datetime.timedelta(hours=5, minutes=40)  # 2 h 20 min left
    monkeypatch.setattr(clock, "now", lambda: ahead)
    checked = cli("certs", "check", str(cluster), "--warn-days", "1")
    assert checked.code == 7, checked.out
    warning = next(line for line in checked.out.splitlines() if "clients/ci" in line)
    assert "in 2 hours" in warning and " UTC" in warning
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
    assert report == {"schema": 1, "directory": str(cluster), "changed": False, "within_days": 0,
                      "within_percent": None, "renewed": [], "deploy": [], "written": [],
                      "skipped": [], "skipped_to": None}
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


def test_within_goes_with_all(cluster: Path, cli) -> None:
    # --json goes with a single pair too since i25-json (tests/test_json_output.py).
    result = cli("certs", "renew", "server", "--within", "3", "--out", str(cluster))
    assert result.code == 2 and "--within goes with --all" in result.err


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


# Issue 25, item 3: renewal at the right moment, with the clock moved (never a sleep).

def _renew(cli, folder: Path, *options: str) -> list[str]:
    result = cli("certs", "renew", "--all", "--out", str(folder), "--json", "-q", *options)
    assert result.code == 0, result.err
    return sorted(entry["file"] for entry in json.loads(result.out)["renewed"])


def _made_ago(monkeypatch: pytest.MonkeyPatch, ago: datetime.timedelta, *args: str) -> None:
    """``certs ARGS`` run as if ``ago`` earlier: the suite's way to age a certificate
    (openssl checks what it signs against the real time, so the clock goes back, not on)."""
    then = clock.now() - ago
    with monkeypatch.context() as patched:
        patched.setattr(clock, "now", lambda: then)
        certs(*args)


@pytest.fixture
def older(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``cluster`` made a day ago, but for the 8-hour client (made now)."""
    out = tmp_path / "certs"
    _made_ago(monkeypatch, DAY, "all", "--out", str(out), "--san", "10.0.0.5")
    _made_ago(monkeypatch, DAY, "server", "--out", str(out), "--name", "m1", "--san",
              "10.0.0.11")
    certs("client", "--out", str(out), "--name", "ci", "--hours", "8")
    return out


def test_renew_all_renews_what_has_a_third_of_its_lifetime_left(
        older: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --within: an 8-hour credential just made is not due (it was, at every run
    of --within 30), nor a 365-day pair; in its last third it is, once; -q prints nothing
    while nothing is due."""
    cluster = older
    before = snapshot(cluster)
    quiet = cli("certs", "renew", "--all", "--out", str(cluster), "-q")
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")
    told = cli("certs", "renew", "--all", "--out", str(cluster))
    assert (told.code, told.out) == (0, "")
    assert told.err == (f"Nothing to renew in {cluster}: no certificate has less than a "
                        "third of its lifetime left\n")
    assert snapshot(cluster) == before
    _made_ago(monkeypatch, datetime.timedelta(hours=5), "renew", "client", "--out",
              str(cluster), "--name", "ci")  # 3 h 5 min of 8 h 5 min left: over a third
    assert _renew(cli, cluster) == []
    _made_ago(monkeypatch, datetime.timedelta(hours=6), "renew", "client", "--out",
              str(cluster), "--name", "ci")  # 2 h 5 min left
    assert _renew(cli, cluster) == ["clients/ci/cert.pem"]
    assert _renew(cli, cluster) == []  # the new one: not due again
    quiet = cli("certs", "renew", "--all", "--out", str(cluster), "-q")
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")


def test_a_year_is_due_after_two_thirds_of_it(tmp_path: Path, cli,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "certs"
    _made_ago(monkeypatch, datetime.timedelta(days=243), "all", "--out", str(out))
    assert _renew(cli, out) == []  # 122 of 365 days left
    _made_ago(monkeypatch, datetime.timedelta(days=244), "all", "--out", str(out), "--force")
    assert _renew(cli, out) == ["client-cert.pem", "server-cert.pem"]
    assert _renew(cli, out, "--within", "100%") == ["client-cert.pem", "server-cert.pem"]


def test_within_a_percentage_and_within_100_percent(
        older: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = older
    _made_ago(monkeypatch, datetime.timedelta(hours=3), "renew", "client", "--out",
              str(cluster), "--name", "ci")
    assert _renew(cli, cluster, "--within", "50%") == []  # 5 of 8 hours left
    result = cli("certs", "renew", "--all", "--out", str(cluster), "--within", "50%",
                 "--json")
    report = json.loads(result.out)
    assert (report["within_days"], report["within_percent"]) == (None, 50.0)
    assert cli("certs", "renew", "--all", "--out", str(cluster), "--within", "50%"
               ).err == (f"Nothing to renew in {cluster}: no certificate has less than 50% "
                         "of its lifetime left\n")
    assert _renew(cli, cluster, "--within", "70%") == ["clients/ci/cert.pem"]
    assert _renew(cli, cluster, "--within", "100%") == [
        "client-cert.pem", "clients/ci/cert.pem", "server-cert.pem",
        "servers/m1/server-cert.pem"]
    report = json.loads(cli("certs", "renew", "--all", "--out", str(cluster), "--json").out)
    assert (report["within_days"], report["within_percent"]) == (None, 33.33)


@pytest.mark.parametrize("value, message", [
    ("101%", "Invalid value for '--within': '101%': a share of the lifetime is 0% to 100%"),
    ("soon", "Invalid value for '--within': 'soon' is neither days (30) nor a share of the "
             "lifetime (33%)"),
])
def test_within_refuses_what_is_neither_days_nor_a_percentage(
        cluster: Path, cli, value: str, message: str) -> None:
    before = snapshot(cluster)
    result = cli("certs", "renew", "--all", "--out", str(cluster), "--within", value)
    assert result.code == 2 and result.out == ""
    assert result.err.splitlines()[-1] == f"Error: {message}", result.err
    assert "Traceback" not in result.err
    assert snapshot(cluster) == before


def test_check_warns_in_the_last_third_or_within_warn_days_whichever_is_shorter(
        cluster: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 8-hour credential: sound when made, a warning under 2 h 40 min left; the
    365-day pairs: a warning 30 days ahead (their third, 121 days, is longer)."""
    start = clock.now()

    def warned(after: datetime.timedelta) -> set[str]:
        monkeypatch.setattr(clock, "now", lambda: start + after)
        result = cli("certs", "check", str(cluster))
        return {line.split(": ")[1] for line in result.out.splitlines()
                if line.startswith("warning: ")}

    assert warned(datetime.timedelta(0)) == set()
    assert warned(datetime.timedelta(hours=5)) == set()
    assert warned(datetime.timedelta(hours=6)) == {"clients/ci/cert.pem"}
    assert warned(datetime.timedelta(days=300)) == set()  # the 8 hours: expired, a problem
    assert warned(datetime.timedelta(days=340)) == {
        "client-cert.pem", "server-cert.pem", "servers/m1/server-cert.pem"}


def test_help_says_how_to_renew_every_pair(cli) -> None:
    said = " ".join(cli("certs", "renew", "--help").out.split())
    assert "renew --all --within 100% --out .certs # every pair, one step" in said
    assert "100% renews every pair." in said and "[default: a third of its lifetime]" in said


def test_a_bundle_it_cannot_renew_is_told_only_once_due(cluster: Path, cli) -> None:
    """-q prints nothing while nothing is due, even beside a bundle renew --all would skip
    (a server certificate in clients/x): it is named once it is due (here: 100%)."""
    from foreign import foreign_leaf

    foreign_leaf(cluster / "clients/x", "server", "x", "P-256", cluster / "ca.pem",
                 cluster / "ca-key.pem", "DNS:x.example")
    quiet = cli("certs", "renew", "--all", "--out", str(cluster), "-q")
    assert (quiet.code, quiet.out, quiet.err) == (0, "", "")
    every = cli("certs", "renew", "--all", "--within", "100%", "--out", str(cluster), "-q")
    assert every.code == 0, every.err
    assert "Warning: clients/x was not renewed (it holds a server certificate, not a " \
        "client one)" in every.err
