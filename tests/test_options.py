"""An option that takes one value, given twice, is a usage error (exit 2), for every
option of every command: click alone keeps the last (``server --name m1 --name m2``
issued m2 alone).  Flags and repeatable options may repeat; a default taken from
the environment is no repetition.

The commands and their options are read from the click objects, so an option or a
command added later is covered without a change here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import click
import pytest

from minipaas_certs.cli import COMMANDS, certs


def _commands(group: click.Group = certs, path: tuple[str, ...] = ()
              ) -> Iterator[tuple[list[str], click.Command]]:
    """Every command under ``certs``, at any depth, as the group resolves it."""
    for name in group.list_commands(click.Context(group)):
        command = group.get_command(click.Context(group), name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield [*path, name], command


def _single_valued() -> list[tuple[list[str], str]]:
    return [(path, max(param.opts, key=len)) for path, command in _commands()
            for param in command.params
            if isinstance(param, click.Option)
            and not (param.multiple or param.is_flag or param.count)]


SINGLE = _single_valued()


def test_the_options_checked_are_every_single_valued_one() -> None:
    assert len({" ".join(path) for path, _ in _commands()}) == len(COMMANDS) + 1  # rotate-ca
    options = {(" ".join(path), option) for path, option in SINGLE}
    assert {("server", "--name"), ("all", "--out"), ("server", "--days"), ("ca", "--cn"),
            ("rotate-ca start", "--cn"), ("doctor", "--hosts-file"), ("p12", "--password-file"),
            ("check", "--warn-days"), ("show", "--out"), ("check", "--out"),
            ("doctor", "--out"), ("verify-sums", "--out"), ("server", "--vault-token-file"),
            ("renew", "--ca-passphrase-file")} <= options
    assert ("client", "--name") not in options and ("all", "--san") not in options
    assert ("doctor", "--host") not in options  # NAME=HOST:PORT, one per daemon


@pytest.mark.parametrize("path,option", SINGLE, ids=[" ".join(path) + " " + option
                                                      for path, option in SINGLE])
def test_a_single_valued_option_given_twice_is_a_usage_error(
        cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: list[str],
        option: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("certs", *path, option, "m1", option, "m2")
    assert result.code == 2, result.err
    assert result.error_line == f"Error: {option} given twice (m1, m2): give it once"
    assert list(tmp_path.iterdir()) == []  # refused before anything ran
    three = cli("certs", *path, f"{option}=a", option, "b", f"{option}=c")
    assert three.error_line == f"Error: {option} given 3 times (a, b, c): give it once"


def test_flags_and_repeatable_options_may_repeat(cli, tmp_path: Path) -> None:
    out = tmp_path / "certs"
    result = cli("certs", "all", "--out", str(out), "--san", "10.0.0.5", "--san",
                 "docker.example.com", "-q", "--quiet", "--force", "--force")
    assert result.code == 0, result.err
    assert cli("certs", "client", "--out", str(out), "--name", "a", "--name", "b",
               "-q").code == 0
    assert sorted(p.name for p in (out / "clients").iterdir()) == ["a", "b"]


def test_a_default_from_the_environment_is_no_repetition(
        cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIPAAS_CERTS_OUT", str(tmp_path / "from-env"))
    result = cli("certs", "all", "--out", str(tmp_path / "given"), "-q")
    assert result.code == 0, result.err
    assert (tmp_path / "given" / "ca.pem").exists() and not (tmp_path / "from-env").exists()


@pytest.mark.parametrize("command", ["server", "client"])
def test_the_request_is_refused_before_the_signer_options_are_read(
        tmp_path: Path, cli, command: str) -> None:
    """A bad key size is named first, as before the signer options were gathered: the
    engine's own checks (its address, its token) come after what the request asks."""
    result = cli("certs", command, "--out", str(tmp_path / "certs"), "--key-type", "ecdsa",
                 "--key-size", "999", "--vault-role", "servers")
    assert result.code == 2
    assert result.error_line == ("Error: --key-size 999 is not valid for ecdsa keys "
                                 "(use 256, 384)")
