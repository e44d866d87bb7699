"""DiffAugment of the critic's inputs (train/diffaug.py, ``loss.diffaug``): each transform does what it
says, is seeded and differentiable, reaches every critic input and no pixel-wise term, and a run with it
resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from edgecgl.train.diffaug import color, cutout, diff_augment, parse_policy, translation
from edgecgl.train.losses import CGLLoss, LossConfig, gradient_penalty_and_norm
from edgecgl.train.trainer import Trainer

from edgecgl.errors import EdgecglError
from tests.unit.fake_data import FakeDataset
from tests.unit.test_losses import MeanCritic, _one_thread, rand_batch, stub_model  # noqa: F401 (autouse)
from tests.unit.test_recipe import metrics, uninterrupted_and_resumed
from tests.unit.test_trainer import tiny_cfg


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_parse_policy_and_config_refusal() -> None:
    assert parse_policy("") == ()
    assert parse_policy(" color, cutout ") == ("color", "cutout")
    with pytest.raises(ValueError, match="colour"):
        parse_policy("colour")
    with pytest.raises(EdgecglError, match=r"loss\.diffaug"):
        LossConfig(diffaug="color,flip").validate()
    LossConfig(diffaug="color,translation,cutout").validate()


def test_translation_is_a_shift_with_zero_fill() -> None:
    x = torch.rand(6, 3, 16, 24, generator=gen(0)) + 0.5  # no zeros of its own
    y = translation(x, gen(1))
    assert y.shape == x.shape
    shifted = 0
    for i in range(x.shape[0]):
        match = None
        for dy in range(-2, 3):  # 0.125 * 16
            for dx in range(-3, 4):  # 0.125 * 24
                ref = torch.zeros_like(x[i])
                ys, yd = slice(max(0, -dy), 16 - max(0, dy)), slice(max(0, dy), 16 - max(0, -dy))
                xs, xd = slice(max(0, -dx), 24 - max(0, dx)), slice(max(0, dx), 24 - max(0, -dx))
                ref[:, yd, xd] = x[i][:, ys, xs]
                if torch.equal(ref, y[i]):
                    match = (dy, dx)
        assert match is not None, f"image {i} is not a shift of its input by at most 1/8"
        shifted += match != (0, 0)
    assert shifted >= 4  # draws are per image, not one shift for the batch


def test_cutout_zeroes_one_box_and_keeps_the_rest() -> None:
    x = torch.rand(8, 3, 16, 32, generator=gen(0)) + 0.5
    y = cutout(x, gen(2))
    for i in range(x.shape[0]):
        hole = (y[i] == 0).all(dim=0)
        assert torch.equal(y[i][:, ~hole], x[i][:, ~hole])
        rows, cols = hole.any(dim=1).nonzero(), hole.any(dim=0).nonzero()
        assert len(rows) <= 8 and len(cols) <= 16  # half of each side
        assert hole.sum() == len(rows) * len(cols)  # a rectangle
    assert (y == 0).all(dim=1).float().mean() > 0.1


def test_color_changes_each_image_differently_and_keeps_structure() -> None:
    x = torch.rand(4, 3, 8, 8, generator=gen(0)) * 2 - 1
    y = color(x, gen(3))
    assert y.shape == x.shape and not torch.allclose(y, x)
    # an affine map per image and channel mix: the spatial pattern of the grey level stays correlated
    for i in range(4):
        a, b = x[i].mean(0).flatten(), y[i].mean(0).flatten()
        assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.99
    shifts = (y - x).mean(dim=(1, 2, 3))
    assert shifts.std() > 0.01


def test_seeded_differentiable_and_identity_when_off() -> None:
    x = (torch.rand(2, 3, 16, 16, generator=gen(0)) * 2 - 1).requires_grad_(True)
    policy = parse_policy("color,translation,cutout")
    a, b = diff_augment(x, policy, gen(5)), diff_augment(x, policy, gen(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, diff_augment(x, policy, gen(6)))
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert diff_augment(x, (), gen(5)) is x
    with pytest.raises(ValueError):
        diff_augment(torch.zeros(3, 8, 8), policy)


def test_penalty_is_taken_through_the_augmentation() -> None:
    """D∘T with T = 2x has twice D's gradient: the penalty must see it."""
    real, fake = torch.rand(3, 3, 4, 4), torch.rand(3, 3, 4, 4)
    _, plain = gradient_penalty_and_norm(MeanCritic(1.0), real, fake)
    _, doubled = gradient_penalty_and_norm(MeanCritic(1.0), real, fake, aug=lambda t: 2 * t)
    assert float(doubled) == pytest.approx(2 * float(plain), rel=1e-5)


def test_loss_augments_critic_inputs_only() -> None:
    batch = rand_batch()
    batch.aug_seed = torch.tensor(11)
    plain = CGLLoss(stub_model(), LossConfig())
    aug = CGLLoss(stub_model(), LossConfig(diffaug="color,translation"))
    fakes = plain.translate_for_critic(batch)
    _, dp = plain.discriminator_loss(batch, fakes)
    _, da = aug.discriminator_loss(batch, fakes)
    _, da2 = aug.discriminator_loss(batch, fakes)
    assert float(da["d_adv_global"]) != pytest.approx(float(dp["d_adv_global"]))
    assert float(da["d_adv_instance"]) != pytest.approx(float(dp["d_adv_instance"]))
    assert float(da["d_adv_global"]) == float(da2["d_adv_global"])  # the batch's seed fixes the draws
    _, gp = plain.generator_loss(batch)
    _, ga = aug.generator_loss(batch)
    assert float(ga["g_adv_global"]) != pytest.approx(float(gp["g_adv_global"]))
    for name in ("rec_image", "rec_instance", "cc_global", "cgc_global", "rec_content", "rec_style"):
        assert float(ga[name]) == float(gp[name]), name


def test_diffaug_run_resumes_exactly_and_differs_from_plain(tmp_path: Path) -> None:
    a, b = uninterrupted_and_resumed({"iters": 3, "loss.diffaug": "color,translation,cutout"}, tmp_path)
    assert a == b
    Trainer(tiny_cfg(iters=3), FakeDataset(), tmp_path / "plain").run()
    assert a[0]["d_adv_global"] != metrics(tmp_path / "plain")[0]["d_adv_global"]
