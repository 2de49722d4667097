"""benchmark.run.resolve: names into parts on their own: method settings and labels, the registry
name and a plug-in's code digest, metrics with their options, scale checks and the manifest's origins."""

from __future__ import annotations

import pytest

from benchmark import registry
from benchmark.api import Metric
from benchmark.core.names import Specs
from benchmark.errors import BenchError
from benchmark.run.config import RunConfig
from benchmark.run.resolve import make_method, make_metrics, parse_settings, resolve_run


def test_settings_are_json_where_they_can_be_and_label_the_method():
    assert parse_settings(["lam=100", "name=x", "qf=[1, 2]"], "usage") == {"lam": 100, "name": "x", "qf": [1, 2]}
    with pytest.raises(BenchError, match="^usage, got 'lam'$"):
        parse_settings(["lam"], "usage")
    m = make_method("tsmooth:base=bicubic:radius=2")
    assert m.name == "tsmooth:base=bicubic:radius=2" and m.registry_name == "tsmooth" and m.params["radius"] == 2
    assert (
        make_method("bicubic").name == "bicubic" and make_method("bicubic").code_hash is None
    )  # built in: versioned by hand


def test_a_wrong_setting_or_name_is_one_error_naming_it():
    with pytest.raises(BenchError, match="method 'pix2pix:lam=7': pix2pix: weights ship for lam=100 and lam=1000"):
        make_method("pix2pix:lam=7")
    with pytest.raises(BenchError, match="unknown method 'bicubc'.*Did you mean 'bicubic'"):
        make_method("bicubc")


def test_a_plugin_method_carries_its_source_digest():
    from worker_plugins import Mortal

    registry.methods.register("mortal-r")(Mortal)
    try:
        m = make_method("mortal-r:marks=/nonexistent")
        assert m.registry_name == "mortal-r" and m.code_hash and len(m.code_hash) == 16
        assert m.identity()["code"] == m.code_hash  # in the cache key: editing the plug-in's file recomputes
    finally:
        registry.methods.unregister("mortal-r")


class _Opt(Metric):
    name, kind, options = "opt-metric", "nr", ("detector",)

    def __init__(self, detector=None):
        super().__init__(detector=detector)

    def score(self, out, ref, crop_border=0):
        return 0.0


def test_metrics_get_the_options_they_declare_and_twice_is_an_error():
    registry.metrics.register("opt-metric")(_Opt)
    try:
        (m,) = make_metrics(["opt-metric"], {"detector": "d.pt", "captioner": "c"})
        assert m.params == {"detector": "d.pt"}  # the captioner is not its option
        with pytest.raises(BenchError, match="named twice"):
            make_metrics(["psnr", "psnr"], {})
    finally:
        registry.metrics.unregister("opt-metric")


def test_resolve_refuses_a_scale_mismatch_before_any_work_and_records_origins(image_folder):
    with pytest.raises(BenchError, match="upscales x2, but data set .* has no downscale"):
        resolve_run(
            RunConfig(methods=["fast-srgan"], datasets=[f"{image_folder}@qf20"], metrics=["psnr"]), None, Specs.load([])
        )
    resolved = resolve_run(
        RunConfig(methods=["identity"], datasets=[f"{image_folder}@qf20"], metrics=["psnr"]), None, Specs.load([])
    )
    plugins = resolved.plugins()
    assert (
        plugins["methods"]["identity"]["origin"] == "built-in"
        and plugins["degradations"]["jpeg"]["origin"] == "built-in"
    )
    assert resolved.plugin_names() >= {"identity", "psnr", "jpeg"}
