"""What ``edgecgl eval`` can put in a table row: a trained run (torch), a bundle (ONNX Runtime), or a
baseline. Each maps a batch of [-1,1] images to a target domain, with the domain's mean style or with
random N(0, I) styles drawn from a seed (MUNIT's prior, used for LPIPS diversity). ``SampledStyles``
gives each image its own draw from the domain's style Gaussian instead of the mean (``--style sample``:
what ``edgecgl augment --style-per-image`` writes); ``ReferenceStyles`` gives it the style of one
real photo of the target domain (``--style reference --style-refs DIR``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from edgecgl.train.eval.baselines import DomainColourStats, reinhard_transfer

from edgecgl.brightness import RangeCounts, first_in_range
from edgecgl.bundle import StyleStats, widen_style
from edgecgl.errors import EdgecglError
from edgecgl.references import pick, reference_files


class Method(Protocol):
    name: str
    domains: list[str]
    random_styles: bool  # False: deterministic, LPIPS diversity does not apply

    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        """[B,3,H,W] in [-1,1] -> [B,3,H,W]; ``seed`` None = mean style, else random styles."""
        ...


def resolve_model(path: Path) -> tuple[str, Path]:
    """A run folder, a model.pt, or a bundle folder -> ("run" | "bundle", file or folder)."""
    p = Path(path)
    if p.is_file():
        return "run", p
    if (p / "manifest.json").is_file():
        return "bundle", p
    for cand in (p / "checkpoints" / "model.pt", p / "model.pt"):
        if cand.is_file():
            return "run", cand
    raise EdgecglError(
        f"{p} is neither a training run, a model.pt nor a bundle",
        "give runs/train/NNN-name, its checkpoints/model.pt, or a folder written by edgecgl export",
    )


def _method_name(path: Path, kind: str) -> str:
    p = Path(path)
    if kind == "run":
        run = p.parent.parent if p.parent.name == "checkpoints" else p.parent
        return run.name or p.stem
    return p.name


class TorchRun:
    """An inference checkpoint (``load_inference``), run eagerly on the CPU or a GPU."""

    random_styles = True

    def __init__(self, path: Path, name: str | None = None, device: str = "cpu") -> None:
        from edgecgl.train.inference import load_inference

        self.model = load_inference(path, map_location=device)
        self.model.modules.to(device).eval()
        self.device = device
        self.domains = list(self.model.domains)
        self.name = name or _method_name(path, "run")
        self.frame_size = self.model.frame_size
        self.style_dim = int(self.model.cfg.style_dim)

    def _mean_style(self, target: str) -> torch.Tensor:
        return torch.as_tensor(self.style_stats(target).mean, dtype=torch.float32).reshape(1, -1)

    def style_stats(self, target: str) -> StyleStats:
        stats = self.model.style_stats.get("global", {}).get(target)
        if stats is None or "mean" not in stats or "cov" not in stats:
            raise EdgecglError(
                f"checkpoint has no global style statistics for '{target}'",
                "re-save it with edgecgl train (style_stats are written at the end of training)",
            )
        return StyleStats.from_dict(stats)

    @torch.inference_mode()
    def translate_styles(self, images: torch.Tensor, target: str, styles: np.ndarray) -> torch.Tensor:
        """[B,3,H,W] with one [S] style code per image ([B,S])."""
        onehot = torch.zeros(images.shape[0], len(self.domains), device=self.device)
        onehot[:, self.domains.index(target)] = 1.0
        mods = self.model.modules
        content = mods["content_enc"](images.float().to(self.device))
        style = torch.as_tensor(np.asarray(styles, np.float32), device=self.device)
        return mods["gen"](content, style, onehot).float().cpu()

    @torch.inference_mode()
    def encode_styles(self, images: torch.Tensor, target: str) -> np.ndarray:
        """[B,3,H,W] in [-1,1] -> their [B,S] style codes as images of ``target``."""
        onehot = torch.zeros(images.shape[0], len(self.domains), device=self.device)
        onehot[:, self.domains.index(target)] = 1.0
        return self.model.modules["style_enc"](images.float().to(self.device), onehot).float().cpu().numpy()

    @torch.inference_mode()
    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        di = self.domains.index(target)
        b = images.shape[0]
        onehot = torch.zeros(b, len(self.domains), device=self.device)
        onehot[:, di] = 1.0
        if seed is None:
            style = self._mean_style(target).expand(b, -1)
        else:
            style = torch.randn(b, self.style_dim, generator=torch.Generator().manual_seed(seed))
        mods = self.model.modules
        content = mods["content_enc"](images.float().to(self.device))
        return mods["gen"](content, style.to(self.device), onehot).float().cpu()


class BundleModel:
    """An exported bundle through the runtime's ONNX Runtime backend (what the vehicle runs)."""

    random_styles = True

    def __init__(self, path: Path, name: str | None = None, backend: str = "onnxruntime-cpu") -> None:
        from edgecgl.backends import select_backend
        from edgecgl.bundle import load_bundle

        self.bundle = load_bundle(path)
        self.backend = select_backend(self.bundle, backend)
        self.domains = list(self.bundle.domains)
        self.name = name or _method_name(path, "bundle")
        self.frame_size = tuple(self.bundle.frame_size)
        self.style_dim = int(self.bundle.style_dim)

    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        di = self.domains.index(target)
        b = images.shape[0]
        onehot = np.zeros((b, len(self.domains)), np.float32)
        onehot[:, di] = 1.0
        if seed is None:
            style = np.repeat(self.bundle.style(target)[None], b, axis=0)
        else:
            style = np.random.default_rng(seed).standard_normal((b, self.style_dim)).astype(np.float32)
        return self.translate_styles(images, target, style)

    def style_stats(self, target: str) -> StyleStats:
        return self.bundle.style_stats["global"][target]

    def encode_styles(self, images: torch.Tensor, target: str) -> np.ndarray:
        """[B,3,H,W] in [-1,1] -> their [B,S] style codes as images of ``target``."""
        onehot = np.zeros((images.shape[0], len(self.domains)), np.float32)
        onehot[:, self.domains.index(target)] = 1.0
        x = np.ascontiguousarray(images.float().cpu().numpy(), dtype=np.float32)
        return np.asarray(self.backend.encode_style(x, onehot, "global"), np.float32)

    def translate_styles(self, images: torch.Tensor, target: str, styles: np.ndarray) -> torch.Tensor:
        """[B,3,H,W] with one [S] style code per image ([B,S])."""
        onehot = np.zeros((images.shape[0], len(self.domains)), np.float32)
        onehot[:, self.domains.index(target)] = 1.0
        x = np.ascontiguousarray(images.float().cpu().numpy(), dtype=np.float32)
        content = self.backend.encode_content(x, "global")
        style = np.ascontiguousarray(styles, dtype=np.float32)
        return torch.from_numpy(np.asarray(self.backend.generate(content, style, onehot), np.float32))


