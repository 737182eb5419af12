"""A PKI engine's answer is held to the rules of a local signature.

A fake engine on loopback (``http.server``) answers ``/v1/pki/sign/<role>`` with
certificates made here, for what a real OpenBao will not send: a leaf longer than
asked, one outliving its CA, SHA-1 signatures (made by openssl, which still signs
with SHA-1; ``cryptography`` no longer does), and JSON of the wrong shapes.
"""

from __future__ import annotations

import datetime
import http.server
import json
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from conftest import SYSTEM_OPENSSL, load_cert, run_tool
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

TOKEN = "s.fake-engine-token"
NOW = datetime.datetime.now  # called at each signature
UTC = datetime.timezone.utc
_CA_EXTENSIONS = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = {name}
[ ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


class CA:
    """A CA's key and certificate made by openssl: self-signed, or by ``issuer``, with
    ``digest`` (sha256, or sha1)."""

    def __init__(self, folder: Path, name: str, days: int, digest: str = "sha256",
                 issuer: CA | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.key, self.cert = folder / f"{name}-key.pem", folder / f"{name}.pem"
        config = folder / f"{name}.cnf"
        config.write_text(_CA_EXTENSIONS.format(name=name))
        common = ["-config", str(config), "-days", str(days), f"-{digest}"]
        new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", str(self.key)]
        if issuer is None:
            openssl("req", "-x509", *new_key, *common, "-extensions", "ext", "-out",
                    str(self.cert))
        else:
            request = folder / f"{name}.csr"
            openssl("req", "-new", *new_key, "-config", str(config), "-out", str(request))
            openssl("x509", "-req", "-in", str(request), "-CA", str(issuer.cert), "-CAkey",
                    str(issuer.key), "-set_serial", "7", "-extfile", str(config),
                    "-extensions", "ext", "-days", str(days), f"-{digest}", "-out",
                    str(self.cert))

    @property
    def pem(self) -> str:
        return self.cert.read_text()

    def sign(self, csr_pem: str, not_before: datetime.datetime,
             not_after: datetime.datetime) -> str:
        """A leaf for the request's key, names and extensions, SHA-256 signed."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        ca = load_cert(self.cert)
        key = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        builder = (x509.CertificateBuilder().subject_name(csr.subject)
                   .issuer_name(ca.subject).public_key(csr.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       ca.public_key()), critical=False))  # type: ignore[arg-type]
        for extension in csr.extensions:
            builder = builder.add_extension(extension.value, extension.critical)
        leaf = builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]
        return leaf.public_bytes(serialization.Encoding.PEM).decode()

    def sign_sha1(self, csr_pem: str, days: int) -> str:
        """A leaf as ``sign`` makes it, but SHA-1 signed (by openssl: ``-days`` only)."""
        folder = self.cert.parent
        (folder / "leaf.csr").write_text(csr_pem)
        openssl("x509", "-req", "-in", str(folder / "leaf.csr"), "-CA", str(self.cert),
                "-CAkey", str(self.key), "-set_serial", "0x5eed", "-copy_extensions", "copy",
                "-days", str(days), "-sha1", "-out", str(folder / "leaf.pem"))
        return (folder / "leaf.pem").read_text()


def openssl(*args: str) -> None:
    subprocess.run([SYSTEM_OPENSSL, *args], check=True, capture_output=True)


Answer = Callable[[str, int], Any]  # (the request's PEM, hours asked) -> the JSON reply


class FakeEngine:
    """An HTTP server that answers the sign call with ``answer``; it records each request's
    path and token."""

    def __init__(self, answer: Answer) -> None:
        outer = self
        self.seen: list[tuple[str, str | None]] = []
        self.answer = answer

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.seen.append((self.path, self.headers.get("X-Vault-Token")))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hours = int(body["ttl"].rstrip("h"))
                status, reply = 200, outer.answer(body["csr"], hours)
                if isinstance(reply, tuple):
                    status, reply = reply
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def run(self, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return run_tool("certs", *args, env={"VAULT_ADDR": self.address, "VAULT_TOKEN": TOKEN,
                                             **(env or {})})


def reply(leaf: str, *chain: str) -> dict[str, Any]:
    """The sign reply as OpenBao shapes it."""
    return {"data": {"certificate": leaf, "issuing_ca": chain[0], "ca_chain": list(chain),
                     "serial_number": "01:02"}, "warnings": None}


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CA]:
    folder = tmp_path_factory.mktemp("engine-cas")
    root = CA(folder, "root", 3650)
    return {"root": root, "short": CA(folder, "short", 30),
            "sha1-root": CA(folder, "sha1root", 3650, "sha1"),
            "sha1-intermediate": CA(folder, "sha1inter", 3650, "sha1", issuer=root)}


def honest(ca: CA, *chain: CA) -> Answer:
    """An engine that signs as asked, OpenBao's 30 s backdating included."""
    def answer(csr: str, hours: int) -> Any:
        now = NOW(UTC)
        leaf = ca.sign(csr, now - datetime.timedelta(seconds=30),
                       now + datetime.timedelta(hours=hours))
        return reply(leaf, *(c.pem for c in (ca, *chain)))
    return answer


def shifted(ca: CA, start: datetime.timedelta, length: datetime.timedelta) -> Answer:
    """Dates of the engine's own choosing: from now + ``start``, for ``length``."""
    def answer(csr: str, hours: int) -> Any:
        begin = NOW(UTC) + start
        return reply(ca.sign(csr, begin, begin + length), ca.pem)
    return answer


def sha1_leaf(ca: CA) -> Answer:
    return lambda csr, hours: reply(ca.sign_sha1(csr, max(1, hours // 24)), ca.pem)


@pytest.fixture
def out(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "certs"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one ``Error:`` line, last (after the progress lines), of a failed run."""
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    assert errors == lines[-1:] and errors[0].startswith("Error: "), done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    return errors[0]


def test_an_honest_fake_engine_is_accepted(cas: dict[str, CA], out: Path) -> None:
    """The fake engine's usual answer passes: the refusals below are for their one flaw."""
    engine = FakeEngine(honest(cas["root"]))
    for args in (["server", "--hours", "8"], ["client", "--days", "60"]):
        done = engine.run(*args, "--vault-role", "r", "--out", str(out), "-q")
        assert done.returncode == 0, done.stderr
    assert load_cert(out / "ca.pem") == load_cert(cas["root"].cert)
    assert run_tool("certs", "check", str(out), "--warn-days", "0").returncode == 0


@pytest.mark.parametrize("case,args,text", [
    ("ten years for 8 hours", ["--hours", "8"], "longer than the 8 hours asked"),
    ("starts in an hour", ["--hours", "8"], "not from about now"),
    ("backdated a day", ["--hours", "8"], "not from about now"),
    ("outlives its CA", ["--days", "60"], "after its CA CN=short expires"),
    ("SHA-1 leaf", ["--days", "2"], "with SHA-1, which Go (dockerd, the docker CLI) rejects: "
     "set the signature_bits of its role r to 256"),
    ("SHA-1 root", ["--days", "2"], "CA CN=sha1root is signed with SHA-1"),
    ("SHA-1 intermediate", ["--days", "2"], "CA CN=sha1inter is signed with SHA-1"),
])
def test_a_leaf_a_local_ca_would_not_sign_is_refused(
        cas: dict[str, CA], out: Path, case: str, args: list[str], text: str) -> None:
    day, hour = datetime.timedelta(days=1), datetime.timedelta(hours=1)
    answer = {
        "ten years for 8 hours": shifted(cas["root"], -hour / 120, 3650 * day),
        "starts in an hour": shifted(cas["root"], hour, 7 * hour),
        "backdated a day": shifted(cas["root"], -day, day + 8 * hour),
        "outlives its CA": honest(cas["short"]),
        "SHA-1 leaf": sha1_leaf(cas["root"]),
        "SHA-1 root": honest(cas["sha1-root"]),
        "SHA-1 intermediate": honest(cas["sha1-intermediate"], cas["root"]),
    }[case]
    good = FakeEngine(honest(cas["root"]))
    assert good.run("client", "--name", "ci", "--vault-role", "r", "--out", str(out),
                    "-q").returncode == 0
    before = snapshot(out)
    engine = FakeEngine(answer)
    for command in (["client", "--name", "ci2", *args],
                    ["renew", "client", "--name", "ci", *args]):
        done = engine.run(*command, "--vault-role", "r", "--out", str(out))
        assert done.returncode == 5, done.stderr
        assert text in one_error(done)
        assert snapshot(out) == before  # nothing written, nothing left behind


def _valid(cas: dict[str, CA], csr: str, hours: int) -> dict[str, Any]:
    return honest(cas["root"])(csr, hours)  # type: ignore[no-any-return]


SHAPES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "warnings a number": lambda r: {**r, "warnings": 5},
    "warnings a list with a number": lambda r: {**r, "warnings": ["TTL", 5]},
    "warnings an object": lambda r: {**r, "warnings": {"TTL": 1}},
    "data a list": lambda r: {**r, "data": [r["data"]]},
    "data a text": lambda r: {**r, "data": "certificate"},
    "data missing": lambda r: {"warnings": None},
    "certificate a number": lambda r: {**r, "data": {**r["data"], "certificate": 5}},
    "certificate a list": lambda r: {**r, "data": {**r["data"],
                                                   "certificate": [r["data"]["certificate"]]}},
    "certificate missing": lambda r: {**r, "data": {"ca_chain": r["data"]["ca_chain"]}},
    "ca_chain a text": lambda r: {**r, "data": {**r["data"],
                                                "ca_chain": r["data"]["issuing_ca"]}},
    "ca_chain an object": lambda r: {**r, "data": {**r["data"], "ca_chain": {"a": "b"}}},
    "ca_chain of numbers": lambda r: {**r, "data": {**r["data"], "ca_chain": [1, 2]}},
    "ca_chain of lists": lambda r: {**r, "data": {**r["data"],
                                                  "ca_chain": [r["data"]["ca_chain"]]}},
    "no chain at all": lambda r: {**r, "data": {"certificate": r["data"]["certificate"]}},
    "a JSON list": lambda r: [r],
    "a JSON text": lambda r: "signed",
    "a JSON number": lambda r: 5,
    "non-ASCII certificate": lambda r: {**r, "data": {**r["data"], "certificate": "é"}},
    "errors a number": lambda r: (403, {"errors": 5}),
    "errors an object": lambda r: (403, {"errors": {"a": 1}}),
    "error answer a list": lambda r: (500, [1]),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_a_malformed_answer_is_one_error(cas: dict[str, CA], out: Path, shape: str) -> None:
    engine = FakeEngine(lambda csr, hours: SHAPES[shape](_valid(cas, csr, hours)))
    done = engine.run("client", "--vault-role", "r", "--out", str(out))
    assert done.returncode == 5, done.stderr
    assert "PKI engine" in one_error(done)
    assert not out.exists()


@pytest.mark.parametrize("variable,value,named", [
    ("VAULT_TOKEN", "s.abc\x1bdef", "VAULT_TOKEN"),
    ("VAULT_TOKEN", "s.abc\tdef", "VAULT_TOKEN"),
    ("VAULT_TOKEN", "s.tökén€", "VAULT_TOKEN"),
    ("BAO_TOKEN", "s.日本", "BAO_TOKEN"),
    ("BAO_TOKEN", "s.a\u2028b", "BAO_TOKEN"),
    ("file", "s.abc\ndef\n", "--vault-token-file"),
    ("file", b"s.\xff\xfe", "--vault-token-file"),
])
def test_a_token_no_header_can_carry_is_refused_before_any_request(
        cas: dict[str, CA], out: Path, tmp_path: Path, variable: str, value: str | bytes,
        named: str) -> None:
    engine = FakeEngine(honest(cas["root"]))
    env = {"VAULT_TOKEN": "", "BAO_TOKEN": ""}
    args = ["client", "--vault-role", "r", "--out", str(out)]
    if variable == "file":
        token_file = tmp_path / "token"
        token_file.write_bytes(value if isinstance(value, bytes) else value.encode())
        args += ["--vault-token-file", str(token_file)]
    else:
        env[variable] = str(value)
    done = engine.run(*args, env=env)
    assert done.returncode == 2, done.stderr
    line = one_error(done)
    assert named in line and "HTTP header" in line
    assert ({"VAULT_TOKEN", "BAO_TOKEN", "--vault-token-file"} - {named}).isdisjoint(
        line.split()), line  # the source of this token alone
    assert engine.seen == [] and not out.exists()


def test_a_token_is_sent_without_its_surrounding_whitespace(cas: dict[str, CA], out: Path,
                                                            tmp_path: Path) -> None:
    engine = FakeEngine(honest(cas["root"]))
    done = engine.run("client", "--vault-role", "r", "--out", str(out), "-q",
                      env={"VAULT_TOKEN": f" \t{TOKEN} \n"})
    assert done.returncode == 0, done.stderr
    token_file = tmp_path / "token"
    token_file.write_text(f"\n  {TOKEN}\r\n")
    done = engine.run("client", "--name", "ci", "--vault-role", "r", "--out", str(out), "-q",
                      "--vault-token-file", str(token_file), env={"VAULT_TOKEN": ""})
    assert done.returncode == 0, done.stderr
    assert [token for _, token in engine.seen] == [TOKEN, TOKEN]


def test_check_reports_a_weak_intermediate_after_a_leaf(tmp_path: Path) -> None:
    root = CA(tmp_path / "cas", "root", 3650)
    intermediate = CA(tmp_path / "cas", "inter", 3650, issuer=root)
    out = tmp_path / "certs"
    engine = FakeEngine(honest(intermediate, root))
    assert engine.run("client", "--vault-role", "r", "--out", str(out), "-q").returncode == 0
    assert run_tool("certs", "check", str(out)).returncode == 0
    weak = tmp_path / "inter-sha1.pem"  # the same CA (name, key, extensions), SHA-1 signed
    cas = tmp_path / "cas"
    openssl("x509", "-req", "-in", str(cas / "inter.csr"), "-CA", str(root.cert), "-CAkey",
            str(root.key), "-set_serial", "7", "-extfile", str(cas / "inter.cnf"),
            "-extensions", "ext", "-days", "3650", "-sha1", "-out", str(weak))
    for name in ("client-cert.pem", "cert.pem"):
        leaf = (out / name).read_text().split(intermediate.pem)[0]
        (out / name).write_text(leaf + weak.read_text())
    done = run_tool("certs", "check", str(out))
    assert done.returncode == 8, done.stdout
    assert "client-cert.pem: its chain's CN=inter is signed with SHA-1" in done.stdout


@pytest.mark.docker
def test_the_docker_cli_refuses_a_sha1_leaf_the_engine_path_refuses(
        daemons: Callable[[], Any], cas: dict[str, CA], tmp_path: Path) -> None:
    """Why the refusal matters: the docker CLI will not talk to a daemon whose
    certificate is SHA-1 signed, by the very CA it trusts."""
    good, weak = tmp_path / "good", tmp_path / "weak"
    assert run_tool("certs", "all", "--out", str(good), "-q").returncode == 0
    weak.mkdir()
    for name in ("ca.pem", "ca-key.pem", "server-key.pem"):
        (weak / name).write_bytes((good / name).read_bytes())
    request = tmp_path / "server.csr"
    openssl("x509", "-x509toreq", "-in", str(good / "server-cert.pem"), "-signkey",
            str(good / "server-key.pem"), "-copy_extensions", "copyall", "-out", str(request))
    openssl("x509", "-req", "-in", str(request), "-CA", str(good / "ca.pem"), "-CAkey",
            str(good / "ca-key.pem"), "-copy_extensions", "copy", "-days", "30", "-sha1",
            "-set_serial", "0x77", "-out", str(weak / "server-cert.pem"))
    daemon = daemons().start_with_files(weak)
    refused = daemon.client(good, "version", "--format", "{{.Server.Version}}")
    assert refused.returncode != 0 and "insecure algorithm ECDSA-SHA1" in refused.stderr, \
        refused.stderr
    daemon.restart_with_files(good)  # the same key and names, SHA-256 signed: accepted
    accepted = daemon.client(good, "version", "--format", "{{.Server.Version}}")
    assert accepted.returncode == 0, accepted.stderr
    # The same kind of leaf from an engine is refused before anything is written.
    engine = FakeEngine(sha1_leaf(cas["root"]))
    done = engine.run("server", "--vault-role", "r", "--out", str(tmp_path / "from-engine"))
    assert done.returncode == 5 and "with SHA-1" in one_error(done)
    assert not (tmp_path / "from-engine").exists()
