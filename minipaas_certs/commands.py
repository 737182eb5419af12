"""The ``minipaas certs`` commands: thin Click commands over the core modules.

Loaded only when a command runs (``cli`` lists them without importing this), and
each command imports the core it needs, so start-up stays close to click's own.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import click

from . import reports
from .errors import CertsError, quote
from .groups import Choice, Group
from .identity import CLIENT, ROLES, SERVER, Identity, Role
from .names import parse_identity_name, parse_san
from .options import (
    CHECK_CN,
    DAYS,
    EXIT_CODES,
    PASSPHRASE_NEW_CA,
    PASSPHRASE_NEXT_CA,
    SERVER_CN_DEFAULT,
    Run,
    SignerOptions,
    bundle_help,
    ca_days_option,
    ca_dir_option,
    days_option,
    engine_options,
    folder_options,
    force_option,
    gather,
    host_option,
    json_option,
    keep_key_options,
    key_options,
    leaf_validity_options,
    made_set,
    name_option,
    no_ca_dir_option,
    openssl_option,
    out_option,
    quiet_option,
    refuse_through_engine,
    reissue_option,
    reporter,
    retention_option,
    rotation_key_options,
    san_options,
    validate,
    with_run,
)
from .output import progress, say, say_line
from .plan import (
    DEFAULT_CA_CN,
    DEFAULT_CA_DAYS,
    DEFAULT_CLIENT_CN,
    DEFAULT_DAYS,
    DEFAULT_SANS,
    DEFAULT_WARN_DAYS,
    MAX_DAYS,
    MAX_WARN_DAYS,
    Window,
    chosen_lifetime,
)
from .secrets import P12_PASSWORD, p12_password


def _client_usage(names: Sequence[str], cn: str | None, days: int | None, hours: int | None,
                  **_: Any) -> None:
    if names and cn:
        raise click.UsageError("--cn and --name cannot be combined: a bundle's CN is its name")
    chosen_lifetime(days, hours)


_NO_ROLE = "say what to renew: server, client, or --all"


@dataclass(frozen=True)
class _Renewal:
    """What `renew` is asked to renew and how: its options but where (--out, --ca-dir),
    --force and who signs."""

    role: str | None
    every: bool
    within: Window | None
    name: str | None
    sans: Sequence[str]
    key_type: str | None
    key_size: int | None
    days: int | None
    hours: int | None
    as_json: bool

    def refuse_misuse(self) -> None:
        if self.every and (self.role or self.name or self.sans or self.key_type):
            raise click.UsageError("--all renews every pair as it is: it takes no ROLE, "
                                   "--name, --san or --key-type")
        if not self.every and self.within is not None:
            raise click.UsageError("--within goes with --all")
        chosen_lifetime(self.days, self.hours)
        if not self.every and not self.role:
            raise click.UsageError(_NO_ROLE)

    @property
    def identity(self) -> Identity:
        """The pair or bundle to renew (without --all)."""
        if not self.role:
            raise click.UsageError(_NO_ROLE)
        return Identity(ROLES[self.role], self.name)

    @property
    def lifetime(self) -> datetime.timedelta | None:
        """None: each pair's current one."""
        if self.days is None and self.hours is None:
            return None
        return chosen_lifetime(self.days, self.hours)


def _key(key_type: str, key_size: int | None) -> Any:
    from .plan import KeySpec

    return KeySpec.parse(key_type, key_size)


dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Print what would be issued, moved to a backup and "
                                    "redeployed; change nothing on disk.")


@click.command("all", epilog=EXIT_CODES)
@retention_option
@out_option
@san_options
@click.option("--ca-cn", callback=CHECK_CN, default=DEFAULT_CA_CN, show_default=True,
              help="Common name of the CA.")
@click.option("--server-cn", callback=CHECK_CN, default=None,
              help=f"Common name of the server certificate {SERVER_CN_DEFAULT}.")
@click.option("--client-cn", callback=CHECK_CN, default=DEFAULT_CLIENT_CN,
              show_default=True,
              help="Common name of the client certificate.")
