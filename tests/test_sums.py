"""sums.py: SHA256SUMS written by ``render`` and checked by ``verify``, on real files."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from minipaas_certs.files import MAX_PEM_BYTES
from minipaas_certs.layout import SUMS_FILE, public_files
from minipaas_certs.sums import Mismatch, render, verify

CERTS = ["ca.pem", "cert.pem", "client-cert.pem", "server-cert.pem"]
KEYS = ["ca-key.pem", "client-key.pem", "key.pem", "server-key.pem"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_sums(folder: Path) -> None:
    """SHA256SUMS of the public files, as the store writes it (strict UTF-8)."""
    text = render({name: _digest(folder / name) for name in public_files(folder)})
    (folder / SUMS_FILE).write_bytes(text.encode())


@pytest.fixture
def out(tmp_path: Path, certs_dir: Path) -> Path:
    """A copy of a `certs all` set (made by openssl) with a client bundle, sums rewritten."""
    folder = tmp_path / "certs"
    shutil.copytree(certs_dir, folder)
    (folder / "clients" / "ci").mkdir(parents=True)
    shutil.copy(folder / "ca.pem", folder / "clients" / "ci" / "ca.pem")
    shutil.copy(folder / "client-cert.pem", folder / "clients" / "ci" / "cert.pem")
    shutil.copy(folder / "client-key.pem", folder / "clients" / "ci" / "key.pem")
    _write_sums(folder)
    return folder


def test_render_is_sha256sum_format_sorted_by_name() -> None:
    digests = {"server-cert.pem": "b" * 64, "clients/ci/ca.pem": "a" * 64, "ca.pem": "c" * 64}
    assert render(digests) == (f"{'c' * 64}  ca.pem\n{'a' * 64}  clients/ci/ca.pem\n"
                               f"{'b' * 64}  server-cert.pem\n")
    assert render({}) == ""


def test_the_certificates_are_listed_never_the_keys(out: Path) -> None:
    listed = [line.split("  ", 1)[1] for line in (out / SUMS_FILE).read_text().splitlines()]
    assert listed == sorted([*CERTS, "clients/ci/ca.pem", "clients/ci/cert.pem"])
    assert all((out / key).is_file() for key in KEYS)  # present, and still not asked for
    assert verify(out) == (6, [])


def test_a_key_listed_is_a_bad_line_even_with_its_right_digest(out: Path) -> None:
    with (out / SUMS_FILE).open("a") as sums:
        sums.write(f"{_digest(out / 'ca-key.pem')}  ca-key.pem\n")
    assert verify(out) == (6, [Mismatch(SUMS_FILE, "line 7 is not a checksum of a "
                                                   "certificate file")])


def test_a_changed_file(out: Path) -> None:
    (out / "clients" / "ci" / "cert.pem").write_bytes(b"tampered\n")
    matched, problems = verify(out)
    assert matched == 5
    assert problems == [Mismatch("clients/ci/cert.pem", "its SHA-256 differs from SHA256SUMS: "
                                 "changed or damaged since it was written")]


def test_a_missing_file_and_a_dangling_symlink(out: Path) -> None:
    (out / "cert.pem").unlink()
    (out / "ca.pem").unlink()
    (out / "ca.pem").symlink_to(out / "nowhere.pem")
    matched, problems = verify(out)
    assert matched == 4
    assert [problem.file for problem in problems] == ["ca.pem", "cert.pem"]
    assert problems[0].message.startswith("cannot read ")  # there, but not readable
    assert problems[1].message == "listed in SHA256SUMS but missing"


def test_an_extra_certificate_is_unlisted_other_files_are_ignored(out: Path) -> None:
    shutil.copy(out / "ca.pem", out / "extra.pem")
    shutil.copy(out / "ca.pem", out / "clients" / "ci" / "extra.pem")
    (out / "servers" / "m1").mkdir(parents=True)
    shutil.copy(out / "server-cert.pem", out / "servers" / "m1" / "server-cert.pem")
    for ignored in ("notes.txt", "extra-key.pem", "backup-x/ca.pem", "clients/Bad/cert.pem",
                    "clients/ci/sub/ca.pem"):
        (out / ignored).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / "ca.pem", out / ignored)
    assert verify(out) == (6, [Mismatch(name, "not listed in SHA256SUMS") for name in
                               ("clients/ci/extra.pem", "extra.pem",
                                "servers/m1/server-cert.pem")])


def test_no_sums_file(out: Path) -> None:
    (out / SUMS_FILE).unlink()
    (out / SUMS_FILE).mkdir()  # not a file either
    matched, problems = verify(out)
    assert matched == 0 and [problem.file for problem in problems] == [SUMS_FILE]
    assert problems[0].message.startswith("missing: ")


@pytest.mark.parametrize("line", [
    f"{'A' * 64}  ca.pem",  # upper-case hex
    f"{'a' * 63}  ca.pem",
    f"{'a' * 65}  ca.pem",
    f"{'a' * 64} ca.pem",  # one space
    f"{'a' * 64}\tca.pem",
    f"{'a' * 64}  ",
    f" {'a' * 64}  ca.pem",
    "",
    "ca.pem",
    f"{'a' * 64}  ../ca.pem",
    f"{'a' * 64}  /etc/ssl/ca.pem",
    f"{'a' * 64}  clients/../ca.pem",
    f"{'a' * 64}  clients/ci/../../x.pem",
    f"{'a' * 64}  clients/../../x.pem",
    f"{'a' * 64}  clients/ci/sub/ca.pem",
    f"{'a' * 64}  backup-x/ca.pem",
    f"{'a' * 64}  notes.txt",
    f"{'a' * 64}  SHA256SUMS",
    f"{'a' * 64}  clients/ci/key.pem",
    f"{'a' * 64}  client.p12",
])
def test_malformed_lines_are_refused_by_number(out: Path, line: str) -> None:
    text = (out / SUMS_FILE).read_text().splitlines()
    text.insert(2, line)
    (out / SUMS_FILE).write_text("\n".join(text) + "\n")
    assert verify(out) == (6, [Mismatch(SUMS_FILE, "line 3 is not a checksum of a "
                                                   "certificate file")])


def test_binary_marker_and_crlf(out: Path) -> None:
    """``sha256sum -b`` writes ``digest *name``: accepted; so is a file with CRLF ends."""
    text = (out / SUMS_FILE).read_text().replace("  ", " *", 1).replace("\n", "\r\n")
    (out / SUMS_FILE).write_text(text)
    assert verify(out) == (6, [])


@pytest.mark.parametrize("name", ["\x1b]0;PWNED\x07x.pem", "x\x00.pem", "x\x7f\x9b[2J.pem"])
def test_hostile_names_are_bad_lines(out: Path, name: str) -> None:
    """A listed name with control characters is no file of the tool's: its line is bad,
    and the name is neither opened nor echoed."""
    with (out / SUMS_FILE).open("a") as sums:
        sums.write(f"{'0' * 64}  {name}\n")
    assert verify(out) == (6, [Mismatch(SUMS_FILE, "line 7 is not a checksum of a "
                                                   "certificate file")])


def test_bytes_that_are_not_utf8_are_replaced(out: Path) -> None:
    with (out / SUMS_FILE).open("ab") as sums:
        sums.write(b"0" * 64 + b"  \xff.pem\n")
    assert verify(out) == (6, [Mismatch("\ufffd.pem", "listed in SHA256SUMS but missing")])


def test_an_oversized_sums_file_is_not_read(out: Path) -> None:
    with (out / SUMS_FILE).open("ab") as sums:
        sums.write(b"#" * MAX_PEM_BYTES)
    matched, problems = verify(out)
    assert matched == 0 and [problem.file for problem in problems] == [SUMS_FILE]
    assert "larger than 1024 KiB" in problems[0].message


@pytest.mark.parametrize("kind", ["oversized", "folder", "fifo"])
def test_a_listed_file_that_cannot_be_read_safely(out: Path, kind: str) -> None:
    target = out / "clients" / "ci" / "ca.pem"
    target.unlink()
    if kind == "oversized":
        target.write_bytes(b"x" * (MAX_PEM_BYTES + 1))
    elif kind == "folder":
        target.mkdir()
    else:
        os.mkfifo(target)
    matched, problems = verify(out)
    assert matched == 5 and [problem.file for problem in problems] == ["clients/ci/ca.pem"]
    assert ("larger than 1024 KiB" if kind == "oversized" else "not a regular file"
            ) in problems[0].message


@pytest.mark.parametrize("name", ["a\nb.pem", "a\x1cb.pem", "a\x85b.pem", "a\\b.pem",
                                  os.fsdecode(b"\xff.pem")])
def test_a_pem_name_no_line_can_carry_is_left_out(out: Path, name: str) -> None:
    """No file of the tool's: SHA256SUMS neither lists it nor misses it."""
    shutil.copy(out / "ca.pem", out / name)
    _write_sums(out)
    assert name not in public_files(out) and verify(out) == (len(CERTS) + 2, [])


