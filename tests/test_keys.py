"""benchmark.run.keys: what enters each cache key and what does not (the pinned values of today's
keys are in test_stages.py)."""

from __future__ import annotations

from benchmark.api import Degradation, Method
from benchmark.core.names import DatasetSpec, Specs, resolve
from benchmark.run import keys
from benchmark.run.resolve import make_method


class _Noise(Degradation):
    name, token, seeded, makes_float = "tnoise", "tnoise", True, True

    def label(self):
        return "tnoise"

    def with_seed(self, seed):
        return self


class _Round(Degradation):
    name, token = "tround", "tround"

    def label(self):
        return "tround"


class _FloatPass(Degradation):
    name, token, takes_float = "tfloat", "tfloat", True

    def label(self):
        return "tfloat"


class _Crops(Degradation):
    name, token = "tcrop", "tcrop"

    def label(self):
        return "tcrop"

    def prepare_reference(self, frame):
        return frame[1:-1, 1:-1]


def _spec(tmp_path, *chain: Degradation) -> DatasetSpec:
    base = resolve(f"{tmp_path}@qf20", None, Specs.load([]))
    return DatasetSpec(
        name="t-" + "-".join(d.label() for d in chain), base=base.base, dataset=base.dataset, chain=list(chain)
    )


def test_a_seeded_chain_keys_its_input_by_item_and_seed_and_a_fixed_one_does_not(tmp_path):
    noisy, fixed = _spec(tmp_path, _Noise()), _spec(tmp_path, _Round())
    ref = keys.reference_key(noisy, "fp")
    assert keys.seeded(noisy) and not keys.seeded(fixed)
    assert (
        keys.degraded_key(noisy, ref, 0, "a")
        != keys.degraded_key(noisy, ref, 1, "a")
        != keys.degraded_key(noisy, ref, 1, "b")
    )
    assert keys.degraded_key(fixed, ref, 0, "a") == keys.degraded_key(fixed, ref, 7, "b")  # the earlier versions' keys


def test_float_input_follows_the_chain_and_only_identity_on_uint8_passes_through(tmp_path):
    ident, bic = make_method("identity"), make_method("bicubic")
    assert keys.float_input(_spec(tmp_path, _Noise()))
    assert keys.float_input(_spec(tmp_path, _Noise(), _FloatPass()))  # a step that takes float keeps it float
    assert not keys.float_input(_spec(tmp_path, _Noise(), _Round()))  # one that does not rounds it
    on_u8 = _spec(tmp_path, _Round())
    assert keys.passes_through(ident, on_u8) and not keys.passes_through(bic, on_u8)
    assert not keys.passes_through(ident, _spec(tmp_path, _Noise()))  # float input: identity's output is it rounded
    assert not keys.passes_through(ident, _spec(tmp_path))  # no chain: nothing to pass through


def test_a_step_that_transforms_the_reference_enters_the_reference_key(tmp_path):
    plain, cropped = _spec(tmp_path, _Round()), _spec(tmp_path, _Crops())
    assert _Crops.transforms_reference and keys.reference_preps(cropped) == cropped.chain
    assert keys.reference_preps(plain) == []
    assert keys.reference_key(plain, "fp") != keys.reference_key(cropped, "fp")
    assert keys.reference_key(plain, "fp") == keys.reference_key(_spec(tmp_path, _Round(), _Round()), "fp")


class _V(Method):
    name = "v"

    def __init__(self, version="1", weights=None, **params):
        super().__init__(**params)
        self.version, self.weights_hash = version, weights


def test_the_output_key_holds_the_method_identity_the_seed_and_nothing_incidental(tmp_path):
    spec = _spec(tmp_path, _Round())
    base = keys.output_key(_V(), spec, "deg", 0)
    assert base == keys.output_key(_V(), spec, "deg", 0)
    changed = [
        keys.output_key(_V("2"), spec, "deg", 0),
        keys.output_key(_V(weights="abc"), spec, "deg", 0),
        keys.output_key(_V(tile=64), spec, "deg", 0),
        keys.output_key(_V(), spec, "deg", 1),
        keys.output_key(_V(), spec, "deg2", 0),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def test_score_and_unit_keys_and_the_crop_border_rule(tmp_path):
    from benchmark import registry

    psnr = registry.metrics.get("psnr")()
    assert keys.score_key(psnr, "o", "r", 0) != keys.score_key(psnr, "o", "r", 4) != keys.score_key(psnr, "o2", "r", 4)
    x4 = resolve(f"{tmp_path}@x4", None, Specs.load([]))
    assert keys.crop_border(None, x4) == 4 and keys.crop_border(0, x4) == 0
    assert keys.crop_border(None, _spec(tmp_path, _Round())) == 0
    spec = _spec(tmp_path, _Round())
    u = keys.unit_key(spec, "a", "fp", _V(), [psnr], None, 0)
    assert u != keys.unit_key(spec, "a", "fp", _V(), [psnr], 0, 0)  # the crop border as given: None is the default
    assert u != keys.unit_key(spec, "a", "fp2", _V(), [psnr], None, 0)