@key_options
@days_option
@ca_days_option
@force_option
@reissue_option
@json_option
@dry_run_option
@engine_options
@with_run(passphrase=PASSPHRASE_NEW_CA)
def all_command(out: str, sans: Sequence[str], no_default_san: bool, ca_cn: str,
                server_cn: str | None, client_cn: str, key_type: str, key_size: int | None,
                days: int, ca_days: int, force: bool, reissue: bool, as_json: bool,
                dry_run: bool, run: Run, **engine: Any) -> None:
    """A new CA, a server pair and a client pair: the set for a new cluster.

    With --force over an existing set, the bundles of the previous CA
    (servers/*, clients/*) no longer verify: add --reissue to re-issue them from
    the new CA in the same step, each keeping its CN, SANs and key type.

    \b
    Through an OpenBao/Vault PKI engine instead, no CA is made here:
      minipaas certs all --out .certs --san 10.0.0.5 \\
          --vault-server-role docker-server --vault-client-role docker-client
    """
    from .generate import generate
    from .plan import CASpec, Plan, client_leaves, server_leaf
    from .signers import choose

    signing = SignerOptions(ca_dir=None, **engine)
    if signing.names_engine:
        refuse_through_engine("ca_cn", "ca_days", "reissue")
        requests = (_request(SERVER, None, server_cn, sans, no_default_san, key_type,
                             key_size, days, None),
                    _request(CLIENT, None, client_cn, (), False, key_type, key_size, days,
                             None))
        plan = Plan.issue(signing.signer((SERVER, CLIENT)), requests, force=force,
                          new_set=True)
    else:
        key, lifetime = _key(key_type, key_size), chosen_lifetime(days)
        plan = Plan.new_set(choose(new_ca=CASpec(ca_cn, key, ca_days)), force=force,
                            reissue=reissue,
                            leaves=(server_leaf(server_cn, sans, not no_default_san, key,
                                                lifetime),
                                    *client_leaves(client_cn, (), key, lifetime)))
    if dry_run:
        _preview(Path(out), plan)
        return
    done = generate(run.openssl, Path(out), plan, **run.keywords)
    reports.render("outcome", reports.Done(Path(out), done), reports.chosen(as_json))
    # What comes next, whoever signed: the daemon's files, then docker version.
    addresses = [parse_san(san).value for san in sans]
    for line in reports.next_steps(Path(out), addresses[0] if addresses else "localhost"):
        run.progress(line)


@click.command("ca", epilog=EXIT_CODES)
@retention_option
@out_option
@click.option("--cn", callback=CHECK_CN, default=DEFAULT_CA_CN, show_default=True,
              help="Common name of the CA.")
@key_options
@ca_days_option
@force_option
@reissue_option
@dry_run_option
@with_run(passphrase=PASSPHRASE_NEW_CA)
def ca_command(out: str, cn: str, key_type: str, key_size: int | None, ca_days: int,
               force: bool, reissue: bool, dry_run: bool, run: Run) -> None:
    """A new CA alone (ca.pem, ca-key.pem); never replaces one without --force.

    With --force --reissue, every server and client certificate of the previous CA
    is re-issued from the new one in the same step.
    """
    from .generate import generate
    from .plan import CASpec, Plan
    from .signers import choose

    plan = Plan.new_set(choose(new_ca=CASpec(cn, _key(key_type, key_size), ca_days)),
                        force=force,
                reissue=reissue)
    if dry_run:
        _preview(Path(out), plan)
        return
    done = generate(run.openssl, Path(out), plan, **run.keywords)
    reports.render("outcome", reports.Done(Path(out), done))


@click.command("server", epilog=EXIT_CODES)
@retention_option
@out_option
@ca_dir_option
@san_options
@click.option("--cn", callback=CHECK_CN, default=None,
              help=f"Common name {SERVER_CN_DEFAULT}; Go ignores it, SANs count.")
@click.option("--name", default=None, callback=validate(parse_identity_name),
              help=f"Write the manager's bundle {bundle_help(SERVER)} instead of the "
                   "top-level pair.")
@rotation_key_options
@leaf_validity_options(default=f"{DEFAULT_DAYS}, or the current certificate's when rotating")
@click.option("--force", is_flag=True,
              help="Drop names the current certificate has that --san/--cn/--no-default-san "
                   "leave out; replace a pair that cannot be read.")
@json_option
@dry_run_option
@engine_options
@gather(SignerOptions, into="signing")
@with_run(usage=lambda days, hours, **_: chosen_lifetime(days, hours))
def server_command(out: str, signing: SignerOptions, sans: Sequence[str],
                   no_default_san: bool, cn: str | None, name: str | None,
                   key_type: str | None, key_size: int | None, days: int | None,
                   hours: int | None, force: bool, as_json: bool, dry_run: bool, run: Run) -> None:
    """A server pair from the CA: server-cert.pem, server-key.pem.

    \b
    One per Swarm manager, each in its own bundle (the three files its
    /etc/docker needs, under the names daemon.json uses):
      minipaas certs server --out .certs --name m1 --san 10.0.0.11

    Running it again is rotation: the new certificate keeps the current one's CN,
    SANs, key type and validity unless options name others, and the previous pair
    goes to a backup folder.  Options that would drop a current name are refused
    (exit 2) unless --force: `minipaas certs server --out .certs` renews the pair as
    it is, like `minipaas certs renew server --out .certs`.
    """
    from .generate import generate
    from .plan import Plan

    request = _request(SERVER, name, cn, sans, no_default_san, key_type, key_size,
                       days, hours)  # checked before the signer's options, as always
    plan = Plan.issue(signing.signer((SERVER,)), (request,), force=force)
    if dry_run:
        _preview(Path(out), plan)
        return
    done = generate(run.openssl, Path(out), plan, **run.keywords)
    reports.render("outcome", reports.Done(Path(out), done), reports.chosen(as_json))


