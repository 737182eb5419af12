"""``python -m minipaas_certs``: the same as the ``minipaas`` command."""

from .launcher import main

main()
