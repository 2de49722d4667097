"""PASCAL VOC in VOCdevkit layout: ``VOCdevkit/VOC2007/{JPEGImages,Annotations,ImageSets/Main/test.txt}``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterator

from ..api import Item
from ..errors import DataNotFound
from .base import FolderDataset, image_item, read_data_file

VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def parse_voc_xml(path: Path) -> dict[str, Any]:
    try:
        root = ET.fromstring(read_data_file(path, "voc"))
    except ET.ParseError as exc:
        raise DataNotFound(f"data set 'voc': {path} is not the XML expected ({exc})") from None
    boxes, labels, difficult = [], [], []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            continue
        boxes.append([float(bb.findtext(k, "0")) for k in ("xmin", "ymin", "xmax", "ymax")])
        labels.append((obj.findtext("name") or "").strip())
        difficult.append(int(obj.findtext("difficult") or 0))
    return {"format": "voc", "boxes_xyxy": boxes, "labels": labels, "difficult": difficult}


class VOC(FolderDataset):
    name = "voc"
    kind = "image"
    layout = "VOCdevkit/VOC2007"
    description = "PASCAL VOC (VOCdevkit/VOC2007, ImageSets/Main/<split>.txt, Annotations XML); 20 classes."

    def __init__(self, root: Path | None = None, split: str = "test", year: str = "2007", **params: Any):
        super().__init__(root, **params)
        self.split = split
        if year != "2007":
            self.layout = f"VOCdevkit/VOC{year}"  # type: ignore[misc]

    def items(self) -> Iterator[Item]:
        base = self.location()
        ids_file = base / "ImageSets" / "Main" / f"{self.split}.txt"
        if not ids_file.exists():
            raise DataNotFound(f"data set 'voc': {ids_file} is missing (VOCdevkit layout expected under {base})")
        for image_id in [
            line.split()[0]
            for line in read_data_file(ids_file, "voc").decode("utf-8", "replace").splitlines()
            if line.strip()
        ]:
            ann = base / "Annotations" / f"{image_id}.xml"
            yield image_item(
                base / "JPEGImages" / f"{image_id}.jpg",
                item_id=image_id,
                annotations=parse_voc_xml(ann)
                if ann.exists()
                else {"format": "voc", "boxes_xyxy": [], "labels": [], "difficult": []},
            )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split}
