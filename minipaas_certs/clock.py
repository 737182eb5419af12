"""The one clock: every "now" the tool reads comes from here, so that tests can set it
(``monkeypatch.setattr(minipaas_certs.clock, "now", ...)``).  Call it through the
module (``clock.now()``), never import ``now`` by name: a copy would not move."""

from __future__ import annotations

import datetime


def now() -> datetime.datetime:
    """The current time, in UTC, timezone-aware."""
    return datetime.datetime.now(datetime.timezone.utc)
