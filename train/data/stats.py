"""Dataset statistics without decoding images: counts from annotations, sizes from image headers."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from edgecgl.train.data.open import open_dataset
from edgecgl.train.data.transforms import display_size
from PIL import Image


@dataclass
class DomainStats:
    images: int = 0
    boxes: int = 0
    empty: int = 0  # images without any box
    max_boxes: int = 0
    widths: list[float] = field(default_factory=list)
    heights: list[float] = field(default_factory=list)

    def row(self) -> dict:
        w = np.asarray(self.widths) if self.widths else np.zeros(1)
        h = np.asarray(self.heights) if self.heights else np.zeros(1)
        return {
            "images": self.images,
            "boxes": self.boxes,
            "boxes_per_image": self.boxes / self.images if self.images else 0.0,
            "max_boxes": self.max_boxes,
            "images_without_boxes": self.empty,
            "box_w_median": float(np.median(w)),
            "box_h_median": float(np.median(h)),
            "box_w_p10": float(np.percentile(w, 10)),
            "box_w_p90": float(np.percentile(w, 90)),
            "box_h_p10": float(np.percentile(h, 10)),
            "box_h_p90": float(np.percentile(h, 90)),
        }


def dataset_stats(
    spec: str, domains: list[str] | None = None, check: bool = False, bdd_rules: Any = None
) -> dict:
    """Per-domain counts and box sizes (pixels of the source images); ``check`` also decodes every image."""
    ds = open_dataset(
        spec,
        size=None,
        split="all",
        domains=domains,
        allow_empty_domains=True,
        min_box=0,
        bdd_rules=bdd_rules,
    )
    per = {d: DomainStats() for d in ds.domains}
    cats: Counter[str] = Counter()
    unreadable = 0
    missing: list[str] = []
    for i, r in enumerate(ds.records):
        if not os.path.isfile(r.path):  # labelled, but no file: training skips it, so it is no image here
            missing.append(r.path)
            continue
        st = per[ds.domains[r.domain]]
        st.images += 1
        n = len(r.boxes)
        st.boxes += n
        st.max_boxes = max(st.max_boxes, n)
        st.empty += n == 0
        cats.update(r.categories)
        if check:
            try:
                ds.load(i)
            except Exception:  # noqa: BLE001 - any decode failure is what --check reports
                unreadable += 1
                continue
        if n:
            b = np.asarray(r.boxes, np.float64)
            sx = sy = 1.0
            if r.normalized:
                try:
                    with Image.open(r.path) as im:
                        sy, sx = display_size(im)
                except OSError:
                    continue
            st.widths += ((b[:, 2] - b[:, 0]) * sx).tolist()
            st.heights += ((b[:, 3] - b[:, 1]) * sy).tolist()
    return {
        "source": ds.source,
        "domains": {d: s.row() for d, s in per.items()},
        "categories": dict(sorted(cats.items())),
        "excluded_frames": ds.report.excluded_frames,
        "rejected_labels": ds.report.rejected_labels,
        "dropped_boxes": ds.report.dropped_boxes,
        "clipped_boxes": ds.report.clipped_boxes,
        "unreadable": unreadable if check else None,
        "missing_images": len(missing),
        "missing_example": missing[0] if missing else None,
    }
