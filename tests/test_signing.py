"""signing.py: the argv it builds (recorded, not run), dates and digests."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from minipaas_certs import keys, plan, signing
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
        self.stdin: list[bytes | None] = []

    def start(self, args: list[object], *, stdin: bytes | None = None,
              secrets: dict[str, bytes] | None = None, cwd: Path | None = None,
              inherit: tuple[int, ...] = ()) -> mock.Mock:
        call = [os.fspath(a) if isinstance(a, Path) else str(a) for a in args]
        self.calls.append(call)
        self.secrets.append(secrets or {})
        self.stdin.append(stdin)
        if call[0] == "genpkey":
            Path(call[call.index("-out") + 1]).write_text("key")
        request = b"-----BEGIN CERTIFICATE REQUEST-----\n"
        return mock.Mock(wait=lambda: request if call[:2] == ["req", "-new"] else b"")

    def run(self, args: list[object], *, stdin: bytes | None = None,
            secrets: dict[str, bytes] | None = None, cwd: Path | None = None,
            inherit: tuple[int, ...] = ()) -> bytes:
        return self.start(args, stdin=stdin, secrets=secrets,  # type: ignore[no-any-return]
                          inherit=inherit).wait()


@pytest.mark.parametrize("version", ["OpenSSL 3.0.2", "OpenSSL 1.1.1w", "LibreSSL 3.8.2"])
def test_leaf_request_argv_carries_the_extensions_but_the_issuers(
        tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = RecordingOpenSSL(version)
    for module in (keys, signing):  # the key's file (NewKey), then the request's
        monkeypatch.setattr(module, "check_not_empty", lambda path: None)
    spec = plan.LeafSpec("server", "node", plan.KeySpec.parse("rsa", 2048), 30 * plan.DAY,
                          (SubjectAltName("DNS", "node"),), bundle="m1")
    request = signing.request_leaf(recorder, tmp_path, spec)  # type: ignore[arg-type]
    key = tmp_path / "servers" / "m1" / "server-key.pem"
    assert [" ".join(call) for call in recorder.calls] == [  # the same calls on every version
        f"genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {key}",
        f"req -new -key {key} -config /dev/stdin -reqexts extensions -sha256"]
    assert request.cert_path == tmp_path / "servers" / "m1" / "server-cert.pem"
    assert request.request.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")  # its stdout
    config = (recorder.stdin[1] or b"").decode()  # the config goes in on stdin
    assert "authorityKeyIdentifier" not in config  # a request cannot name its issuer
    assert "extendedKeyUsage       = serverAuth" in config and "DNS.1 = node" in config
    # Of the files, only the key was written: no config or request on disk.
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["server-key.pem"]


def _signer(tmp_path: Path, key_type: str, bits: int, not_before: object) -> mock.Mock:
    authority = mock.Mock(cert_path=tmp_path / "ca.pem", key_path=tmp_path / "ca-key.pem",
                          secrets={"-passin": b"s3cret-phrase"}, chain_pem=b"", chain_path=None,
                          trust_path=tmp_path / "ca.pem", key_pem=None)
    authority.certificate.key_type, authority.certificate.key_bits = key_type, bits
    authority.starts = not_before  # when the CA starts
    return authority


class SigningOpenSSL(RecordingOpenSSL):
    """Records argv; `ca` "signs" by writing one file per request into -outdir, holding
    what it read from the request's descriptor."""

    def start(self, args: list[object], **kw: object) -> mock.Mock:
        running = super().start(args, **kw)  # type: ignore[arg-type]
        call = self.calls[-1]
        if call[0] == "ca":
            outdir = Path(call[call.index("-outdir") + 1])
            for number, request in enumerate(call[call.index("-infiles") + 1:]):
                (outdir / f"{number:02X}.pem").write_bytes(Path(request).read_bytes())
        return running


def _signing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, specs: list[plan.LeafSpec],
             authority: mock.Mock) -> SigningOpenSSL:
    """sign_leaves on recorded argv: a certificate holds the key of the request it was
    made from (what the real code reads from the files)."""
    recorder = SigningOpenSSL("OpenSSL 3.0.2")
    requests = []
    for spec in specs:
        name = f"{spec.role}-{spec.bundle}" if spec.bundle else str(spec.role)
        key = tmp_path / f"{name}-key.pem"
        key.write_text(name)
        requests.append(signing.LeafRequest(spec, tmp_path / f"{name}-cert.pem", key,
                                          name.encode()))
    monkeypatch.setattr(signing, "public_key_of_file",
                        lambda openssl, path: path.read_bytes().replace(b"-key.pem", b""))
    monkeypatch.setattr(signing, "parse_pem", lambda pem, path: [mock.Mock(
        public_key_der=pem, pem=b"PEM")])
    for name in ("check_issued", "verify_leaves"):
        monkeypatch.setattr(signing, name, lambda *args, **kw: None)
    signing.sign_leaves(recorder, tmp_path, authority, requests)  # type: ignore[arg-type]
    return recorder


