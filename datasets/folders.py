"""The standard still-image sets, read from their usual folders under the data root.

Each standard set is declared once, in :data:`benchmark.files.data.SETS` (its name, its folder
under the data root, where it comes from and what ``bench list`` says of it); the loader classes
here are made from those declarations. ``bsd200`` (training data, never fetched) is the one
declared here."""

from __future__ import annotations

from benchmark.files.data import get as standard_set

from .base import FolderDataset


def folder_set(cls_name: str, name: str) -> type[FolderDataset]:
    """The loader of the standard set ``name``: a :class:`FolderDataset` of its declared folder."""
    s = standard_set(name)
    return type(
        cls_name,
        (FolderDataset,),
        {
            "name": s.name,
            "layout": s.layout,
            "description": s.description,
            "__doc__": s.title,
            "__module__": __name__,
            "__qualname__": cls_name,
        },
    )


LIVE1 = folder_set("LIVE1", "live1")
Classic5 = folder_set("Classic5", "classic5")
Set5 = folder_set("Set5", "set5")
Set14 = folder_set("Set14", "set14")
Set12 = folder_set("Set12", "set12")
CBSD68 = folder_set("CBSD68", "cbsd68")
Kodak = folder_set("Kodak", "kodak")
BSD100 = folder_set("BSD100", "bsd100")
Urban100 = folder_set("Urban100", "urban100")
DIV2KValid = folder_set("DIV2KValid", "div2k")


class BSD200(FolderDataset):
    name = "bsd200"
    layout = "images/BSD200"
    description = "BSDS train split (200 images): TRAINING data, never a test set."
