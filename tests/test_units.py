"""Unit tests: validators, version parsing, argv building, rendering, the DER reader."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
from conftest import load_cert
from cryptography import x509

from minipaas_certs import issue, plan, render
from minipaas_certs.certinfo import parse_certificate, pem_to_der
from minipaas_certs.errors import InvalidInput, OpenSSLFailed, OpenSSLUnavailable
from minipaas_certs.names import (
    SubjectAltName,
    parse_common_name,
    parse_identity_name,
    parse_san,
    parse_sans,
)
from minipaas_certs.openssl import OpenSSL, clean_environment, parse_version


@pytest.mark.parametrize("value,expected", [
    ("10.0.0.5", "IP:10.0.0.5"),
    ("IP:10.0.0.5", "IP:10.0.0.5"),
    ("ip:10.0.0.5", "IP:10.0.0.5"),
    ("::1", "IP:::1"),
    ("2001:DB8:0:0::1", "IP:2001:db8::1"),
    ("manager", "DNS:manager"),
    ("Manager.Example.COM", "DNS:manager.example.com"),
    ("DNS:localhost", "DNS:localhost"),
    ("*.swarm.example.com", "DNS:*.swarm.example.com"),
    ("xn--bcher-kva.example", "DNS:xn--bcher-kva.example"),
    ("a" * 63 + ".example.com", "DNS:" + "a" * 63 + ".example.com"),
    ("node-1.example.com", "DNS:node-1.example.com"),
    ("10.example.com", "DNS:10.example.com"),
])
def test_san_accepted(value: str, expected: str) -> None:
    assert str(parse_san(value)) == expected


def test_longest_dns_name_is_accepted_and_one_more_is_not() -> None:
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(name) == 253
    assert parse_san(name).value == name
    with pytest.raises(InvalidInput, match="253"):
        parse_san(name + "e")


def test_sans_are_deduplicated_in_order() -> None:
    assert parse_sans(["b.example", "10.0.0.1", "B.example", "IP:10.0.0.1"]) == [
        SubjectAltName("DNS", "b.example"), SubjectAltName("IP", "10.0.0.1")]


@pytest.mark.parametrize("value", ["client", "CI bot (2026)", "ops@example.com", "a" * 64])
def test_common_name_accepted(value: str) -> None:
    assert parse_common_name(value) == value


@pytest.mark.parametrize("value", ["ci", "alice", "deploy-bot", "team.ops", "a_b"])
def test_identity_name_accepted(value: str) -> None:
    assert parse_identity_name(value) == value


@pytest.mark.parametrize("value", ["", ".", "..", "a/b", "../x", "A", "a b", "-x", "a..b",
                                   "x" * 65, "a\n"])
def test_identity_name_refused(value: str) -> None:
    with pytest.raises(InvalidInput):
        parse_identity_name(value)


@pytest.mark.parametrize("text,flavour,number,in_req", [
    ("OpenSSL 3.0.19 27 Jan 2026 (Library: OpenSSL 3.0.19 27 Jan 2026)", "OpenSSL",
     (3, 0, 19), True),
    ("OpenSSL 1.1.1w  11 Sep 2023", "OpenSSL", (1, 1, 1), False),
    ("OpenSSL 3.5.0 8 Apr 2025", "OpenSSL", (3, 5, 0), True),
    ("LibreSSL 3.3.6", "LibreSSL", (3, 3, 6), False),
])
def test_version_parsing(text: str, flavour: str, number: tuple[int, int, int],
                         in_req: bool) -> None:  # in_req: a 3.0+ feature the tool no longer needs
    version = parse_version(text)
    assert (version.flavour, version.number) == (flavour, number)


@pytest.mark.parametrize("text", ["OpenSSL 1.1.0l 10 Sep 2019", "OpenSSL 1.0.2k-fips",
                                  "LibreSSL 2.8.3", "BoringSSL 1.1.1", "", "garbage"])
def test_version_refused(text: str) -> None:
    with pytest.raises(OpenSSLUnavailable, match=r"1\.1\.1"):
        parse_version(text)


def test_clean_environment_drops_openssl_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSSL_CONF", "/etc/evil.cnf")
    monkeypatch.setenv("OPENSSL_MODULES", "/tmp")
    monkeypatch.setenv("SECRET_TOKEN", "x")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/ssl/lib")
    env = clean_environment()
    assert env["OPENSSL_CONF"] == os.devnull
    assert env["LD_LIBRARY_PATH"] == "/opt/ssl/lib"
    assert "OPENSSL_MODULES" not in env and "SECRET_TOKEN" not in env and "HOME" not in env


@pytest.mark.parametrize("background", [False, True])
def test_version_runs_once(background: bool) -> None:
    openssl = OpenSSL()
    with mock.patch.object(OpenSSL, "run", return_value=b"OpenSSL 3.0.2 15 Mar 2022\n") as run:
        if background:
            openssl.start_detection()
        assert openssl.version.number == (3, 0, 2)
        assert openssl.version.number == (3, 0, 2)
    run.assert_called_once_with(["version"])


def test_background_detection_reports_an_old_openssl(tmp_path: Path) -> None:
    script = tmp_path / "openssl"
    script.write_text("#!/bin/sh\necho 'OpenSSL 1.0.2u  20 Dec 2019'\n")
    script.chmod(0o755)
    openssl = OpenSSL(str(script))
    openssl.start_detection()
    for _ in range(2):
        with pytest.raises(OpenSSLUnavailable, match="too old"):
            assert openssl.version


def test_failure_message_shows_command_code_and_stderr(tmp_path: Path) -> None:
    with pytest.raises(OpenSSLFailed) as failure:
        OpenSSL().run(["pkey", "-in", tmp_path / "missing.pem"])
    message = str(failure.value)
    assert "pkey -in" in message and "exited 1" in message and "missing.pem" in message


def test_hung_openssl_times_out(tmp_path: Path) -> None:
    script = tmp_path / "openssl"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    with pytest.raises(OpenSSLFailed, match="timed out"):
        OpenSSL(str(script), timeout=0.5).run(["version"])


class RecordingOpenSSL:
    """Records argv instead of running openssl: for the argv-building tests only."""

    def __init__(self, version: str) -> None:
        self.version = parse_version(version)
        self.calls: list[list[str]] = []
        self.secrets: list[dict[str, bytes]] = []

    def start(self, args: list[object], *, stdin: bytes | None = None,
              secrets: dict[str, bytes] | None = None, cwd: Path | None = None) -> mock.Mock:
        call = [os.fspath(a) if isinstance(a, Path) else str(a) for a in args]
        self.calls.append(call)
        self.secrets.append(secrets or {})
        if call[0] == "genpkey":
            Path(call[call.index("-out") + 1]).write_text("key")
        return mock.Mock(wait=lambda: b"CSR" if call[:2] == ["req", "-new"] else b"")

    def run(self, args: list[object], *, stdin: bytes | None = None,
            secrets: dict[str, bytes] | None = None, cwd: Path | None = None) -> bytes:
        return self.start(args, stdin=stdin, secrets=secrets).wait()  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", ["OpenSSL 3.0.2", "OpenSSL 1.1.1w", "LibreSSL 3.8.2"])
def test_leaf_argv_request_then_ca_with_exact_dates(
        tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    recorder = RecordingOpenSSL(version)
    monkeypatch.setattr(issue, "read_certificate", lambda path: None)
    monkeypatch.setattr(issue, "check_issued", lambda *args: None)
    monkeypatch.setattr(issue, "check_key_matches", lambda *args, **kw: None)
    monkeypatch.setattr(issue, "verify_leaf", lambda *args: None)
    monkeypatch.setattr(issue, "_check_not_empty", lambda path: None)
    ca_start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    authority = mock.Mock(cert_path=tmp_path / "ca.pem", key_path=tmp_path / "ca-key.pem",
                          secrets={"-passin": b"s3cret-phrase"})
    authority.certificate.key_type = "ecdsa"
    authority.certificate.key_bits = 384
    authority.certificate.not_before = ca_start
    spec = plan.LeafSpec("server", "node", plan.KeySpec.parse("rsa", 2048), 30,
                          (SubjectAltName("DNS", "node"),))
    before = datetime.datetime.now(datetime.timezone.utc)
    issue.issue_leaf(recorder, tmp_path, lambda: authority, spec)  # type: ignore[arg-type]
    work = tmp_path / "work-server"
    joined = [" ".join(call) for call in recorder.calls]
    assert len(joined) == 3  # the same calls on every version
    assert joined[0] == f"genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " \
                        f"{tmp_path / 'server-key.pem'}"
    assert joined[1] == (f"req -new -key {tmp_path / 'server-key.pem'} -config "
                         f"{work / 'server.cnf'} -out {work / 'request.pem'} -sha256")
    assert joined[2].startswith(f"ca -batch -config {work / 'signing.cnf'} -in "
                                f"{work / 'request.pem'} -out {tmp_path / 'server-cert.pem'} "
                                f"-extfile {work / 'server.cnf'} -extensions extensions ")
    assert joined[2].endswith(f"-md sha384 -notext -preserveDN -cert {tmp_path / 'ca.pem'} "
                              f"-keyfile {tmp_path / 'ca-key.pem'}")  # the signer's digest
    args = recorder.calls[2]
    start = datetime.datetime.strptime(args[args.index("-startdate") + 1], "%Y%m%d%H%M%SZ")
    end = datetime.datetime.strptime(args[args.index("-enddate") + 1], "%Y%m%d%H%M%SZ")
    start, end = (t.replace(tzinfo=datetime.timezone.utc) for t in (start, end))
    # Backdated by five minutes, never before the CA; exactly --days from now.
    assert datetime.timedelta(minutes=4) < before - start <= datetime.timedelta(minutes=5,
                                                                                seconds=1)
    assert abs(end - before - datetime.timedelta(days=30)) < datetime.timedelta(seconds=5)
    # The CA passphrase goes to the signing call through a pipe, never into argv.
    assert recorder.secrets[-1] == {"-passin": b"s3cret-phrase"}
    assert not any("s3cret" in arg or "pass" in arg for call in recorder.calls for arg in call)
    assert not work.exists()  # the throw-away database is gone


def test_leaf_never_starts_before_its_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    recorder = RecordingOpenSSL("OpenSSL 3.0.2")
    for name in ("read_certificate", "check_issued", "check_key_matches", "verify_leaf",
                 "_check_not_empty"):
        monkeypatch.setattr(issue, name, lambda *args, **kw: None)
    ca_start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) \
        - datetime.timedelta(seconds=30)
    authority = mock.Mock(cert_path=tmp_path / "ca.pem", key_path=tmp_path / "ca-key.pem",
                          secrets={})
    authority.certificate.key_type, authority.certificate.key_bits = "ed25519", 256
    authority.certificate.not_before = ca_start
    spec = plan.LeafSpec("client", "ci", plan.KeySpec.parse("ed25519"), 1)
    issue.issue_leaf(recorder, tmp_path, lambda: authority, spec)  # type: ignore[arg-type]
    args = recorder.calls[-1]
    assert args[args.index("-startdate") + 1] == ca_start.strftime("%Y%m%d%H%M%SZ")
    assert args[args.index("-md") + 1] == "null"  # Ed25519 signs without a digest


def test_digest_follows_the_signing_key() -> None:
    assert issue.digest_args("ed25519", 256) == []
    assert issue.digest_args("rsa", 4096) == ["-sha256"]
    assert issue.digest_args("ecdsa", 256) == ["-sha256"]
    assert issue.digest_args("ecdsa", 384) == ["-sha384"]


@pytest.mark.parametrize("bad", ["a\nb", "x#y", "$HOME", "a,b", 'q"', "back\\", "a=b", None,
                                 True, 1.5, ["list"]])
def test_renderer_refuses_unsafe_values_even_past_the_validators(bad: object) -> None:
    with pytest.raises(InvalidInput, match="refusing to render"):
        render.render("client.cnf.j2", common_name=bad, key_type="ecdsa")


def test_renderer_is_strict_about_missing_values() -> None:
    with pytest.raises(InvalidInput, match=r"server\.cnf\.j2: 'dns_names' is undefined"):
        render.render("server.cnf.j2", common_name="x", key_type="rsa")


def test_server_config_has_one_name_per_line() -> None:
    text = render.render("server.cnf.j2", common_name="node", key_type="ecdsa",
                         dns_names=["a.example", "b.example"], ip_addresses=["10.0.0.1"])
    assert "DNS.1 = a.example\nDNS.2 = b.example\nIP.1 = 10.0.0.1\n" in text
    assert "keyEncipherment" not in text


def test_der_reader_agrees_with_cryptography(certs_dir: Path) -> None:
    for name in ("ca.pem", "server-cert.pem", "client-cert.pem"):
        (der,) = pem_to_der((certs_dir / name).read_bytes())
        ours, theirs = parse_certificate(der), load_cert(certs_dir / name)
        assert ours.serial == theirs.serial_number
        assert ours.not_after == theirs.not_valid_after_utc
        assert ours.not_before == theirs.not_valid_before_utc
        assert ours.is_ca == theirs.extensions.get_extension_for_class(
            x509.BasicConstraints).value.ca
        assert ours.key_type == "ecdsa" and ours.key_bits == 256
        for extension in theirs.extensions:
            assert ours.extensions[extension.oid.dotted_string] == extension.critical
    server = parse_certificate(pem_to_der((certs_dir / "server-cert.pem").read_bytes())[0])
    assert set(server.dns_names) == {"manager.example.com", "localhost"}
    assert set(server.ip_addresses) == {"10.0.0.5", "127.0.0.1"}
    assert server.key_usage == frozenset({"digitalSignature"})



def test_every_command_is_listed_and_resolves() -> None:
    """`certs --help` lists commands from a table, without importing them: keep it true."""
    import click

    from minipaas_certs import cli, commands

    commands_of_groups = {id(sub) for value in vars(commands).values()
                          if isinstance(value, click.Group) for sub in value.commands.values()}
    defined = {name for name, value in vars(commands).items()
               if isinstance(value, click.Command) and id(value) not in commands_of_groups}
    assert {attribute for attribute, _ in cli.COMMANDS.values()} == defined
    for name in cli.COMMANDS:
        command = cli.certs.get_command(click.Context(cli.certs), name)
        assert command is not None and command.name == name


def test_help_does_not_import_the_commands_or_the_core() -> None:
    import subprocess
    import sys

    code = ("import sys; from minipaas_certs.cli import main; main(['certs', '--help']); "
            "print(sorted(m for m in sys.modules if m.startswith(('minipaas_certs.', 'jinja2'))), "
            "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stderr.strip() == "['minipaas_certs.cli', 'minipaas_certs.errors', " \
                                  "'minipaas_certs.output']"
