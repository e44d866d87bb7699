"""Instance crops with context padding, the instance branch's input."""

from __future__ import annotations

import torch
from torch import Tensor


def expand_boxes(boxes: Tensor, height: int, width: int, context: float = 0.1) -> Tensor:
    """Grow each xyxy box by ``context * w`` left and right and ``context * h`` top and bottom, then
    clip to ``[0, width] x [0, height]``."""
    b = boxes.to(torch.float32).reshape(-1, 4)
    w = (b[:, 2] - b[:, 0]).unsqueeze(1)
    h = (b[:, 3] - b[:, 1]).unsqueeze(1)
    pad = torch.cat([-context * w, -context * h, context * w, context * h], dim=1)
    out = b + pad
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out


def fit_aspect(boxes: Tensor, aspect: float, height: int, width: int) -> Tensor:
    """Grow each xyxy box's short side about its centre until width / height == ``aspect``, then shift
    it back inside ``[0, width] x [0, height]`` (clipping only where it is larger than the image).

    The crop is then resized without distortion: the aspect is kept by padding with scene context.
    """
    b = boxes.to(torch.float32).reshape(-1, 4).clone()
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    bw, bh = (b[:, 2] - b[:, 0]).clamp(min=1e-6), (b[:, 3] - b[:, 1]).clamp(min=1e-6)
    bw, bh = torch.maximum(bw, bh * aspect), torch.maximum(bh, bw / aspect)
    bw, bh = bw.clamp(max=float(width)), bh.clamp(max=float(height))
    x0 = (cx - bw / 2).clamp(min=0.0)
    x0 = torch.minimum(x0, width - bw)
    y0 = (cy - bh / 2).clamp(min=0.0)
    y0 = torch.minimum(y0, height - bh)
    return torch.stack([x0, y0, x0 + bw, y0 + bh], dim=1)


def instance_crops(
    images: Tensor,
    boxes: list[Tensor],
    size: tuple[int, int],
    context: float = 0.1,
    aspect: str = "stretch",
    antialias: bool = False,
) -> tuple[Tensor, Tensor]:
    """Cut every box out of its image and resize it to ``size`` = (h, w).

    Geometry, exactly (the runtime reimplements it in numpy):

    1. expand: ``x1 -= context*bw; x2 += context*bw; y1 -= context*bh; y2 += context*bh``
       with ``bw = x2 - x1``, ``bh = y2 - y1`` of the original box;
    2. clip to the image: x into ``[0, W]``, y into ``[0, H]`` (continuous pixel coordinates, pixel
       ``i`` covers ``[i, i+1)``);
    3. resample with ``torchvision.ops.roi_align(aligned=True, sampling_ratio=1)``: output pixel
       ``(i, j)`` is the bilinear sample of the image at
       ``y = y1 + (i + 0.5) * (y2 - y1) / h - 0.5`` and ``x = x1 + (j + 0.5) * (x2 - x1) / w - 0.5``,
       with sample coordinates clamped to ``[0, H-1]`` / ``[0, W-1]`` (roi_align's border rule; after
       clipping no sample falls further out than half a pixel). For integer boxes this equals
       ``cv2.resize(img[y1:y2, x1:x2], (w, h), interpolation=cv2.INTER_LINEAR)`` on float images.

    Training-only options (the defaults are the geometry above, which the runtime shares):
    ``aspect="pad"`` applies ``fit_aspect`` after step 2, so the crop is not stretched; ``antialias``
    uses roi_align's adaptive ``sampling_ratio=0`` (ceil(box / output) samples per output pixel,
    averaged), so a box larger than ``size`` is box-filtered instead of point-sampled.

    Returns ``(crops [sum Ni, C, h, w], batch_index [sum Ni] long)``; no boxes -> zero-length tensors.
    """
    if aspect not in ("stretch", "pad"):
        raise ValueError(f"aspect must be stretch or pad, got '{aspect}'")
    if images.dim() != 4:
        raise ValueError(f"images must be [B, C, H, W], got {tuple(images.shape)}")
    if len(boxes) != images.shape[0]:
        raise ValueError(f"{len(boxes)} box lists for {images.shape[0]} images")
    _, c, height, width = images.shape
    h, w = int(size[0]), int(size[1])
    rois, index = [], []
    for i, b in enumerate(boxes):
        b = b.reshape(-1, 4)
        if len(b) == 0:
            continue
        e = expand_boxes(b.to(images.device), height, width, context)
        if aspect == "pad":
            e = fit_aspect(e, w / h, height, width)
        rois.append(torch.cat([torch.full((len(e), 1), float(i), device=images.device), e], dim=1))
        index.append(torch.full((len(e),), i, dtype=torch.long, device=images.device))
    if not rois:
        return images.new_zeros((0, c, h, w)), torch.zeros(0, dtype=torch.long, device=images.device)
    from torchvision.ops import roi_align  # lazy: torchvision's import costs seconds

    all_rois = torch.cat(rois).to(images.dtype)
    crops = roi_align(
        images,
        all_rois,
        output_size=(h, w),
        spatial_scale=1.0,
        sampling_ratio=0 if antialias else 1,
        aligned=True,
    )
    return crops, torch.cat(index)
