"""Rewrites of a converted OpenVINO graph that compute the same function faster on a CPU.

* :func:`fold_bicubic`: PyTorch's bicubic upsampling by a whole factor ``s`` (``F.interpolate(x,
  scale_factor=s, mode="bicubic", align_corners=False)``: the skip of ``fast-srgan``, ``videoboost``
  and residual SRResNets) as edge padding, one grouped 5x5 convolution with ``s * s`` fixed kernels
  per channel (each output phase's four taps per axis) and a depth-to-space. OpenVINO's own cubic
  ``Interpolate`` took 18% of ``fast-srgan``'s time on the development CPU; the convolution is the
  same sum of the same taps (border pixels repeated, as PyTorch clamps its indices), in another
  order: outputs agree to float rounding (about 1e-7), which the engine's check against eager
  PyTorch sees like any other difference.
* :func:`widen_narrow_convolutions`: a stride-1 convolution to a few channels (an RGB output layer:
  ``srresnet``'s 9x9 64-to-3 tail at the output size took 54% of its time on OpenVINO, its kernels
  vectorise over output channels and three fill few lanes) as one convolution of stride 2 to
  ``4 * O`` channels (each of the 2x2 output phases its own ``O``, the kernel grown by one and shifted
  per phase, the rest zeros) and a depth-to-space, cropped to the size the original gives. The same
  products and sums (measured: 64-to-3 9x9 on 8 frames of 640x272 1118 -> 403 ms; 3x3 on 1280x544
  950 -> 642 ms; outputs equal to the last bit there), checked against eager like the rest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

CUBIC_A = -0.75  # PyTorch's (and OpenCV's) cubic convolution constant
PAD = 2  # input pixels each output phase may reach on either side


def cubic(t: float, a: float = CUBIC_A) -> float:
    """Keys' cubic convolution weight at distance ``t``."""
    t = abs(t)
    if t <= 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def phase_taps(scale: int) -> np.ndarray:
    """(scale, 5): for output ``scale * k + r``, the weights of input pixels ``k - 2 .. k + 2``
    (half-pixel centres: the input coordinate is ``k + (r + 0.5) / scale - 0.5``)."""
    out = np.zeros((scale, 2 * PAD + 1), np.float64)
    for r in range(scale):
        f = (r + 0.5) / scale - 0.5
        base = math.floor(f)
        t = f - base
        for j, w in zip(range(base - 1, base + 3), (cubic(1 + t), cubic(t), cubic(1 - t), cubic(2 - t))):
            out[r, j + PAD] = w
    return out


def _whole_scale(node: Any) -> int | None:
    """The factor of a bicubic ``Interpolate`` this pass can fold (both spatial axes, one whole
    factor >= 2, PyTorch's conventions), else None."""
    a = node.get_attributes()
    if (
        a.get("mode") != "cubic"
        or a.get("shape_calculation_mode") != "scales"
        or a.get("antialias")
        or a.get("coordinate_transformation_mode") not in ("half_pixel", "pytorch_half_pixel")
        or abs(float(a.get("cube_coeff", 0)) - CUBIC_A) > 1e-9
        or any(a.get("pads_begin", []))
        or any(a.get("pads_end", []))
    ):
        return None
    if len(node.inputs()) != 3 or node.input(0).get_partial_shape().rank.get_length() != 4:
        return None
    scales, axes = (node.input(i).get_source_output().get_node() for i in (1, 2))
    if scales.get_type_name() != "Constant" or axes.get_type_name() != "Constant":
        return None
    s, ax = [float(v) for v in scales.get_data()], [int(v) for v in axes.get_data()]
    if ax != [2, 3] or len(set(s)) != 1 or s[0] != int(s[0]) or s[0] < 2:
        return None
    return int(s[0])


