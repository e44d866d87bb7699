"""The translator: a backend, a bundle and one target style, applied to frames and batches of crops.

The style is set when the translator is made (one style per video): the domain's mean style, a
sample from the domain's Gaussian (``style_seed``, widened by ``style_spread``), or the style encoder's
code for a reference image (``style_ref``). ``use_style`` swaps it between images (``edgecgl augment
--style-per-image``: a dataset gets the domain's variety, not one look). Instance crops use the *global* style by default (cross-granularity: the instance looks
like it belongs to the translated scene).

Back to full resolution: ``upsample="guided"`` (the default) re-applies the network's translation to the
full-resolution input through the bundle's guided upsampler (``edgecgl.upsample``), for the frame and for
each instance crop (guided by the original crop); ``"resize"`` resizes the network's output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgecgl.backends.base import Backend
from edgecgl.bundle import Bundle
from edgecgl.compose import crop_instances, letterbox, resize, to_nchw, to_uint8
from edgecgl.domains import domain_index, one_hot
from edgecgl.errors import EdgecglError
from edgecgl.upsample import Upsampler, split_mode


def parse_size(text: str, flag: str = "--size", stride: int = 4) -> tuple[int, int]:
    """'256x512' -> (256, 512): height x width, positive multiples of ``stride`` (the network's);
    ``flag`` is the option the user typed, named in the error."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise EdgecglError(f"bad {flag} '{text}'", f"give HxW, e.g. {flag} 256x512") from None
    if h <= 0 or w <= 0:
        raise EdgecglError(f"{flag} {h}x{w} must be positive in both sides", f"give HxW, e.g. {flag} 256x512")
    if h % stride or w % stride:
        s = stride
        raise EdgecglError(
            f"{flag} {h}x{w} is not a multiple of {s} in both sides",
            f"the network stride is {s}; try {flag} {max(s, round(h / s) * s)}x{max(s, round(w / s) * s)}",
        )
    return h, w


def check_frame_size(size: tuple[int, int], bundle: Bundle, flag: str = "--size") -> None:
    """Refuse a working size too small for the bundle's network (a 4x4 frame parses, then fails deep in
    ONNX Runtime's reflect Pad or a torch guard)."""
    h, w = size
    m = bundle.min_frame_side
    if h < m or w < m:
        fh, fw = bundle.frame_size
        raise EdgecglError(
            f"{flag} {h}x{w} is too small for this bundle: it needs at least {m}x{m}",
            f"the network downsamples by {bundle.stride} and pads the result; it was trained at {fh}x{fw}",
        )


def as_source(image: np.ndarray, path: Path) -> np.ndarray:
    """The translation in the source file's colour form: a one-channel file (a monochrome or IR camera's
    frame) gets a grey one back, not a tinted colour image beside its grey originals in a training set."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            grey = im.mode in ("1", "L", "LA", "I", "I;16", "F")
    except Exception:  # noqa: BLE001 - it was read once already; unreadable here means colour as read
        return image
    if not grey:
        return image
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def read_image(path: Path) -> np.ndarray:
    """uint8 HWC RGB, or a user error naming the file."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if img is None:
        raise EdgecglError(f"cannot read image {path}", "give a JPEG or PNG file")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class Translator:
    """Translate frames and crops to one target domain with one style code."""

    def __init__(
        self,
        backend: Backend,
        bundle: Bundle,
        domain: str,
        style_seed: int | None = None,
        style_ref: np.ndarray | None = None,
        frame_size: tuple[int, int] | None = None,
        upsample: str = "guided",
        log: Callable[[str], None] | None = None,
        style_spread: float = 1.0,
    ) -> None:
        self.backend = backend
        self.bundle = bundle
        self.domain = bundle.domains[domain_index(domain, bundle.domains)]
        self.domain_onehot = one_hot(domain_index(self.domain, bundle.domains), len(bundle.domains))
        if frame_size is not None:
            check_frame_size(frame_size, bundle)
        self.frame_size = tuple(frame_size or bundle.frame_size)
        self.instance_size = tuple(bundle.instance_size)
        # the size reference photos are encoded at: the working size, raised to what the style encoder
        # can read (its codes are pooled statistics, so a small working size needs no small canvas)
        m = bundle.min_style_side
        self.style_size = (max(self.frame_size[0], m), max(self.frame_size[1], m))
        self.style_ref = style_ref  # the photo the style came from: other targets encode it again
        if style_ref is not None:
            canvas = resize(style_ref, self.style_size)  # pooled statistics: aspect does not matter here
            self.use_style(
                backend.encode_style(to_nchw(canvas), self.domain_onehot, "global")[0], "reference image"
            )
        elif style_seed is None:
            self.use_style(bundle.style(self.domain, "global"), "mean")
        else:
            spread = "" if style_spread == 1.0 else f", spread {style_spread:g}"
            self.use_style(
                bundle.style(self.domain, "global", style_seed, style_spread), f"seed {style_seed}{spread}"
            )
        frame_mode, instance_mode = split_mode(upsample)
        self.upsampler = Upsampler(bundle, backend, frame_mode, log)
        self.instance_upsampler = (
            self.upsampler if instance_mode == frame_mode else self.upsampler.sibling(instance_mode)
        )
        # what --upsample resolved to (a bundle without an upsampler falls back to resize, local on a bundle
        # whose upsampler the numpy path lacks to guided)
        fell_back = self.upsampler.mode != frame_mode
        self.upsample_mode = self.upsampler.mode if fell_back else upsample.strip().lower()

    def use_style(self, style: np.ndarray, source: str) -> None:
        """Translate with this [S] style code from now on (``source`` says where it came from, for logs)."""
        code = np.asarray(style, dtype=np.float32).reshape(-1)
        if code.shape[0] != self.bundle.style_dim:
            raise EdgecglError(
                f"style code has {code.shape[0]} values, bundle expects {self.bundle.style_dim}",
                "re-export the bundle",
            )
        self.style = code
        self.style_source = source

    def translate_canvas(self, canvas: np.ndarray) -> np.ndarray:
        """uint8 [H,W,3] at the working resolution -> translated uint8 [H,W,3]."""
        return to_uint8(self._generate(canvas[None], "global", self.style[None]))[0]

    def translate_frame(self, frame: np.ndarray) -> np.ndarray:
        """Any-size uint8 RGB frame -> translated frame of the same size (letterboxed through the net).

        Guided: the upsampler sees exactly the region of the canvas the frame occupies (the letterbox
        bars cut off), at the working resolution, beside the network's output for it.
        """
        canvas, lb = letterbox(frame, self.frame_size)
        low = self._generate(canvas[None], "global", self.style[None])[0]
        (ih, iw), t, x = lb.inner_hw, lb.top, lb.left
        return self.upsampler(frame, canvas[t : t + ih, x : x + iw], low[:, t : t + ih, x : x + iw])

    def translate_crops(self, crops: np.ndarray, styles: np.ndarray | None = None) -> np.ndarray:
        """uint8 [N,h,w,3] crops at the instance resolution -> translated, in ONE batched call per net.

        ``styles`` [N,S] overrides the global style per crop (e.g. one fixed style per track).
        """
        if crops.shape[0] == 0:
            return crops.copy()
        return to_uint8(self._generate(crops, "instance", styles))

    def translate_windows(
        self, frame: np.ndarray, windows: list[tuple[int, int, int, int]], styles: np.ndarray | None = None
    ) -> list[np.ndarray]:
        """Translate the crop windows (x1, y1, x2, y2) of ``frame``, each back at its own size.

        One batched network call at the instance resolution; then each crop goes back to its window's
        size guided by the original full-resolution crop (or resized, with ``upsample="resize"``).
        """
        if not windows:
            return []
        crops = crop_instances(frame, windows, self.instance_size)
        low = self._generate(crops, "instance", styles)
        return [
            self.instance_upsampler(frame[y1:y2, x1:x2], small, lo)
            for (x1, y1, x2, y2), small, lo in zip(windows, crops, low, strict=True)
        ]

    def _generate(self, images: np.ndarray, granularity: str, styles: np.ndarray | None) -> np.ndarray:
        """uint8 [N,h,w,3] -> the generator's float32 [N,3,h,w] in [-1, 1] (global style by default)."""
        n = images.shape[0]
        if styles is None:
            styles = np.repeat(self.style[None], n, axis=0)
        domain = np.repeat(self.domain_onehot, n, axis=0)
        content = self.backend.encode_content(to_nchw(images), granularity)
        return self.backend.generate(content, styles.astype(np.float32), domain)
