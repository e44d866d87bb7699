"""The GAN recipe's options (docs/RESULTS.md, "The GAN recipe"): per-domain and multi-scale critics,
N(0, I) style prior with diversity, training-crop geometry, and that a run with all of them resumes
exactly. Each option's default is the paper's setting, checked here too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from edgecgl.train.data.crops import fit_aspect, instance_crops
from edgecgl.train.losses import CGLLoss, LossConfig, PairBatch, critic_value
from edgecgl.train.nets import CGLModel, Discriminator, ModelConfig
from edgecgl.train.trainer import StepSource, Trainer

from edgecgl.errors import EdgecglError
from tests.unit.fake_data import FakeDataset
from tests.unit.test_losses import N_DOM, rand_batch, stub_model
from tests.unit.test_trainer import tiny_cfg


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------- critics
def test_per_domain_critic_reads_the_given_domain() -> None:
    src = torch.arange(2 * 4 * 2 * 2, dtype=torch.float32).reshape(2, 4, 2, 2)
    v = critic_value(src, torch.tensor([1, 3]))
    assert v.tolist() == [src[0, 1].mean().item(), src[1, 3].mean().item()]
    assert critic_value(src[:, :1]).tolist() == src[:, 0].mean(dim=(1, 2)).tolist()  # one logit: as before
    with pytest.raises(ValueError):
        critic_value(src)


def test_default_discriminator_is_the_single_head() -> None:
    d = Discriminator(ModelConfig(preset="tiny"), 5)
    assert not any(k.startswith("patch") for k in d.state_dict())
    src, cls = d(torch.rand(2, 3, 64, 64))
    assert src.shape == (2, 1, 2, 2) and cls.shape == (2, N_DOM)


def test_multiscale_per_domain_critic_shapes_and_gradients() -> None:
    cfg = ModelConfig(preset="tiny", d_scales=3, d_patch_layers=3, d_domain_src=True)
    d = Discriminator(cfg, 5)
    assert len(d.patch) == 2
    x = torch.rand(2, 3, 32, 64)
    src, cls = d(x)
    assert src.shape == (2, N_DOM, 1, 1) and cls.shape == (2, N_DOM)
    critic_value(src, torch.tensor([0, 2])).sum().backward()
    for head in d.patch:
        assert head.net[0].weight.grad is not None and head.net[0].weight.grad.abs().sum() > 0
    # the combined score is the mean of the three heads' patch means
    with torch.no_grad():
        h = d.src(d.body(x)).mean(dim=(2, 3))
        p0 = d.patch[0](x).mean(dim=(2, 3))
        p1 = d.patch[1](torch.nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False)).mean(dim=(2, 3))
        torch.testing.assert_close(src[:, :, 0, 0], (h + p0 + p1) / 3)


def test_too_many_scales_for_the_crop_is_a_config_error() -> None:
    with pytest.raises(EdgecglError, match="d_scales"):
        tiny_cfg(**{"model.d_scales": 4, "model.d_patch_layers": 4}).validate()
    tiny_cfg(**{"model.d_scales": 3, "model.d_patch_layers": 4}).validate()  # 32-px crops: fits


def test_per_domain_critic_losses_read_real_and_target_domains() -> None:
    """A critic whose channel k scores k: reals of domains (0, 1) score (0, 1), fakes headed to (1, 0)."""

    class DomainIndexCritic(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            src = torch.arange(N_DOM, dtype=x.dtype)[None, :, None, None] * (1 + 0 * x.mean())
            return src.expand(x.shape[0], -1, 2, 2), torch.zeros(x.shape[0], N_DOM)

    loss = CGLLoss(stub_model(critic=DomainIndexCritic()), LossConfig(instances=False, cgc=False))
    x = torch.rand(4, 3, 8, 8)
    batch = PairBatch(x=x, d=torch.tensor([0, 0, 2, 2]))
    _, t = loss.discriminator_loss(batch, {"global": x})
    assert float(t["d_adv_global"]) == pytest.approx(
        1.0 - 1.0
    )  # fakes: mean(2, 2, 0, 0), reals: mean(0, 0, 2, 2)
    _, g = loss.generator_loss(batch)
    assert float(g["g_adv_global"]) == pytest.approx(-1.0)  # fakes read at the targets 2, 2, 0, 0


# ---------------------------------------------------------------- style prior
def seeded(batch: PairBatch, seed: int) -> PairBatch:
    batch.style_seed = torch.tensor(seed)
    return batch


def test_style_prior_targets_are_the_sampled_codes() -> None:
    """With the analytic translator (G = content + style, E^s = mean) u's re-encoded style is exactly
    the sampled code, the cycle with x's own code is exact, and the critic sees the same u."""
    loss = CGLLoss(stub_model(), LossConfig(style_prior=True, cgc=False))
    batch = seeded(rand_batch(), 5)
    _, t = loss.generator_loss(batch)
    for name in ("rec_style", "cc_global", "cc_instance", "rec_content"):
        assert float(t[name]) == pytest.approx(0.0, abs=1e-6), name
    fakes = loss.translate_for_critic(batch)
    s_t, _ = loss._target_styles(batch, "global", torch.zeros(4, 3))
    torch.testing.assert_close(fakes["global"].mean(dim=(2, 3)), s_t)
    again = loss.translate_for_critic(seeded(rand_batch(), 5))
    assert torch.equal(again["global"], fakes["global"])  # seeded: the generator phase draws the same
    other = loss.translate_for_critic(seeded(rand_batch(), 6))
    assert not torch.equal(other["global"], fakes["global"])
    # the paper's path swaps encoded codes: the target is the partner's mean colour, not a draw
    paper = CGLLoss(stub_model(), LossConfig(cgc=False)).translate_for_critic(batch)
    assert not torch.allclose(paper["global"], fakes["global"])