def fold_bicubic(model: Any) -> int:
    """Every foldable bicubic upsampling in ``model`` replaced (see the module docstring); returns how many."""
    import openvino.opset13 as ops

    done = 0
    for node in model.get_ordered_ops():
        if node.get_type_name() != "Interpolate":
            continue
        scale = _whole_scale(node)
        channels = node.input(0).get_partial_shape()[1]
        if scale is None or not channels.is_static:
            continue
        c = channels.get_length()
        taps = phase_taps(scale)
        kernel = np.zeros((c, scale * scale, 1, 2 * PAD + 1, 2 * PAD + 1), np.float32)
        for r in range(scale):
            for q in range(scale):
                kernel[:, r * scale + q, 0] = np.outer(taps[r], taps[q])
        pads = ops.constant(np.array([0, 0, PAD, PAD], np.int64))
        padded = ops.pad(node.input(0).get_source_output(), pads, pads, "edge")
        conv = ops.group_convolution(padded, ops.constant(kernel), [1, 1], [0, 0], [0, 0], [1, 1])
        node.output(0).replace(ops.depth_to_space(conv, "depth_first", scale).output(0))
        done += 1
    if done:
        model.validate_nodes_and_infer_types()
    return done


NARROW = 4  # output channels at most for :func:`widen_narrow_convolutions`
PHASES = 2  # the output phases per axis it computes as channels


def _narrow_weights(node: Any) -> np.ndarray | None:
    """The (O, C, kh, kw) weights of a stride-1, undilated, explicitly padded 2-D convolution to at
    most :data:`NARROW` channels, else None."""
    a = node.get_attributes()
    if (
        list(a.get("strides", [])) != [1, 1]
        or list(a.get("dilations", [])) != [1, 1]
        or str(a.get("auto_pad", "explicit")).lower() not in ("explicit", "notset")
        or node.input(0).get_partial_shape().rank.get_length() != 4
    ):
        return None
    w = node.input(1).get_source_output().get_node()
    if w.get_type_name() != "Constant":
        return None
    data = np.asarray(w.get_data())
    if data.ndim != 4 or data.shape[0] > NARROW or data.dtype != np.float32:
        return None
    return data


def widen_narrow_convolutions(model: Any) -> int:
    """Every convolution to a few channels in ``model`` rewritten (see the module docstring); returns how many."""
    import openvino.opset13 as ops

    s, done = PHASES, 0
    for node in model.get_ordered_ops():
        if node.get_type_name() != "Convolution":
            continue
        w = _narrow_weights(node)
        if w is None:
            continue
        o, c, kh, kw = w.shape
        wide = np.zeros((o, s, s, c, kh + s - 1, kw + s - 1), np.float32)
        for ry in range(s):
            for rx in range(s):
                wide[:, ry, rx, :, ry : ry + kh, rx : rx + kw] = w
        a = node.get_attributes()
        (pbh, pbw), (peh, pew) = list(a["pads_begin"]), list(a["pads_end"])
        x = node.input(0).get_source_output()
        conv = ops.convolution(
            x,
            ops.constant(wide.reshape(o * s * s, c, kh + s - 1, kw + s - 1)),
            [s, s],
            [pbh, pbw],
            [peh + s - 1, pew + s - 1],  # ceil(out / s) phases of s: the last may reach past the output
            [1, 1],
        )
        phases = ops.depth_to_space(conv, "depth_first", s)
        size = ops.gather(ops.shape_of(x), ops.constant(np.array([2, 3], np.int64)), ops.constant(np.int64(0)))
        out = ops.add(size, ops.constant(np.array([pbh + peh - kh + 1, pbw + pew - kw + 1], np.int64)))
        crop = ops.slice(
            phases,
            ops.constant(np.array([0, 0], np.int64)),
            out,
            ops.constant(np.array([1, 1], np.int64)),
            ops.constant(np.array([2, 3], np.int64)),
        )
        node.output(0).replace(crop.output(0))
        done += 1
    if done:
        model.validate_nodes_and_infer_types()
    return done
