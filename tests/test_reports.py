"""reports: the counted nouns every printed count goes through, and the formats table
every output goes through."""

from __future__ import annotations

from pathlib import Path

from conftest import TOOL_OPENSSL

from minipaas_certs import reports
from minipaas_certs.check import Finding, check
from minipaas_certs.generate import Outcome
from minipaas_certs.identity import ROLES, eku_name
from minipaas_certs.openssl import OpenSSL
from minipaas_certs.output import say
from minipaas_certs.reports import Checked, count, plural


def test_count_says_one_noun_or_many() -> None:
    assert count(1, "certificate") == "1 certificate"
    assert count(0, "certificate") == "0 certificates"
    assert count(2, "day") == "2 days"


def test_plural_takes_an_irregular_form() -> None:
    assert plural(1, "matches", "match") == "matches"
    assert plural(3, "matches", "match") == "match"


# Every output goes through reports.FORMATS: a new format is one entry there.

def test_a_new_check_format_is_one_entry(tmp_path: Path, cli, capsys, monkeypatch) -> None:
    """A throw-away format, registered in the table alone, renders `check`'s report."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0

    def nagios(data: Checked) -> None:
        report = data.report
        say(f"CERTS {report.status.upper()} - {report.certificates} certificates, "
            f"{len(report.findings)} findings")

    monkeypatch.setitem(reports.FORMATS["check"], "nagios", nagios)
    report = check(OpenSSL(TOOL_OPENSSL), out, 30)
    capsys.readouterr()
    reports.render("check", Checked(out, report, 30), "nagios")
    assert capsys.readouterr().out == "CERTS OK - 3 certificates, 0 findings\n"


def test_the_check_command_renders_through_the_table(tmp_path: Path, cli, monkeypatch) -> None:
    """`check --json` prints what the table's json entry renders, and keeps its exit code."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    (out / "server-key.pem").chmod(0o644)
    monkeypatch.setitem(reports.FORMATS["check"], "json",
                        lambda data: say(f"{data.folder}: {data.report.status}"))
    result = cli("certs", "check", "--json", str(out))
    assert (result.code, result.out) == (8, f"{out}: problem\n")


def test_every_kind_prints_text_and_the_json_ones_are_named() -> None:
    assert all("text" in formats for formats in reports.FORMATS.values())
    assert {kind for kind, formats in reports.FORMATS.items() if "json" in formats} == \
        {"show", "check", "renew-all", "doctor", "prune", "outcome", "written",
         "verify-sums", "verify-received"}
    assert (reports.chosen(True), reports.chosen(False)) == ("json", "text")


def test_a_finding_as_a_line_and_as_json() -> None:
    finding = Finding("warning", "cert.pem", "expires on 2030-01-01, in 5 days",
                      "minipaas certs renew client --out x")
    assert reports.finding_line(finding) == ("warning: cert.pem: expires on 2030-01-01, in 5 "
                                             "days; fix: minipaas certs renew client --out x")
    assert list(reports.finding_json(finding).items()) == [
        ("severity", "warning"), ("file", "cert.pem"),
        ("message", "expires on 2030-01-01, in 5 days"),
        ("fix", "minipaas certs renew client --out x")]


def test_usage_names_come_from_the_role_table() -> None:
    assert [eku_name(role.eku_oid) for role in ROLES.values()] == ["serverAuth", "clientAuth"]
    assert eku_name("1.3.6.1.5.5.7.3.4") == "1.3.6.1.5.5.7.3.4"  # emailProtection: as is


def test_nothing_skipped_nothing_advised() -> None:
    done = Outcome([], [])
    assert reports.skipped_warnings(done) == []
    assert reports.new_ca_advice(Path("x"), done) == []


# Long lists in messages: one helper cuts them with a count.

def test_listed_names_ten_then_counts_the_rest() -> None:
    from minipaas_certs.errors import listed

    assert listed([]) == "none"
    assert listed([], empty="") == ""
    assert listed(["a", "b"]) == "a, b"
    names = [f"c{i}" for i in range(1, 11)]
    assert listed(names) == ", ".join(names)  # ten: all of them
    assert listed([*names, "c11", "c12"]) == f"{', '.join(names)} and 2 more"
    assert listed(Path(f"x/{n}") for n in ["p", "q", "r"]) == "x/p, x/q, x/r"