def test_a_name_listed_twice_is_a_bad_line(out: Path) -> None:
    """A forged first line for a file must not pass where ``sha256sum -c`` fails."""
    text = (out / SUMS_FILE).read_text()
    (out / SUMS_FILE).write_text(f"{'0' * 64}  ca.pem\n{text}")
    matched, problems = verify(out)
    assert Mismatch(SUMS_FILE, "line 2 lists ca.pem again, with another SHA-256") in problems
    assert [p.file for p in problems] == [SUMS_FILE, "ca.pem"] and matched == 5


def test_a_line_repeated_as_it_is_passes(out: Path) -> None:
    """As with ``sha256sum -c``: the same digest twice is no problem."""
    text = (out / SUMS_FILE).read_text()
    (out / SUMS_FILE).write_text(text.splitlines(keepends=True)[0] + text)
    assert verify(out) == (6, [])


# --- the receiver of a handed-over bundle: no SHA256SUMS in it -------------------------------

@pytest.fixture
def sent(tmp_path: Path, cli) -> Path:
    """A sender's folder with a manager's bundle and a CI client's."""
    folder = tmp_path / "sender"
    assert cli("certs", "all", "--out", str(folder), "-q").code == 0
    assert cli("certs", "server", "--out", str(folder), "--name", "m1", "--san", "10.0.0.11",
               "-q").code == 0
    assert cli("certs", "client", "--out", str(folder), "--name", "ci", "--hours", "8",
               "-q").code == 0
    return folder