def test_diversity_term_enters_with_a_minus_sign() -> None:
    cfg = LossConfig(style_prior=True, diversity=2.0, cgc=False)
    total, t = CGLLoss(stub_model(), cfg).generator_loss(seeded(rand_batch(), 1))
    assert float(t["ds_global"]) > 0.1 and float(t["ds_instance"]) > 0.1
    base, tb = CGLLoss(stub_model(), LossConfig(style_prior=True, cgc=False)).generator_loss(
        seeded(rand_batch(), 1)
    )
    assert "ds_global" not in tb
    expect = float(base) - 2.0 * float(t["ds_global"] + t["ds_instance"])
    assert float(total) == pytest.approx(expect, rel=1e-6)
    with pytest.raises(EdgecglError):
        LossConfig(diversity=1.0).validate()


# ---------------------------------------------------------------- crops
def test_fit_aspect_pads_the_short_side_inside_the_image() -> None:
    b = torch.tensor([[10.0, 10.0, 14.0, 30.0], [0.0, 0.0, 8.0, 2.0], [90.0, 40.0, 100.0, 50.0]])
    e = fit_aspect(b, 1.0, height=50, width=100)
    w, h = e[:, 2] - e[:, 0], e[:, 3] - e[:, 1]
    torch.testing.assert_close(w, h)
    torch.testing.assert_close(e[0], torch.tensor([2.0, 10.0, 22.0, 30.0]))  # grown about its centre
    torch.testing.assert_close(e[1], torch.tensor([0.0, 0.0, 8.0, 8.0]))  # shifted in, not clipped
    assert float(e[:, 0::2].min()) >= 0 and float(e[:, 2].max()) <= 100 and float(e[:, 3].max()) <= 50
    # "pad" keeps a square object square in a square crop; "stretch" (the runtime's) does not
    img = torch.zeros(1, 1, 50, 100)
    img[..., 10:30, 10:14] = 1.0  # a 4 x 20 bar
    pad, _ = instance_crops(img, [b[:1]], (16, 16), context=0.0, aspect="pad")
    stretch, _ = instance_crops(img, [b[:1]], (16, 16), context=0.0)
    assert float(pad.mean()) == pytest.approx(4 * 20 / 400, abs=0.03)  # the bar keeps its share
    assert float(stretch.mean()) > 0.9  # the bar fills the whole crop


