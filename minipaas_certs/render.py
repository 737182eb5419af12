"""OpenSSL config files rendered from the shipped Jinja templates.

One strict environment, built on first use: jinja2 is imported only when a command
renders, so ``--help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

from .errors import InvalidInput

if TYPE_CHECKING:
    import jinja2

TEMPLATE_PACKAGE = "minipaas_certs.templates"
# The last line of defence behind names.py: whatever reaches a template must be
# made of characters with no meaning in OpenSSL's config syntax.
_SAFE_VALUE = re.compile(r"[A-Za-z0-9 ._:*@()-]*\Z")
_environment: jinja2.Environment | None = None


def _refuse_unsafe(value: Any) -> Any:
    """Jinja ``finalize`` hook: let a value into the config only if it is inert."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInput(f"refusing to render {value!r} into an OpenSSL config")
    if isinstance(value, str) and not _SAFE_VALUE.match(value):
        raise InvalidInput(f"refusing to render {value!r} into an OpenSSL config")
    return value


def _load_template(name: str) -> str:
    if sys.version_info >= (3, 9):
        from importlib.resources import files

        return files(TEMPLATE_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    from importlib.resources import read_text

    return read_text(TEMPLATE_PACKAGE, name, encoding="utf-8")


def environment() -> jinja2.Environment:
    """The package's Jinja environment: strict undefined, no autoescape, inert values."""
    global _environment
    if _environment is None:
        import jinja2

        _environment = jinja2.Environment(
            loader=jinja2.FunctionLoader(_load_template),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # these are OpenSSL configs, not HTML
            keep_trailing_newline=True,
            finalize=_refuse_unsafe,
        )
    return _environment


def render(template: str, **context: Any) -> str:
    """Render one template with the given values."""
    return environment().get_template(template).render(**context)