def test_a_missing_bundle_among_many_names_ten(tmp_path: Path, cli) -> None:
    """`p12 --name` (and revoke) for a bundle that is not there: the bundles present are
    named, ten of them, and counted past that: not 150 names on one line."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    names = [f"c{i:02}" for i in range(1, 15)]
    assert cli("certs", "client", "--out", str(out), "-q",
               *(word for name in names for word in ("--name", name))).code == 0
    (tmp_path / "password").write_text("secret-words\n")
    result = cli("certs", "p12", "--out", str(out), "--name", "nobody",
                 "--password-file", str(tmp_path / "password"))
    assert result.code == 5
    assert result.error_line == (
        f"Error: no client bundle {out}/clients/nobody (present: {', '.join(names[:10])} "
        f"and 4 more): create it with `minipaas certs client --out {out} --name nobody`")
    revoked = cli("certs", "revoke", "--out", str(out), "--name", "nobody")
    assert revoked.code == 2
    assert "(present: clients/c01, clients/c02, clients/c03, clients/c04, clients/c05, " \
        "clients/c06, clients/c07, clients/c08, clients/c09, clients/c10 and 4 more)" \
        in revoked.error_line


# After `certs all`: the next two commands.

def test_all_says_what_to_do_next(tmp_path: Path, cli) -> None:
    """Three lines on stderr after the progress: the daemon's files, then the first
    `docker version`, whose env command works as printed (HOST: the first --san)."""
    import shlex

    out = tmp_path / "certs"
    done = cli("certs", "all", "--out", str(out), "--san", "manager.example.com",
               "--san", "10.0.0.5")
    assert done.code == 0
    assert done.err.splitlines()[-3:] == [
        f"Next: copy ca.pem, server-cert.pem and server-key.pem from {out} into the "
        "daemon's /etc/docker,",
        "  and what `minipaas certs daemon-json` prints into its /etc/docker/daemon.json; "
        "restart dockerd.",
        f'Then: eval "$(minipaas certs env --out {out} --host manager.example.com)" '
        "&& docker version"]
    env = done.err.splitlines()[-1].split('"$(')[1].split(')"')[0]
    shown = cli(*shlex.split(env)[1:])
    assert shown.code == 0 and shown.err == ""  # the host is among the server's names
    assert "export DOCKER_HOST=tcp://manager.example.com:2376" in shown.out


def test_all_without_a_san_and_quiet(tmp_path: Path, cli) -> None:
    """Without --san the server answers to localhost alone; -q prints none of it."""
    out = tmp_path / "certs"
    done = cli("certs", "all", "--out", str(out))
    assert done.err.splitlines()[-1] == (
        f'Then: eval "$(minipaas certs env --out {out} --host localhost)" && docker version')
    quiet = cli("certs", "all", "--out", str(tmp_path / "quiet"), "-q")
    assert quiet.code == 0 and quiet.err == ""


# Progress of a run of many bundles: a count on a terminal, a line each elsewhere or with -v.

def _on_a_terminal(*args: str, stdout_too: bool = False) -> tuple[int, str, str]:
    """Run the tool with stderr (and, ``stdout_too``, stdout) on a real pseudo-terminal:
    its exit code, stdout when it is a pipe, and the bytes the terminal received, decoded."""
    import os
    import pty
    import subprocess
    import sys

    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-m", "minipaas_certs", *args],
                                   stdout=terminal if stdout_too else subprocess.PIPE,
                                   stderr=terminal)
    finally:
        os.close(terminal)
    received = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: every end of the terminal is closed
            break
        if not chunk:
            break
        received += chunk
    os.close(controller)
    out = process.stdout.read().decode() if process.stdout else ""
    return process.wait(), out, received.decode().replace("\r\n", "\n")


def _person_at_a_terminal(*args: str) -> tuple[int, str]:
    """Run the tool with stdout and stderr on one terminal: its exit code and what the
    person sees (the count's redraws removed)."""
    import re

    code, _, received = _on_a_terminal(*args, stdout_too=True)
    seen = re.sub(r"\r\x1b\[K[^\r\n]*(?=\r\x1b\[K)", "", received)
    return code, seen.replace("\r\x1b[K", "")


def test_a_person_at_a_terminal_sees_many_bundles_summed_up(tmp_path: Path, cli) -> None:
    """The files written, the renewed certificates and where they go: one line each for
    12 bundles on a terminal (names cut with a count), every line with -v."""
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "-q", *_names(12)).code == 0
    code, seen = _person_at_a_terminal("certs", "renew", "--all", "--within", "100%",
                                       "--out", str(out))
    assert code == 0, seen
    lines = seen.splitlines()
    assert lines[0] == "Generating keys and certificates: 14/14"
    (wrote,) = [line for line in lines if line.startswith("Wrote ")]
    assert f"Renewed 14 certificates in {out}: server-cert.pem, client-cert.pem, " \
           "clients/c1/cert.pem, clients/c10/cert.pem, clients/c11/cert.pem, " \
           "clients/c12/cert.pem, clients/c2/cert.pem, clients/c3/cert.pem, " \
           "clients/c4/cert.pem, clients/c5/cert.pem and 4 more (-v: a line each)" in lines
    assert lines[-1] == (
        "  client NAME: the folder clients/NAME (its DOCKER_CERT_PATH); where a client.p12 "
        f"was used, make it again with `minipaas certs p12 --out {out} --name NAME`; NAME: "
        "c1, c10, c11, c12, c2, c3, c4, c5, c6, c7 and 2 more")
    assert len(lines) == 8, lines
    code, seen = _person_at_a_terminal("certs", "renew", "--all", "--within", "100%",
                                       "--out", str(out), "-v")
    assert code == 0
    lines = seen.splitlines()
    assert f"{out}/clients/c12/key.pem" in lines
    files = [line for line in lines if line.startswith(f"{out}/")]
    assert wrote == f"Wrote {len(files)} files in {out} (13 folders; -v lists each file)"
    assert sum(line.startswith("Renewed ") for line in lines) == 14
    assert sum(line.startswith("  client c") for line in lines) == 12
    code, seen = _person_at_a_terminal("certs", "revoke", "--out", str(out), "--name", "c3")
    assert code == 0, seen
    assert seen.splitlines()[-1].endswith("; NAME: c1, c10, c11, c12, c2, c4, c5, c6, c7, c8 "
                                          "and 1 more")


