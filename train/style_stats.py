"""Per-domain style statistics (mean, covariance) that inference samples or averages styles from.

Computed at save time with the weights being saved (the EMA copy), over up to ``n`` training images per
domain: "global" = the style encoder on whole frames, "instance" = the instance style encoder on one crop
per image (a labelled box, or a random crop where an image has none, exactly as in training). "global"
also keeps the range of the frames' mean luma, which per-image draws are kept inside at run time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgecgl.brightness import LUMA_WEIGHTS


def mean_luma(x: Tensor) -> Tensor:
    """[B,3,H,W] RGB in [-1,1] -> [B] mean luma (Rec. 601) on the 0-255 scale."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected [B,3,H,W] images, got {tuple(x.shape)}")
    r, g, b = LUMA_WEIGHTS
    y = r * x[:, 0] + g * x[:, 1] + b * x[:, 2]
    return ((y.float() + 1.0) * 127.5).mean(dim=(1, 2))


def _stats(styles: Tensor) -> dict[str, Tensor]:
    mean = styles.mean(dim=0)
    cov = torch.cov(styles.T) if styles.shape[0] > 1 else torch.zeros(styles.shape[1], styles.shape[1])
    return {"mean": mean.cpu(), "cov": cov.reshape(styles.shape[1], styles.shape[1]).cpu()}


@torch.no_grad()
def style_statistics(
    mods: nn.ModuleDict, source: Any, n: int, device: torch.device, instances: bool = True, chunk: int = 16
) -> dict[str, dict[str, dict[str, Tensor]]]:
    """``{"global"|"instance": {domain: {"mean": [S], "cov": [S, S]}}}`` for every domain with images;
    "global" entries also hold ``"luma"``: [lowest, highest] mean luma of the frames."""
    enc_g = mods["style_enc"]
    enc_o = mods["style_enc_inst"] if (instances and "style_enc_inst" in mods) else enc_g
    n_dom = source.n_domains
    out: dict[str, dict[str, dict[str, Tensor]]] = {"global": {}, "instance": {}}
    rng = np.random.default_rng([source.cfg.seed, 7919])
    was = [m.training for m in (enc_g, enc_o)]
    enc_g.eval()
    enc_o.eval()
    try:
        for d, idx in enumerate(source.by_domain):
            if not idx:
                continue
            pick = [int(i) for i in rng.permutation(idx)[: max(1, n)]]
            sg, so, lum = [], [], []
            for s in range(0, len(pick), chunk):
                x, _, boxes, src = source._load(pick[s : s + chunk], rng)
                crops = source.crops(src, boxes, rng)
                x, crops = x.to(device), crops.to(device)
                z = F.one_hot(torch.full((x.shape[0],), d, device=device), n_dom).float()
                sg.append(enc_g(x, z).float())
                lum.append(mean_luma(x).cpu())
                so.append(enc_o(crops, z[: crops.shape[0]]).float())
            name = source.dataset.domains[d]
            luma = torch.cat(lum)
            out["global"][name] = _stats(torch.cat(sg)) | {"luma": torch.stack([luma.min(), luma.max()])}
            out["instance"][name] = _stats(torch.cat(so))
    finally:
        enc_g.train(was[0])
        enc_o.train(was[1])
    return out
