"""The standard still-image sets, read from their usual folders under the data root."""

from __future__ import annotations

from .base import FolderDataset


class LIVE1(FolderDataset):
    name = "live1"
    layout = "images/LIVE1"
    description = "LIVE1 (29 colour images): the JPEG artifact-removal test set."


class Classic5(FolderDataset):
    name = "classic5"
    layout = "images/Classic5"
    description = "Classic5 (5 grayscale 512x512): grayscale JPEG artifact removal."


class Set5(FolderDataset):
    name = "set5"
    layout = "images/Set5"
    description = "Set5 HR images: super-resolution test set."


class Set14(FolderDataset):
    name = "set14"
    layout = "images/Set14"
    description = "Set14 HR images (one is grayscale): super-resolution test set."


class Set12(FolderDataset):
    name = "set12"
    layout = "images/Set12"
    description = ("Set12 (12 grayscale, 256x256 and 512x512, as KAIR ships them): Gaussian denoising at sigma 15/25/50 "
                   "(set12-noise25).")


class CBSD68(FolderDataset):
    name = "cbsd68"
    layout = "images/CBSD68"
    description = ("Colour BSD68 test split (481x321); cbsd68-gray is the gray BSD68 denoising protocol "
                   "(MATLAB rgb2ycbcr Y), e.g. cbsd68-gray-noise25.")


class BSD200(FolderDataset):
    name = "bsd200"
    layout = "images/BSD200"
    description = "BSDS train split (200 images): TRAINING data, never a test set."


class Kodak(FolderDataset):
    name = "kodak"
    layout = "images/Kodak"
    description = "Kodak PhotoCD (24 images, 768x512), if you have it under images/Kodak."


class BSD100(FolderDataset):
    name = "bsd100"
    layout = "images/BSD100"
    description = "BSD100 (B100, the BSDS300 test split) HR: super-resolution test set."


class Urban100(FolderDataset):
    name = "urban100"
    layout = "images/Urban100"
    description = "Urban100 HR (buildings, regular structure): super-resolution test set."


class DIV2KValid(FolderDataset):
    name = "div2k"
    layout = "images/DIV2K_valid_HR"
    description = "DIV2K validation HR (100 images, 2K): super-resolution test set."
