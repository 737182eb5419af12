"""`certs check --format prometheus|nagios` and `--textfile`: the metrics checked by a real
`promtool check metrics` and scraped from a real node_exporter's textfile collector, the
Nagios plugin output checked for the plugin API's format and exit codes."""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import load_cert, reissue, unavailable

pytestmark = pytest.mark.invariant  # renders what check found: no openssl of its own

HOW_TO_GET = ("needs Debian's prometheus and prometheus-node-exporter: `apt-get install "
              "prometheus prometheus-node-exporter` (CI installs them)")
# A sample line: name{labels} value, and no timestamp.
SAMPLE = re.compile(r'^(?P<name>[a-z_0-9]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$')
LABEL = re.compile(r'(?P<name>[A-Za-z_]+)="(?P<value>(?:[^"\\]|\\.)*)"')
# The plugin API: "CERTS STATE - text | 'label'=value[UOM];warn;crit ..."
PERF = re.compile(r"^'(?P<label>(?:[^']|'')+)'=(?P<days>-?[0-9]+)d;(?P<warn>[0-9]+):;0:$")


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} not found: {HOW_TO_GET}")
    return found  # type: ignore[return-value]


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of each sample line; the exposition format's escapes undone
    (node_exporter writes values as floats: 2.1e+09)."""
    found = []
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = {m["name"]: re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e[1], e[1]),
                                    m["value"]) for m in LABEL.finditer(match["labels"] or "")}
        found.append((match["name"], labels, float(match["value"])))
    return found


def promtool_check(text: str) -> None:
    result = subprocess.run([binary("promtool"), "check", "metrics"], input=text,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""  # not even a lint remark


def test_prometheus_metrics_pass_promtool_with_enix_names(out: Path, cli) -> None:
    assert cli("certs", "server", "--out", str(out), "--name", "m1", "--san", "10.0.0.11",
               "-q").code == 0
    result = cli("certs", "check", str(out), "--format", "prometheus")
    assert result.code == 0 and result.err == ""
    promtool_check(result.out)
    found = samples(result.out)
    server = load_cert(out / "servers" / "m1" / "server-cert.pem")
    labels = {"filepath": str(out / "servers" / "m1" / "server-cert.pem"),
              "issuer_CN": "minipaas-ca", "serial_number": str(server.serial_number),
              "subject_CN": "10.0.0.11"}
    assert ("x509_cert_not_after", labels, int(server.not_valid_after_utc.timestamp())) in found
    assert ("x509_cert_not_before", labels, int(server.not_valid_before_utc.timestamp())) in found
    assert ("x509_cert_expired", labels, 0) in found
    files = {sample[1]["filepath"] for sample in found if sample[0] == "x509_cert_expired"}
    assert files == {str(out / name) for name in (
        "ca.pem", "server-cert.pem", "client-cert.pem", "cert.pem",
        "servers/m1/server-cert.pem")}
    assert [s for s in found if s[0] == "minipaas_certs_findings"] == [
        ("minipaas_certs_findings", {"directory": str(out), "severity": severity}, 0)
        for severity in ("problem", "warning")]
    for name in ("x509_cert_not_after", "minipaas_certs_findings"):
        assert f"# TYPE {name} gauge" in result.out.splitlines()


def test_prometheus_counts_findings_and_marks_the_expired(out: Path, cli) -> None:
    reissue(out / "server-cert.pem", out, days_ago=40, days=30)  # expired 10 days ago
    # The client pair in the last third of its lifetime and within --warn-days: a warning.
    reissue(out / "client-cert.pem", out, days_ago=300, days=365)
    shutil.copyfile(out / "client-cert.pem", out / "cert.pem")  # the docker CLI's copy
    result = cli("certs", "check", str(out), "--format", "prometheus", "--warn-days", "3000")
    assert result.code == 8  # check's exit codes, whatever the format
    promtool_check(result.out)
    found = samples(result.out)
    expired = {s[1]["filepath"]: s[2] for s in found if s[0] == "x509_cert_expired"}
    assert expired[str(out / "server-cert.pem")] == 1
    assert expired[str(out / "client-cert.pem")] == 0
    findings = {s[1]["severity"]: s[2] for s in found if s[0] == "minipaas_certs_findings"}
    # The expired server pair; the client pair within 3000 days (the CA is not).
    assert findings == {"problem": 1, "warning": 1}


def test_prometheus_label_values_are_escaped(tmp_path: Path, cli) -> None:
    folder = tmp_path / 'a "quoted"\\ folder\nwith a newline'
    assert cli("certs", "all", "--out", str(folder), "-q").code == 0
    result = cli("certs", "check", str(folder), "--format", "prometheus")
    assert result.code == 0
    promtool_check(result.out)
    assert f'filepath="{tmp_path}/a \\"quoted\\"\\\\ folder\\\\nwith a newline/ca.pem"' \
        in result.out  # the newline as show writes it (\n), its backslash escaped
    assert {s[1]["directory"] for s in samples(result.out) if s[0].startswith("minipaas")} \
        == {f'{tmp_path}/a "quoted"\\ folder\\nwith a newline'}


def test_textfile_is_written_atomically_with_mode_0644(out: Path, tmp_path: Path, cli) -> None:
    collected = tmp_path / "textfile"
    collected.mkdir()
    target = collected / "minipaas.prom"
    target.write_text("old\n")
    before = target.stat().st_ino
    umask = os.umask(0o077)
    try:
        result = cli("certs", "check", str(out), "--textfile", str(target))
    finally:
        os.umask(umask)
    assert result.code == 0
    assert result.out.startswith(f"OK: {out}: ")  # stdout keeps its format (text)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.stat().st_ino != before  # renamed into place, not rewritten
    assert os.listdir(collected) == ["minipaas.prom"]  # no temporary file left
    printed = cli("certs", "check", str(out), "--format", "prometheus").out
    assert target.read_text() == printed
    promtool_check(target.read_text())


def test_textfile_refuses_what_the_collector_would_not_read(out: Path, tmp_path: Path,
                                                            cli) -> None:
    result = cli("certs", "check", str(out), "--textfile", str(tmp_path / "certs.txt"))
    assert result.code == 2
    assert result.err.strip().endswith(f"{tmp_path}/certs.txt does not end in .prom, which "
                                       "node_exporter's textfile collector reads")
    taken = tmp_path / "collected"
    (taken / "certs.prom").mkdir(parents=True)  # the rename fails: its file is removed
    result = cli("certs", "check", str(out), "--textfile", str(taken / "certs.prom"))
    assert result.code == 6
    assert result.err.strip() == f"Error: cannot write {taken}/certs.prom: Is a directory"
    assert os.listdir(taken) == ["certs.prom"] and not os.listdir(taken / "certs.prom")
    shutil.rmtree(taken)
    missing = tmp_path / "nowhere" / "certs.prom"
    result = cli("certs", "check", str(out), "--textfile", str(missing))
    assert result.code == 6
    assert result.err.strip() == f"Error: cannot write {missing}: No such file or directory"
    result = cli("certs", "check", str(tmp_path / "no-set"), "--textfile",
                 str(tmp_path / "certs.prom"))
    assert result.code == 6  # the check failed: nothing written
    assert not (tmp_path / "certs.prom").exists()
    assert sorted(os.listdir(tmp_path)) == ["certs"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(url: str, exporter: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            if exporter.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_node_exporter_serves_the_textfile(out: Path, tmp_path: Path, cli) -> None:
    exporter_binary = binary("prometheus-node-exporter")
    collected = tmp_path / "textfile"
    collected.mkdir()
    reissue(out / "server-cert.pem", out, days_ago=40, days=30)
    assert cli("certs", "check", str(out), "--textfile",
               str(collected / "minipaas.prom")).code == 8
    address = f"127.0.0.1:{_free_port()}"
    exporter = subprocess.Popen(
        [exporter_binary, f"--web.listen-address={address}", "--collector.disable-defaults",
         "--collector.textfile", f"--collector.textfile.directory={collected}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        scraped = _scrape(f"http://{address}/metrics", exporter)
    finally:
        exporter.terminate()
        exporter.wait(timeout=30)
    found = samples("\n".join(line for line in scraped.splitlines()
                              if line.startswith(("x509_", "minipaas_", "node_textfile_scrape"))))
    assert ("node_textfile_scrape_error", {}, 0) in found
    server = load_cert(out / "server-cert.pem")
    labels = {"filepath": str(out / "server-cert.pem"), "issuer_CN": "minipaas-ca",
              "serial_number": str(server.serial_number), "subject_CN": "10.0.0.5"}
    assert ("x509_cert_not_after", labels, int(server.not_valid_after_utc.timestamp())) in found
    assert ("x509_cert_expired", labels, 1) in found
    assert ("minipaas_certs_findings", {"directory": str(out), "severity": "problem"}, 1) \
        in found


def nagios(cli, *args: str) -> tuple[int, list[str], str]:
    result = cli("certs", "check", *args, "--format", "nagios")
    return result.code, result.out.splitlines(), result.err


def perfdata(line: str) -> dict[str, tuple[int, int]]:
    """The status line's perfdata, checked against the plugin API's form."""
    text, bar, performance = line.partition(" | ")
    assert bar and "|" not in text + performance
    items = re.findall(r"'(?:[^']|'')+'=\S+", performance)
    assert " ".join(items) == performance
    found = {}
    for item in items:
        match = PERF.match(item)
        assert match, item
        found[match["label"].replace("''", "'")] = (int(match["days"]), int(match["warn"]))
    return found


def test_nagios_ok_with_perfdata_per_certificate(out: Path, cli) -> None:
    assert cli("certs", "server", "--out", str(out), "--name", "m1", "--san", "10.0.0.11",
               "-q").code == 0
    assert cli("certs", "client", "--out", str(out), "--name", "ci", "-q").code == 0
    code, lines, err = nagios(cli, str(out))
    assert (code, err, len(lines)) == (0, "", 1)
    assert lines[0].startswith(f"CERTS OK - {out}: 5 certificates, none expires within 30 "
                               "days | ")
    # cert.pem, the client pair's true copy, is the client's certificate: not twice.
    days = perfdata(lines[0])
    assert days == {"ca": (3649, 30), "server": (364, 30), "client": (364, 30),
                    "server m1": (364, 30), "client ci": (364, 30)}


def test_nagios_warning_and_critical(out: Path, cli) -> None:
    # Both pairs in the last third of their lifetime (check's warning), within 400 days.
    for pair in ("client-cert.pem", "server-cert.pem"):
        reissue(out / pair, out, days_ago=300, days=365)
    shutil.copyfile(out / "client-cert.pem", out / "cert.pem")  # the docker CLI's copy
    code, lines, _ = nagios(cli, str(out), "--warn-days", "400")
    assert code == 1
    assert lines[0].startswith(f"CERTS WARNING - {out}: 2 warnings; client-cert.pem: "
                               "expires on ")
    assert perfdata(lines[0])["server"] == (64, 400)
    # The long output: one line per finding, as the text format prints them.
    assert [line.split(":")[0:2] for line in lines[1:]] == [
        ["warning", " client-cert.pem"], ["warning", " server-cert.pem"]]
    reissue(out / "server-cert.pem", out, days_ago=40, days=30)
    code, lines, _ = nagios(cli, str(out), "--warn-days", "400")
    assert code == 2
    assert lines[0].startswith(f"CERTS CRITICAL - {out}: 1 problem, 1 warning; "
                               "server-cert.pem: expired on ")
    assert perfdata(lines[0])["server"] == (-11, 400)  # whole days, as show's days_left
    assert lines[1].startswith("problem: server-cert.pem: expired on ")


def test_nagios_unknown_when_it_cannot_check(tmp_path: Path, out: Path, cli) -> None:
    code, lines, err = nagios(cli, str(tmp_path / "missing"))
    assert (code, lines, err) == (3, [f"CERTS UNKNOWN - {tmp_path}/missing is not a directory"],
                                  "")
    code, lines, _ = nagios(cli, str(out), "--json")
    assert (code, lines) == (3, ["CERTS UNKNOWN - --json is --format json: it cannot go "
                                 "with --format nagios"])
    # Other formats keep the tool's errors and exit codes.
    result = cli("certs", "check", str(tmp_path / "missing"), "--format", "prometheus")
    assert (result.code, result.out) == (6, "")


def test_nagios_labels_are_quoted_and_unique(tmp_path: Path, cli) -> None:
    """Two CAs in ca.pem (a rollover) have labels of their own; a quote is doubled."""
    from minipaas_certs.certinfo import read_certificates
    from minipaas_certs.check import Report
    from minipaas_certs.inventory import Entry
    from minipaas_certs.reports import Checked, check_nagios

    assert cli("certs", "ca", "--out", str(tmp_path), "-q").code == 0
    ca = read_certificates(tmp_path / "ca.pem")[0]
    entries = [Entry("ca.pem", "ca", ca), Entry("ca.pem", "ca", ca),
                Entry("clients/it's/cert.pem", "client", ca)]
    line = check_nagios(Checked(tmp_path, Report([], entries, None, {}), 30))
    assert line.endswith("| 'ca'=3649d;30:;0: 'ca 2'=3649d;30:;0: 'client it''s'=3649d;30:;0:")
    assert list(perfdata(line)) == ["ca", "ca 2", "client it's"]


def test_json_is_format_json(out: Path, cli) -> None:
    assert cli("certs", "check", str(out), "--json").out == \
        cli("certs", "check", str(out), "--format", "json").out
    result = cli("certs", "check", str(out), "--json", "--format", "prometheus")
    assert result.code == 2
    assert result.err.strip() == ("Error: --json is --format json: it cannot go with "
                                  "--format prometheus")
