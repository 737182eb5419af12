#!/usr/bin/env python3
"""minipaas-certs against the shell recipe it replaces: paired, alternating runs.

Standard library and openssl only.  Each case runs A (the baseline) and B (the
tool) alternately, after a warm-up, and reports the median of the per-pair
ratios B/A, both medians and their spread.  A benchmark, not a test: nothing
here fails on timings.

    python benchmarks/bench.py                 # every case
    python benchmarks/bench.py --case all-ecdsa --runs 31
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
OPENSSL = os.environ.get("MINIPAAS_OPENSSL") or shutil.which("openssl") or "openssl"
Step = Callable[[Path], None]


def tool_command() -> list[str]:
    """The installed `minipaas` beside this Python if there is one, else `python -m`."""
    script = Path(sys.executable).parent / "minipaas"
    return [str(script)] if script.exists() else [sys.executable, "-m", "minipaas_certs"]


def run(argv: list[str], cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def recipe(key: Callable[[str], list[str]]) -> Step:
    """Docker's documented recipe: genrsa, req -x509 for the CA; genrsa, req, x509 -req
    for the server; the same for the client; eight sequential openssl calls.

    ``key`` gives the key-generation command for an output file (genrsa, or genpkey
    for ECDSA keys).
    """
    def steps(work: Path) -> None:
        (work / "extfile.cnf").write_text(
            "subjectAltName = DNS:localhost,IP:10.0.0.5,IP:127.0.0.1\n"
            "extendedKeyUsage = serverAuth\n")
        (work / "extfile-client.cnf").write_text("extendedKeyUsage = clientAuth\n")
        run([OPENSSL, *key("ca-key.pem")], work)
        run([OPENSSL, "req", "-new", "-x509", "-days", "365", "-key", "ca-key.pem", "-sha256",
             "-subj", "/CN=docker-ca", "-out", "ca.pem"], work)
        for name, ext in (("server", "extfile.cnf"), ("client", "extfile-client.cnf")):
            run([OPENSSL, *key(f"{name}-key.pem")], work)
            run([OPENSSL, "req", "-subj", f"/CN={name}", "-sha256", "-new",
                 "-key", f"{name}-key.pem", "-out", f"{name}.csr"], work)
            run([OPENSSL, "x509", "-req", "-days", "365", "-sha256", "-in", f"{name}.csr",
                 "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-out", f"{name}-cert.pem", "-extfile", ext], work)
    return steps


def command(argv: list[str]) -> Step:
    return lambda work: run(argv, work)


def tool(*args: str) -> Step:
    return command([*tool_command(), *args])


@dataclass
class Case:
    name: str
    target: str  # what the issue asks of the ratio
    baseline: Step
    candidate: Step
    runs: int
    prepare: Step = lambda work: None


def ca_ready(work: Path) -> None:
    run([*tool_command(), "certs", "ca", "--out", "c", "-q"], work)


def fifty_separate_runs(work: Path) -> None:
    for index in range(1, 51):
        run([*tool_command(), "certs", "client", "--out", "c", "-q", "--name", f"u{index}"], work)


def swarm_ready(work: Path) -> None:
    """A set, three managers and fifty client bundles: what `revoke` re-issues."""
    run([*tool_command(), "certs", "all", "--out", "c", "-q"], work)
    for index in range(1, 4):
        run([*tool_command(), "certs", "server", "--out", "c", "-q", "--name", f"m{index}",
             "--san", f"10.0.0.{10 + index}"], work)
    run([*tool_command(), "certs", "client", "--out", "c", "-q",
         *[arg for i in range(1, 51) for arg in ("--name", f"u{i}")]], work)


def bare_reissue(count: int, new_ca: bool = True) -> Step:
    """Bare openssl: a new ECDSA CA (or the one in ``c/``), then ``count`` leaves, each
    one `req -x509 -CA` (key, request and signature in one process), two at a time."""
    def steps(work: Path) -> None:
        ca, ca_key = ("ca.pem", "ca-key.pem") if new_ca else ("c/ca.pem", "c/ca-key.pem")
        if new_ca:
            run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-out", ca,
                 "-subj", "/CN=ca", "-days", "3650"], work)
        pending: list[subprocess.Popen[bytes]] = []
        for index in range(count):
            if len(pending) == 2:
                pending.pop(0).wait()
            pending.append(subprocess.Popen(
                [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{index}-key.pem",
                 "-out", f"{index}.pem", "-subj", f"/CN=u{index}", "-days", "365",
                 "-CA", ca, "-CAkey", ca_key,
                 "-addext", "extendedKeyUsage=clientAuth"], cwd=work,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for process in pending:
            process.wait()
    return steps


def names(count: int) -> list[str]:
    return [arg for index in range(1, count + 1) for arg in ("--name", f"u{index}")]


def bundles_ready(count: int) -> Step:
    def steps(work: Path) -> None:
        run([*tool_command(), "certs", "all", "--out", "c", "-q"], work)
        run([*tool_command(), "certs", "client", "--out", "c", "-q", *names(count)], work)
    return steps


def verify_all(work: Path) -> None:
    """One `openssl verify` of every leaf certificate a `check` of ``c/`` verifies."""
    leaves = sorted(str(p.relative_to(work)) for p in (work / "c").rglob("*.pem")
                    if p.name in ("cert.pem", "server-cert.pem", "client-cert.pem"))
    run([OPENSSL, "verify", "-CAfile", "c/ca.pem", *leaves], work)


def floor(*args: str) -> Step:
    """The design's floor (see floor.py): its steps alone, in the bench's Python."""
    return command([sys.executable, str(ROOT / "benchmarks" / "floor.py"), *args])


def ecdsa_key(path: str) -> list[str]:
    return ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path]


def rsa_key(bits: int) -> Callable[[str], list[str]]:
    return lambda path: ["genrsa", "-out", path, str(bits)]


CASES = [
    Case("all-ecdsa", "<= 1.20", recipe(ecdsa_key), tool("certs", "all", "--out", "c", "-q"),
         31),
    Case("all-rsa2048", "<= 0.65", recipe(rsa_key(2048)),
         tool("certs", "all", "--out", "c", "-q", "--key-type", "rsa", "--key-size", "2048"), 15),
    Case("all-rsa4096", "<= 0.60", recipe(rsa_key(4096)),
         tool("certs", "all", "--out", "c", "-q", "--key-type", "rsa", "--key-size", "4096"), 9),
    Case("help", "<= 1.25", command([sys.executable, "-c", "import click"]),
         tool("certs", "--help"), 41),
    Case("clients-50", "<= 0.50", fifty_separate_runs,
         tool("certs", "client", "--out", "c", "-q", *names(50)), 5, ca_ready),
    Case("clients-200", "<= 1.30", bare_reissue(200, new_ca=False),
         tool("certs", "client", "--out", "c", "-q", *names(200)), 7, ca_ready),
    Case("check-200", "<= 3.00", verify_all, tool("certs", "check", "c", "--warn-days", "0"),
         7, bundles_ready(200)),
    # The floor of the design against the same baselines: what is left to the tool.
    Case("floor-ecdsa", "reference", recipe(ecdsa_key), floor("all", "f"), 31),
    Case("floor-rsa2048", "reference", recipe(rsa_key(2048)), floor("all", "f", "rsa2048"), 15),
    Case("floor-200", "reference", bare_reissue(200, new_ca=False),
         floor("clients", "c", "f", "200"), 7, ca_ready),
    # 3 managers + 49 remaining clients + the top-level server and client pairs.
    Case("revoke-54", "<= 1.30", bare_reissue(54),
         tool("certs", "revoke", "--out", "c", "-q", "--name", "u1"), 7, swarm_ready),
]
SCALING = (1, 10, 100, 500)  # client bundles in one run


def timed(step: Step, prepare: Step) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        work = Path(folder)
        prepare(work)
        start = time.perf_counter()
        step(work)
        return time.perf_counter() - start


def spread(values: list[float]) -> str:
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
    return f"IQR {quartiles[0] * 1000:.0f}-{quartiles[2] * 1000:.0f} ms"


def measure(case: Case, runs: int, warmup: int) -> None:
    for _ in range(warmup):
        timed(case.baseline, case.prepare)
        timed(case.candidate, case.prepare)
    base, cand, ratios = [], [], []
    for index in range(runs):
        order = (case.baseline, case.candidate) if index % 2 == 0 else (case.candidate,
                                                                        case.baseline)
        first, second = (timed(step, case.prepare) for step in order)
        a, b = (first, second) if index % 2 == 0 else (second, first)
        base.append(a)
        cand.append(b)
        ratios.append(b / a)
    ratio = statistics.median(ratios)
    print(f"{case.name:<12} ratio {ratio:5.2f} (target {case.target})  "
          f"baseline {statistics.median(base) * 1000:7.1f} ms ({spread(base)})  "
          f"minipaas {statistics.median(cand) * 1000:7.1f} ms ({spread(cand)})  n={runs}",
          flush=True)


def peak_memory(argv: list[str], cwd: Path) -> int:
    """Run ``argv``; its peak resident memory in KiB (the tool's process, not openssl's)."""
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, argv)
    return usage.ru_maxrss


def scaling(runs: int) -> None:
    """How one run's cost grows with the number of clients, and with key size."""
    for count in SCALING:
        values, peaks = [], []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="bench-") as folder:
                ca_ready(Path(folder))
                start = time.perf_counter()
                peaks.append(peak_memory([*tool_command(), "certs", "client", "--out", "c",
                                          "-q", *names(count)], Path(folder)))
                values.append(time.perf_counter() - start)
        print(f"  clients: {count:>3} bundles {statistics.median(values) * 1000:7.1f} ms, "
              f"{statistics.median(values) / count * 1000:5.1f} ms each, peak memory "
              f"{max(peaks) / 1024:.1f} MB", flush=True)
    for kind, size in (("ecdsa", "256"), ("ecdsa", "384"), ("ed25519", None), ("rsa", "2048"),
                       ("rsa", "3072"), ("rsa", "4096")):
        args = ["certs", "all", "--out", "c", "-q", "--key-type", kind]
        step = tool(*args, *(["--key-size", size] if size else []))
        values = [timed(step, lambda work: None) for _ in range(runs)]
        label = f"{kind} {size or ''}".strip()
        print(f"  all: {label:<15} {statistics.median(values) * 1000:7.1f} ms", flush=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = subprocess.run([OPENSSL, "version"], capture_output=True, text=True).stdout
    return (f"{datetime.date.today()}  {cpu}, {os.cpu_count()} CPUs, {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}; {version.strip()}; "
            f"tool: {' '.join(tool_command())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=[c.name for c in CASES],
                        help="run only these cases (repeatable)")
    parser.add_argument("--runs", type=int, help="pairs per case (default: per case)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-scaling", action="store_true", help="skip the growth table")
    options = parser.parse_args()
    print(machine(), flush=True)
    for case in CASES:
        if options.case is None or case.name in options.case:
            measure(case, options.runs or case.runs, options.warmup)
    if not options.no_scaling and options.case is None:
        print("growth (medians of 5 runs of the tool alone):", flush=True)
        scaling(options.runs or 5)


if __name__ == "__main__":
    main()
