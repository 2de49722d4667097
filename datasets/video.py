"""Frame-folder video sets (declared in :data:`benchmark.files.data.SETS`)."""

from __future__ import annotations

from benchmark.files.data import get as standard_set

from .base import FolderDataset


class Vid4(FolderDataset):
    name = "vid4"
    kind = "video"
    layout = standard_set("vid4").layout
    folder_type = "frames"
    description = standard_set("vid4").description
