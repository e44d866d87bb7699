"""Differentiable augmentation of the critic's inputs (DiffAugment, Zhao et al., NeurIPS 2020).

With a few hundred photos per domain (a fleet user's fog folder) the critic memorises the real images
and its gradient stops telling the generator anything about the domain. Showing the critic every image,
real and translated alike, through the same random, differentiable transform T makes memorising harder
while keeping the game's optimum: G still has to match the real distribution, since T(real) and
T(fake) only agree in distribution when real and fake do. T must be applied to the generator's output
in the generator phase too (gradients flow through it), and never to what the losses compare
pixel-wise (reconstructions, cycles).

Images are in [-1, 1]. Every draw comes from the ``torch.Generator`` passed in, so a seeded step
reproduces exactly (the trainer seeds it from the step, like the gradient-penalty interpolation).
"""

from __future__ import annotations

import torch
from torch import Tensor


def parse_policy(text: str) -> tuple[str, ...]:
    """'color,translation' -> ('color', 'translation'); '' -> () (off). Unknown names raise ValueError."""
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    return names


def _uniform(x: Tensor, lo: float, hi: float, gen: torch.Generator | None) -> Tensor:
    """One value per sample, shaped to broadcast over [B, C, H, W]."""
    u = torch.rand(x.shape[0], 1, 1, 1, generator=gen, device=x.device, dtype=torch.float32)
    return (lo + (hi - lo) * u).to(x.dtype)


def color(x: Tensor, gen: torch.Generator | None = None) -> Tensor:
    """Per image: brightness + U(-0.5, 0.5) (a quarter of the [-1, 1] range), saturation x U(0, 2), contrast
    x U(0.5, 1.5) around the image's mean."""
    x = x + _uniform(x, -0.5, 0.5, gen)
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * _uniform(x, 0.0, 2.0, gen) + grey
    level = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - level) * _uniform(x, 0.5, 1.5, gen) + level


def translation(x: Tensor, gen: torch.Generator | None = None, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros (mid-grey)."""
    b, _, h, w = x.shape
    py, px = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-py, py + 1, (b,), generator=gen, device=x.device).tolist()
    dx = torch.randint(-px, px + 1, (b,), generator=gen, device=x.device).tolist()
    padded = torch.nn.functional.pad(x, (px, px, py, py))
    rows = [padded[i, :, py - dy[i] : py - dy[i] + h, px - dx[i] : px - dx[i] + w] for i in range(b)]
    return torch.stack(rows)


def cutout(x: Tensor, gen: torch.Generator | None = None, ratio: float = 0.5) -> Tensor:
    """Zero one random rectangle of ``ratio`` x the image's sides per image (it may leave the frame)."""
    b, _, h, w = x.shape
    ch, cw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    top = torch.randint(0, h + 1, (b, 1, 1), generator=gen, device=x.device) - ch // 2
    left = torch.randint(0, w + 1, (b, 1, 1), generator=gen, device=x.device) - cw // 2
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": color, "translation": translation, "cutout": cutout}
POLICIES = tuple(_OPS)  # the names loss.diffaug takes (applied in the order given)


def diff_augment(x: Tensor, policy: tuple[str, ...], gen: torch.Generator | None = None) -> Tensor:
    """T(x): the policy's transforms in order, each with its own per-image draw. () is the identity."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"diff_augment expects [B, 3, H, W] images, got {tuple(x.shape)}")
    for name in policy:
        x = _OPS[name](x, gen)
    return x