def _preview(out: Path, plan: Any) -> None:
    """--dry-run: the plan resolved as a run would, printed, nothing changed."""
    from .generate import preview

    reports.render("preview", reports.Previewed(out, preview(out, plan)))


def _request(role: Role, name: str | None, cn: str | None, sans: Sequence[str],
             no_default_san: bool, key_type: str | None, key_size: int | None,
             days: int | None, hours: int | None) -> Any:
    """One identity as a ``server`` or ``client`` command asks for it (None: not said)."""
    from .plan import Request

    named = bool(sans) or no_default_san  # else the current names, or the defaults
    return Request(role, name, cn or (None if role.needs_sans else name),
                   (*sans, *(() if no_default_san else DEFAULT_SANS)) if named else None,
                   key_kind=key_type, key_bits=key_size,
                   lifetime=None if days is None and hours is None
                   else chosen_lifetime(days, hours))


@click.command("client", epilog=EXIT_CODES)
@retention_option
@out_option
@ca_dir_option
@click.option("--cn", callback=CHECK_CN, default=None,
              help=f"Common name of the default client pair [default: {DEFAULT_CLIENT_CN}, "
                   "or the current one's when rotating].")
@click.option("--name", "names", multiple=True, callback=validate(parse_identity_name),
              help=f"Write the bundle {bundle_help(CLIENT)}, CN=NAME, instead of the "
                   "default pair (repeatable: one run issues them all).")
@rotation_key_options
@leaf_validity_options(default=f"{DEFAULT_DAYS}, or the current certificate's when rotating")
@click.option("--force", is_flag=True,
              help="Replace an existing bundle (it goes to a backup folder), or change the "
                   "default pair's CN.")
@json_option
@dry_run_option
@engine_options
@gather(SignerOptions, into="signing")
@with_run(usage=_client_usage)
def client_command(out: str, signing: SignerOptions, cn: str | None, names: Sequence[str],
                   key_type: str | None, key_size: int | None, days: int | None,
                   hours: int | None, force: bool, as_json: bool, dry_run: bool, run: Run) -> None:
    """A client pair from the CA (client-*.pem, and cert.pem/key.pem).

    \b
    With --name, a ready DOCKER_CERT_PATH per identity instead, for example:
      minipaas certs client --out .certs --name alice --name ci
      export DOCKER_CERT_PATH=.certs/clients/ci
    A bundle never holds the CA key; an existing one is replaced only with --force.
    A CI job's credentials can expire the same day: --hours 8.  Running it again
    for the default pair is rotation: the CN, key type and validity are kept
    unless options name others (another --cn needs --force).
    """
    from .generate import generate
    from .plan import Plan

    bundles: list[str | None] = list(dict.fromkeys(names)) or [None]  # None: the default pair
    requests = tuple(_request(CLIENT, name, cn, (), False, key_type, key_size, days, hours)
                     for name in bundles)
    plan = Plan.issue(signing.signer((CLIENT,)), requests, force=force)
    if dry_run:
        _preview(Path(out), plan)
        return
    done = generate(run.openssl, Path(out), plan, **run.keywords)
    reports.render("outcome", reports.Done(Path(out), done), reports.chosen(as_json))


@click.command("env", epilog=EXIT_CODES)
@out_option
@host_option
@name_option
def env_command(out: str, host: str, name: str | None) -> None:
    """Print the DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH exports.

    \b
    eval "$(minipaas certs env --out .certs --host 10.0.0.5)"
    docker version

    Warns on stderr when the host is not among the server certificate's names.
    """
    from .docker_config import bundle_dir, env_lines, parse_host, server_names_warning

    target = parse_host(host)
    cert_path = bundle_dir(Path(out), name, target)
    warning = server_names_warning(Path(out), target)
    if warning:
        progress(warning)
    for line in env_lines(target, cert_path):
        say(line)


@click.command("daemon-json", epilog=EXIT_CODES)
@click.option("--cert-dir", metavar="DIR", default="/etc/docker", show_default=True,
              help="Where ca.pem, server-cert.pem and server-key.pem are on the daemon's host.")
@click.option("--listen", multiple=True, metavar="URL",
              help="A daemon `hosts` entry, repeatable [default: unix:///var/run/docker.sock "
                   "and tcp://0.0.0.0:2376]. The local socket is kept beside tcp:// values; "
                   "a unix:// value replaces it.")
@click.option("--no-local-socket", is_flag=True,
              help="Leave unix:///var/run/docker.sock out of \"hosts\" (docker on the "
                   "daemon's host then needs TLS too).")
