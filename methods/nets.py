"""Network architectures of the trainable methods (PyTorch). Widths and depths are
arguments so that the shipped CPU-trained weights stay small; the paper-size
configurations are in each method's ``PAPER_CONFIG``.

All generators take and return NCHW float tensors in [-1, 1] (RGB)."""

from __future__ import annotations

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
        layers = [conv(ch, ch), *( [nn.BatchNorm2d(ch)] if bn else []), a, conv(ch, ch), *([nn.BatchNorm2d(ch)] if bn else [])]
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
        self.down = nn.Sequential(conv(ch, 2 * ch, 3, 2), nn.LeakyReLU(0.2, inplace=True), conv(2 * ch, 4 * ch, 3, 2), nn.LeakyReLU(0.2, inplace=True))
        self.body = nn.Sequential(*[ResBlock(4 * ch) for _ in range(blocks)])
        self.up1 = nn.Sequential(conv(4 * ch, 2 * ch), nn.LeakyReLU(0.2, inplace=True), conv(2 * ch, 2 * ch), nn.LeakyReLU(0.2, inplace=True))
        self.up2 = nn.Sequential(conv(2 * ch, ch), nn.LeakyReLU(0.2, inplace=True), conv(ch, ch), nn.LeakyReLU(0.2, inplace=True))
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


class SubPatchDiscriminator(nn.Module):
    """Galteri et al.'s sub-patch discriminator: each patch is split into ``sub`` x ``sub``
    sub-patches, each concatenated with the corresponding input sub-patch (6 channels), and
    every sub-patch gets its own real/fake logit."""

    def __init__(self, sub: int = 16, ch: int = 32):
        super().__init__()
        self.sub = sub
        self.net = nn.Sequential(
            conv(6, ch, 3, 2), nn.LeakyReLU(0.2, inplace=True),
            conv(ch, 2 * ch, 3, 2), nn.BatchNorm2d(2 * ch), nn.LeakyReLU(0.2, inplace=True),
            conv(2 * ch, 4 * ch, 3, 2), nn.BatchNorm2d(4 * ch), nn.LeakyReLU(0.2, inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * ch, 1),
        )

    def forward(self, output, inp):
        x = torch.cat([output, inp], dim=1)
        n, c, h, w = x.shape
        s = self.sub
        x = x[..., : h - h % s, : w - w % s].unfold(2, s, s).unfold(3, s, s)  # n, c, H/s, W/s, s, s
        x = x.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, s, s)
        return self.net(x)  # (n * sub-patches) x 1 logits


class QFPredictor(nn.Module):
    """A CNN regressor of the JPEG quality factor from a 64x64 luma crop (aligned to the
    8x8 block grid), as in Galteri et al. TMM 2019."""

    def __init__(self, ch: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            conv(1, ch), nn.ReLU(inplace=True), conv(ch, ch, 3, 2), nn.ReLU(inplace=True),
            conv(ch, 2 * ch), nn.ReLU(inplace=True), conv(2 * ch, 2 * ch, 3, 2), nn.ReLU(inplace=True),
            conv(2 * ch, 4 * ch), nn.ReLU(inplace=True), conv(4 * ch, 4 * ch, 3, 2), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * ch, 64), nn.ReLU(inplace=True), nn.Linear(64, 1),
        )

    def forward(self, y):  # y: N x 1 x 64 x 64 in [-1, 1]; returns QF / 100
        return self.net(y)[:, 0]
