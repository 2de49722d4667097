"""Network architectures of the trainable methods (PyTorch). Widths and depths are
arguments so that the shipped CPU-trained weights stay small; the paper-size
configurations are in each method's ``PAPER_CONFIG``.

All generators take and return NCHW float tensors in [-1, 1] (RGB)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def conv(cin: int, cout: int, k: int = 3, s: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, s, k // 2)


# ----------------------------------------------------------------------------- Galteri et al.
class ResBlock(nn.Module):
    def __init__(self, ch: int, bn: bool = False, act: str = "lrelu"):
        super().__init__()
        a = nn.PReLU(ch) if act == "prelu" else nn.LeakyReLU(0.2, inplace=True)
        layers = [
            conv(ch, ch),
            *([nn.BatchNorm2d(ch)] if bn else []),
            a,
            conv(ch, ch),
            *([nn.BatchNorm2d(ch)] if bn else []),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x)


class ArtifactGenerator(nn.Module):
    """Galteri et al. (ICCV 2017 / TMM 2019): a deep residual generator that reduces the
    feature-map size with strided convolutions and upsamples with nearest-neighbour
    interpolation followed by two convolutions (no checkerboard artifacts). It predicts a
    correction added to the compressed input."""

    def __init__(self, ch: int = 32, blocks: int = 6):
        super().__init__()
        self.head = nn.Sequential(conv(3, ch), nn.LeakyReLU(0.2, inplace=True))
        self.down = nn.Sequential(
            conv(ch, 2 * ch, 3, 2),
            nn.LeakyReLU(0.2, inplace=True),
            conv(2 * ch, 4 * ch, 3, 2),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.body = nn.Sequential(*[ResBlock(4 * ch) for _ in range(blocks)])
        self.up1 = nn.Sequential(
            conv(4 * ch, 2 * ch), nn.LeakyReLU(0.2, inplace=True), conv(2 * ch, 2 * ch), nn.LeakyReLU(0.2, inplace=True)
        )
        self.up2 = nn.Sequential(
            conv(2 * ch, ch), nn.LeakyReLU(0.2, inplace=True), conv(ch, ch), nn.LeakyReLU(0.2, inplace=True)
        )
        self.tail = conv(ch, 3)

    def forward(self, x):
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        f = self.head(xp)
        y = self.body(self.down(f))
        y = self.up1(F.interpolate(y, scale_factor=2, mode="nearest"))
        y = self.up2(F.interpolate(y, scale_factor=2, mode="nearest")) + f
        return (xp + self.tail(y))[..., :h, :w]


class HalfResGenerator(nn.Module):
    """The shipped artifact-removal generator: a residual CNN at half resolution. The
    frame is folded into 12 channels at half size (pixel-unshuffle, lossless), ``depth``
    3x3 convolutions of ``ch`` channels with LeakyReLU predict a correction that is
    unfolded (pixel-shuffle) and added to the input. The last layer starts at zero, so the
    untrained network is the identity and training can only add. Half resolution gives a
    receptive field of 4 * depth + 2 pixels (42 at depth 10, five JPEG blocks) at a quarter
    of the cost of a full-resolution network of the same width (cf. FFDNet).

    ``blocks`` residual blocks (two convolutions each, the second starting at zero) sit
    between the body and the tail, in their own ``extra`` module: a network grown from
    trained ``blocks=0`` weights computes what they computed until training changes it
    (``extra.*`` are the only keys the smaller weights lack)."""

    def __init__(self, ch: int = 64, depth: int = 10, fold: int = 2, blocks: int = 0):
        super().__init__()
        self.fold = (
            fold  # pixel-unshuffle factor: 2 (shipped) or 4 (quarter resolution, 48 channels, 4x the receptive field)
        )
        c = 3 * fold * fold
        layers: list[nn.Module] = [conv(c, ch), nn.LeakyReLU(0.1, inplace=True)]
        for _ in range(depth - 2):
            layers += [conv(ch, ch), nn.LeakyReLU(0.1, inplace=True)]
        for m in layers:  # He initialisation: PyTorch's default shrinks the signal ~3x per layer
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        tail = conv(ch, c)
        nn.init.zeros_(tail.weight)
        nn.init.zeros_(tail.bias)
        self.body = nn.Sequential(*layers, tail)
        self.extra = nn.Sequential(*[ResBlock(ch, act="lrelu") for _ in range(blocks)])
        for b in self.extra:
            nn.init.kaiming_normal_(b.body[0].weight, a=0.2, nonlinearity="leaky_relu")
            nn.init.zeros_(b.body[0].bias)
            nn.init.zeros_(b.body[2].weight)
            nn.init.zeros_(b.body[2].bias)

    def forward(self, x):
        h, w, f = *x.shape[-2:], self.fold
        ph, pw = (-h) % f, (-w) % f
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        y = self.body[:-1](F.pixel_unshuffle(xp, f))
        y = self.body[-1](self.extra(y)) if len(self.extra) else self.body[-1](y)
        return (xp + F.pixel_shuffle(y, f))[..., :h, :w]


class SubPatchDiscriminator(nn.Module):
    """Galteri et al.'s sub-patch discriminator: each patch is split into ``sub`` x ``sub``
    sub-patches, each concatenated with the corresponding input sub-patch (6 channels), and
    every sub-patch gets its own real/fake logit."""

    def __init__(self, sub: int = 16, ch: int = 32):
        super().__init__()
        self.sub = sub
        self.net = nn.Sequential(
            conv(6, ch, 3, 2),
            nn.LeakyReLU(0.2, inplace=True),
            conv(ch, 2 * ch, 3, 2),
            nn.BatchNorm2d(2 * ch),
            nn.LeakyReLU(0.2, inplace=True),
            conv(2 * ch, 4 * ch, 3, 2),
            nn.BatchNorm2d(4 * ch),
            nn.LeakyReLU(0.2, inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * ch, 1),
        )

    def forward(self, output, inp):
        x = torch.cat([output, inp], dim=1)
        n, c, h, w = x.shape
        s = self.sub
        x = x[..., : h - h % s, : w - w % s].unfold(2, s, s).unfold(3, s, s)  # n, c, H/s, W/s, s, s
        x = x.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, s, s)
        return self.net(x)  # (n * sub-patches) x 1 logits


class QFPredictor(nn.Module):
    """A CNN regressor of the JPEG quality factor (Galteri et al. TMM 2019) on a 64x64 luma
    crop aligned to the 8x8 block grid. Its first layer is the fixed 8x8 block DCT (a
    stride-8 convolution with the 64 DCT-II basis functions), so the network sees the
    coefficients that JPEG quantised; pixel-domain CNNs of this size did not learn the
    task in the CPU budget (validation error stuck at the mean)."""

    def __init__(self, ch: int = 64):
        super().__init__()
        import math

        basis = torch.zeros(64, 1, 8, 8)
        for u in range(8):
            for v in range(8):
                cu = math.sqrt(1 / 8) if u == 0 else math.sqrt(2 / 8)
                cv = math.sqrt(1 / 8) if v == 0 else math.sqrt(2 / 8)
                for i in range(8):
                    for j in range(8):
                        basis[u * 8 + v, 0, i, j] = (
                            cu
                            * cv
                            * math.cos((2 * i + 1) * u * math.pi / 16)
                            * math.cos((2 * j + 1) * v * math.pi / 16)
                        )
        self.register_buffer("dct", basis, persistent=False)
        self.net = nn.Sequential(
            nn.Conv2d(64, 2 * ch, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * ch, 2 * ch, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * ch, 2 * ch, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * ch, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, 1),
        )

    def forward(self, y):  # y: N x 1 x 64 x 64 in [-1, 1]; returns QF / 100
        coeffs = F.conv2d((y + 1) * 127.5 - 128, self.dct, stride=8) / 16  # N x 64 x 8 x 8
        return self.net(coeffs)[:, 0]


# ----------------------------------------------------------------------------- pix2pix
class UNetGenerator(nn.Module):
    """pix2pix's U-Net: an encoder of strided convolutions and a decoder of transposed
    convolutions with skip connections between mirrored levels; output added to the input."""

    def __init__(self, ch: int = 16, depth: int = 4):
        super().__init__()
        self.depth = depth
        widths = [min(ch * 2**i, ch * 8) for i in range(depth)]
        self.downs = nn.ModuleList()
        cin = 3
        for i, w in enumerate(widths):
            self.downs.append(
                nn.Sequential(
                    nn.Conv2d(cin, w, 4, 2, 1), *([nn.BatchNorm2d(w)] if i else []), nn.LeakyReLU(0.2, inplace=True)
                )
            )
            cin = w
        self.ups = nn.ModuleList()
        for i in reversed(range(depth)):
            w_out = widths[i - 1] if i else ch
            w_in = widths[i] * (1 if i == depth - 1 else 2)
            self.ups.append(
                nn.Sequential(nn.ConvTranspose2d(w_in, w_out, 4, 2, 1), nn.BatchNorm2d(w_out), nn.ReLU(inplace=True))
            )
        self.tail = nn.Conv2d(ch + 3, 3, 3, 1, 1)
        nn.init.zeros_(self.tail.weight)  # the untrained network is the identity (its input is added)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x):
        h, w = x.shape[-2:]
        m = 2**self.depth
        xp = F.pad(x, (0, (-w) % m, 0, (-h) % m), mode="replicate")
        skips, y = [], xp
        for d in self.downs:
            y = d(y)
            skips.append(y)
        for i, u in enumerate(self.ups):
            if i:
                y = torch.cat([y, skips[-1 - i]], 1)
            y = u(y)
        return (xp + self.tail(torch.cat([y, xp], 1)))[..., :h, :w]


class PatchDiscriminator(nn.Module):
    """pix2pix's conditional PatchGAN: (input, output) pairs -> a map of real/fake logits,
    each judging an overlapping patch (receptive field 34 px with 3 layers)."""

    def __init__(self, ch: int = 32, layers: int = 3, cin: int = 6):
        super().__init__()
        mods, c = [nn.Conv2d(cin, ch, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)], ch
        for _ in range(layers - 1):
            mods += [nn.Conv2d(c, 2 * c, 4, 2, 1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2, inplace=True)]
            c *= 2
        mods += [nn.Conv2d(c, 1, 4, 1, 1)]
        self.net = nn.Sequential(*mods)

    def forward(self, output, inp):
        return self.net(torch.cat([output, inp], 1))


# ----------------------------------------------------------------------------- SRGAN family
class SRResNet(nn.Module):
    """SRGAN's generator: conv 9x9 + PReLU, residual blocks (conv-BN-PReLU-conv-BN), a
    skip, and log2(scale) x2 upsampling blocks (conv, pixel shuffle, PReLU)."""

    def __init__(self, ch: int = 64, blocks: int = 16, scale: int = 4, bn: bool = True, residual: bool = False):
        super().__init__()
        self.scale, self.residual = scale, residual
        self.head = nn.Sequential(nn.Conv2d(3, ch, 9, 1, 4), nn.PReLU(ch))
        self.body = nn.Sequential(
            *[ResBlock(ch, bn=bn, act="prelu") for _ in range(blocks)],
            conv(ch, ch),
            *([nn.BatchNorm2d(ch)] if bn else []),
        )
        ups = []
        for _ in range(int(round(__import__("math").log2(scale)))):
            ups += [conv(ch, 4 * ch), nn.PixelShuffle(2), nn.PReLU(ch)]
        self.up = nn.Sequential(*ups)
        self.tail = nn.Conv2d(ch, 3, 9, 1, 4)
        if residual:  # predict the difference to bicubic; the untrained network is bicubic
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x):
        f = self.head(x)
        y = self.tail(self.up(f + self.body(f)))
        if self.residual:
            y = y + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return y


class VGGDiscriminator(nn.Module):
    """SRGAN's discriminator: 8 convolutions 64->512 (stride 2 every other), dense 1024,
    dense 1 (LeakyReLU 0.2, BN after the first); global pooling makes it size-agnostic."""

    def __init__(self, ch: int = 64):
        super().__init__()
        mods, c = [nn.Conv2d(3, ch, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)], ch
        plan = [(ch, 2), (2 * ch, 1), (2 * ch, 2), (4 * ch, 1), (4 * ch, 2), (8 * ch, 1), (8 * ch, 2)]
        for w, s in plan:
            mods += [nn.Conv2d(c, w, 3, s, 1), nn.BatchNorm2d(w), nn.LeakyReLU(0.2, inplace=True)]
            c = w
        mods += [
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c, 1024),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1),
        ]
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


class InvertedResidual(nn.Module):
    def __init__(self, ch: int, expand: int = 4):
        super().__init__()
        h = ch * expand
        self.body = nn.Sequential(
            nn.Conv2d(ch, h, 1),
            nn.ReLU6(inplace=True),
            nn.Conv2d(h, h, 3, 1, 1, groups=h),
            nn.ReLU6(inplace=True),
            nn.Conv2d(h, ch, 1),
        )

    def forward(self, x):
        return x + self.body(x)


class FastSRGenerator(nn.Module):
    """Fast-SRGAN's light generator: inverted-residual (MobileNetV2) blocks and pixel
    shuffle, plus a bilinear skip, built for real-time x2."""

    def __init__(
        self,
        ch: int = 32,
        blocks: int = 6,
        scale: int = 2,
        skip: str = "bilinear",
        expand: int = 4,
        block: str = "inverted",
    ):
        super().__init__()
        self.scale, self.skip = scale, skip
        self.head = nn.Sequential(conv(3, ch), nn.PReLU(ch))
        if block not in ("inverted", "res"):
            raise ValueError(f"block={block!r}: use inverted (MobileNetV2) or res (conv-act-conv)")
        # depthwise convolutions are slow to train on a CPU; plain residual blocks of the same
        # width train ~3x faster per step and run as fast
        make = (lambda: InvertedResidual(ch, expand)) if block == "inverted" else (lambda: ResBlock(ch))
        self.body = nn.Sequential(*[make() for _ in range(blocks)])
        self.up = nn.Sequential(conv(ch, 3 * scale * scale), nn.PixelShuffle(scale))
        nn.init.zeros_(self.up[0].weight)  # the untrained network is the skip (bilinear or bicubic)
        nn.init.zeros_(self.up[0].bias)

    def forward(self, x):
        base = F.interpolate(x, scale_factor=self.scale, mode=self.skip, align_corners=False)
        f = self.head(x)
        return base + self.up(self.body(f) + f)


class VideoBoostGenerator(nn.Module):
    """VideoBoost's encoder-decoder for x5 (144p -> 720p): a strided encoder, residual
    bottleneck, a decoder back to input resolution with a skip, then a x5 pixel shuffle."""

    def __init__(self, ch: int = 32, blocks: int = 4, scale: int = 5):
        super().__init__()
        self.scale = scale
        self.enc1 = nn.Sequential(conv(3, ch), nn.LeakyReLU(0.2, inplace=True))
        self.enc2 = nn.Sequential(conv(ch, 2 * ch, 3, 2), nn.LeakyReLU(0.2, inplace=True))
        self.mid = nn.Sequential(*[ResBlock(2 * ch) for _ in range(blocks)])
        self.dec = nn.Sequential(conv(2 * ch, ch), nn.LeakyReLU(0.2, inplace=True))
        self.up = nn.Sequential(conv(2 * ch, 3 * scale * scale), nn.PixelShuffle(scale))
        nn.init.zeros_(self.up[0].weight)  # the untrained network is bicubic; training can only add
        nn.init.zeros_(self.up[0].bias)

    def forward(self, x):
        h, w = x.shape[-2:]
        xp = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
        e1 = self.enc1(xp)
        d = self.dec(F.interpolate(self.mid(self.enc2(e1)), size=e1.shape[-2:], mode="nearest"))
        base = F.interpolate(xp, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return (base + self.up(torch.cat([d, e1], 1)))[..., : h * self.scale, : w * self.scale]


# ----------------------------------------------------------------------------- the JPEG ensemble's generators and QF predictor, in use
ENSEMBLE_QFS = (5, 10, 20, 30, 40, 60)  # the QF ensemble's members (ssim-qfN, gan-qfN)
CROP = 64  # the QF predictor's input side


GENERATORS = {"HalfResGenerator": HalfResGenerator, "ArtifactGenerator": ArtifactGenerator}


def generator_class(arch: dict[str, Any]):
    """The network a card's ``architecture`` names (``class``; cards without one are Galteri's
    ArtifactGenerator)."""
    return GENERATORS[arch.get("class", "ArtifactGenerator")]


def build_generator(arch: dict[str, Any]):
    """A generator from a card's ``architecture``."""
    return generator_class(arch)(**{k: v for k, v in arch.items() if k != "class"})