@click.option("-q", "--quiet", is_flag=True, help="Print the JSON only, no advice on stderr.")
def daemon_json_command(cert_dir: str, listen: Sequence[str], no_local_socket: bool,
                        quiet: bool) -> None:
    """Print the daemon.json that turns on TLS verification with the server files.

    \b
    minipaas certs daemon-json --cert-dir /etc/docker --listen tcp://0.0.0.0:2376

    "hosts" replaces dockerd's default socket, so unix:///var/run/docker.sock stays
    in it (a note on stderr says so when it is added to --listen): docker on the
    daemon's host keeps working.  The advice on stderr explains the systemd drop-in
    that the stock docker.service needs (its -H fd:// conflicts with "hosts"), and
    that dockerd must be restarted to read rotated certificates.
    """
    from .docker_config import LOCAL_SOCKET_NOTE, SYSTEMD_ADVICE, daemon_hosts, daemon_json

    hosts, added = daemon_hosts(listen, local_socket=not no_local_socket)
    say(daemon_json(cert_dir, hosts))
    if not quiet:
        if added:
            progress(LOCAL_SOCKET_NOTE)
        progress(SYSTEMD_ADVICE)


@click.command("context", epilog=EXIT_CODES)
@out_option
@host_option
@name_option
@click.option("--context", "context_name", default=None,
              help="The context's name [default: minipaas, or minipaas-NAME].")
def context_command(out: str, host: str, name: str | None, context_name: str | None) -> None:
    """Print the line that creates a docker context for a client bundle, or updates it.

    Run it again after a renewal: the context then copies the current files in.

    \b
    minipaas certs context --out .certs --host 10.0.0.5 --name ci | sh
    docker --context minipaas-ci version
    """
    from .docker_config import (
        bundle_dir,
        context_line,
        default_context_name,
        parse_host,
        server_names_warning,
    )

    target = parse_host(host)
    cert_path = bundle_dir(Path(out), name, target)
    line = context_line(context_name or default_context_name(name), target, cert_path)
    warning = server_names_warning(Path(out), target)
    if warning:
        progress(warning)
    say(line)


@click.command("p12", epilog=EXIT_CODES)
@out_option
@name_option
@click.option("--password-file", "password_file", metavar="FILE", default=None,
              help=P12_PASSWORD.help("Protect the file with the one line of FILE (6 or more "
                                     "printable ASCII characters)"))
@with_run(templates=False, passphrase=None)
def p12_command(out: str, name: str | None, password_file: str | None, run: Run) -> None:
    """Write a client's certificate, its chain and its key as client.p12 (PKCS#12),
    for Java and other clients that take a keystore.

    \b
    (umask 077 && openssl rand -base64 24 > p12-password)
    minipaas certs p12 --out .certs --name ci --password-file p12-password
    keytool -list -storetype PKCS12 -keystore .certs/clients/ci/client.p12 \\
        -storepass:file p12-password

    In clients/NAME/ with --name, else in --out for the default client pair;
    mode 0600.  AES-256-CBC (PBES2) and a SHA-256 MAC on OpenSSL 1.1.1 and 3.x.
    The password reaches openssl through a pipe, never its command line.
    """
    from .pkcs12 import export

    password = p12_password(password_file)
    reports.render("written", reports.Written(export(run.openssl, made_set(out), name, password,
                                                     progress=run.progress)))


@click.command("show", epilog=EXIT_CODES)
@folder_options
@json_option
def show_command(directory: str, as_json: bool) -> None:
    """Every certificate in DIR (default .certs or MINIPAAS_CERTS_OUT) and its bundles.

    Role, subject, SANs, usage, key, serial, validity and days left, issuer and
    SHA-256 fingerprint; where a CA rollover stands; and the identities revoked.
    """
    from . import clock
    from .inventory import inventory
    from .revocations import read as read_revocations

    folder = Path(directory)
    now = clock.now()
    reports.render("show", reports.Shown(folder, inventory(folder), now, read_revocations(folder)),
                   reports.chosen(as_json))


def _textfile(context: click.Context, parameter: click.Parameter, value: str | None
              ) -> Path | None:
    """node_exporter's textfile collector reads only ``*.prom`` files."""
    if value is not None and not value.endswith(".prom"):
        raise click.BadParameter(f"{quote(value)} does not end in .prom, which node_exporter's "
                                 "textfile collector reads")
    return Path(value) if value is not None else None


def _unknown_to_nagios(function: Callable[..., int]) -> Callable[..., int]:
    """With --format nagios, a check that cannot be made (the folder missing or
    unreadable, openssl failing, options that do not combine) is the plugin API's
    UNKNOWN: exit 3 and its reason on stdout, which is all a Nagios or Icinga server
    reads.  Values click refuses while parsing stay usage errors (exit 2)."""

    @functools.wraps(function)
    def command(*args: Any, **kwargs: Any) -> int:
        try:
            return function(*args, **kwargs)
        except (CertsError, OSError, click.ClickException) as error:
            if kwargs.get("output_format") != "nagios":
                raise
            if isinstance(error, click.ClickException):
                reason = error.format_message()
            elif isinstance(error, OSError):
                reason = f"{error.strerror or error}" + (
                    f": {error.filename}" if error.filename else "")
            else:
                reason = str(error)
            say_line(reports.nagios_unknown(reason))
            return reports.NAGIOS_UNKNOWN

    return command


