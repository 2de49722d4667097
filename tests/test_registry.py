import sys

import pytest

from benchmark import registry
from benchmark.api import Method
from benchmark.errors import RegistryError


def test_unknown_name_suggests_close_match():
    with pytest.raises(RegistryError) as e:
        registry.methods.get("identty")
    assert "'identity'" in str(e.value) and "Known:" in str(e.value)


def test_builtins_are_lazy_strings_and_load():
    entry = registry.metrics.entry("psnr")
    assert entry.origin == "built-in" and isinstance(entry.target, str)
    assert entry.load().name == "psnr"


def test_decorator_collision_names_both_origins():
    with pytest.raises(RegistryError) as e:

        @registry.methods.register("identity")
        class Clash(Method):
            name = "identity"

    msg = str(e.value)
    assert "built-in" in msg and "benchmark.methods.adapters.classic:Identity" in msg and "test_registry" in msg
    registry.methods.unregister("identity-never")  # no-op on unknown names


def test_entry_point_collision_names_both_origins(tmp_path, monkeypatch):
    dist = tmp_path / "clashing_plugin-2.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: clashing-plugin\nVersion: 2.0\n")
    (dist / "entry_points.txt").write_text("[bench.methods]\nbicubic = clashing_plugin:Bicubic\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = registry.Registry("methods", {"bicubic": "benchmark.methods.adapters.classic:Bicubic"})
    with pytest.raises(RegistryError) as e:
        reg.names()
    msg = str(e.value)
    assert "built-in (benchmark.methods.adapters.classic:Bicubic)" in msg
    assert "clashing-plugin 2.0 (clashing_plugin:Bicubic)" in msg


def test_broken_plugin_breaks_only_itself(tmp_path, monkeypatch):
    reg = registry.Registry(
        "methods", {"ok": "benchmark.methods.adapters.classic:Identity", "broken": "no_such_module_xyz:Thing"}
    )
    assert reg.get("ok").name == "identity"
    with pytest.raises(RegistryError, match="no_such_module_xyz"):
        reg.get("broken")
    assert reg.entry("broken").version == "?"
    assert "no_such_module_xyz" not in sys.modules


def test_a_plugins_source_is_in_its_identity_so_edited_code_is_restored_again(tmp_path, monkeypatch):
    """Editing a plug-in's source file changes its identity (and so its output cache key);
    built-in identities carry no code digest (their cache keys are unchanged)."""
    from benchmark.core.names import resolve
    from benchmark.run.keys import output_key
    from benchmark.run.resolve import make_method

    spec = resolve("photos-qf20", None)
    keys = []
    for i, body in enumerate(["return [255 - f for f in frames]", "return [254 - f for f in frames]"]):
        mod = f"edited_plugin_{i}"
        (tmp_path / f"{mod}.py").write_text(
            "from benchmark import registry\nfrom benchmark.api import Method\n\n"
            f"@registry.methods.register('edited-{i}')\nclass Edited(Method):\n    name = 'edited'\n\n"
            f"    def process(self, frames, ctx):\n        {body}\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        __import__(mod)
        try:
            m = make_method(f"edited-{i}")
            assert m.identity()["code"] and m.identity()["name"] == "edited"
            keys.append(output_key(m, spec, "deg", 0))
        finally:
            registry.methods.unregister(f"edited-{i}")
    assert keys[0] != keys[1]  # same name and version, other code: another cache entry
    assert "code" not in make_method("bicubic").identity()
