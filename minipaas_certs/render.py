"""OpenSSL config files rendered from Jinja templates: the shipped ones, or an
organisation's own (``--templates DIR``).

A ``Templates`` object holds one strict environment, built on first use: jinja2 is
imported only when a command renders, so ``--help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .errors import CertsError, InvalidInput
from .identity import ROLES

if TYPE_CHECKING:
    import jinja2

TEMPLATE_PACKAGE = "minipaas_certs.templates"
CA_TEMPLATE = "ca.cnf.j2"
TEMPLATES = (CA_TEMPLATE, *(role.template for role in ROLES.values()))
VALUES = "common_name, key_type, dns_names, ip_addresses"
# The last line of defence behind names.py: whatever reaches a template must be
# made of characters with no meaning in OpenSSL's config syntax.
_SAFE_VALUE = re.compile(r"[A-Za-z0-9 ._:*@()-]*\Z")
# Settings through which a config makes openssl read or write other files, or load
# code: a template may not use them (compared in lower case).
_FORBIDDEN_KEYS = frozenset({"openssl_conf", "randfile", "oid_file", "default_keyfile"})
# What every rendered config must hold for the tool's openssl calls to work.
_REQUIRED = (
    (re.compile(r"^\s*\[\s*req\s*\]", re.M), "a [ req ] section"),
    (re.compile(r"^\s*prompt\s*=\s*no\s*$", re.M), "prompt = no (openssl must never ask)"),
    (re.compile(r"^\s*distinguished_name\s*=", re.M), "a distinguished_name"),
    (re.compile(r"^\s*\[\s*extensions\s*\]", re.M), "an [ extensions ] section"),
)


def _refuse_unsafe(value: Any) -> Any:
    """Jinja ``finalize`` hook: let a value into the config only if it is inert."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        str(value)  # an undefined name raises its own, clearer error here
        raise InvalidInput(f"refusing to render {value!r} into an OpenSSL config")
    if isinstance(value, str) and not _SAFE_VALUE.match(value):
        raise InvalidInput(f"refusing to render {value!r} into an OpenSSL config")
    return value


