#!/usr/bin/env python3
"""The floor of the tool's design: its steps and nothing else, as fast as they go.

What any run of the design must do: start Python, import click and jinja2, render
the shipped templates, and run the openssl calls its guarantees need, each as
early as it can start:

* a key and a request per leaf (``req -new``, the config on stdin), beside the
  CA's ``req -x509``;
* one ``openssl ca`` for the leaves, as a leaf starts before now (clock skew)
  and neither ``req -x509 -CA`` nor ``x509 -req`` can backdate before OpenSSL 3.4;
* one ``openssl verify -x509_strict -purpose`` per role, as the tool checks
  every leaf it makes;
* RSA keys generated from the first moment, before click is even imported
  (the tool can start them only once its options are parsed).

Kept, as the tool must: every key and certificate made durable (fsync, then
their folder) before the run ends.  Left out, where the tool spends the rest:
the lock, staging, the journal, bundle folders, SHA256SUMS, the Python checks
of what openssl made, input checks, progress, signals.  ``bench.py`` runs this
beside the tool: the distance between the two is all the tool can still win;
the distance between this and the baseline is the design's.

    python benchmarks/floor.py all OUT [ecdsa|rsa2048]
    python benchmarks/floor.py clients CA_DIR OUT COUNT
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

PIPE = subprocess.PIPE
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
OPENSSL = os.environ.get("MINIPAAS_OPENSSL") or "openssl"
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
# The tool's throw-away `openssl ca` database (authority.signing_config), restated: the
# floor imports nothing of the package, so that none of the tool's own start-up enters it.
SIGNING_CONFIG = """\
[ ca ]
default_ca = signing
[ signing ]
database = index.txt
new_certs_dir = .
serial = serial
policy = any
unique_subject = no
copy_extensions = copy
[ any ]
commonName = optional
[ signing_extensions ]
authorityKeyIdentifier = keyid, issuer
"""


def start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([OPENSSL, *args], cwd=cwd, stdin=PIPE, stdout=PIPE, stderr=PIPE)


def finish(process: subprocess.Popen[bytes], stdin: bytes | None = None) -> bytes:
    out, err = process.communicate(stdin)
    if process.returncode != 0:
        sys.exit(f"openssl {process.args[1]} failed: {err.decode(errors='replace')}")
    return out


def environment():  # type: ignore[no-untyped-def]
    import click  # noqa: F401 - the design's cost: the CLI loads click
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(loader=FileSystemLoader(str(TEMPLATES)),
                                undefined=StrictUndefined, autoescape=False)


def leaf_config(env, role: str, name: str, key: str) -> bytes:  # type: ignore[no-untyped-def]
    config: str = env.get_template(f"{role}.cnf.j2").render(
        common_name=name, key_type=key, dns_names=["localhost"] if role == "server" else [],
        ip_addresses=["127.0.0.1"] if role == "server" else [])
    # A request cannot name its issuer; the signature adds the key identifier.
    return "".join(line for line in config.splitlines(keepends=True)
                   if not line.startswith("authorityKeyIdentifier")).encode()


def sign_and_verify(work: Path, ca: Path, ca_key: Path, requests: dict[str, bytes],
                    roles: dict[str, str]) -> None:
    """One ``openssl ca`` for every request (pipes as -infiles), one verify per role."""
    (work / "ca.cnf").write_text(SIGNING_CONFIG)
    (work / "index.txt").write_text("")
    (work / "serial").write_text("01\n")
    inputs, keep = [], []
    for request in requests.values():
        read, write = os.pipe()
        os.write(write, request)  # a request is far smaller than a pipe
        os.close(write)
        inputs.append(f"/dev/fd/{read}")
        keep.append(read)
    signed = subprocess.run(
        [OPENSSL, "ca", "-batch", "-config", "ca.cnf", "-cert", ca, "-keyfile", ca_key,
         "-outdir", ".", "-extensions", "signing_extensions",
         "-startdate", time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() - 3600)),
         "-days", "365",
         "-md", "sha256", "-notext", "-rand_serial", "-infiles", *inputs],
        cwd=work, check=True, stdout=PIPE, stderr=subprocess.DEVNULL, pass_fds=keep).stdout
    for read in keep:
        os.close(read)
    end = b"-----END CERTIFICATE-----\n"
    by_role: dict[str, list[str]] = {}
    for name, pem in zip(requests, signed.split(end)):  # in the order of the requests
        (work / f"{name}-cert.pem").write_bytes(pem + end)
        by_role.setdefault(roles[name], []).append(f"{name}-cert.pem")
    verifies = [start(["verify", "-x509_strict", "-purpose", f"ssl{role}", "-CAfile", ca,
                       *names], work) for role, names in by_role.items()]
    for process in verifies:
        finish(process)


def make_durable(folders: list[Path]) -> None:
    """fsync each key and certificate (two threads), then each folder."""
    files = [path for folder in folders for path in folder.iterdir()
             if path.name.endswith(("-key.pem", "-cert.pem", "ca.pem"))]

    def sync(paths: list[Path]) -> None:
        for path in paths:
            descriptor = os.open(path, os.O_RDONLY)
            os.fsync(descriptor)
            os.close(descriptor)

    threads = [threading.Thread(target=sync, args=(files[half::2],)) for half in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sync(folders)


def make_all(out: Path, key: str) -> None:
    out = out.resolve()
    out.mkdir()
    rsa = key.startswith("rsa")
    keygens = {}
    if rsa:  # RSA keys from the very first moment, as the tool starts them
        bits = key[3:]
        keygens = {name: start(["genpkey", "-algorithm", "RSA", "-pkeyopt",
                                f"rsa_keygen_bits:{bits}", "-out", f"{name}-key.pem"], out)
                   for name in ("ca", "server", "client")}
    env = environment()

    def key_args(name: str) -> list[str]:
        if rsa:
            finish(keygens[name])
            return ["-key", f"{name}-key.pem"]
        return [*EC_KEY, "-nodes", "-keyout", f"{name}-key.pem"]

    requests: dict[str, bytes] = {}

    def request(role: str) -> None:
        config = leaf_config(env, role, role, "rsa" if rsa else "ecdsa")
        requests[role] = finish(start(["req", "-new", *key_args(role), "-config", "/dev/stdin",
                                       "-reqexts", "extensions", "-sha256"], out), config)

    leaves = [threading.Thread(target=request, args=(role,)) for role in ("server", "client")]
    for thread in leaves:
        thread.start()
    ca_config = env.get_template("ca.cnf.j2").render(common_name="ca").encode()
    finish(start(["req", "-x509", "-new", *key_args("ca"), "-config", "/dev/stdin",
                  "-extensions", "extensions", "-days", "3650", "-sha256", "-out", "ca.pem"],
                 out), ca_config)
    for thread in leaves:
        thread.join()
    work = out / "signing"
    work.mkdir()
    sign_and_verify(work, out / "ca.pem", out / "ca-key.pem", requests,
                    {role: role for role in requests})
    make_durable([out, work])


def make_clients(ca_dir: Path, out: Path, count: int) -> None:
    """``count`` client leaves from the CA in ``ca_dir``: requests on two threads."""
    out.mkdir()
    env = environment()
    names = [f"u{index}" for index in range(1, count + 1)]
    requests: dict[str, bytes] = {}
    lock = threading.Lock()
    pending = list(reversed(names))

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                name = pending.pop()
            config = leaf_config(env, "client", name, "ecdsa")
            made = finish(start(["req", "-new", *EC_KEY, "-nodes", "-keyout", f"{name}-key.pem",
                                 "-config", "/dev/stdin", "-reqexts", "extensions", "-sha256"],
                                out), config)
            with lock:
                requests[name] = made

    threads = [threading.Thread(target=worker) for _ in range(os.cpu_count() or 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    work = out / "signing"
    work.mkdir()
    ordered = {name: requests[name] for name in names}
    sign_and_verify(work, (ca_dir / "ca.pem").resolve(), (ca_dir / "ca-key.pem").resolve(),
                    ordered, {name: "client" for name in names})
    make_durable([out, work])


def main() -> None:
    if sys.argv[1] == "all":
        make_all(Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "ecdsa")
    else:
        make_clients(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    sys.stdout.flush()
    os._exit(0)  # no interpreter teardown, as the tool


if __name__ == "__main__":
    main()