def test_antialiased_crop_averages_instead_of_point_sampling() -> None:
    """A 1-px checkerboard cut 3x smaller: point samples land on pixel centres and alias to a
    full-contrast checkerboard; averaging 3x3 samples per output pixel leaves 5/9 vs 4/9."""
    yy, xx = torch.meshgrid(torch.arange(48), torch.arange(48), indexing="ij")
    img = ((yy + xx) % 2).float()[None, None]
    box = [torch.tensor([[0.0, 0.0, 48.0, 48.0]])]
    aa, _ = instance_crops(img, box, (16, 16), context=0.0, antialias=True)
    pt, _ = instance_crops(img, box, (16, 16), context=0.0)
    assert float((aa - 0.5).abs().max()) == pytest.approx(1 / 18, abs=1e-5)
    assert float((pt - 0.5).abs().min()) == pytest.approx(0.5, abs=1e-5)


def test_min_box_skips_tiny_boxes() -> None:
    cfg = tiny_cfg(**{"data.min_box": 0.5})  # instance 32 px: boxes need sides >= 16 px with context
    src = StepSource(FakeDataset(), cfg)
    rng = np.random.default_rng(0)
    big = torch.tensor([[0.0, 0.0, 20.0, 20.0]])
    small = torch.tensor([[30.0, 30.0, 34.0, 34.0]])
    for _ in range(20):
        (picked,) = src.pick_boxes([torch.cat([small, big])], 64, 64, rng)
        assert torch.equal(picked, big)
    (picked,) = src.pick_boxes([small], 64, 64, rng)  # nothing qualifies: a random crop instead
    assert float(picked[0, 2] - picked[0, 0]) >= 16


# ---------------------------------------------------------------- training with everything on
RECIPE = {
    "model.d_scales": 2,
    "model.d_patch_layers": 3,
    "model.d_domain_src": True,
    "loss.style_prior": True,
    "loss.diversity": 1.0,
    "data.min_box": 0.25,
    "data.crop_aspect": "pad",
    "data.crop_antialias": True,
    "optim.n_critic": 2,
    "loss.gp.hold": 0,
    "loss.gp.norm_low": 0.99,  # λ must move during these few steps, so its state matters
    "loss.gp.min_value": 1.0,
}


def metrics(run: Path) -> list[dict]:
    rows = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("it_s", "time")} for r in rows]


def uninterrupted_and_resumed(over: dict, tmp_path: Path) -> tuple[list[dict], list[dict]]:
    """The metrics of one run of ``over`` straight through, and of one stopped after step 1 and resumed
    in a fresh Trainer with torch's global RNG disturbed."""
    Trainer(tiny_cfg(**over), FakeDataset(), tmp_path / "a").run()
    first = Trainer(tiny_cfg(**over), FakeDataset(), tmp_path / "b")
    first.run(1)
    torch.manual_seed(99)
    second = Trainer(tiny_cfg(**over), FakeDataset(), tmp_path / "b")
    second.resume()
    second.run()
    return metrics(tmp_path / "a"), metrics(tmp_path / "b")


def test_recipe_run_resumes_exactly(tmp_path: Path) -> None:
    over = {"iters": 3, **RECIPE}
    a, b = uninterrupted_and_resumed(over, tmp_path)
    assert a == b
    assert {"ds_global", "d_gradnorm_global", "d_gradnorm_instance"} <= set(a[-1])
    assert a[-1]["lambda_gp_global"] != 10.0
    assert CGLModel(tiny_cfg(**over).model).dis_global.src.out_channels == N_DOM
