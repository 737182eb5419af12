"""issue.py: the argv it builds (recorded, not run), dates and digests."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from minipaas_certs import issue, plan
from minipaas_certs.names import (
    SubjectAltName,
)
from minipaas_certs.openssl import parse_version


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
    monkeypatch.setattr(issue, "verify_leaf", lambda *args, **kw: None)
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