def _shipped(name: str) -> str:
    beside = Path(__file__).with_name("templates") / name
    if beside.is_file():  # an installed package: a plain read, without importlib.resources
        return beside.read_text(encoding="utf-8")
    if sys.version_info >= (3, 9):
        from importlib.resources import files

        return files(TEMPLATE_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    from importlib.resources import read_text

    return read_text(TEMPLATE_PACKAGE, name, encoding="utf-8")


def _confined_loader(folder: Path) -> jinja2.BaseLoader:
    """A loader that reads templates only from inside ``folder``.

    Names with ``..`` are refused by Jinja itself; a symlink (or a parent symlink)
    leading out of the folder is refused here, as is anything but a regular file.
    """
    import jinja2

    from .files import MAX_SMALL_BYTES, read_limited

    root = folder.resolve()

    class ConfinedLoader(jinja2.BaseLoader):
        def get_source(self, environment: jinja2.Environment,
                       template: str) -> tuple[str, str, Callable[[], bool]]:
            from jinja2.loaders import split_template_path

            path = root.joinpath(*split_template_path(template))
            real = path.resolve()
            if real != root and root not in real.parents:
                raise jinja2.TemplateNotFound(f"{template} (it leads out of the folder)")
            if not real.is_file():
                raise jinja2.TemplateNotFound(template)
            try:
                text = read_limited(real, MAX_SMALL_BYTES).decode("utf-8")
            except (CertsError, UnicodeDecodeError) as error:
                raise jinja2.TemplateNotFound(f"{template} ({error})") from None
            return text, str(path), lambda: False

    return ConfinedLoader()


class Templates:
    """The templates a run renders from: the shipped ones (``folder`` None) or an
    organisation's own folder, in one strict, sandboxed Jinja environment built on
    first use."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._environment: jinja2.Environment | None = None
        # Worker threads render at once: one compiles a template, the others reuse it.
        self._loading = threading.Lock()

    @classmethod
    def load(cls, folder: Path | None) -> Templates:
        """The templates of ``folder`` (None: the shipped ones), each tried at once.

        The folder must hold ca.cnf.j2, server.cnf.j2 and client.cnf.j2; it may hold
        others that these include or extend.  A broken template is found before any
        work is done.
        """
        if folder is not None:
            if not folder.is_dir():
                raise InvalidInput(f"--templates {folder} is not a directory")
            missing = [name for name in TEMPLATES if not (folder / name).is_file()]
            if missing:
                raise InvalidInput(f"--templates {folder} lacks {', '.join(missing)} (it needs "
                                   f"{', '.join(TEMPLATES)})")
        templates = cls(folder)
        if folder is not None:
            for name in TEMPLATES:
                templates.render(name, common_name="example", key_type="ecdsa",
                                 dns_names=["example.com"], ip_addresses=["192.0.2.1"])
        return templates

    def blame(self) -> str:
        """A hint to add when a certificate comes out wrong: custom templates may be why."""
        return f" (check the templates in {self.folder})" if self.folder else ""

    def environment(self) -> jinja2.Environment:
        """Strict undefined, no autoescape, inert values, sandboxed."""
        if self._environment is None:
            import jinja2
            from jinja2.sandbox import SandboxedEnvironment

            loader: jinja2.BaseLoader
            if self.folder is not None:
                loader = _confined_loader(self.folder)
            else:
                loader = jinja2.FunctionLoader(_shipped)
            # Sandboxed: a template cannot reach Python internals (lipsum.__globals__...).
            self._environment = SandboxedEnvironment(
                loader=loader,
                undefined=jinja2.StrictUndefined,
                autoescape=False,  # these are OpenSSL configs, not HTML
                keep_trailing_newline=True,
                finalize=_refuse_unsafe,
            )
        return self._environment

    def render(self, template: str, **context: Any) -> str:
        """Render one template with the given values; a broken template is a clear error."""
        import jinja2

        where = f"{self.folder / template}" if self.folder else f"the shipped {template}"

        def fail(why: str) -> InvalidInput:
            return InvalidInput(f"{where}: {why}")

        try:
            with self._loading:
                compiled = self.environment().get_template(template)
            text = compiled.render(**context)
        except jinja2.TemplateSyntaxError as error:
            raise fail(f"line {error.lineno}: {error.message}") from None
        except jinja2.UndefinedError as error:
            raise fail(f"{error.message} (the values are {VALUES})") from None
        except jinja2.TemplateNotFound as error:
            raise fail(f"it includes {error.name}, which is not there") from None
        except jinja2.exceptions.SecurityError as error:
            raise fail(f"refused by the sandbox: {error}") from None
        for pattern, what in _REQUIRED:
            if not pattern.search(text):
                raise fail(f"the rendered config lacks {what}")
        problem = _outside_reach(text)
        if problem:
            raise fail(f"the rendered config {problem}; a config may hold only sections, "
                       "settings and comments that stay within it")
        return text


SHIPPED = Templates()


def _outside_reach(text: str) -> str | None:
    """What in a rendered config would reach beyond it, or None.

    Directives (``.include``, ``.pragma``) pull in other files; a trailing
    backslash joins lines, which could hide one; some settings name files
    openssl reads or writes (``RANDFILE``: 1.1.1 overwrites it) or load modules
    (``openssl_conf``).
    """
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.endswith("\\"):
            return f"line {number} ends with a backslash (a line continuation)"
        if not stripped or stripped.startswith(("#", "[")):
            continue
        if stripped.startswith("."):
            return f"line {number} is a directive ({stripped.split()[0]})"
        key = stripped.split("=", 1)[0].strip().lower()
        if key in _FORBIDDEN_KEYS or "::" in key or "$" in key:
            return f"line {number} sets {key!r}"
    return None
