"""Decode, resize/crop, flip: the image and its boxes move together.

Geometry (what every loader does when ``size=(H, W)`` is given):

1. scale the image by ``s = max(H / h, W / w)`` — the smallest factor at which it covers the target,
   i.e. the short side (relative to the target's aspect) lands exactly on the target; aspect is kept;
2. crop ``H x W`` out of the scaled image: at a uniformly random offset for ``split="train"``,
   centred otherwise (``val``/``all``), so evaluation is deterministic;
3. optionally flip horizontally (``x -> W - x``, boxes swap x1/x2);
4. clip boxes to the image and drop those narrower or shorter than ``min_box`` pixels (at least one
   pixel: zero-area boxes are always dropped).

Boxes are xyxy in continuous pixel coordinates: pixel ``i`` covers ``[i, i + 1)``.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

cv2.setNumThreads(1)  # DataLoader workers parallelise; OpenCV's own threads would oversubscribe


class UnreadableImage(Exception):
    """The file is missing, truncated or not an image; the dataset skips it and counts it."""


def _pil_open():  # type: ignore[no-untyped-def]
    """Pillow's own ``Image.open``.

    Importing Ultralytics replaces ``PIL.Image.open`` with a wrapper that, on a file Pillow cannot
    identify, tries to pip-install pi-heif (network, then ImportError offline). A corrupt dataset image
    must just be skipped, so use the original opener Ultralytics keeps.
    """
    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open)


_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except (OSError, ValueError, TypeError, SyntaxError):  # a broken EXIF block: the pixels as stored
        return 1


def display_size(im: Image.Image) -> tuple[int, int]:
    """(H, W) as the image is shown: after its EXIF orientation, which is what labelling tools, OpenCV,
    Ultralytics and ``edgecgl augment`` read, so the labels' pixels are these."""
    return (im.width, im.height) if _orientation(im) in _ROTATED else (im.height, im.width)


def decode(path: str | Path, min_size: tuple[int, int] | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode to HxWx3 uint8 RGB, upright by its EXIF orientation; also return that full (H, W).

    Truncated files raise (PIL is strict, OpenCV would return gray rows). ``min_size`` (H, W) lets
    JPEG decode at a reduced DCT scale that still covers it (draft mode), which makes 1280x720 frames
    for a 128 px model several times cheaper; pixel boxes must then be scaled by the returned size.
    A phone's or re-exported frame stored sideways with an orientation tag is turned upright (read as
    stored, its boxes landed on road and bonnet).
    """
    try:
        with _pil_open()(path) as im:
            full = display_size(im)
            turned = _orientation(im) in _ROTATED
            if min_size is not None and im.format == "JPEG":
                h, w = min_size[::-1] if turned else min_size
                scale = max(h / im.height, w / im.width)
                if scale < 0.5:
                    im.draft(
                        "RGB",
                        (max(1, int(np.ceil(im.width * scale))), max(1, int(np.ceil(im.height * scale)))),
                    )
            im.load()
            arr = np.asarray((ImageOps.exif_transpose(im) or im).convert("RGB"))
    except (OSError, ValueError, SyntaxError, ImportError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"{path}: {exc}") from None
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise UnreadableImage(f"{path}: empty image")
    return arr, full


def read_rgb(path: str | Path, min_size: tuple[int, int] | None = None) -> np.ndarray:
    """``decode`` without the size: HxWx3 uint8 RGB."""
    return decode(path, min_size)[0]


def clip_boxes(boxes: np.ndarray, height: int, width: int, min_box: float = 1.0) -> np.ndarray:
    """Clip xyxy boxes to the image; drop non-finite ones and those with a side below ``min_box``."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return boxes
    finite = np.isfinite(boxes).all(axis=1)
    boxes = boxes[finite].copy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    keep = (w >= max(min_box, 1e-3)) & (h >= max(min_box, 1e-3))
    return boxes[keep]


def resize_crop(
    img: np.ndarray,
    boxes: np.ndarray,
    size: tuple[int, int] | None,
    random_crop: bool,
    rng: random.Random | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale to cover ``size`` keeping aspect, then crop (random or centred); boxes follow."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    if size is None:
        return img, boxes
    th, tw = int(size[0]), int(size[1])
    h, w = img.shape[:2]
    s = max(th / h, tw / w)
    nh, nw = max(th, round(h * s)), max(tw, round(w * s))
    if (nh, nw) != (h, w):
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        img = cv2.resize(img, (nw, nh), interpolation=interp)
        boxes[:, 0::2] *= nw / w
        boxes[:, 1::2] *= nh / h
    if random_crop:
        r = rng or random
        y0, x0 = r.randint(0, nh - th), r.randint(0, nw - tw)
    else:
        y0, x0 = (nh - th) // 2, (nw - tw) // 2
    img = img[y0 : y0 + th, x0 : x0 + tw]
    boxes[:, 0::2] -= x0
    boxes[:, 1::2] -= y0
    return img, boxes


def hflip(img: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right; x1' = W - x2, x2' = W - x1."""
    w = img.shape[1]
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
    return img[:, ::-1], boxes


def to_tensor(img: np.ndarray) -> Tensor:
    """HxWx3 uint8 RGB -> [3, H, W] float32 in [-1, 1] (the generator's tanh range)."""
    t = torch.from_numpy(np.require(img, requirements=["C", "W"])).permute(2, 0, 1).to(torch.float32)
    return t.div_(127.5).sub_(1.0)


def to_uint8(image: Tensor) -> np.ndarray:
    """[3, H, W] in [-1, 1] -> HxWx3 uint8 RGB (for previews and writers)."""
    x = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()
