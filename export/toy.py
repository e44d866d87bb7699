"""A random-init inference checkpoint: lets export, calibration and the runtime be tested without training.

Its outputs are meaningless images; it exercises every shape, name and file of the real path.
"""

from __future__ import annotations

from pathlib import Path

import torch

from edgecgl.domains import DOMAINS


def make_toy_checkpoint(
    path: Path,
    preset: str = "tiny",
    frame_size: tuple[int, int] = (64, 96),
    instance_size: tuple[int, int] = (32, 32),
    share_encoders: bool = False,
    seed: int = 0,
    domains: tuple[str, ...] = DOMAINS,
    padding: str = "reflect",
    position: str = "none",
) -> Path:
    """Write ``model.pt`` in the trainer's format with made-up (but valid, seeded) style statistics."""
    from edgecgl.train.inference import save_inference
    from edgecgl.train.nets import CGLModel, ModelConfig

    torch.manual_seed(seed)
    model = CGLModel(
        ModelConfig(
            preset=preset,
            share_encoders=share_encoders,
            n_domains=len(domains),
            padding=padding,
            position=position,
        )
    ).eval()
    s = model.cfg.style_dim
    g = torch.Generator().manual_seed(seed)
    stats = {}
    for gran in ("global", "instance"):
        per = {}
        for d in domains:
            a = torch.randn(s, s, generator=g) * 0.2
            per[d] = {"mean": torch.randn(s, generator=g), "cov": a @ a.T + 0.1 * torch.eye(s)}
        stats[gran] = per
    save_inference(
        Path(path),
        model,
        list(domains),
        frame_size,
        instance_size,
        stats,
        config_sha256="0" * 64,
        step=0,
    )
    return Path(path)
