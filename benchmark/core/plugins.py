"""Plug-ins registered in the driver by code, carried to worker processes by "module:attr"."""

from __future__ import annotations

from benchmark.errors import BenchError


def portable_plugins(used: set[str] | None = None) -> list[tuple[str, str, str]]:
    """(kind, name, "module:attr") of plug-ins registered in this process by code
    (``Registry.register``), so that worker processes register the same ones. Entry-point
    and built-in plug-ins are found by the workers themselves."""
    from benchmark import registry

    out = []
    for kind in registry.KINDS:
        for e in registry.REGISTRIES[kind].registered():
            name, obj = e.name, e.target
            if isinstance(obj, str):
                out.append((kind, name, obj))
                continue
            qual = getattr(obj, "__qualname__", "")
            mod = getattr(obj, "__module__", "")
            if "<locals>" in qual or not mod or mod == "__main__":
                if used is not None and name not in used:
                    continue  # not in this run: the workers do not need it
                raise BenchError(
                    f"{kind[:-1]} '{name}' was registered in this process only ({mod}.{qual}): worker processes cannot "
                    "import it. Define it at module level of an importable module, or register it through an entry "
                    "point, or run with the serial executor"
                )
            out.append((kind, name, f"{mod}:{qual}"))
    return out


def register_plugins(plugins: list[tuple[str, str, str]]) -> None:
    from benchmark import registry

    for kind, name, target in plugins:
        registry.REGISTRIES[kind].add(name, target, origin=f"registered in the driver ({target})")
