"""The benchmark script runs and reports what it promises (no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.invariant  # the script's smoke test; its timings are not asserted
BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def test_benchmark_reports_ratio_medians_and_spread() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--case", "help", "--case", "all-ecdsa",
                           "--runs", "2", "--warmup", "0"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "CPUs" in lines[0] and "OpenSSL" in lines[0]  # the machine it ran on
    pattern = (r"(help|all-ecdsa) +ratio +[0-9.]+ \(target <= [0-9.]+\)  baseline +[0-9.]+ ms "
               r"\(IQR [0-9]+-[0-9]+ ms\)  minipaas +[0-9.]+ ms \(IQR [0-9]+-[0-9]+ ms\)  n=2")
    assert [re.match(pattern, line) is not None for line in lines[1:]] == [True, True], lines


FLOOR = BENCH.parent / "floor.py"


def _verify(ca: Path, cert: Path, purpose: str) -> None:
    done = subprocess.run(["openssl", "verify", "-x509_strict", "-purpose", purpose,
                           "-CAfile", str(ca), str(cert)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().endswith(": OK"), done.stdout + done.stderr


def test_the_floor_makes_what_the_tool_makes(tmp_path: Path) -> None:
    """The floor is only a floor if it does the design's work: backdated leaves with
    their purposes, signed by a CA it made (or was given), with the keys asked for."""
    import datetime

    from cryptography import x509

    for key, bits in (("ecdsa", 256), ("rsa2048", 2048)):
        out = tmp_path / key
        subprocess.run([sys.executable, str(FLOOR), "all", str(out), key], check=True,
                       timeout=120)
        for role in ("server", "client"):
            cert_path = out / "signing" / f"{role}-cert.pem"
            _verify(out / "ca.pem", cert_path, f"ssl{role}")
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            assert cert.public_key().key_size == bits
            backdated = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(
                minutes=30)
            assert cert.not_valid_before_utc < backdated
    clients = tmp_path / "clients"
    subprocess.run([sys.executable, str(FLOOR), "clients", str(tmp_path / "ecdsa"),
                    str(clients), "3"], check=True, timeout=120)
    for index in (1, 2, 3):
        _verify(tmp_path / "ecdsa" / "ca.pem", clients / "signing" / f"u{index}-cert.pem",
                "sslclient")
        assert (clients / f"u{index}-key.pem").is_file()