def test_one_ca_call_signs_every_leaf_of_a_validity_with_exact_dates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    authority = _signer(tmp_path, "ecdsa", 384, datetime.datetime(2020, 1, 1,
                                                                   tzinfo=datetime.timezone.utc))
    key = plan.KeySpec.parse("ecdsa")
    specs = [plan.LeafSpec("client", name, key, 30 * plan.DAY, bundle=name) for name in ("a", "b")]
    specs.append(plan.LeafSpec("server", "s", key, 7 * plan.DAY, (SubjectAltName("DNS", "s"),)))
    before = datetime.datetime.now(datetime.timezone.utc)
    recorder = _signing(tmp_path, monkeypatch, specs, authority)
    (seven, thirty) = recorder.calls  # one per validity, the shorter first
    work = tmp_path / "signing-0"
    assert " ".join(thirty).startswith(
        f"ca -batch -config {work / '1' / 'signing.cnf'} -cert {tmp_path / 'ca.pem'} "
        f"-keyfile {tmp_path / 'ca-key.pem'} -outdir {work / '1'} -extensions "
        "signing_extensions -startdate ")
    assert thirty[thirty.index("-md") + 1] == "sha384"  # the signer's digest
    # Each request reaches openssl through a pipe: no file is created for it.
    assert thirty[-5:-2] == ["-preserveDN", "-rand_serial", "-infiles"]
    assert all(arg.startswith("/dev/fd/") for arg in [*thirty[-2:], seven[-1]])
    for call, days in ((seven, 7), (thirty, 30)):
        start, end = (datetime.datetime.strptime(call[call.index(option) + 1], "%Y%m%d%H%M%SZ")
                      .replace(tzinfo=datetime.timezone.utc)
                      for option in ("-startdate", "-enddate"))
        # Backdated by five minutes, never before the CA; exactly --days from now.
        assert datetime.timedelta(minutes=4) < before - start <= datetime.timedelta(
            minutes=5, seconds=1)
        assert abs(end - before - datetime.timedelta(days=days)) < datetime.timedelta(seconds=5)
    # The CA passphrase goes to the signing call through a pipe, never into argv.
    assert recorder.secrets == [{"-passin": b"s3cret-phrase"}] * 2
    assert not any("s3cret" in arg or "pass" in arg for call in recorder.calls for arg in call)
    assert (tmp_path / "client-b-cert.pem").read_bytes() == b"PEM"
    assert not work.exists()  # the throw-away databases are gone


def test_a_request_larger_than_a_pipe_holds_goes_through_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    authority = _signer(tmp_path, "ecdsa", 256, datetime.datetime(2020, 1, 1,
                                                                  tzinfo=datetime.timezone.utc))
    monkeypatch.setattr(signing, "input_pipe", lambda data: None)  # as if it did not fit
    specs = [plan.LeafSpec("client", name, plan.KeySpec.parse("ecdsa"), plan.DAY, bundle=name)
             for name in ("a", "b")]
    (call,) = _signing(tmp_path, monkeypatch, specs, authority).calls
    folder = tmp_path / "signing-0" / "0"
    assert call[-2:] == [str(folder / "request-0.csr"), str(folder / "request-1.csr")]
    assert (tmp_path / "client-b-cert.pem").read_bytes() == b"PEM"


def test_input_pipe_holds_what_fits_and_refuses_what_would_block() -> None:
    from minipaas_certs.openssl import input_pipe

    descriptor = input_pipe(b"request")
    assert descriptor is not None
    try:
        assert os.read(descriptor, 100) == b"request" and os.read(descriptor, 100) == b""
    finally:
        os.close(descriptor)
    assert input_pipe(b"x" * (16 * 1024 * 1024)) is None  # far above any pipe buffer


def test_leaf_never_starts_before_its_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    ca_start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) \
        - datetime.timedelta(seconds=30)
    authority = _signer(tmp_path, "ed25519", 256, ca_start)
    spec = plan.LeafSpec("client", "ci", plan.KeySpec.parse("ed25519"), plan.DAY)
    (args,) = _signing(tmp_path, monkeypatch, [spec], authority).calls
    assert args[args.index("-startdate") + 1] == ca_start.strftime("%Y%m%d%H%M%SZ")
    assert args[args.index("-md") + 1] == "null"  # Ed25519 signs without a digest


def test_a_certificate_for_a_key_not_asked_for_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    authority = _signer(tmp_path, "ecdsa", 256, datetime.datetime(2020, 1, 1,
                                                                  tzinfo=datetime.timezone.utc))
    spec = plan.LeafSpec("client", "ci", plan.KeySpec.parse("ecdsa"), plan.DAY)
    original = signing.LeafRequest

    def mismatched(spec: plan.LeafSpec, cert: Path, key: Path, csr: bytes) -> object:
        key.write_text("someone else")  # the key file is not the one the request came from
        return original(spec, cert, key, csr)

    monkeypatch.setattr(signing, "LeafRequest", mismatched)
    with pytest.raises(signing.OutputError, match="signed a certificate for no key it was asked"):
        _signing(tmp_path, monkeypatch, [spec], authority)