def luma_crops(frame: np.ndarray, rng: np.random.Generator | None = None, n: int | None = None) -> np.ndarray:
    """64x64 luma crops on the 16-pixel grid (JPEG MCU): random ones (training) or a
    regular grid (prediction). Returns N x 1 x 64 x 64 in [-1, 1]."""
    from benchmark.core.imaging import rgb_to_y

    y = rgb_to_y(frame) if frame.shape[2] == 3 else frame[..., 0].astype(np.float64)
    h, w = y.shape
    if h < CROP or w < CROP:
        raise ValueError(f"the QF predictor needs at least {CROP}x{CROP} pixels, got {w}x{h}")
    if rng is not None:
        pos = [
            (int(rng.integers(0, (h - CROP) // 16 + 1)) * 16, int(rng.integers(0, (w - CROP) // 16 + 1)) * 16)
            for _ in range(n or 1)
        ]
    else:
        pos = [(i, j) for i in range(0, h - CROP + 1, CROP) for j in range(0, w - CROP + 1, CROP)]
    return np.stack([y[i : i + CROP, j : j + CROP] for i, j in pos])[:, None] / 127.5 - 1.0


def predict_qf(model, frame: np.ndarray, device: str = "cpu", per_call: int | None = None) -> float:
    """The median predicted QF over every crop of the whole frame, ``per_call`` crops at a time
    (all at once by default, and whenever they fit the memory budget: see methods/adapters/tiled.py)."""
    import torch

    crops = luma_crops(frame)
    step = per_call or len(crops)
    model.eval()
    with torch.inference_mode():
        pred = np.concatenate(
            [
                model(torch.from_numpy(crops[i : i + step]).float().to(device)).cpu().numpy() * 100
                for i in range(0, len(crops), step)
            ]
        )
    model.train()
    return float(np.median(pred))


def nearest_qf(qf: float, choices=ENSEMBLE_QFS) -> int:
    return min(choices, key=lambda c: abs(c - qf))


# ----------------------------------------------------------------------------- h264
CRF_CENTER, CRF_SCALE = 35.0, 10.0  # the CRF input of H264Net: (crf - 35) / 10
H264_GRID = 16  # H.264 macroblocks; a multiple of H264Net's 4x fold


class H264Net(nn.Module):
    """Quarter-resolution residual CNN with a CRF input (see the module's docstring)."""

    def __init__(self, ch: int = 64, depth: int = 10, fold: int = 4, radius: int = 0):
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth={depth}: at least 2 convolutions")
        self.fold, self.radius = int(fold), int(radius)
        self.frames = 2 * self.radius + 1
        c = 3 * self.fold**2
        layers: list[nn.Module] = [nn.Conv2d(c * self.frames + 2, ch, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(ch, ch, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True)]
        for m in layers:  # He initialisation (PyTorch's default shrinks the signal layer by layer)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        tail = nn.Conv2d(ch, c, 3, 1, 1)
        nn.init.zeros_(tail.weight)  # the untrained network is the identity
        nn.init.zeros_(tail.bias)
        self.body = nn.Sequential(*layers, tail)

    def forward(self, x, crf: Any = None):
        """``x``: N x 3k x H x W in [-1, 1], the frames t-r..t+r stacked on channels (k = 2r + 1;
        one frame, k = 1, stands for all of them: a still); ``crf``: None (blind), a number, or N
        numbers (NaN: unknown for that frame). Returns the restored frame t, N x 3 x H x W."""
        if x.shape[1] != 3 * self.frames:
            if x.shape[1] != 3:
                raise ValueError(
                    f"H264Net(radius={self.radius}) takes {self.frames} RGB frames stacked on channels, got {x.shape[1]} channels"
                )
            x = x.repeat(1, self.frames, 1, 1)
        h, w, f = *x.shape[-2:], self.fold
        xp = F.pad(x, (0, (-w) % f, 0, (-h) % f), mode="replicate") if h % f or w % f else x
        y = F.pixel_unshuffle(xp, f)
        xp = xp[:, 3 * self.radius : 3 * self.radius + 3]  # the centre frame, which the correction is added to
        n, _, hh, ww = y.shape
        if crf is None:
            q = torch.zeros(n, 2, 1, 1, dtype=y.dtype, device=y.device)
        else:
            c = torch.as_tensor(crf, dtype=y.dtype, device=y.device).reshape(-1).expand(n)
            known = torch.isfinite(c)
            q = torch.stack(
                [torch.where(known, (c - CRF_CENTER) / CRF_SCALE, torch.zeros_like(c)), known.to(y.dtype)], 1
            )[..., None, None]
        y = self.body(torch.cat([y, q.expand(n, 2, hh, ww)], 1))
        return (xp + F.pixel_shuffle(y, f))[..., :h, :w]
