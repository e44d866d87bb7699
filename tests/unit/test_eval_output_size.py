"""``edgecgl eval --output-size``: metrics at the resolution the user gets, models upsampled to it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from edgecgl.train.eval.run import EvalOptions, evaluate
from edgecgl.train.eval.translators import AtOutputResolution, TorchRun

from tests.eval_fixtures import write_paired_folder, write_tiny_model


class Passthrough:
    """A 'model' whose translation is the identity at its working size."""

    name = "pass"
    domains = ["sunny", "night", "cloudy", "rainy"]
    random_styles = False

    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        return images.clone()


def test_guided_gives_back_full_resolution_detail_resize_does_not() -> None:
    from edgecgl.compose import to_nchw, to_uint8
    from edgecgl.quality import gradient_correlation
    from tests.unit.test_upsampler import textured

    img = textured((64, 128))
    x = torch.from_numpy(to_nchw(img))
    guided = AtOutputResolution(Passthrough(), (16, 32), "guided").translate(x, "night")  # type: ignore[arg-type]
    resized = AtOutputResolution(Passthrough(), (16, 32), "resize").translate(x, "night")  # type: ignore[arg-type]
    assert guided.shape == resized.shape == x.shape
    # the identity at the working size: guided keeps the full-resolution edges, resize smears them
    assert gradient_correlation(img, to_uint8(guided.numpy())[0]) > 0.8
    assert gradient_correlation(img, to_uint8(resized.numpy())[0]) < 0.5


def test_evaluate_at_output_size(tmp_path: Path) -> None:
    data = write_paired_folder(tmp_path / "data", n=4, size=(64, 128))
    model = TorchRun(write_tiny_model(tmp_path / "run" / "checkpoints" / "model.pt"))  # works at 32x64
    opts = EvalOptions(metrics=["paired"], output_size=(64, 128), max_images=4, targets=["night"])
    results, extras = evaluate(f"folder:{data}", [model], opts, log=lambda _m: None)
    meta = extras["meta"]
    assert meta["size"] == [32, 64] and meta["output_size"] == [64, 128] and meta["upsample"] == "guided"
    assert extras["contact"]["outputs"][model.name]["night"].shape[-2:] == (64, 128)
    assert extras["contact"]["inputs"].shape[-2:] == (64, 128)
    assert results[model.name]["psnr"]["night"] is not None
    # the identity baseline at the output size scores the same data whatever the model's size
    working, _ = evaluate(
        f"folder:{data}",
        [model],
        EvalOptions(metrics=["paired"], max_images=4, targets=["night"]),
        log=lambda _m: None,
    )
    assert results["identity"]["psnr"]["night"] != pytest.approx(
        working["identity"]["psnr"]["night"], abs=1e-6
    )


class Lamp(Passthrough):
    """Darkens, and paints a bright 2x2 spot at the working size's centre where the input is flat."""

    def translate(self, images: torch.Tensor, target: str, seed: int | None = None) -> torch.Tensor:
        out = images.clone() * 0.5 - 0.5
        h, w = out.shape[-2:]
        out[..., h // 2 - 1 : h // 2 + 1, w // 2 - 1 : w // 2 + 1] = 1.0
        return out


def test_residual_matches_the_runtime_and_keeps_the_lamp() -> None:
    """``--upsample residual`` in eval is the runtime's ``edgecgl.upsample`` residual mode (to rounding)."""
    import numpy as np
    from edgecgl.export.upsampler import GuidedUpsampler, UpsamplerConfig

    from edgecgl.compose import to_nchw, to_uint8
    from edgecgl.upsample import add_residual

    img = np.full((64, 128, 3), 120, np.uint8)
    img[:, :40] = 30
    x = torch.from_numpy(to_nchw(img))
    res = AtOutputResolution(Lamp(), (16, 32), "residual").translate(x, "night")  # type: ignore[arg-type]
    gui = AtOutputResolution(Lamp(), (16, 32), "guided").translate(x, "night")  # type: ignore[arg-type]
    centre = (..., slice(28, 36), slice(60, 68))
    assert float(res[centre].mean()) > float(gui[centre].mean()) + 0.5
    low = torch.nn.functional.interpolate(x, size=(16, 32), mode="area")
    out = Lamp().translate(low, "night")
    up = GuidedUpsampler(UpsamplerConfig()).eval()
    with torch.inference_mode():
        full = to_uint8(up(x, low, out).numpy())[0]
        fitted = to_uint8(up(low, low, out).numpy())[0]
    runtime = add_residual(full, out[0].numpy(), fitted)
    assert np.abs(to_uint8(res.numpy())[0].astype(int) - runtime.astype(int)).max() <= 2


def test_local_matches_the_runtimes_local_mode() -> None:
    """``--upsample local`` in eval is the runtime's: the same guided fit with ``LOCAL_RADIUS``."""
    import numpy as np

    from edgecgl import guided_cpu
    from edgecgl.compose import to_nchw, to_uint8
    from edgecgl.upsample import LOCAL_RADIUS

    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(120, 40, (64, 128, 3)), 0, 255).astype(np.uint8)
    x = torch.from_numpy(to_nchw(img))
    local = AtOutputResolution(Lamp(), (32, 64), "local").translate(x, "night")  # type: ignore[arg-type]
    guided = AtOutputResolution(Lamp(), (32, 64), "guided").translate(x, "night")  # type: ignore[arg-type]
    low = torch.nn.functional.interpolate(x, size=(32, 64), mode="area")
    out = Lamp().translate(low, "night")[0].numpy()
    p = guided_cpu.GuidedParams(radius=LOCAL_RADIUS, eps=0.1)
    runtime = guided_cpu.upsample(img, to_uint8(low.numpy())[0], out, p)
    got = to_uint8(local.numpy())[0].astype(int)
    assert np.abs(got - runtime.astype(int)).max() <= 3
    assert np.abs(got - to_uint8(guided.numpy())[0].astype(int)).max() > 10  # another fit than guided's