@click.command("check", epilog=EXIT_CODES)
@_unknown_to_nagios
@folder_options
@click.option("--warn-days", type=click.IntRange(0, MAX_WARN_DAYS), default=DEFAULT_WARN_DAYS,
              show_default=True,
              help="Warn about certificates that expire within this many days.")
@click.option("--format", "output_format", type=Choice(list(reports.FORMATS["check"])),
              help="Output: text (default), json, prometheus (the metrics), or nagios (a "
                   "plugin's status line and perfdata; exit 0/1/2, 3 if it cannot check).")
@json_option
@click.option("--textfile", metavar="PATH.prom", callback=_textfile,
              help="Also write the Prometheus metrics to this file, atomically (mode 0644), "
                   "for node_exporter's textfile collector.")
@with_run(quiet=False, templates=False)
def check_command(directory: str, warn_days: int, output_format: str | None, as_json: bool,
                  textfile: Path | None, run: Run) -> int:
    """Exit 0 if DIR's certificates are sound; for cron and CI.

    Exit 7 for a warning (one expires within --warn-days, a CA rollover waits
    for re-issues, a root's self-signature is weak), 8 if something is wrong now: an
    expired certificate, a key that does not match, a leaf that does not verify
    against ca.pem or outlives the CA, a key readable by others, cert.pem/key.pem
    not a valid client pair or not copies of client-cert.pem/client-key.pem, a
    missing file.  One line per finding, naming the file and the command that
    fixes it (a finding about the client pair names its copy too).  --json is
    --format json.
    """
    from .check import check
    from .files import replace_atomically
    from .prune import live_backups

    if as_json and output_format not in (None, "json"):
        raise click.UsageError(f"--json is --format json: it cannot go with --format "
                               f"{output_format}")
    chosen = "json" if as_json else output_format or "text"
    folder = Path(directory)
    report = check(run.openssl, folder, warn_days, run.passphrase)
    checked = reports.Checked(folder, report, warn_days, live_backups(folder))
    if textfile is not None:
        replace_atomically(textfile, reports.check_prometheus(checked).encode(), 0o644)
    reports.render("check", checked, chosen)
    return reports.nagios_code(report.exit_code) if chosen == "nagios" else report.exit_code


@click.command("renew", epilog=EXIT_CODES)
@retention_option
# The metavar given, as click 8.1 would bracket the Choice's own again ('[[server|client]]').
@click.argument("role", type=Choice(list(ROLES)), required=False,
                metavar=f"[{'|'.join(ROLES)}]")
@out_option
@ca_dir_option
@click.option("--all", "every", is_flag=True,
              help="Renew the pairs in --out (top-level, servers/*, clients/*) that are "
                   "due (see --within), in one step.")
@click.option("--within", default=None, metavar="DAYS|N%", callback=validate(Window.parse),
              help="With --all: a pair is due when it expires within DAYS, or has less "
                   "than N% of its lifetime left; 100% renews every pair.  When none is "
                   "due, no file changes (for a daily timer).  [default: a third of its "
                   "lifetime]")
@click.option("--name", default=None, callback=validate(parse_identity_name),
              help="Renew the bundle servers/NAME (server) or clients/NAME (client).")
@click.option("--san", "sans", multiple=True, callback=validate(parse_san),
              help="A name to add to the server's current SANs (repeatable).")
@keep_key_options
@leaf_validity_options(default="the current certificate's")
@click.option("--force", is_flag=True,
              help="With --ca-dir: replace a ca.pem in --out that is another CA's (the old "
                   "one goes to a backup folder).")
@click.option("--json", "as_json", is_flag=True,
              help="Say what changed as JSON on stdout.")