class SampledStyles:
    """A model whose default translation gives image i of each target its own sample from the domain's
    style Gaussian (seeded by ``seed``, the target and i: the same on every run), widened by ``spread``.
    Seeded calls (LPIPS diversity) still use the model's N(0, I) prior."""

    check_brightness = True  # draws outside the domain's brightness are redone lighter, as image does

    def __init__(self, method: TorchRun | BundleModel, seed: int = 0, spread: float = 1.0) -> None:
        self.method = method
        self.name = method.name
        self.domains = method.domains
        self.random_styles = method.random_styles
        self.frame_size = method.frame_size
        self.seed = seed
        self.spread = spread
        self._count: dict[str, int] = {}
        self._used: dict[tuple[str, int], float] = {}  # (target, image index) -> spread, when not ``spread``
        self.in_range: dict[str, RangeCounts] = {}

    def spread_of(self, target: str, index: int) -> float:
        """The spread image ``index``'s draw was delivered at (lighter when it left the brightness range)."""
        return self._used.get((target, index), self.spread)

    def next_index(self, target: str) -> int:
        """The index the next batch for ``target`` starts at (image i's draw is seeded by i)."""
        return self._count.get(target, 0)

    def translate(
        self,
        images: torch.Tensor,
        target: str,
        seed: int | None = None,
        *,
        index: int | None = None,
        spread: float | None = None,
    ) -> torch.Tensor:
        """``index``: translate images ``index``, ``index`` + 1, ... again with their own draws (the
        count does not move); ``spread``: those draws at another spread (``--keep-objects``)."""
        from edgecgl.bundle import item_seed

        if seed is not None:
            return self.method.translate(images, target, seed)
        first = self.next_index(target) if index is None else index
        if index is None:
            self._count[target] = first + images.shape[0]
        seeds = [item_seed(self.seed, target, str(i)) for i in range(first, first + images.shape[0])]
        s = self.spread if spread is None else spread
        out = self.method.translate_styles(images, target, self.styles(target, seeds, s))
        if index is None and self.check_brightness:
            out = self._in_range(images, target, out, first)
        return out

    def _in_range(self, images: torch.Tensor, target: str, out: torch.Tensor, first: int) -> torch.Tensor:
        """``edgecgl.brightness`` on each image's draw, at the working size (where the bundle's range was
        measured)."""
        from edgecgl.train.style_stats import mean_luma

        luma = self.method.style_stats(target).luma
        if luma is None:
            return out
        counts = self.in_range.setdefault(target, RangeCounts())
        out = out.clone()
        for i in range(out.shape[0]):

            def again(s: float, i: int = i) -> torch.Tensor:
                return self.translate(images[i : i + 1], target, index=first + i, spread=s)[0]

            y, used = first_in_range(
                again, lambda t: float(mean_luma(t[None])[0]), self.spread, luma, drawn=out[i]
            )
            out[i] = y
            counts.add(used, self.spread)
            if used != self.spread:
                self._used[(target, first + i)] = used
        return out

    def styles(self, target: str, seeds: list[int], spread: float) -> np.ndarray:
        """One [S] code per seed: a draw from the domain's style Gaussian, widened by ``spread``."""
        stats = self.method.style_stats(target)
        return np.stack([stats.sample(s, spread) for s in seeds])


