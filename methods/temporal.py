"""``tsmooth``: the temporally smoothed twin of any frame method, a multi-frame method.

Each output frame is the base method's output for that frame averaged with the base outputs
of its ``radius`` neighbours on each side, each motion-compensated onto it: Farneback flow
(the parameters the ``tof`` metric uses) is estimated between the *input* frames and scaled
to the output size, the neighbour's output is warped along it, and its weight per pixel is
``exp(-(d / sigma)^2)`` where ``d`` is how far the warped neighbouring *input* is from the
current input (0-255, mean over channels). For a method that changes the size (super-resolution)
the flow and the weights come from the base *outputs* instead (``guide=output``, the default
there with ``guide=auto``): flow on a 5x smaller input, scaled up, misaligns the output's
detail, and averaging misaligned frames adds the very flicker it should remove. Where the flow is right (static or tracked
content) the average removes frame-to-frame flicker that a per-frame method adds or keeps;
where it is wrong (occlusions, cuts) the weight falls to zero and the frame's own output is
kept, so there is no ghosting. The base runs once per frame (its outputs are kept across
batches). On an image it returns the base output unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..api import Context, Method
from ..imaging import check_outputs


class TemporalSmooth(Method):
    name = "tsmooth"
    version = "2"  # 2: flow and weights from the base outputs when the size changes (guide=auto)
    window = (1, 1)
    description = ("Temporally smoothed twin of a frame method (base=NAME, default identity): averages the base output "
                   "with motion-compensated base outputs of radius=1 neighbours on each side, weighted by input agreement "
                   "(sigma=12); a multi-frame method (window 1+1).")

    def __init__(self, base: str = "identity", radius: int = 1, sigma: float = 12.0, guide: str = "auto", **params: Any):
        from ..runner import make_method

        if int(radius) < 1:
            raise ValueError(f"tsmooth: radius must be at least 1, got {radius}")
        if float(sigma) <= 0:
            raise ValueError(f"tsmooth: sigma must be positive, got {sigma}")
        if guide not in ("auto", "input", "output"):
            raise ValueError(f"tsmooth: guide must be auto, input or output, got {guide!r}")
        self.base = make_method(str(base))
        if self.base.window != (0, 0):
            raise ValueError(f"tsmooth: base {base!r} is itself a multi-frame method; give a frame method")
        super().__init__(base=str(base), radius=int(radius), sigma=float(sigma), **({"guide": guide} if guide != "auto" else {}), **params)
        self.guide = guide
        self.window = (int(radius), int(radius))
        self.scale = self.base.scale
        self._outs: dict[int, np.ndarray] = {}

    def setup(self, device: str) -> None:
        self.base.setup(device)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "base": self.base.identity()}

    def start_clip(self, ctx: Context) -> None:
        self._outs = {}
        self.base.start_clip(ctx)

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        import cv2

        from ..metrics.temporal import farneback, luma, warp

        before, after = ctx.context
        first = ctx.first_frame - before  # clip index of frames[0]
        todo = [i for i in range(len(frames)) if first + i not in self._outs]
        if todo:
            bctx = dataclasses.replace(ctx, context=(0, 0), first_frame=first + todo[0])
            batch = [frames[i] for i in todo]
            for i, o in zip(todo, check_outputs(self.base.name, batch, self.base.process(batch, bctx), ctx.scale, first + todo[0])):
                self._outs[first + i] = o.astype(np.float32)
        r, sigma, s = self.window[0], float(self.params["sigma"]), ctx.scale
        on_outputs = self.guide == "output" or (self.guide == "auto" and s != 1)
        guides = [self._outs[first + i] for i in range(len(frames))] if on_outputs else frames
        lumas = [luma(f) for f in guides]
        results = []
        for j in range(before, len(frames) - after):
            out = self._outs[first + j]
            acc, wsum = out.copy(), np.ones(out.shape[:2], np.float32)
            for k in range(max(0, j - r), min(len(frames), j + r + 1)):
                if k == j:
                    continue
                flow = farneback(lumas[j], lumas[k])
                d = np.abs(warp(guides[k], flow).reshape(guides[j].shape) - guides[j]).mean(axis=2)
                wk = np.exp(-((d / sigma) ** 2)).astype(np.float32)
                if s != 1 and not on_outputs:
                    h, w = out.shape[:2]
                    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * s
                    wk = cv2.resize(wk, (w, h), interpolation=cv2.INTER_LINEAR)
                acc += wk[..., None] * warp(self._outs[first + k], flow).reshape(out.shape)
                wsum += wk
            results.append(acc / wsum[..., None])
        keep_from = ctx.first_frame + len(results) - r
        self._outs = {i: o for i, o in self._outs.items() if i >= keep_from}
        return results
