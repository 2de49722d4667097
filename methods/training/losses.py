"""Losses the training recipes share: ``ssim_loss`` (1 - SSIM) and the feature (perceptual) loss:
VGG19 relu5_4 features when the user has torchvision's VGG19 weights, else the offline MobileNetV2
ImageNet features (after block 13). The choice is part of the method's version string
(``perceptual_backbone()``)."""

from __future__ import annotations

from pathlib import Path

VGG19_FILE = "vgg19-dcbb9e9d.pth"


def ssim_loss(out, y):
    """1 - SSIM of two batches in [-1, 1] (piq's SSIM on [0, 1]; the output clamped to it)."""
    import piq

    return 1 - piq.ssim(((out + 1) / 2).clamp(0, 1), (y + 1) / 2, data_range=1.0)


def perceptual_backbone() -> str:
    import torch.hub

    return "vgg19" if (Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE).exists() else "mobilenetv2"


class FeatureLoss:
    def __init__(self, device: str = "cpu"):
        import torch
        import torchvision

        self.backbone = perceptual_backbone()
        if self.backbone == "vgg19":
            import torch.hub

            net = torchvision.models.vgg19(weights=None)
            net.load_state_dict(
                torch.load(
                    Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE, map_location="cpu", weights_only=True
                )
            )
            self.net = net.features[:36]
        else:
            from benchmark.files.weights import MOBILENET_V2, asset_path

            net = torchvision.models.mobilenet_v2(weights=None)
            net.load_state_dict(torch.load(asset_path(MOBILENET_V2), map_location="cpu", weights_only=True))
            self.net = net.features[:14]
        self.net.eval().requires_grad_(False).to(device)
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    def __call__(self, x, y):
        """MSE between features of x and y (tensors in [-1, 1])."""
        fx = self.net(((x + 1) / 2 - self.mean) / self.std)
        fy = self.net(((y + 1) / 2 - self.mean) / self.std)
        return ((fx - fy) ** 2).mean()
