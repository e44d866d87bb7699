"""``evaluate`` in-process: LPIPS diversity and paired LPIPS paths (random SqueezeNet backbone from a
file), baselines' rows, skip notes, option checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from edgecgl.train.eval.run import EvalOptions, evaluate, write_outputs
from edgecgl.train.eval.translators import TorchRun, resolve_model

from edgecgl.errors import EdgecglError
from tests.eval_fixtures import write_paired_folder, write_tiny_model


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torchvision

    root = tmp_path_factory.mktemp("evalrun")
    torch.manual_seed(0)
    backbone = root / "squeezenet.pth"
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), backbone)
    return {
        "data": write_paired_folder(root / "data", n=3),
        "model": write_tiny_model(root / "run" / "checkpoints" / "model.pt"),
        "backbone": backbone,
        "root": root,
    }


@pytest.mark.slow
def test_lpips_diversity_and_paired_lpips(setup: dict[str, Path]) -> None:
    kind, path = resolve_model(setup["model"].parent.parent)
    assert kind == "run" and path == setup["model"]
    model = TorchRun(path)
    opts = EvalOptions(
        metrics=["lpips", "paired"], split="all", targets=["night", "rainy"], lpips_inputs=2, lpips_pairs=2,
        lpips_net="squeeze", lpips_backbone=setup["backbone"],
    )  # fmt: skip
    results, extras = evaluate(f"folder:{setup['data']}", [model], opts, log=lambda _m: None)
    name = model.name
    assert name == "run"
    div = results[name]["lpips_div"]
    assert set(div) == {"night", "rainy"} and all(v > 0 for v in div.values())  # random styles differ
    assert "lpips_div" not in results["identity"]  # deterministic rows have no diversity
    for method in ("identity", "reinhard", name):
        assert results[method]["lpips"]["night"] >= 0
        assert results[method]["lpips_instance"]["night"] is not None
    assert extras["meta"]["lpips"].startswith("lpips-v0.1-squeeze")
    paths = write_outputs(setup["root"] / "out", results, extras)
    assert "LPIPS diversity" in paths["markdown"].read_text()


def test_mean_style_translation_is_deterministic_and_random_styles_are_not(setup: dict[str, Path]) -> None:
    model = TorchRun(setup["model"])
    x = torch.rand(2, 3, 32, 64) * 2 - 1
    assert torch.equal(model.translate(x, "night"), model.translate(x, "night"))
    assert torch.equal(model.translate(x, "night", seed=3), model.translate(x, "night", seed=3))
    assert not torch.equal(model.translate(x, "night", seed=3), model.translate(x, "night", seed=4))


def test_skips_are_noted_and_bad_options_refused(setup: dict[str, Path]) -> None:
    model = TorchRun(setup["model"])
    opts = EvalOptions(metrics=["is"], split="all", baselines=False)
    results, extras = evaluate(f"folder:{setup['data']}", [model], opts, log=lambda _m: None)
    assert results == {model.name: {}}
    assert any("no --classifier" in n for n in extras["meta"]["notes"])
    with pytest.raises(EdgecglError, match="unknown target domain"):
        evaluate(f"folder:{setup['data']}", [model], EvalOptions(metrics=["paired"], targets=["snowy"]))
    with pytest.raises(EdgecglError, match="source domain"):
        evaluate(f"folder:{setup['data']}", [model], EvalOptions(metrics=["paired"], source="foggy"))
    with pytest.raises(EdgecglError, match="multiple of 4"):
        evaluate(f"folder:{setup['data']}", [model], EvalOptions(metrics=["paired"], size=(30, 64)))
    with pytest.raises(EdgecglError, match="unknown style"):
        evaluate(f"folder:{setup['data']}", [model], EvalOptions(metrics=["paired"], style="random"))
    with pytest.raises(EdgecglError, match="needs --style-refs"):
        evaluate(f"folder:{setup['data']}", [model], EvalOptions(metrics=["paired"], style="reference"))
    with pytest.raises(EdgecglError, match="only read with --style reference"):
        evaluate(
            f"folder:{setup['data']}", [model], EvalOptions(metrics=["paired"], style_refs=setup["data"])
        )


def test_sampled_styles_change_the_paired_scores_not_the_baselines(setup: dict[str, Path]) -> None:
    model = TorchRun(setup["model"])
    data = f"folder:{setup['data']}"
    runs = {}
    for style in ("mean", "sample", "reference"):
        refs = setup["data"] if style == "reference" else None  # its night/ photos
        opts = EvalOptions(
            metrics=["paired"],
            split="all",
            targets=["night"],
            style=style,
            output_size=(64, 128),
            style_refs=refs,
        )
        runs[style], extras = evaluate(data, [model], opts, log=lambda _m: None)
        assert extras["meta"]["style"].startswith(style)
    psnr = {s: r[model.name]["psnr"]["night"] for s, r in runs.items()}
    assert len(set(psnr.values())) == 3
    assert runs["mean"]["reinhard"] == runs["sample"]["reinhard"] == runs["reference"]["reinhard"]
