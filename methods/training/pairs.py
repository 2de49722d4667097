"""The training pairs of ``bench train``: :class:`PairSource` (aligned degraded and reference frames of
any data sets, made by the run's own cached stages, held in memory as uint8, a validation split
held out) and the conversions and augmentation a recipe's ``sample`` uses."""

from __future__ import annotations

import numpy as np

from benchmark.core.imaging import tensor_to_uint8
from benchmark.errors import BenchError


class PairSource:
    """Aligned (degraded, reference) frames of one or more data sets, held in memory as
    uint8 (BSD200 at one degradation: about 90 MB)."""

    def __init__(self, names: list[str], data_root: str | None, val_items: int, max_items: int | None = None):
        from benchmark.run.runner import RunConfig, Runner

        runner = Runner(RunConfig(data_root=data_root))
        self.train: list[tuple[np.ndarray, np.ndarray, str]] = []
        self.val: list[tuple[np.ndarray, np.ndarray, str]] = []
        self.scale = None
        from benchmark.core.names import resolve

        for name in names:
            spec = resolve(name, runner.root, runner.specs)
            if self.scale not in (None, spec.scale):
                raise BenchError(f"training sets mix scales ({self.scale} and {spec.scale}): use one scale per model")
            self.scale = spec.scale
            items = list(spec.dataset.items())[:max_items]
            if len(items) <= val_items:
                raise BenchError(f"{name}: {len(items)} items, need more than the {val_items} held out for validation")
            for k, item in enumerate(items):
                try:
                    pairs = self._pairs(runner.cache, spec, item)
                except (ValueError, OSError) as exc:
                    raise BenchError(
                        f"{name}: item {item.item_id} cannot be read ({exc}); remove or replace it"
                    ) from None
                for deg, ref in pairs:
                    (self.val if k >= len(items) - val_items else self.train).append(
                        (deg, ref, f"{name}/{item.item_id}")
                    )
        self.names = names

    @staticmethod
    def _pairs(cache, spec, item) -> list[tuple[np.ndarray, np.ndarray]]:
        """An item's (degraded, reference) frames, gray repeated to three channels."""
        from benchmark.run.stages import degrade, degraded_frames, reference

        ref_key, ref_frames = reference(cache, spec, item)
        deg_key, _ = degrade(cache, spec, item, ref_key, ref_frames)
        out = []
        for deg, ref in zip(degraded_frames(cache, deg_key, ref_key, ref_frames), ref_frames()):
            if deg.shape[2] == 1:
                deg, ref = np.repeat(deg, 3, 2), np.repeat(ref, 3, 2)
            out.append((deg, ref))
        return out

    def sample(self, rng: np.random.Generator, batch: int, patch: int):

        s = self.scale
        p_in = patch // s
        xs, ys = [], []
        for _ in range(batch):
            deg, ref, key = self.train[rng.integers(len(self.train))]
            h, w = deg.shape[:2]
            if h < p_in or w < p_in:
                raise BenchError(
                    f"{key}: a training frame ({w}x{h}) is smaller than the input patch {p_in} (--patch {patch}"
                    f"{f' at x{s}' if s != 1 else ''}); use a smaller --patch or larger images"
                )
            # JPEG/H.264 blocks: keep patches on the 8x8 grid of the input
            i = int(rng.integers(0, (h - p_in) // 8 + 1)) * 8
            j = int(rng.integers(0, (w - p_in) // 8 + 1)) * 8
            x = deg[i : i + p_in, j : j + p_in]
            y = ref[i * s : (i + p_in) * s, j * s : (j + p_in) * s]
            x, y = augment(rng, x, y)
            xs.append(np.ascontiguousarray(x))
            ys.append(np.ascontiguousarray(y))
        return to_tensor(np.stack(xs)), to_tensor(np.stack(ys))


def augment(rng: np.random.Generator, *arrays: np.ndarray) -> list[np.ndarray]:
    """A random horizontal flip, vertical flip and transpose (each with probability 1/2), the
    same for every array (an input patch and its target)."""
    out = list(arrays)
    if rng.random() < 0.5:
        out = [a[:, ::-1] for a in out]
    if rng.random() < 0.5:
        out = [a[::-1] for a in out]
    if rng.random() < 0.5:
        out = [a.transpose(1, 0, 2) for a in out]
    return out


def to_tensor(batch: np.ndarray):
    import torch

    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(t) -> np.ndarray:
    return tensor_to_uint8(t, -1.0)
