"""``tsmooth``: the temporally smoothed twin of any frame method, a multi-frame method.

Each output frame is the base method's output for that frame averaged with the base outputs
of its ``radius`` neighbours on each side, each motion-compensated onto it. The flow is DIS
optical flow (OpenCV, preset medium; ``flow=farneback`` for Farneback with the parameters the
``tof`` metric uses) between the base *outputs* (``guide=output``, the default; ``guide=input``
estimates it between the input frames and scales it to the output size). A neighbour's weight
per pixel is ``exp(-(d / sigma)^2)``, where ``d`` is how far the warped neighbour is from the
frame's own output (0-255, mean over channels). The neighbours at distance m before and after
share one weight (from the larger ``d`` of the two), so that an error of the flow that is
equal and opposite on the two sides (a misjudged speed) cancels instead of shifting the frame.

For a method that changes the size (super-resolution) only the detail is averaged
(``layer=auto``, which is ``detail`` there): a neighbour contributes its output minus the
bicubic upscaling of its input, warped, added to the frame's own bicubic upscaling. A small
flow error then moves only the fine detail, not the whole picture: averaging whole frames with
flow that is a few hundredths of a pixel off shifts each result a little differently, and that
raises tOF against a base whose motion is already right to 0.07 px (``fast-srgan`` on Vid4 x2).

Where the flow is right (static or tracked content) the average removes frame-to-frame flicker
that a per-frame method adds or keeps; where it is wrong (occlusions, cuts) the weight falls to
zero and the frame's own output is kept, so there is no ghosting. The base runs once per frame
(its outputs are kept across batches). On an image it returns the base output unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from benchmark.api import Context, Method
from benchmark.core.imaging import check_outputs, to_uint8


class TemporalSmooth(Method):
    name = "tsmooth"
    version = "3"  # 3: DIS flow on the outputs, paired neighbours, detail layer when the size changes
    window = (1, 1)
    description = (
        "Temporally smoothed twin of a frame method (base=NAME, default identity): averages the base output "
        "with DIS-flow-compensated base outputs of radius=1 neighbours on each side, weighted by agreement "
        "(sigma=12; for super-resolution only the detail over bicubic); a multi-frame method (window 1+1)."
    )
    FLOWS = ("dis", "farneback")
    LAYERS = ("auto", "all", "detail")

    def __init__(
        self,
        base: str = "identity",
        radius: int = 1,
        sigma: float = 12.0,
        guide: str = "auto",
        flow: str = "dis",
        layer: str = "auto",
        **params: Any,
    ):
        from benchmark.run.runner import make_method

        if int(radius) < 1:
            raise ValueError(f"tsmooth: radius must be at least 1, got {radius}")
        if float(sigma) <= 0:
            raise ValueError(f"tsmooth: sigma must be positive, got {sigma}")
        for key, value, allowed in (
            ("guide", guide, ("auto", "input", "output")),
            ("flow", flow, self.FLOWS),
            ("layer", layer, self.LAYERS),
        ):
            if value not in allowed:
                raise ValueError(f"tsmooth: {key} must be {', '.join(allowed[:-1])} or {allowed[-1]}, got {value!r}")
        self.base = make_method(str(base))
        if self.base.window != (0, 0):
            raise ValueError(f"tsmooth: base {base!r} is itself a multi-frame method; give a frame method")
        options = {
            k: v
            for k, v, default in (("guide", guide, "auto"), ("flow", flow, "dis"), ("layer", layer, "auto"))
            if v != default
        }
        super().__init__(base=str(base), radius=int(radius), sigma=float(sigma), **options, **params)
        self.guide, self.flow, self.layer = guide, flow, layer
        self.window = (int(radius), int(radius))
        self.scale = self.base.scale
        self._outs: dict[int, np.ndarray] = {}

    def setup(self, device: str) -> None:
        self.base.setup(device)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "base": self.base.identity()}

    def network(self):
        """The base method's network, if any (the smoothing itself runs none)."""
        return self.base.network()

    def start_clip(self, ctx: Context) -> None:
        self._outs = {}
        self.base.start_clip(ctx)

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import cv2

        from benchmark.metrics.temporal import farneback

        if self.flow == "farneback":
            return farneback(a, b)
        u8 = [to_uint8(x) for x in (a, b)]
        return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(u8[0], u8[1], None)

    def process(self, frames: list[np.ndarray], ctx: Context) -> list[np.ndarray]:
        import cv2

        from benchmark.metrics.temporal import luma, warp

        before, after = ctx.context
        first = ctx.first_frame - before  # clip index of frames[0]
        todo = [i for i in range(len(frames)) if first + i not in self._outs]
        for i in list(todo) if ctx.base_frames is not None else []:  # the base's cached output, when the run has it
            cached = ctx.base_frames(first + i)
            if cached is None:
                break  # from here on the base runs (in order, as a frame-recurrent base needs)
            self._outs[first + i] = cached.astype(np.float32)
            todo.remove(i)
        if todo:
            bctx = dataclasses.replace(ctx, context=(0, 0), first_frame=first + todo[0])
            batch = [frames[i] for i in todo]
            for i, o in zip(
                todo, check_outputs(self.base.name, batch, self.base.process(batch, bctx), ctx.scale, first + todo[0])
            ):
                self._outs[first + i] = o.astype(np.float32)
        r, sigma, s = self.window[0], float(self.params["sigma"]), ctx.scale
        outs = [self._outs[first + i] for i in range(len(frames))]
        h, w = outs[0].shape[:2]
        on_inputs = self.guide == "input"
        lumas = [luma(f) for f in (frames if on_inputs else outs)]
        detail = self.layer == "detail" or (self.layer == "auto" and s != 1)
        # the layer under the detail: each input upscaled (bicubic) to the output size
        under = (
            [
                np.clip(cv2.resize(f.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).reshape(
                    outs[0].shape
                )
                for f in frames
            ]
            if detail
            else None
        )

        def neighbour(j: int, k: int) -> tuple[np.ndarray, np.ndarray]:
            """Output k warped onto frame j (its detail onto j's bicubic layer), and its distance d to j."""
            flow = self._flow(lumas[j], lumas[k])
            if on_inputs:
                d_in = np.abs(warp(frames[k], flow).reshape(frames[j].shape) - frames[j]).mean(axis=2)
                if s != 1:
                    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * s
                    d_in = cv2.resize(d_in, (w, h), interpolation=cv2.INTER_LINEAR)
            moved = warp(outs[k], flow).reshape(outs[j].shape)
            if detail:
                moved += under[j] - warp(under[k], flow).reshape(outs[j].shape)
            return moved, (d_in if on_inputs else np.abs(moved - outs[j]).mean(axis=2))

        results = []
        for j in range(before, len(frames) - after):
            acc, wsum = outs[j].copy(), np.ones((h, w), np.float32)
            for m in range(1, r + 1):
                pair = [neighbour(j, k) for k in (j - m, j + m) if 0 <= k < len(frames)]
                if not pair:
                    continue
                d = np.maximum.reduce([p[1] for p in pair])  # one weight for both sides
                wk = np.exp(-((d / sigma) ** 2)).astype(np.float32)
                for moved, _ in pair:
                    acc += wk[..., None] * moved
                    wsum += wk
            results.append(acc / wsum[..., None])
        keep_from = ctx.first_frame + len(results) - r
        self._outs = {i: o for i, o in self._outs.items() if i >= keep_from}
        return results