@dry_run_option
@engine_options
@gather(SignerOptions, into="signing")
@gather(_Renewal, into="asked")
@with_run(usage=lambda asked, **_: asked.refuse_misuse())
def renew_command(out: str, signing: SignerOptions, force: bool, asked: _Renewal,
                  dry_run: bool, run: Run) -> None:
    """Re-issue a pair, keeping its CN, SANs, key type and validity.

    \b
    minipaas certs renew server --out .certs              # same names, new dates
    minipaas certs renew server --out .certs --san 10.0.0.9
    minipaas certs renew server --out .certs --name m1    # the manager servers/m1
    minipaas certs renew client --out .certs --name ci
    minipaas certs renew --all --out .certs               # what has < 1/3 of its life left
    minipaas certs renew --all --within 100% --out .certs # every pair, one step
    minipaas certs renew --all --within 30 --out .certs   # what expires within 30 days

    The values come from the current certificates; the new pairs replace the old
    ones in a single step (the old ones go to a backup folder), signed by the CA
    in --out (or --ca-dir).  --all then says which daemons need their new files.
    """
    from .generate import renew, renew_all

    signed_by = signing.signer(tuple(ROLES.values()) if asked.every else
                               (asked.identity.role,))
    within = asked.within or Window()
    if dry_run:
        from .generate import preview_renew, preview_renew_all

        found = (preview_renew_all(Path(out), lifetime=asked.lifetime, within=within,
                                   signer=signed_by, force=force) if asked.every else
                 preview_renew(Path(out), asked.identity, extra_sans=asked.sans,
                               lifetime=asked.lifetime, key_kind=asked.key_type,
                               key_bits=asked.key_size, signer=signed_by, force=force))
        reports.render("preview", reports.Previewed(Path(out), found))
        return
    if asked.every:
        renewal = renew_all(run.openssl, Path(out), lifetime=asked.lifetime, within=within,
                            signer=signed_by, force=force, **run.keywords)
        reports.render("renew-all", reports.Renewed(Path(out), renewal, within, run.progress),
                       reports.chosen(asked.as_json))
        return
    renewed = renew(run.openssl, Path(out), asked.identity,
                    extra_sans=asked.sans, lifetime=asked.lifetime,
                    key_kind=asked.key_type, key_bits=asked.key_size,
                    signer=signed_by, force=force, **run.keywords)
    reports.render("outcome", reports.Done(Path(out), renewed), reports.chosen(asked.as_json))


def _revoke_usage(names: Sequence[str], clients: Sequence[str], servers: Sequence[str],
                  client_pair: bool, **_: Any) -> None:
    if not (names or clients or servers or client_pair):
        raise click.UsageError("name what to revoke: --name NAME (a bundle), or "
                               "--client-pair (the top-level client pair)")


@click.command("revoke", epilog=EXIT_CODES)
@retention_option
@out_option
@click.option("--name", "names", multiple=True, callback=validate(parse_identity_name),
              metavar="NAME", help="Revoke the bundle NAME: clients/NAME or servers/NAME, "
                                   "whichever exists (repeatable).")
@click.option("--client", "clients", multiple=True, callback=validate(parse_identity_name),
              metavar="NAME", help="Revoke the client bundle clients/NAME (repeatable).")
@click.option("--server", "servers", multiple=True, callback=validate(parse_identity_name),
              metavar="NAME", help="Revoke the manager's bundle servers/NAME, e.g. a "
                                   "decommissioned one (repeatable).")
@click.option("--client-pair", is_flag=True,
              help="Revoke the top-level client pair (client-cert.pem, cert.pem); nothing "
                   "is issued in its place.")
@click.option("--ca-days", type=DAYS, default=DEFAULT_CA_DAYS, show_default=True,
              help="Validity of the new CA.")
@click.option("--days", type=DAYS, default=None,
              help="Validity of the re-issued certificates [default: each one's current].")
@json_option
@dry_run_option
@engine_options
@no_ca_dir_option
@with_run(passphrase=PASSPHRASE_NEXT_CA, usage=_revoke_usage)
def revoke_command(out: str, names: Sequence[str], clients: Sequence[str],
                   servers: Sequence[str], client_pair: bool, ca_days: int, days: int | None,
                   as_json: bool, dry_run: bool, run: Run, **engine: Any) -> None:
    """Cut identities off, although dockerd checks no CRL: a new CA, every other
    identity re-issued from it, in one step.

    \b
    minipaas certs revoke --out .certs --name alice
    minipaas certs revoke --out .certs --name m3      # servers/m3
    minipaas certs revoke --out .certs --client-pair

    --name finds clients/NAME or servers/NAME; when both exist, say which with
    --client NAME or --server NAME.  The new CA has the old one's key type; ca.pem
    and every bundle's ca.pem hold it alone.  The top-level server pair, every
    servers/* and every remaining clients/* (and the top-level client pair unless
    revoked) are re-issued with their CN, SANs and key type.  The revoked
    identities and the old CA go to a backup folder, and revoked.json records who
    was cut off.
    Revocation takes effect when each manager runs with its new files (copy
    them, restart dockerd); the remaining clients need their new bundles.

    A folder signed through a PKI engine: give the engine a new root first, then
    revoke with --vault-server-role and --vault-client-role (or --vault-role): the
    engine re-issues the others under it.
    """
    from .generate import recover, revoke
    from .revocations import named

    signing = SignerOptions(ca_dir=None, **engine)
    signer = None
    if signing.names_engine:
        refuse_through_engine("ca_days")
        signer = signing.signer((SERVER, CLIENT))
    folder = made_set(out)
    if not dry_run:  # a dry run names an interrupted run's change instead
        recover(folder, run.progress)  # before --name looks for the bundle
    cut_off = [*(named(Path(out), name) for name in names),
               *(Identity(CLIENT, name) for name in clients),
               *(Identity(SERVER, name) for name in servers),
               *([Identity(CLIENT)] if client_pair else [])]
    if dry_run:
        from .generate import preview_revoke

        found = preview_revoke(Path(out), cut_off, ca_days=ca_days, engine=signer,
                               lifetime=None if days is None else chosen_lifetime(days))
        reports.render("preview", reports.Previewed(Path(out), found))
        return
    revoked = revoke(run.openssl, Path(out), cut_off, ca_days=ca_days,
                     lifetime=None if days is None else chosen_lifetime(days), engine=signer,
                     **run.keywords)
    reports.render("outcome", reports.Done(Path(out), revoked), reports.chosen(as_json))


