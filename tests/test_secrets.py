"""secrets.py: each secret (the CA passphrase, the PKCS#12 password, the engine's token)
from the file its option names, else from the environment, read capped and checked."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import click
import pytest
from as_user import ok, tool

from minipaas_certs import secrets
from minipaas_certs.errors import InvalidInput

OUT = "my certs"


def test_a_locked_ca_key_gets_one_exit_code_whatever_the_command(tmp_path: Path) -> None:
    """An encrypted ca-key.pem without its passphrase: ``server``, ``renew --all`` and
    ``rotate-ca start`` exit 5 (a CA problem), ``revoke`` and ``ca/all --force
    --reissue`` exit 2 for the same missing passphrase.  A script (or the README's
    table) cannot tell what went wrong from the code."""
    (tmp_path / "pass").write_text("secret pass\n")
    (tmp_path / "pass").chmod(0o600)
    ok(tmp_path, "all", "--out", OUT, "--ca-passphrase-file", "pass")
    ok(tmp_path, "client", "--out", OUT, "--name", "v", "--ca-passphrase-file", "pass")
    codes = {}
    for command in (["server"], ["renew", "--all", "--within", "100%"], ["rotate-ca", "start"],
                    ["revoke", "--name", "v"], ["ca", "--force", "--reissue"]):
        done = tool(tmp_path, *command, "--out", OUT, "-q")
        assert done.stderr.count("Error:") == 1, done.stderr
        codes[" ".join(command)] = done.returncode
    assert len(set(codes.values())) == 1, codes


@pytest.mark.parametrize("content", ["abc", "", "two\nlines", "x" * 1024])
def test_bad_passphrase_is_refused(tmp_path: Path, cli, content: str) -> None:
    path = tmp_path / "pass"
    path.write_text(content)
    result = cli("certs", "all", "--out", str(tmp_path / "c"), "--ca-passphrase-file", str(path))
    assert result.code == 2 and "passphrase" in result.error_line
    assert not (tmp_path / "c").exists()


def test_missing_passphrase_file(tmp_path: Path, cli) -> None:
    result = cli("certs", "ca", "--out", str(tmp_path / "c"), "--ca-passphrase-file",
                 str(tmp_path / "nope"))
    assert result.code == 2 and "cannot read" in result.error_line


# --- one pattern for every secret: option > *_FILE variable > the secret's variable -------

def _upper(raw: bytes, origin: str) -> bytes:
    return raw.strip().upper()


WORD = secrets.Secret("word", "--word-file", "WORD_OF_THIS_TEST_FILE",
                      ("WORD_OF_THIS_TEST", "OTHER_WORD_OF_THIS_TEST"), _upper)
BOTH = ("set one of WORD_OF_THIS_TEST_FILE or {0}, not both: WORD_OF_THIS_TEST_FILE names "
        "a file holding the word, {0} holds the word itself")


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Two files, one for the option, one for the variable; no variable of WORD set."""
    for name in (WORD.file_variable, *WORD.variables):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "a").write_bytes(b"from option\n")
    (tmp_path / "b").write_bytes(b"from variable's file\n")
    return str(tmp_path / "a"), str(tmp_path / "b")


