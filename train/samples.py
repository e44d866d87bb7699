"""The sample grid written every ``log.sample_every`` steps: does the model translate yet?

One row per domain: its first training image, that image translated to every domain (style of that
domain's first image), then the image's instance crop and the crop translated to every domain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from edgecgl.atomic import atomic_path


def _fit(t: Tensor, h: int, w: int) -> Tensor:
    return (
        F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False) if t.shape[-2:] != (h, w) else t
    )


@torch.no_grad()
def sample_grid(
    mods: nn.ModuleDict, source: Any, device: torch.device, path: Path, instances: bool = True
) -> None:
    rng = np.random.default_rng([source.cfg.seed, 104729])
    doms = [d for d, idx in enumerate(source.by_domain) if idx]
    x, _, boxes, src = source._load([source.by_domain[d][0] for d in doms], rng)
    o = source.crops(src, boxes, rng)
    x, o = x.to(device), o.to(device)
    n_dom = source.n_domains
    z = F.one_hot(torch.tensor(doms, device=device), n_dom).float()
    enc_c, enc_s = mods["content_enc"], mods["style_enc"]
    inst = instances and "content_enc_inst" in mods
    oc, os_ = (mods["content_enc_inst"], mods["style_enc_inst"]) if inst else (enc_c, enc_s)
    gen = mods["gen"]
    training = [m.training for m in mods.values()]
    mods.eval()
    try:
        cx, sx = enc_c(x), enc_s(x, z)
        co, so = oc(o), os_(o, z)
        h = x.shape[-2]
        rows = []
        for r in range(len(doms)):
            cols = [x[r : r + 1]]
            for t in range(len(doms)):
                cols.append(gen(cx[r : r + 1], sx[t : t + 1], z[t : t + 1]))
            cols.append(_fit(o[r : r + 1], h, h))
            for t in range(len(doms)):
                cols.append(_fit(gen(co[r : r + 1], so[t : t + 1], z[t : t + 1]), h, h))
            rows.append(cols)
        sep_v = torch.ones(3, h, 2)
        lines = []
        for row in rows:
            parts = []
            for c in row:
                parts += [c[0].float().cpu(), sep_v]
            lines += [torch.cat(parts, dim=2), None]
        width = lines[0].shape[2]
        grid = torch.cat([ln if ln is not None else torch.ones(3, 2, width) for ln in lines], dim=1)
    finally:
        for m, t in zip(mods.values(), training, strict=True):
            m.train(t)
    img = ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    with atomic_path(Path(path)) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