@click.group("rotate-ca", cls=Group, epilog=EXIT_CODES)
def rotate_ca() -> None:
    """Replace the CA without downtime: start, re-issue, finish.

    \b
    1. minipaas certs rotate-ca start --out .certs
       ca.pem becomes a bundle of the new and the old CA: deploy it to the
       daemons (restart them) and to the clients.
    2. minipaas certs renew --all --within 100% --out .certs
       every pair from the new CA, keeping its names and lifetime; deploy
       them, restart dockerd.
    3. minipaas certs rotate-ca finish --out .certs
       ca.pem holds the new CA alone; the old CA's files go to a backup folder.
    """


@rotate_ca.command("start", epilog=EXIT_CODES,
                   short_help="Step 1: a new CA, which ca.pem trusts beside the old one.")
@retention_option
@out_option
@click.option("--cn", callback=CHECK_CN, default=None,
              help="Common name of the new CA [default: the old one's, dated].")
@keep_key_options
@ca_days_option
@json_option
@no_ca_dir_option
@with_run(passphrase=PASSPHRASE_NEXT_CA)
def rotate_start_command(out: str, cn: str | None, key_type: str | None, key_size: int | None,
                         ca_days: int, as_json: bool, run: Run) -> None:
    """Step 1: a new CA; ca.pem trusts both; the old CA is kept as ca-old*.pem."""
    from .rotate_ca import start

    key = _key(key_type, key_size) if key_type else None
    written = start(run.openssl, made_set(out), common_name=cn, key=key, days=ca_days,
                    **run.keywords)
    reports.render("written", reports.Written(written, folder=Path(out)),
                   reports.chosen(as_json))


@rotate_ca.command("finish", epilog=EXIT_CODES,
                   short_help="Step 3: ca.pem trusts the new CA alone; the old is archived.")
@retention_option
@out_option
@click.option("--force", is_flag=True,
              help="Finish even though certificates from the old CA remain: they go into "
                   "the backup with it, each named with the command that issues it again.")
@click.option("--dry-run", is_flag=True,
              help="Print what would be rewritten, moved to a backup and redeployed; "
                   "change nothing on disk.")
@quiet_option
@json_option
@no_ca_dir_option
def rotate_finish_command(out: str, force: bool, dry_run: bool, quiet: bool,
                          as_json: bool) -> None:
    """Step 3: drop the old CA from ca.pem; archive its certificate and key."""
    from .rotate_ca import finish, would_finish

    if dry_run:
        rewritten, moved, carried = would_finish(made_set(out), force=force)
        folder = Path(out)
        for name in rewritten:
            say_line(f"would rewrite (the new CA alone): {folder / name}")
        for name in moved:
            say_line(f"would move to a backup folder: {folder / name}")
        for label in carried:
            say_line(f"would carry off (from the old CA): {folder / label}")
        say_line("would need new files: ca.pem on every daemon and client "
                         "(restart dockerd)")
        progress("Dry run: nothing was changed")
        return

    written, warnings = finish(made_set(out), force=force, progress=reporter(quiet))
    # The warnings even with -q: a person must issue these again.
    reports.render("written", reports.Written(written, warnings, Path(out)),
                   reports.chosen(as_json))


@click.command("doctor", epilog=EXIT_CODES)
@click.option("--host", "hosts", multiple=True, metavar="[NAME=]HOST[:PORT]",
              help="A daemon's address as clients reach it (port 2376 by default; "
                   "[v6]:PORT for IPv6).  NAME=HOST:PORT (repeatable): the daemon should "
                   "serve servers/NAME's certificate (NAME server: the top-level pair).")
