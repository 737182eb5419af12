"""The benchmark script runs and reports what it promises (no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
