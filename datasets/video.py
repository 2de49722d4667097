"""Frame-folder video sets."""

from __future__ import annotations

from .base import FolderDataset


class Vid4(FolderDataset):
    name = "vid4"
    kind = "video"
    layout = "video/Vid4/GT"
    folder_type = "frames"
    description = "Vid4 ground-truth clips in BasicSR layout (one folder of numbered PNG frames per clip), 25 fps assumed."
