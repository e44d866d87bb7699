"""The one item type every loader returns, and the batch collation the trainer uses."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Sample:
    """One frame after decoding, resize/crop and flip.

    ``image`` is [3, H, W] float32 RGB in [-1, 1]; ``domain`` indexes the dataset's ``domains`` list;
    ``boxes`` is [N, 4] float32 xyxy in pixel coordinates of *this* image (already moved by resize,
    crop and flip, clipped to the image, empty ones dropped); ``path`` is the source file.
    ``detail`` (datasets opened with ``detail_scale`` s > 1): the same window at s times the size, [3, sH,
    sW], for instance crops with the detail the runtime's full-resolution crops have; boxes times s.
    """

    image: Tensor
    domain: int
    boxes: Tensor = field(default_factory=lambda: torch.zeros((0, 4), dtype=torch.float32))
    path: str = ""
    detail: Tensor | None = None


def collate_samples(samples: list[Sample]) -> tuple[Tensor, Tensor, list[Tensor], list[str]]:
    """Stack images and domains; boxes stay a list because each image has its own count.

    Images must share one size (give ``open_dataset`` a ``size``); a mismatch is a bug in the caller,
    so it raises instead of padding silently.
    """
    if not samples:
        raise ValueError("collate_samples got an empty list")
    shapes = {tuple(s.image.shape) for s in samples}
    if len(shapes) != 1:
        raise ValueError(
            f"images of different sizes in one batch: {sorted(shapes)} (set size= in open_dataset)"
        )
    images = torch.stack([s.image for s in samples])
    domains = torch.tensor([s.domain for s in samples], dtype=torch.long)
    boxes = [s.boxes.reshape(-1, 4).to(torch.float32) for s in samples]
    paths = [s.path for s in samples]
    return images, domains, boxes, paths