class ReferenceStyles(SampledStyles):
    """Like ``SampledStyles``, but image i of each target takes the style code of one reference photo of
    that domain (StarGAN v2's reference-guided translation; drawn by the same seeds), widened about the
    domain's mean by ``spread``. The references' codes keep the real photos' variety (white-outs and
    dusk-grey fog side by side) where a Gaussian fitted to them smooths it into one blob (on real fog that
    measured no better than Gaussian draws of the same spread: docs/RESULTS.md, session 10)."""

    check_brightness = False  # the user chose these photos' looks (image --style-ref is not checked either)

    def __init__(
        self, method: TorchRun | BundleModel, references: Path, seed: int = 0, spread: float = 1.0
    ) -> None:
        super().__init__(method, seed, spread)
        self.references = Path(references)
        self._codes: dict[str, np.ndarray] = {}

    def codes(self, target: str) -> np.ndarray:
        """[N,S] style codes of the references for ``target``: the images of ``references/target`` if that
        folder exists (a dataset root), else of ``references`` (encoded once, at the working size)."""
        if target not in self._codes:
            images = load_references(reference_files(self.references, target), tuple(self.frame_size))
            x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            self._codes[target] = np.concatenate(
                [self.method.encode_styles(x[i : i + 16], target) for i in range(0, len(x), 16)]
            )
        return self._codes[target]

    def styles(self, target: str, seeds: list[int], spread: float) -> np.ndarray:
        codes = self.codes(target)
        picked = codes[[pick(s, len(codes)) for s in seeds]]
        return widen_style(picked, self.method.style_stats(target).mean, spread)