def test_the_option_comes_first_then_the_file_variable_then_the_secret_itself(
        files: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    option, named = files
    assert WORD.read(None) is None
    monkeypatch.setenv("WORD_OF_THIS_TEST", "from env")
    assert WORD.read(None) == (b"FROM ENV", "WORD_OF_THIS_TEST")
    assert WORD.read(option) == (b"FROM OPTION", f"--word-file {option}")
    monkeypatch.delenv("WORD_OF_THIS_TEST")
    monkeypatch.setenv("WORD_OF_THIS_TEST_FILE", named)
    assert WORD.read(None) == (b"FROM VARIABLE'S FILE", f"WORD_OF_THIS_TEST_FILE {named}")
    assert WORD.read(option) == (b"FROM OPTION", f"--word-file {option}")
    monkeypatch.setenv("WORD_OF_THIS_TEST_FILE", "")  # empty: unset, as click takes it
    monkeypatch.setenv("WORD_OF_THIS_TEST", "from env")
    assert WORD.read(None) == (b"FROM ENV", "WORD_OF_THIS_TEST")


@pytest.mark.parametrize("variable", WORD.variables)
def test_a_file_variable_beside_the_secret_itself_is_refused(
        files: tuple[str, str], monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    option, named = files
    monkeypatch.setenv("WORD_OF_THIS_TEST_FILE", named)
    monkeypatch.setenv(variable, "from env")
    with pytest.raises(InvalidInput) as refused:
        WORD.read(None)
    assert str(refused.value) == BOTH.format(variable)
    assert WORD.read(option) == (b"FROM OPTION", f"--word-file {option}")  # the command line
    monkeypatch.setenv(variable, "")  # set to nothing: no second value
    assert WORD.read(None) == (b"FROM VARIABLE'S FILE", f"WORD_OF_THIS_TEST_FILE {named}")


def test_the_first_secret_variable_set_counts(files: tuple[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTHER_WORD_OF_THIS_TEST", "other")
    assert WORD.read(None) == (b"OTHER", "OTHER_WORD_OF_THIS_TEST")
    monkeypatch.setenv("WORD_OF_THIS_TEST", "")  # empty: the next one
    assert WORD.read(None) == (b"OTHER", "OTHER_WORD_OF_THIS_TEST")
    monkeypatch.setenv("WORD_OF_THIS_TEST", "first")
    assert WORD.read(None) == (b"FIRST", "WORD_OF_THIS_TEST")
    monkeypatch.delenv("OTHER_WORD_OF_THIS_TEST")
    monkeypatch.setenv("WORD_OF_THIS_TEST", "")  # only an empty one: its check decides
    assert WORD.read(None) == (b"", "WORD_OF_THIS_TEST")


def test_a_file_that_cannot_be_read_is_refused_naming_who_named_it(
        tmp_path: Path, files: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    os.mkfifo(tmp_path / "fifo")  # refused at once, not waited on
    for name in ("fifo", "missing"):
        with pytest.raises(InvalidInput) as refused:
            WORD.read(str(tmp_path / name))
        assert str(refused.value).startswith("--word-file: "), refused.value
        monkeypatch.setenv("WORD_OF_THIS_TEST_FILE", str(tmp_path / name))
        with pytest.raises(InvalidInput) as refused:
            WORD.read(None)
        assert str(refused.value).startswith("WORD_OF_THIS_TEST_FILE: "), refused.value


def test_a_secret_variable_that_names_a_file_is_refused_unshown(
        files: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``MINIPAAS_P12_PASSWORD=/path/p12-password`` would protect the keystore with the
    path's text: the variable holds the secret itself, the *_FILE one names the file."""
    _, named = files
    monkeypatch.setenv("WORD_OF_THIS_TEST", named)
    with pytest.raises(InvalidInput) as refused:
        WORD.read(None)
    assert str(refused.value) == ("WORD_OF_THIS_TEST holds the word itself, but names a "
                                  "file: name the file in WORD_OF_THIS_TEST_FILE instead")
    monkeypatch.setenv("WORD_OF_THIS_TEST", "no/such/file")  # a secret may hold a slash
    assert WORD.read(None) == (b"NO/SUCH/FILE", "WORD_OF_THIS_TEST")


def test_the_help_names_the_file_variable_and_the_secret_itself_apart() -> None:
    assert WORD.help("Read FILE") == ("Read FILE [env WORD_OF_THIS_TEST_FILE; or the word "
                                      "itself in WORD_OF_THIS_TEST or OTHER_WORD_OF_THIS_TEST].")
    assert WORD.ways == ("--word-file FILE (or WORD_OF_THIS_TEST_FILE naming the file, or the "
                         "word itself in WORD_OF_THIS_TEST or OTHER_WORD_OF_THIS_TEST)")


SECRETS = (secrets.CA_PASSPHRASE, secrets.P12_PASSWORD, secrets.VAULT_TOKEN)


def _options() -> list[tuple[str, click.Option]]:
    """Every option of every command, with the command's path."""
    from minipaas_certs.cli import cli as top

    found = []

    def walk(command: click.Command, path: str) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(click.Context(command)):
                sub = command.get_command(click.Context(command), name)
                assert sub is not None
                walk(sub, f"{path} {name}")
        found.extend((path, param) for param in command.params
                     if isinstance(param, click.Option))

    walk(top, "minipaas")
    return found


def test_every_secret_option_says_its_file_variable_and_the_secret_variable_apart() -> None:
    """Help never shows a variable that holds a secret as if it named the FILE
    (`--password-file FILE ... [env MINIPAAS_P12_PASSWORD]` did)."""
    seen = set()
    for path, option in _options():
        text = option.help or ""
        for secret in SECRETS:
            if secret.option in option.opts:
                seen.add(secret.option)
                assert option.metavar == "FILE" and option.envvar is None, path
                assert text.endswith(secret.help("")[1:]), (path, text)
            before = text.split(" itself in ", 1)[0]  # variables named as the secret itself
            for variable in secret.variables:
                assert not re.search(rf"\b{variable}\b", before), (path, option.opts, text)
    assert seen == {secret.option for secret in SECRETS}


def test_the_p12_password_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInput) as refused:
        secrets.p12_password(None)
    assert str(refused.value) == (
        "give the PKCS#12 password with --password-file FILE (or MINIPAAS_P12_PASSWORD_FILE "
        "naming the file, or the password itself in MINIPAAS_P12_PASSWORD)")


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VAULT_TOKEN", "BAO_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_the_vault_token_is_stripped_and_says_where_it_came_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_token: None) -> None:
    (tmp_path / "token").write_text(" s.file \n")
    assert secrets.vault_token(str(tmp_path / "token")) == (
        "s.file", f"--vault-token-file {tmp_path / 'token'}")
    monkeypatch.setenv("BAO_TOKEN", "s.bao\n")
    assert secrets.vault_token(None) == ("s.bao", "BAO_TOKEN")
    monkeypatch.setenv("VAULT_TOKEN", "s.vault")
    assert secrets.vault_token(None) == ("s.vault", "VAULT_TOKEN")


def test_no_or_an_empty_vault_token_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              no_token: None) -> None:
    with pytest.raises(InvalidInput) as refused:
        secrets.vault_token(None)
    assert str(refused.value) == (
        "no engine token: give --vault-token-file FILE (or MINIPAAS_VAULT_TOKEN_FILE naming "
        "the file, or the token itself in VAULT_TOKEN or BAO_TOKEN)")
    (tmp_path / "token").write_text(" \n")
    with pytest.raises(InvalidInput) as refused:
        secrets.vault_token(str(tmp_path / "token"))
    assert str(refused.value) == (f"--vault-token-file: the engine token from "
                                  f"{tmp_path / 'token'} is empty")


# --- the same, through the commands --------------------------------------------------------

def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_the_ca_passphrase_from_the_file_its_variable_names(
        tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pass").write_text("from a file\n")
    out = tmp_path / "c"
    monkeypatch.setenv("MINIPAAS_CA_PASSPHRASE_FILE", str(tmp_path / "pass"))
    assert cli("certs", "all", "--out", str(out), "-q").code == 0
    assert (out / "ca-key.pem").read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY")
    assert cli("certs", "server", "--out", str(out), "-q").code == 0
    monkeypatch.setenv("MINIPAAS_CA_PASSPHRASE", "from a file")  # the same, said twice
    before = _snapshot(out)
    both = cli("certs", "server", "--out", str(out), "-q")
    assert both.code == 2
    assert both.error_line.startswith("Error: set one of MINIPAAS_CA_PASSPHRASE_FILE or "
                                      "MINIPAAS_CA_PASSPHRASE, not both: ")
    assert _snapshot(out) == before
    monkeypatch.delenv("MINIPAAS_CA_PASSPHRASE_FILE")  # the passphrase itself still works
    assert cli("certs", "server", "--out", str(out), "-q").code == 0
    monkeypatch.delenv("MINIPAAS_CA_PASSPHRASE")
    assert cli("certs", "server", "--out", str(out), "-q").code == 5  # locked without it


def test_the_p12_password_from_the_file_its_variable_names(
        tmp_path: Path, out: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs12

    password = tmp_path / "p12-password"
    password.write_text("keystore-secret\n")
    monkeypatch.setenv("MINIPAAS_P12_PASSWORD", str(password))  # the mistake
    result = cli("certs", "p12", "--out", str(out))
    assert result.code == 2
    assert result.error_line == ("Error: MINIPAAS_P12_PASSWORD holds the password itself, but "
                                 "names a file: name the file in MINIPAAS_P12_PASSWORD_FILE "
                                 "instead")
    assert not (out / "client.p12").exists()
    monkeypatch.setenv("MINIPAAS_P12_PASSWORD_FILE", str(password))
    result = cli("certs", "p12", "--out", str(out))
    assert result.code == 2 and "set one of MINIPAAS_P12_PASSWORD_FILE or MINIPAAS_P12_" \
                                "PASSWORD, not both" in result.error_line
    assert not (out / "client.p12").exists()
    monkeypatch.delenv("MINIPAAS_P12_PASSWORD")
    assert cli("certs", "p12", "--out", str(out), "-q").code == 0
    key, cert, _ = pkcs12.load_key_and_certificates((out / "client.p12").read_bytes(),
                                                    b"keystore-secret")
    assert key is not None and cert is not None


class _Engine:
    """An HTTP server that records the token of each request and refuses it (403)."""

    def __init__(self) -> None:
        import http.server
        import threading

        seen = self.seen = []  # type: list[str | None]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                seen.append(self.headers.get("X-Vault-Token"))
                data = b'{"errors": ["permission denied"]}'
                self.send_response(403)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def engine(no_token: None) -> Iterator[_Engine]:
    served = _Engine()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.mark.parametrize("variable", ["VAULT_TOKEN", "BAO_TOKEN"])
def test_the_engine_token_from_the_file_its_variable_names(
        tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch, engine: _Engine,
        variable: str) -> None:
    (tmp_path / "token").write_text("s.from-a-file\n")
    out = tmp_path / "c"
    asked = ["certs", "client", "--out", str(out), "--vault-role", "r", "--vault-addr",
             engine.address]
    monkeypatch.setenv("MINIPAAS_VAULT_TOKEN_FILE", str(tmp_path / "token"))
    assert cli(*asked).code != 0  # refused by the engine, after it saw the token
    assert engine.seen == ["s.from-a-file"]
    # VAULT_TOKEN / BAO_TOKEN in an admin's shell are the vault CLI's: this tool's own
    # file variable is the more specific choice, and wins (no refusal, as for the others).
    monkeypatch.setenv(variable, "s.itself")
    assert cli(*asked).code != 0
    assert engine.seen == ["s.from-a-file", "s.from-a-file"] and not out.exists()


@pytest.mark.parametrize("given", ["relative", "pipe"])
def test_a_secret_variable_naming_a_relative_file_or_a_pipe_is_refused(
        tmp_path: Path, out: Path, cli, monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    """``MINIPAAS_P12_PASSWORD=p12-password`` beside the file, or ``=<(cat file)`` (a
    /dev/fd/N pipe), names a file as surely as an absolute path: not a password."""
    import os

    (tmp_path / "p12-password").write_text("keystore-secret\n")
    monkeypatch.chdir(tmp_path)
    read, write = os.pipe()
    try:
        monkeypatch.setenv("MINIPAAS_P12_PASSWORD",
                           "p12-password" if given == "relative" else f"/dev/fd/{read}")
        result = cli("certs", "p12", "--out", str(out))
    finally:
        os.close(read)
        os.close(write)
    assert result.code == 2
    assert result.error_line == ("Error: MINIPAAS_P12_PASSWORD holds the password itself, but "
                                 "names a file: name the file in MINIPAAS_P12_PASSWORD_FILE "
                                 "instead")
    assert not (out / "client.p12").exists()
