"""The ``minipaas`` command line: the entry point, and the one place errors become exit codes.

Every failure leaves here as one ``Error: ...`` line on stderr and a documented
exit code.  The ``certs`` group lists its commands from a table and imports
``commands`` only to run one, so ``--help`` costs little more than importing click.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Sequence

import click

from . import __version__
from .errors import EXIT_CODES_HELP, CertsError, Interrupted, exit_code
from .groups import Group
from .layout import (
    CA_CERT,
    CA_KEY,
    CERT_MODE,
    CLI_CERT,
    CLI_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
    KEY_MODE,
    SERVER_CERT,
    SERVER_KEY,
)
from .output import flush_stdout, progress

CERTS_HELP = f"""Create the TLS files that secure a remote Docker API (dockerd --tlsverify).

\b
Examples:
  minipaas certs all --out .certs --san 10.0.0.5 --san manager.example.com
  minipaas certs server --out .certs                    # rotate the server pair
  minipaas certs server --out .certs --name m1 --san 10.0.0.11  # a manager's bundle
  minipaas certs client --out .certs --name ci          # a new client pair
  export DOCKER_HOST=tcp://10.0.0.5:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=.certs

\b
Files in --out: {CA_CERT}, {CA_KEY}, {SERVER_CERT}, {SERVER_KEY},
{CLIENT_CERT}, {CLIENT_KEY}, and {CLI_CERT}/{CLI_KEY} (copies of the client
pair, the names the docker CLI reads). Bundles: servers/NAME/ (one Swarm manager's
/etc/docker) and clients/NAME/ (one identity's DOCKER_CERT_PATH). Keys are
{KEY_MODE:04o}, certificates {CERT_MODE:04o}.

{EXIT_CODES_HELP}"""


# name -> (attribute of ``commands``, one-line help shown by ``certs --help``)
COMMANDS = {
    "all": ("all_command", "A new CA, a server pair and a client pair: the set for a new cluster."),
    "ca": ("ca_command", "A new CA alone; never replaces one without --force."),
    "server": ("server_command", "A new server pair, or a manager's bundle, from the existing CA."),
    "client": ("client_command", "A new client pair, or named bundles, from the existing CA."),
    "p12": ("p12_command", "A client's pair and chain as a password-protected client.p12."),
    "env": ("env_command", "Print the DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH exports."),
    "daemon-json": ("daemon_json_command", "Print the daemon.json that turns on TLS verification."),
    "context": ("context_command", "Print the line that creates or updates a docker context."),
    "show": ("show_command", "Every certificate in DIR and its bundles."),
    "check": ("check_command", "Exit 0 if DIR's certificates are sound; for cron and CI."),
    "renew": ("renew_command", "Re-issue a pair, or --all, keeping CN, SANs and key type."),
    "revoke": ("revoke_command", "Cut identities off: a new CA, every other one re-issued."),
    "rotate-ca": ("rotate_ca", "Replace the CA without downtime: start, re-issue, finish."),
    "doctor": ("doctor_command", "Try mutual TLS with a daemon; say why it fails, and the fix."),
    "verify-sums": ("verify_sums_command", "Check DIR's certificates against its SHA256SUMS."),
    "prune": ("prune_command", "Remove old backup folders (they hold live private keys)."),
}


class _LazyGroup(Group):
    """A group whose commands are imported when one runs, not to list them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        from . import commands

        command: click.Command = getattr(commands, COMMANDS[cmd_name][0])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in COMMANDS.items()])


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="minipaas-certs")
def cli() -> None:
    """MiniPaaS command line: `minipaas certs --help` lists what it does."""


# short_help: a listing cuts a longer first sentence mid-way (to fit the terminal).
@cli.group(cls=_LazyGroup, help=CERTS_HELP,
           short_help="The TLS files that secure a remote Docker API.")
def certs() -> None:
    pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; map every failure to one ``Error:`` line and its exit code; tell of a
    signal that came once the change was complete (it interrupted nothing)."""
    code = _main(argv)
    # Only a run that changed a directory imported it (--help stays light).
    interrupts = sys.modules.get(f"{__package__}.interrupts")
    late = interrupts.late_signal() if interrupts else None
    if late:
        progress(late)
    return code


def _main(argv: Sequence[str] | None) -> int:
    try:
        result = cli.main(args=list(argv) if argv is not None else None,
                          prog_name="minipaas", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except CertsError as error:
        return _fail(str(error), exit_code(error))
    except click.ClickException as error:
        return _fail(error.format_message(), error.exit_code)
    except click.exceptions.Abort:  # KeyboardInterrupt, in-process without our handler
        interrupted = Interrupted(signal.SIGINT)
        return _fail(str(interrupted), interrupted.exit_code)
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        return _fail(f"{error.strerror or error}{where}", exit_code(error))
    except Exception as error:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("MINIPAAS_DEBUG"):
            raise
        return _fail(f"internal error ({type(error).__name__}: {error}); "
                     "set MINIPAAS_DEBUG=1 for a traceback", 1)
    flush_stdout()
    return code


def _fail(message: str, code: int) -> int:
    """One ``Error:`` line; control characters from file names or openssl are escaped."""
    progress(f"Error: {' '.join(message.split())}")  # progress escapes control characters
    return code