def _handed_over(sent: Path, bundle: str, to: Path) -> Path:
    shutil.copytree(sent / bundle, to)
    return to


def test_a_received_bundle_says_what_it_checked_without_the_sums(sent: Path, tmp_path: Path,
                                                                 cli) -> None:
    """servers/m1 copied to a manager's /etc/docker: the key, the chain to ca.pem with
    the purpose and the dates are checked; for the files' integrity it points to the
    sender's SHA256SUMS, never to re-generating one (the receiver cannot)."""
    etc = _handed_over(sent, "servers/m1", tmp_path / "etc-docker")
    result = cli("certs", "verify-sums", str(etc))
    assert result.code == 0, result.out
    lines = result.out.splitlines()
    assert lines[:2] == ["checked: server-key.pem matches server-cert.pem",
                         "checked: server-cert.pem verifies as a server certificate against "
                         "ca.pem"]
    assert lines[2].startswith("checked: server-cert.pem is valid until ")
    assert lines[3] == (f"not checked: that these files are the ones the sender wrote: {etc} "
                        "holds no SHA256SUMS (a bundle never does); check them against the "
                        "sender's top-level one: `minipaas certs verify-sums --out "
                        f"{etc} --sums FILE`")
    assert "re-generate" not in result.out


def test_a_received_bundle_against_the_senders_sums(sent: Path, tmp_path: Path, cli) -> None:
    ci = _handed_over(sent, "clients/ci", tmp_path / "ci")
    sums = str(sent / SUMS_FILE)
    result = cli("certs", "verify-sums", str(ci), "--sums", sums)
    assert result.code == 0, result.out
    assert result.out.splitlines()[-1] == f"checked: 2 files match clients/ci in {sums}"
    assert "(7 hours left)" in result.out  # an 8-hour CI bundle, just made
    with (ci / "ca.pem").open("ab") as changed:
        changed.write(b"\n")
    damaged = cli("certs", "verify-sums", str(ci), "--sums", sums)
    assert damaged.code == 8
    assert damaged.out.splitlines()[-1] == (
        f"problem: ca.pem: its SHA-256 differs from {sums} (clients/ci/ca.pem): changed or "
        "damaged since it was written")


def test_a_received_bundle_with_a_wrong_key_or_another_folders_sums(sent: Path, tmp_path: Path,
                                                                   cli) -> None:
    etc = _handed_over(sent, "servers/m1", tmp_path / "etc-docker")
    shutil.copy(sent / "server-key.pem", etc / "server-key.pem")  # the top-level pair's key
    result = cli("certs", "verify-sums", str(etc))
    assert result.code == 8
    assert "problem: server-key.pem: does not match server-cert.pem" in result.out.splitlines()
    other = tmp_path / "other"
    assert cli("certs", "all", "--out", str(other), "-q").code == 0
    elsewhere = cli("certs", "verify-sums", str(etc), "--sums", str(other / SUMS_FILE))
    assert elsewhere.code == 8
    assert (f"problem: server-cert.pem: its SHA-256 is listed nowhere in {other / SUMS_FILE}: "
            "changed or damaged since it was written, or that is another folder's "
            "SHA256SUMS") in elsewhere.out.splitlines()


