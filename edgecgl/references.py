"""Reference-guided styles from a folder of photos: each image (or each clip) takes the style code of one
photo of the target domain (StarGAN v2's reference-guided translation), drawn by a stable per-item seed.

Shared by the runtime (``edgecgl image|augment|video --style-ref DIR``) and ``edgecgl eval --style
reference``, so both pick the same photo for the same item and widen it the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecgl.domains import IMAGE_SUFFIXES
from edgecgl.errors import EdgecglError


def reference_files(folder: Path, domain: str) -> list[Path]:
    """The photos of ``folder/domain`` if that sub-folder exists (a dataset root), else of ``folder``."""
    root = Path(folder)
    if (root / domain).is_dir():
        root = root / domain
    files = (
        sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if root.is_dir()
        else []
    )
    if not files:
        raise EdgecglError(
            f"no reference photos in {root}",
            f"give a folder of {domain} photos ({', '.join(IMAGE_SUFFIXES)}) or one image",
        )
    return files


def pick(seed: int, n: int) -> int:
    """Which of ``n`` references an item with this per-item seed (``bundle.item_seed``) takes."""
    return seed % n


class ReferenceBank:
    """The style codes of a folder's photos for one translator's domain, encoded once at its working size."""

    def __init__(self, translator: object, folder: Path, spread: float = 1.0) -> None:
        from edgecgl.bundle import widen_style
        from edgecgl.compose import resize, to_nchw
        from edgecgl.translate import read_image

        tr = translator
        self.files = reference_files(folder, tr.domain)  # type: ignore[attr-defined]
        codes = [
            tr.backend.encode_style(  # type: ignore[attr-defined]
                to_nchw(resize(read_image(f), tr.style_size)),  # type: ignore[attr-defined]
                tr.domain_onehot,  # type: ignore[attr-defined]
                "global",
            )[0]
            for f in self.files
        ]
        mean = tr.bundle.style(tr.domain, "global")  # type: ignore[attr-defined]
        self.codes = widen_style(np.stack(codes), mean, spread)

    def style(self, seed: int) -> tuple[np.ndarray, Path]:
        """The [S] code and the photo for an item's seed."""
        i = pick(seed, len(self.files))
        return self.codes[i], self.files[i]
