"""``edgecgl eval --keep-objects``: score sampled styles as ``edgecgl image --keep-objects`` delivers them.

Each translation is checked with the detector at the resolution measured (the output size when there is
one): where a near box of the input is not found again, the image's own draw is redone at half the
spread, up to three times, then at the domain's mean; where none keeps them all, the one that kept the
most (``edgecgl.retain.keep_objects``). So KID and domain accuracy are of the pictures a user gets, and
the near boxes kept are counted on the same pictures, by the rule's own detections. Eval translates
whole frames only (no instance branch), unlike ``edgecgl image`` with a detector.
"""

from __future__ import annotations

import numpy as np
import torch
from edgecgl.train.eval.translators import AtOutputResolution, SampledStyles, sampled_styles

from edgecgl.detect import DetectorLike
from edgecgl.errors import EdgecglError
from edgecgl.retain import KeepCounts, keep_objects


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """[3,H,W] in [-1,1] -> [H,W,3] uint8 RGB (what the detector reads)."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a [3,H,W] image, got {tuple(image.shape)}")
    x = ((image.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return np.ascontiguousarray(x.permute(1, 2, 0).cpu().numpy())


class KeepObjects:
    """A sampled-style model (``SampledStyles``, or one at the output resolution) whose translations keep
    the input's near objects. ``counts[target]`` says how many images were redrawn and how many near
    boxes survived."""

    def __init__(
        self, method: SampledStyles | AtOutputResolution, detect: DetectorLike, tries: int = 3
    ) -> None:
        inner = sampled_styles(method)
        if inner is None:
            raise EdgecglError(
                "--keep-objects redraws a sampled style", "add --style sample (or --style reference)"
            )
        self.method = method
        self.sampled = inner
        self.detect = detect
        self.tries = tries
        self.name = method.name
        self.domains = method.domains
        self.random_styles = method.random_styles
        self.frame_size = method.frame_size
        self.counts: dict[str, KeepCounts] = {}

    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        if seed is not None:  # LPIPS diversity: the prior's random styles, nothing to keep
            return self.method.translate(images, target, seed)
        first = self.sampled.next_index(target)
        out = self.method.translate(images, target).clone()
        c = self.counts.setdefault(target, KeepCounts())
        for i in range(images.shape[0]):
            spread = self.sampled.spread_of(target, first + i)  # lighter if it left the brightness range
            made = {spread: out[i]}

            def translate(s: float, i: int = i, made: dict[float, torch.Tensor] = made) -> np.ndarray:
                if s not in made:
                    made[s] = self.method.translate(
                        images[i : i + 1],
                        target,
                        index=first + i,
                        spread=s,  # type: ignore[call-arg]
                    )[0]
                return to_uint8(made[s])

            x = to_uint8(images[i])
            _, choice = keep_objects(translate, self.detect, self.detect(x), x.shape[0], spread, self.tries)
            out[i] = made[choice.spread]
            c.add(choice, spread)
        return out
