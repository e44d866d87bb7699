"""A tiny in-memory dataset with the data package's contract, so trainer tests never decode files."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from edgecgl.domains import DOMAINS


@dataclass
class FakeSample:
    image: Tensor
    domain: int
    boxes: Tensor = field(default_factory=lambda: torch.zeros((0, 4)))
    path: str = ""


class FakeDataset(torch.utils.data.Dataset):
    """``per_domain`` random images per domain, each tinted by its domain; every other image has a box."""

    def __init__(self, size: tuple[int, int] = (64, 64), per_domain: int = 3, seed: int = 0) -> None:
        self.domains = list(DOMAINS)
        self.skipped = 0
        g = torch.Generator().manual_seed(seed)
        h, w = size
        self.items: list[FakeSample] = []
        for d in range(len(self.domains)):
            for k in range(per_domain):
                img = (torch.rand(3, h, w, generator=g) * 0.5 - 0.25 + (d - 1.5) * 0.3).clamp(-1, 1)
                boxes = (
                    torch.tensor([[w * 0.25, h * 0.4, w * 0.6, h * 0.9]])
                    if k % 2 == 0
                    else torch.zeros((0, 4))
                )
                self.items.append(FakeSample(img, d, boxes, f"fake/{self.domains[d]}/{k}.png"))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> FakeSample:
        return self.items[i]

    def domain_indices(self) -> list[int]:
        return [s.domain for s in self.items]
