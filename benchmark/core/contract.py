"""What every plug-in declares (:class:`Plugin`, the base of :mod:`benchmark.api`'s classes) and the
check the registries run when a plug-in is registered (:func:`contract_problem`): each kind's
``contract`` names the attributes the core reads, with their types."""

from __future__ import annotations

from typing import Any, ClassVar


class Plugin:
    """What every plug-in declares. The core reads these attributes (and each kind's own, listed
    in its ``contract``) as they are, never probing for them; the registries check their types
    when a plug-in is registered (:func:`contract_problem`). docs/plugins.md lists them all."""

    name: ClassVar[str] = "?"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    #: importable modules it needs, and the extra of this package that installs them
    requires: ClassVar[tuple[str, ...]] = ()
    requires_extra: ClassVar[str] = ""
    #: attribute -> (accepted types, what it means): what the registries check
    contract: ClassVar[dict[str, tuple[tuple[type, ...], str]]] = {
        "name": ((str,), "the name rows, lists and errors use"),
        "version": ((str,), "enters every cache key: bump it when outputs change"),
        "description": ((str,), "the one line `bench list` shows"),
        "requires": ((tuple,), "importable modules it needs (`bench list` says when one is missing)"),
        "requires_extra": ((str,), "the extra of bench-enhance that installs them"),
    }

    @classmethod
    def availability(cls) -> str:
        """'' when usable here, else a short note saying what is missing (for ``bench list``)."""
        import importlib.util

        missing = [m for m in cls.requires if importlib.util.find_spec(m) is None]
        if missing:
            return f"needs {', '.join(missing)}: pip install 'bench-enhance[{cls.requires_extra}]'"
        return ""


def _declared(cls: type, attr: str) -> Any:
    """``cls.attr`` as declared on the class, or None where a property computes it per instance."""
    import inspect

    value = inspect.getattr_static(cls, attr)
    return None if isinstance(value, property) else getattr(cls, attr)


def _typename(types: tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def contract_problem(base: type, obj: Any) -> str | None:
    """None when ``obj`` is a subclass of ``base`` whose declared attributes (``base.contract``)
    have their declared types, else one sentence saying what is wrong. Attributes that are
    properties (computed per instance) are not checked here."""
    import inspect

    if not (isinstance(obj, type) and issubclass(obj, base)):
        return f"is {obj!r}, not a subclass of benchmark.api.{base.__name__}"
    for attr, (types, _) in base.contract.items():
        value = inspect.getattr_static(obj, attr)
        if isinstance(value, (property, classmethod, staticmethod)) or inspect.isfunction(value):
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool) and int in types):
            return f"declares {attr} = {value!r} ({type(value).__name__}), but {attr} must be {_typename(types)}"
    return obj.check_declared()
