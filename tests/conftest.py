"""Shared fixtures: the openssl under test, a CLI runner, and parsed outputs.

MINIPAAS_TEST_OPENSSL names the openssl binary the tool is tested with (default:
the one on PATH); CI runs the whole suite once more with OpenSSL 1.1.1 this way.
Independent checks (``openssl verify`` in ``system_verify``) always use the
system's openssl 3, so certificates made by 1.1.1 face OpenSSL 3's strict rules.
"""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, NoReturn

import pytest
from cryptography import x509

import minipaas_certs
from minipaas_certs.cli import main

if TYPE_CHECKING:
    from dockerd import Dockerd

TOOL_OPENSSL = os.environ.get("MINIPAAS_TEST_OPENSSL") or shutil.which("openssl") or "openssl"
SYSTEM_OPENSSL = shutil.which("openssl") or "openssl"
ALL_FILES = {".gitignore", "SHA256SUMS", "ca.pem", "ca-key.pem", "server-cert.pem",
             "server-key.pem", "client-cert.pem", "client-key.pem", "cert.pem", "key.pem"}


REQUIRED = os.environ.get("MINIPAAS_REQUIRE_SYSTEM_TESTS") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose system part (dockerd, root, tmpfs, the docker SDK) is missing.

    Under MINIPAAS_REQUIRE_SYSTEM_TESTS=1 (set by .ci/run) the test fails instead.
    """
    if REQUIRED:
        pytest.fail(f"required by MINIPAAS_REQUIRE_SYSTEM_TESTS=1: {reason}")
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    """Compile the package once (in the controller, not in each xdist worker): the
    tests start the tool as a new process thousands of times, and under
    PYTHONDONTWRITEBYTECODE=1 each of them would compile its modules again."""
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(os.path.dirname(minipaas_certs.__file__), quiet=2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On pytest-xdist workers the slow tests come first, so that the others fill in
    around them instead of one of them running alone at the end."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):  # a strict xfail is no skip
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under MINIPAAS_REQUIRE_SYSTEM_TESTS=1 no test may skip, whatever the reason."""
    if REQUIRED and _skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if REQUIRED and _skipped:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} skipped under MINIPAAS_REQUIRE_SYSTEM_TESTS=1: "
            + ", ".join(_skipped), red=True)


@pytest.fixture(autouse=True)
def _tool_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs the tool with the openssl under test and no stray settings."""
    for name in list(os.environ):
        if name.startswith("MINIPAAS_") and not name.startswith(("MINIPAAS_TEST_",
                                                                 "MINIPAAS_REQUIRE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MINIPAAS_OPENSSL", TOOL_OPENSSL)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The single stderr line of a failed run (asserts there is exactly one)."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, f"expected one error line, got: {self.err!r}"
        assert lines[0].startswith("Error: "), lines[0]
        assert "Traceback" not in self.err
        return lines[0]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``minipaas ARGS`` in-process; return its exit code and output."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def run_tool(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m minipaas_certs ARGS`` as a separate process."""
    return subprocess.run([sys.executable, "-m", "minipaas_certs", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def system_verify(ca: Path, cert: Path, purpose: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYSTEM_OPENSSL, "verify", "-x509_strict", "-purpose", purpose,
                           "-CAfile", str(ca), str(cert)], capture_output=True, text=True)


@pytest.fixture
def out(tmp_path: Path, cli) -> Path:
    """A new set (a CA, a server pair for 10.0.0.5, the client pair) in a folder of the
    test's own; a test file that means another set by ``out`` defines its own."""
    folder = tmp_path / "certs"
    assert cli("certs", "all", "--out", str(folder), "-q", "--san", "10.0.0.5").code == 0
    return folder


@pytest.fixture(scope="session")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One default `certs all` output, shared by read-only tests."""
    out = tmp_path_factory.mktemp("shared") / "certs"
    assert main(["certs", "all", "--out", str(out), "--openssl", TOOL_OPENSSL, "--san", "10.0.0.5",
                 "--san", "manager.example.com", "-q"]) == 0
    yield out


def reissue(cert_path: Path, ca_dir: Path, *, days_ago: int = 0, days: int | None = None,
            out: Path | None = None) -> None:
    """Re-sign a certificate with shifted dates (cryptography, test-only): openssl cannot
    backdate, and tests need expired or CA-outliving certificates on real key pairs."""
    import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key

    original = load_cert(cert_path)
    ca_cert = load_cert(ca_dir / "ca.pem")
    ca_key = load_pem_private_key((ca_dir / "ca-key.pem").read_bytes(), password=None)
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)
    length = original.not_valid_after_utc - original.not_valid_before_utc
    builder = (x509.CertificateBuilder().subject_name(original.subject)
               .issuer_name(ca_cert.subject).public_key(original.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start)
               .not_valid_after(start + (datetime.timedelta(days=days) if days else length)))
    for extension in original.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    algorithm = None if original.signature_hash_algorithm is None else hashes.SHA256()
    signed = builder.sign(ca_key, algorithm)  # type: ignore[arg-type]
    (out or cert_path).write_bytes(signed.public_bytes(Encoding.PEM))


def write_ca(folder: Path, key: object, common_name: str, not_before: object,
             days: int) -> None:
    """A self-signed CA made with ``cryptography`` (for CAs openssl or the tool would not
    make: other curves, future dates) as ca.pem and ca-key.pem in ``folder``."""
    import datetime

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public = key.public_key()  # type: ignore[attr-defined]
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(not_before)  # type: ignore[arg-type]
            .not_valid_after(not_before + datetime.timedelta(days=days))  # type: ignore[operator]
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256()))  # type: ignore[arg-type]
    (folder / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "ca-key.pem").write_bytes(key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / "ca-key.pem").chmod(0o600)  # a CA key others can read is refused


def plant(path: Path, kind: str, content: bytes = b"") -> None:
    """Put something hostile where the tool reads a file: a FIFO (reading would block),
    /dev/zero (reading never ends), a folder, or ``content`` (too large, say)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "/dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(content)


@pytest.fixture
def daemons() -> Iterator[Callable[[], Dockerd]]:
    """Make dockerd instances on free loopback ports; all are stopped afterwards."""
    from dockerd import Dockerd, require_docker  # dockerd imports this module

    require_docker()
    started: list[Dockerd] = []

    def make() -> Dockerd:
        daemon = Dockerd()
        started.append(daemon)
        return daemon

    yield make
    # Side by side: each dockerd takes a second or more to stop.
    with ThreadPoolExecutor(max_workers=max(len(started), 1)) as pool:
        for stopped in [pool.submit(daemon.close) for daemon in started]:
            stopped.result()  # a failure to stop still fails the test


def certs(*args: str) -> None:
    """``minipaas certs ARGS -q`` in-process; it must succeed."""
    assert main(["certs", *args, "-q"]) == 0  # MINIPAAS_OPENSSL names the openssl under test
