"""Baselines every table shows next to the model: no translation, and Reinhard colour transfer.

Reinhard et al. 2001 ("Color Transfer between Images") move each channel's mean and standard deviation
in a decorrelated colour space to a target's. Here the target is a whole domain: the mean of per-image
Lab means and stds over that domain's real images. It is the cheapest "global style" there is: if a
model's numbers are not better than this row, the network has not learned more than a colour shift.
We use CIE Lab (OpenCV's float conversion, L in [0,100]) rather than Reinhard's lαβ; both decorrelate
luminance from chroma, and Lab is what the issue asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """[3,H,W] RGB in [-1,1] -> [H,W,3] float32 Lab."""
    rgb = np.clip((np.asarray(image, np.float32).transpose(1, 2, 0) + 1.0) / 2.0, 0.0, 1.0)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """[H,W,3] Lab -> [3,H,W] RGB in [-1,1], clipped to the gamut."""
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB)
    return (np.clip(rgb, 0.0, 1.0) * 2.0 - 1.0).transpose(2, 0, 1).astype(np.float32)


def lab_stats(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = lab.reshape(-1, 3).astype(np.float64)
    return flat.mean(axis=0), flat.std(axis=0)


def reinhard_lab(
    lab: np.ndarray, target_mean: np.ndarray, target_std: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Per channel: (x - mean_x) / std_x * target_std + target_mean. Flat channels only shift."""
    mean, std = lab_stats(lab)
    scale = np.where(std > eps, np.asarray(target_std) / np.maximum(std, eps), 1.0)
    return ((lab - mean) * scale + np.asarray(target_mean)).astype(np.float32)


@dataclass
class DomainColourStats:
    """The Lab target of one domain: averages of per-image channel means and stds."""

    mean: np.ndarray  # [3]
    std: np.ndarray  # [3]

    @classmethod
    def fit(cls, images: torch.Tensor | np.ndarray) -> DomainColourStats:
        stats = [lab_stats(rgb_to_lab(np.asarray(img))) for img in images]
        if not stats:
            raise ValueError("no images to fit a domain's colour statistics")
        return cls(np.mean([s[0] for s in stats], axis=0), np.mean([s[1] for s in stats], axis=0))


def reinhard_transfer(images: torch.Tensor, target: DomainColourStats) -> torch.Tensor:
    """[B,3,H,W] in [-1,1] -> the same images with the target domain's Lab statistics."""
    out = [lab_to_rgb(reinhard_lab(rgb_to_lab(img.cpu().numpy()), target.mean, target.std)) for img in images]
    return torch.from_numpy(np.stack(out))


def identity(images: torch.Tensor) -> torch.Tensor:
    return images.clone()
