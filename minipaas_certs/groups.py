"""The behaviour every ``minipaas`` group shares, in one class: its commands listed in the
order they are defined, its help on stdout when nothing follows it, "Did you mean" for
an unknown command (and, in ``Choice``, a mistyped choice), and the refusal of a
single-valued option given twice.

Light on purpose (click and ``output``): ``cli`` builds its groups from it before any
command or core module is imported, and ``commands`` builds ``rotate-ca`` from it.
"""

from __future__ import annotations

import difflib
from typing import Any, Sequence

import click

from .output import say


class Group(click.Group):
    """A ``minipaas`` group: ``minipaas``, ``minipaas certs``, ``minipaas certs rotate-ca``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # click sorts them: rotate-ca's steps read start, finish

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # click >= 8.2 reports a bare group as a usage error (exit 2), its whole help
        # squashed into one `Error:` line; older click prints it.  Both: help, exit 0.
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            say(ctx.get_help())
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        typed = args[0]
        if not ctx.resilient_parsing and not typed.startswith("-") \
                and self.get_command(ctx, typed) is None:
            raise click.UsageError(no_such_command(typed, self.list_commands(ctx),
                                                   ctx.command_path), ctx)
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not ctx.resilient_parsing:
            refuse_repeated_options(command, ctx, name, rest)
        return name, command, rest


class Choice(click.Choice):  # type: ignore[type-arg]  # generic from click 8.2 only
    """click's Choice, with "Did you mean" as for a command: ``renew servr``."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter as error:
            close = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1)
            if not close:
                raise
            raise click.BadParameter(f"{error.message.rstrip('.')}. Did you mean "
                                     f"{close[0]!r}?", ctx, param) from None


def no_such_command(typed: str, names: Sequence[str], group: str) -> str:
    """``No such command 'servr'. Did you mean 'server'?``: the close names, or where the
    commands are listed when none is close (difflib's measure, as click's for options)."""
    close = difflib.get_close_matches(typed, names, n=3)
    if not close:
        return f"No such command {typed!r}; `{group} --help` lists the commands."
    quoted = [repr(name) for name in close]
    either = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"No such command {typed!r}. Did you mean {either}?"


def refuse_repeated_options(command: click.Command, ctx: click.Context, name: str | None,
                            args: Sequence[str]) -> None:
    """Click keeps the last value of an option given twice: ``server --name m1 --name m2``
    would quietly issue m2 alone.  An option that takes one value, given more than once,
    is a usage error instead (exit 2).  Flags (saying one twice says the same) and
    repeatable options may repeat; a default from the environment is not a repetition.

    Run by each group on its subcommand's arguments before they are parsed, so that
    every command, and every option added to one, is covered.
    """
    if isinstance(command, click.Group):
        return  # a group's subcommand is checked by that group
    single = [param for param in command.params if isinstance(param, click.Option)
              and not (param.multiple or param.is_flag or param.count)]
    if not single:
        return
    context = click.Context(command, info_name=name, parent=ctx, **command.context_settings)
    parser = command.make_parser(context)
    # For this parse only, each such option collects its values, to name them (the
    # parser's table is internal to click: without it, the message names none).
    table = {**getattr(parser, "_long_opt", {}), **getattr(parser, "_short_opt", {})}
    for option in table.values():
        if getattr(option, "obj", None) in single and getattr(option, "action", "") == "store":
            option.action = "append"
    try:
        values, _, order = parser.parse_args(args=list(args))
    except click.UsageError:
        return  # the command's own parse reports it
    for param in single:
        count = sum(1 for seen in order if seen is param)
        if count > 1:
            given = values.get(param.name or "")
            listed = f" ({', '.join(map(str, given))})" if isinstance(given, list) else ""
            times = "twice" if count == 2 else f"{count} times"
            raise click.UsageError(f"{max(param.opts, key=len)} given {times}{listed}: give "
                                   "it once", context)
