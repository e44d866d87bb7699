"""Tiny inputs for the evaluation tests: a random-init model.pt and a paired folder dataset."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from edgecgl.domains import DOMAINS

# Per-domain colour casts: a crude SynthWeather (same scene, different "weather").
_CAST = {
    "sunny": (1.0, 1.0, 0.9, 30),
    "night": (0.3, 0.3, 0.5, -20),
    "cloudy": (0.8, 0.8, 0.8, 0),
    "rainy": (0.6, 0.7, 0.8, 0),
}


def write_paired_folder(root: Path, n: int = 6, size: tuple[int, int] = (32, 64), seed: int = 0) -> Path:
    """ROOT/<domain>/<scene>.png with YOLO labels: one box per scene, the same geometry in every domain."""
    rng = np.random.default_rng(seed)
    h, w = size
    for d in DOMAINS:
        (root / d / "labels").mkdir(parents=True, exist_ok=True)
    names = [f"scene{i:03d}" for i in range(n)]
    for name in names:
        base = rng.integers(40, 200, size=(h, w, 3)).astype(np.float32)
        base = cv2.GaussianBlur(base, (5, 5), 0)
        x1, y1 = int(rng.integers(2, w // 2)), int(rng.integers(2, h // 2))
        bw, bh = int(rng.integers(8, w // 3)), int(rng.integers(6, h // 2))
        base[y1 : y1 + bh, x1 : x1 + bw] = (200, 40, 40)  # the "car"
        for d in DOMAINS:
            r, g, b, off = _CAST[d]
            img = np.clip(base * np.array([r, g, b]) + off + rng.normal(0, 3, base.shape), 0, 255).astype(
                np.uint8
            )
            cv2.imwrite(str(root / d / f"{name}.png"), img[:, :, ::-1])
            cx, cy = (x1 + bw / 2) / w, (y1 + bh / 2) / h
            (root / d / "labels" / f"{name}.txt").write_text(
                f"0 {cx:.6f} {cy:.6f} {bw / w:.6f} {bh / h:.6f}\n"
            )
    (root / "pairs.json").write_text(json.dumps({"val": names[: max(2, n // 2)]}))
    return root


def write_tiny_model(path: Path, frame_size: tuple[int, int] = (32, 64), seed: int = 0) -> Path:
    from edgecgl.train.inference import save_inference
    from edgecgl.train.nets import CGLModel, ModelConfig

    torch.manual_seed(seed)
    model = CGLModel(ModelConfig(preset="tiny"))
    s = model.cfg.style_dim
    stats = {
        g: {d: {"mean": torch.randn(s) * 0.5, "cov": torch.eye(s)} for d in DOMAINS}
        for g in ("global", "instance")
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_inference(path, model, list(DOMAINS), frame_size, (32, 32), stats, "test", 0)
    return path
