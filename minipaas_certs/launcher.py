"""The console entry point: signal handling first, then the command line.

The handlers are installed before click and the rest of the package are
imported, so a Ctrl-C at any moment of start-up ends in one ``Error:`` line,
never a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    from .interrupts import install

    install()
    from .cli import main as run

    sys.exit(run())
