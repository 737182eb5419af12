"""openssl.py: version detection, the clean environment, failures and timeouts."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

from minipaas_certs.errors import OpenSSLFailed, OpenSSLUnavailable
from minipaas_certs.openssl import OpenSSL, clean_environment, parse_version


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
