"""Who signs a run's leaves: the ``Signer`` protocol (``base``) and one module per
backend, chosen from a command's options by ``choose``.

- ``new_ca``: a CA made in this run (``certs all``, ``certs ca``, ``revoke``);
- ``ca_files``: the CA in ``--out`` or in another folder (``--ca-dir``);
- ``engine``: an OpenBao/Vault PKI engine (``--vault-role``).

A new backend is one module here (a ``Signer`` and its ``Signing``), its options,
and a line in ``choose``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Mapping

    from ..identity import Role
    from ..plan import CASpec
    from ..vault import Engine
    from .base import Signer


def choose(*, new_ca: CASpec | None = None, ca_dir: Path | None = None,
           engine: Engine | None = None, engines: Mapping[Role, Engine] | None = None
           ) -> Signer:
    """The signer a command's options name: a new CA, a PKI engine (``engine``: one role
    for every leaf; ``engines``: a role per leaf role), or the CA in ``ca_dir`` (else in
    the output directory).  Each backend loads only when chosen."""
    if engine is not None:
        from ..identity import ROLES

        engines = {role: engine for role in ROLES.values()}
    if sum(choice is not None for choice in (new_ca, ca_dir, engines)) > 1:
        raise ValueError("one signer at a time: a new CA, a CA folder or a PKI engine")
    if new_ca is not None:
        from .new_ca import NewCA

        return NewCA(new_ca)
    if engines is not None:
        from .engine import EngineSigner

        return EngineSigner(engines)
    from .ca_files import CAFiles

    return CAFiles(ca_dir)