def test_a_received_bundle_of_another_ca(sent: Path, tmp_path: Path, cli) -> None:
    """Its ca.pem replaced by another CA's: the certificate does not verify (exit 8)."""
    etc = _handed_over(sent, "servers/m1", tmp_path / "etc-docker")
    other = tmp_path / "other"
    assert cli("certs", "ca", "--out", str(other), "-q").code == 0
    shutil.copy(other / "ca.pem", etc / "ca.pem")
    result = cli("certs", "verify-sums", str(etc))
    assert result.code == 8
    assert any(line.startswith("problem: server-cert.pem: does not verify as a server "
                               "certificate against ca.pem (error ") for line in
               result.out.splitlines()), result.out


def test_sums_given_for_a_whole_folder_and_a_missing_sums_file(sent: Path, tmp_path: Path,
                                                               cli) -> None:
    """A folder carried without its SHA256SUMS, the file carried apart; the sender's own
    folder without the file is still told to re-generate it; a --sums that is not there
    is a usage error, one line."""
    carried = tmp_path / "carried"
    shutil.copytree(sent, carried)
    (carried / SUMS_FILE).unlink()
    result = cli("certs", "verify-sums", str(carried), "--sums", str(sent / SUMS_FILE))
    assert result.code == 0, result.out
    assert result.out == f"OK: {carried}: 8 files match {sent / SUMS_FILE}\n"
    alone = cli("certs", "verify-sums", str(carried))
    assert alone.code == 8 and "re-generate it" in alone.out
    missing = cli("certs", "verify-sums", str(carried), "--sums", str(tmp_path / "nothing"))
    assert missing.code == 2
    assert missing.error_line == (f"Error: --sums: cannot read {tmp_path / 'nothing'}: No such "
                                  "file or directory")


def test_a_received_bundle_with_a_fifo_for_a_key_is_judged_at_once(sent: Path, tmp_path: Path,
                                                                   cli) -> None:
    """A FIFO where the key should be is refused, not waited on."""
    etc = _handed_over(sent, "servers/m1", tmp_path / "etc-docker")
    (etc / "server-key.pem").unlink()
    os.mkfifo(etc / "server-key.pem")
    result = cli("certs", "verify-sums", str(etc))
    assert result.code == 8
    assert "problem: server-key.pem: missing, or not a readable private key" in \
        result.out.splitlines()


def test_a_senders_folder_without_its_ca_key_and_sums_is_no_received_bundle(
        sent: Path, tmp_path: Path, cli) -> None:
    """A folder whose CA is elsewhere (--ca-dir, an engine) holds no ca-key.pem; with its
    SHA256SUMS lost and a certificate changed, its server and client pairs still say it
    is the sender's top level, not a bundle handed over: SHA256SUMS is missing (exit 8),
    not "not checked" (exit 0)."""
    folder = tmp_path / "signed-elsewhere"
    for role in ("server", "client"):
        assert cli("certs", role, "--out", str(folder), "--ca-dir", str(sent), "-q").code == 0
    assert not (folder / "ca-key.pem").exists()
    (folder / SUMS_FILE).unlink()
    with (folder / "client-cert.pem").open("ab") as changed:
        changed.write(b"\n")
    result = cli("certs", "verify-sums", str(folder))
    assert result.code == 8, result.out
    assert result.out.startswith(f"problem: {SUMS_FILE}: missing: re-generate it"), result.out


@pytest.mark.parametrize("with_sums", [False, True])
def test_a_folder_that_is_not_there_is_an_error_not_a_sums_file_to_make(
        sent: Path, tmp_path: Path, cli, with_sums: bool) -> None:
    """A mistyped folder is exit 6 as for show and check, never "re-generate it"."""
    missing = tmp_path / "not-there"
    extra = ["--sums", str(sent / SUMS_FILE)] if with_sums else []
    result = cli("certs", "verify-sums", "--out", str(missing), *extra)
    assert (result.code, result.out) == (6, "")
    assert result.error_line == f"Error: {missing} is not a directory"
