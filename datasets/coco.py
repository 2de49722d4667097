"""COCO in its official layout: ``coco/val2017/`` + ``coco/annotations/{instances,captions}_val2017.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..api import Item
from ..errors import DataNotFound
from .base import FolderDataset, image_item, read_data_json


class COCO(FolderDataset):
    name = "coco"
    kind = "image"
    layout = "coco"
    description = "COCO val2017 (images + instances + captions JSON); boxes and captions travel with each item."

    def __init__(self, root: Path | None = None, split: str = "val2017", **params: Any):
        super().__init__(root, **params)
        self.split = split

    def items(self) -> Iterator[Item]:
        base = self.location()
        img_dir = base / self.split
        inst = base / "annotations" / f"instances_{self.split}.json"
        caps = base / "annotations" / f"captions_{self.split}.json"
        for p in (img_dir, inst):
            if not p.exists():
                raise DataNotFound(f"data set 'coco': {p} is missing (expected the official COCO layout under {base})")
        instances = read_data_json(inst, "coco")
        categories = {c["id"]: c["name"] for c in instances.get("categories", [])}
        boxes: dict[int, list] = {}
        for a in instances.get("annotations", []):
            boxes.setdefault(a["image_id"], []).append(a)
        captions: dict[int, list[str]] = {}
        if caps.exists():
            for a in read_data_json(caps, "coco").get("annotations", []):
                captions.setdefault(a["image_id"], []).append(a["caption"])
        for img in sorted(instances["images"], key=lambda i: i["file_name"]):
            anns = boxes.get(img["id"], [])
            yield image_item(
                img_dir / img["file_name"],
                item_id=Path(img["file_name"]).stem,
                annotations={
                    "format": "coco",
                    "image_id": img["id"],
                    "width": img.get("width"),
                    "height": img.get("height"),
                    "boxes_xywh": [a["bbox"] for a in anns],
                    "category_ids": [a["category_id"] for a in anns],
                    "labels": [categories.get(a["category_id"], str(a["category_id"])) for a in anns],
                    "iscrowd": [a.get("iscrowd", 0) for a in anns],
                    "captions": captions.get(img["id"], []),
                },
            )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split}