def load_references(files: list[Path], size: tuple[int, int]) -> np.ndarray:
    """The photos as uint8 [N,H,W,3] at ``size`` (stretched: the style encoder pools)."""
    from edgecgl.compose import resize
    from edgecgl.translate import read_image

    return np.stack([resize(read_image(f), size) for f in files])


class Identity:
    name = "identity"
    random_styles = False

    def __init__(self, domains: list[str]) -> None:
        self.domains = domains

    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        return images.clone()


class Reinhard:
    """Global colour transfer to each target domain's Lab statistics (fit on the training split)."""

    name = "reinhard"
    random_styles = False

    def __init__(self, domains: list[str], stats: dict[str, DomainColourStats]) -> None:
        self.domains = domains
        self.stats = stats

    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        return reinhard_transfer(images, self.stats[target])


class AtOutputResolution:
    """A model run the way the runtime delivers it: the input (at the resolution the user gets) is
    area-downsampled to the working size, translated there, and brought back to the input's size through
    the guided upsampler (the bundle's parameters, or the defaults for a training run; ``residual`` adds
    what its fit leaves out of the network's output, as the runtime's ``--upsample residual``) or a
    bilinear resize.

    The eval set is loaded at the output size without letterboxing (the dataset loader resizes), so pick an
    output size with the working size's aspect.
    """

    def __init__(
        self,
        method: TorchRun | BundleModel | SampledStyles,
        working_size: tuple[int, int],
        upsample: str = "guided",
    ) -> None:
        from edgecgl.export.upsampler import GuidedUpsampler, UpsamplerConfig

        from edgecgl.upsample import CHOICES, LOCAL_RADIUS

        if upsample not in CHOICES:
            raise EdgecglError(f"unknown --upsample '{upsample}'", f"choose one of: {', '.join(CHOICES)}")
        self.method = method
        self.name = method.name
        self.domains = method.domains
        self.random_styles = method.random_styles
        self.frame_size = tuple(working_size)
        self.upsample = upsample
        inner = method.method if isinstance(method, SampledStyles) else method
        params = dict(getattr(getattr(inner, "bundle", None), "upsampler", None) or {})
        params.pop("method", None)
        if upsample == "local":  # edgecgl.upsample's local mode: the bundle's upsampler, a smaller window
            params["radius"] = LOCAL_RADIUS
        self.upsampler = GuidedUpsampler(UpsamplerConfig(**params)).eval() if upsample != "resize" else None

    @torch.inference_mode()
    def translate(
        self, images: torch.Tensor, target: str, seed: int | None = None, **style: float
    ) -> torch.Tensor:
        """``style``: ``index``/``spread`` for a ``SampledStyles`` inside (``--keep-objects`` redraws)."""
        import torch.nn.functional as F

        low = F.interpolate(images.float(), size=self.frame_size, mode="area")
        out = self.method.translate(low, target, seed, **style)  # type: ignore[call-arg]
        if self.upsampler is None:
            return F.interpolate(out, size=images.shape[-2:], mode="bilinear", align_corners=False).clamp(
                -1, 1
            )
        full = self.upsampler(images.float(), low, out)
        if self.upsample == "residual":  # edgecgl.upsample's residual mode: what the fit leaves out of out
            res = out - self.upsampler(low, low, out)
            full = full + F.interpolate(res, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return full.clamp(-1, 1)


def open_method(path: Path, name: str | None = None, device: str = "cpu") -> TorchRun | BundleModel:
    kind, p = resolve_model(path)
    return TorchRun(p, name, device) if kind == "run" else BundleModel(p, name)


def sampled_styles(m: object) -> SampledStyles | None:
    """The ``SampledStyles`` inside a method (bare, at the output resolution, with --keep-objects)."""
    while not isinstance(m, SampledStyles) and hasattr(m, "method"):
        m = m.method
    return m if isinstance(m, SampledStyles) else None