def _names(count: int, prefix: str = "c") -> list[str]:
    return [word for number in range(1, count + 1) for word in ("--name", f"{prefix}{number}")]


def test_many_bundles_count_in_one_line_on_a_terminal(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    code, stdout, terminal = _on_a_terminal("certs", "client", "--out", str(out), *_names(12))
    assert code == 0, terminal
    assert f"{out}/clients/c12/key.pem" in stdout.splitlines()  # the results: unchanged
    assert "Generating client key" not in terminal
    steps = [f"\r\x1b[KGenerating keys and certificates: {n}/12" for n in range(13)]
    assert terminal == "".join(steps) + "\n", repr(terminal)


def test_verbose_or_a_pipe_gets_a_line_per_bundle(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    code, _, terminal = _on_a_terminal("certs", "client", "--out", str(out), "-v",
                                       *_names(12))
    assert code == 0
    lines = [f"Generating client key (ECDSA P-256) and certificate for CN=c{n}"
             for n in range(1, 13)]
    assert terminal.splitlines() == lines and "\x1b" not in terminal
    piped = cli("certs", "client", "--out", str(out), *_names(12, "p"))  # stderr: no terminal
    assert piped.err.splitlines() == [line.replace("CN=c", "CN=p") for line in lines]


def test_a_few_bundles_keep_their_lines_on_a_terminal(tmp_path: Path, cli) -> None:
    out = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    code, _, terminal = _on_a_terminal("certs", "client", "--out", str(out), *_names(2))
    assert code == 0
    assert terminal.splitlines() == [
        f"Generating client key (ECDSA P-256) and certificate for CN=c{n}" for n in (1, 2)]


def test_quiet_and_verbose_together_is_a_usage_error(tmp_path: Path, cli) -> None:
    result = cli("certs", "all", "--out", str(tmp_path / "certs"), "-q", "-v")
    assert result.code == 2
    assert result.error_line == ("Error: -q and -v cannot be combined: -q prints errors and "
                                 "warnings alone, -v every progress line")
    assert not (tmp_path / "certs").exists()
