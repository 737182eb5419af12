"""``python -m minipaas_certs``: the same as the ``minipaas`` command."""

from .cli import entry_point

entry_point()