@click.option("--hosts-file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="NAME=HOST:PORT, one a line (# starts a comment), as --host.")
@folder_options
@name_option
@openssl_option
@json_option
def doctor_command(hosts: tuple[str, ...], hosts_file: str | None, directory: str,
                   name: str | None, openssl_path: str | None, as_json: bool) -> int:
    """Try mutual TLS with a daemon using DIR's files; say why it fails, and the fix.

    \b
    minipaas certs doctor --out .certs --host 10.0.0.5
    minipaas certs doctor --out .certs --host manager.example.com:2376 --name ci
    minipaas certs doctor --out .certs --host m1=10.0.0.5 --host m2=10.0.0.6:2376

    Exit 0 when a handshake and GET /version succeed, 8 otherwise, with the
    cause: nothing listens, the host is not among the server's SANs, the server's
    certificate is from another CA, expired, or not a server certificate, the
    daemon still runs the previous CA, a certificate is not valid yet, the
    bundle was revoked, or the daemon refuses the client certificate.

    With NAME=HOST:PORT, each daemon's certificate is also compared with the files
    of servers/NAME: one line per daemon, ok, stale (it serves a certificate the
    folder has since replaced: restart dockerd), previous-ca, broken or
    unreachable, with the served certificate's days left and the TLS version and
    cipher.  Exit 0 when every daemon is ok, 8 otherwise.
    """
    from .doctor import check_host, doctor, fleet
    from .errors import EXIT_PROBLEMS, InvalidInput

    if not hosts and hosts_file is None:
        raise InvalidInput("give the daemon's address with --host HOST[:PORT], or "
                           "--host NAME=HOST:PORT / --hosts-file FILE for several")
    out = Path(directory)
    targets = fleet(hosts, Path(hosts_file) if hosts_file else None, out)
    if targets[0][0] is None and not as_json:  # one plain address: as before
        diagnosis = doctor(targets[0][1], out, name, openssl_path)
        say(diagnosis.message)
        return 0 if diagnosis.ok else EXIT_PROBLEMS
    verdicts = [check_host(host, out, server, name, openssl_path) for server, host in targets]
    reports.render("doctor", reports.Doctored(out, verdicts), reports.chosen(as_json))
    return 0 if all(verdict.ok for verdict in verdicts) else EXIT_PROBLEMS


@click.command("verify-sums", epilog=EXIT_CODES)
@folder_options
@click.option("--sums", metavar="FILE", default=None,
              help="The sender's top-level SHA256SUMS, for a bundle handed over without "
                   "it (servers/NAME in /etc/docker, clients/NAME on a CI host): its lines "
                   "for this bundle are checked.")
@openssl_option
@json_option
def verify_sums_command(directory: str, sums: str | None, openssl_path: str | None,
                        as_json: bool) -> int:
    """Check DIR's certificates against its SHA256SUMS (after carrying them across).

    Every run that writes DIR also writes SHA256SUMS, the SHA-256 of each
    certificate (keys are left out), in the format of `sha256sum -c`.  Exit 0 if
    every listed file matches and every certificate is listed, 8 otherwise.

    \b
    A bundle handed over alone (no SHA256SUMS in it), e.g. on a manager:
      minipaas certs verify-sums --out /etc/docker --sums SHA256SUMS
    checks that its key matches its certificate, which verifies against its ca.pem
    for its purpose and is within its dates; with --sums, the sender's top-level
    SHA256SUMS, also that each file is the one the sender wrote.  Exit 8 if
    anything fails.
    """
    from . import clock
    from .errors import EXIT_PROBLEMS
    from .layout import SUMS_FILE
    from .sums import received_pair, verify, verify_received

    folder, listing = Path(directory), Path(sums) if sums else None
    pair = received_pair(folder)
    if pair is None:
        matched, mismatches = verify(folder, listing)
        reports.render("verify-sums", reports.Summed(folder, matched, mismatches,
                                                     sums or SUMS_FILE), reports.chosen(as_json))
        return EXIT_PROBLEMS if mismatches else 0
    from .openssl import OpenSSL

    found = verify_received(OpenSSL(openssl_path), folder, pair, listing, clock.now())
    reports.render("verify-received", reports.Received(folder, found, sums),
                   reports.chosen(as_json))
    return EXIT_PROBLEMS if found.problems else 0


@click.command("prune", epilog=EXIT_CODES)
@out_option
@click.option("--keep", type=click.IntRange(0, None), default=None, metavar="N",
              help="Keep the newest N backup folders; remove older ones.")
@click.option("--older-than", "older_than", type=click.IntRange(0, MAX_DAYS), default=None,
              metavar="DAYS", help="Remove backup folders made DAYS days ago or more "
                                   "(with --keep: only those beyond the newest N).")
@click.option("--dry-run", is_flag=True,
              help="Print what would be removed; change nothing on disk.")
@json_option
@quiet_option
def prune_command(out: str, keep: int | None, older_than: int | None, dry_run: bool,
                  as_json: bool, quiet: bool) -> None:
    """Remove old backup folders: they hold the replaced private keys, often still valid.

    Only folders this tool made are removed (named backup-<date>, a real 0700
    folder of yours, holding only names the tool writes); anything else is left
    and named on stderr.  One all-or-nothing commit under the folder's lock: a
    crash leaves each backup folder whole or gone, and the next run finishes.
    """
    from .prune import prune, would_prune

    if keep is None and older_than is None:
        raise click.UsageError("say what to remove: --keep N, --older-than DAYS, or both")
    folder = made_set(out)
    done = (would_prune(folder, keep=keep, older_than=older_than) if dry_run else
            prune(folder, keep=keep, older_than=older_than, progress=reporter(quiet)))
    reports.render("prune", reports.PruneDone(folder, done), reports.chosen(as_json))
