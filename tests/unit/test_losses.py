"""Every loss term on a case where the answer is known by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from edgecgl.train.losses import CGLLoss, LossConfig, PairBatch, gradient_penalty, pair_l1, swap
from edgecgl.train.nets import CGLModel, ModelConfig
from torch import Tensor, nn

N_DOM = 4


@pytest.fixture(autouse=True)
def _one_thread():
    """Toy convs gain nothing from threads, and on a shared 2-core box two threads thrash."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class MeanStyle(nn.Module):
    """Style = per-channel mean colour (style_dim 3): an analytic, perfectly invertible 'encoder'."""

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return x.mean(dim=(2, 3))


class Centered(nn.Module):
    """Content = the image minus its per-channel mean."""

    def forward(self, x: Tensor) -> Tensor:
        return x - x.mean(dim=(2, 3), keepdim=True)


class AddStyle(nn.Module):
    """G(c, s, z) = c + s: with the two encoders above, a perfect translator."""

    def __init__(self, use_style: bool = True) -> None:
        super().__init__()
        self.use_style = use_style

    def forward(self, c: Tensor, s: Tensor, z: Tensor) -> Tensor:
        return c + s[:, :, None, None] if self.use_style else c


class MeanCritic(nn.Module):
    """src = a * mean(x) as a 1x1 patch map; cls logits = fixed rows."""

    def __init__(self, a: float = 1.0, logits: Tensor | None = None) -> None:
        super().__init__()
        self.a = a
        self.logits = logits

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        src = self.a * x.mean(dim=(1, 2, 3))[:, None, None, None]
        cls = self.logits if self.logits is not None else torch.zeros(x.shape[0], N_DOM)
        return src, cls.expand(x.shape[0], -1)


def stub_model(use_style: bool = True, critic: nn.Module | None = None) -> SimpleNamespace:
    enc = (Centered(), MeanStyle())
    m = SimpleNamespace(
        cfg=SimpleNamespace(n_domains=N_DOM),
        gen=AddStyle(use_style),
        dis_global=critic or MeanCritic(),
        dis_inst=critic or MeanCritic(),
    )
    m.encoders = lambda g: enc
    return m


def rand_batch(b: int = 2, hw: int = 8, seed: int = 0) -> PairBatch:
    g = torch.Generator().manual_seed(seed)
    return PairBatch(
        x=torch.rand(2 * b, 3, hw, hw, generator=g) * 2 - 1,
        d=torch.tensor([0] * b + [1] * b),
        o=torch.rand(2 * b, 3, hw // 2, hw // 2, generator=g) * 2 - 1,
        cgc_x=torch.rand(b, 3, hw, hw, generator=g) * 2 - 1,
        cgc_dx=torch.tensor([2] * b),
        cgc_o=torch.rand(b, 3, hw // 2, hw // 2, generator=g) * 2 - 1,
        cgc_do=torch.tensor([3] * b),
    )


def test_perfect_translator_has_zero_reconstruction_terms() -> None:
    loss = CGLLoss(stub_model())
    _, t = loss.generator_loss(rand_batch())
    for name in (
        "rec_image",
        "rec_instance",
        "cc_global",
        "cc_instance",
        "cgc_global",
        "cgc_instance",
        "rec_content",
        "rec_style",
    ):
        assert float(t[name]) == pytest.approx(0.0, abs=1e-6), name


def test_style_blind_generator_gives_the_equation_values() -> None:
    """G ignores style: constant images 0.5 (domain i) and -0.25 (domain j) lose exactly their means."""
    b = 1
    x = torch.cat([torch.full((b, 3, 4, 4), 0.5), torch.full((b, 3, 4, 4), -0.25)])
    batch = PairBatch(x=x, d=torch.tensor([0, 1]), o=x[:, :, :2, :2].clone())
    loss = CGLLoss(stub_model(use_style=False), LossConfig(cgc=False))
    _, t = loss.generator_loss(batch)
    assert float(t["rec_image"]) == pytest.approx((0.5 + 0.25) / 2)  # eq. 5: a mean over images
    assert float(t["cc_global"]) == pytest.approx(0.5 + 0.25)  # eq. 6: a sum over the pair
    assert float(t["cc_instance"]) == pytest.approx(0.75)
    assert float(t["rec_content"]) == pytest.approx(0.0)  # content passes through untouched
    assert float(t["rec_style"]) == pytest.approx(0.375)  # re-encoded style 0, injected ±0.5/0.25


def test_total_is_the_weighted_sum_of_eq8() -> None:
    cfg = LossConfig(adv=0.5, cls=2.0, rec=3.0, content=0.25, style=4.0, cc_global=2.0)
    loss = CGLLoss(stub_model(use_style=False), cfg)
    total, t = loss.generator_loss(rand_batch())
    expect = (
        0.5 * (t["g_adv_global"] + t["g_adv_instance"])
        + 2.0 * (t["g_cls_global"] + t["g_cls_instance"])
        + 3.0
        * (
            t["rec_image"]
            + t["rec_instance"]
            + 2.0 * t["cc_global"]
            + t["cc_instance"]
            + t["cgc_global"]
            + t["cgc_instance"]
        )
        + 0.25 * t["rec_content"]
        + 4.0 * t["rec_style"]
    )
    assert float(total) == pytest.approx(float(expect), rel=1e-6)
    assert float(t["g_total"]) == float(total)


def test_swap_and_pair_l1() -> None:
    t = torch.arange(4.0)
    assert swap(t).tolist() == [2.0, 3.0, 0.0, 1.0]
    a = torch.zeros(2, 1)
    assert float(pair_l1(a, torch.tensor([[1.0], [3.0]]))) == pytest.approx(4.0)


def test_critic_terms_known_values() -> None:
    """D(x) = mean(x): adv = E[D(fake)] - E[D(real)]; uniform logits give CE = log(n)."""
    loss = CGLLoss(stub_model(), LossConfig(instances=False, cgc=False))
    x = torch.cat([torch.full((1, 3, 4, 4), 0.5), torch.full((1, 3, 4, 4), -0.5)])
    batch = PairBatch(x=x, d=torch.tensor([0, 1]))
    fakes = {"global": torch.full_like(x, 0.1)}
    total, t = loss.discriminator_loss(batch, fakes)
    assert float(t["d_adv_global"]) == pytest.approx(0.1 - 0.0)
    assert float(t["d_cls_global"]) == pytest.approx(math.log(N_DOM))
    # D(x) = mean over 48 values: gradient 1/48 per pixel, norm 1/sqrt(48)
    assert float(t["d_gp_global"]) == pytest.approx((1 / math.sqrt(48) - 1) ** 2, rel=1e-5)
    assert float(total) == pytest.approx(0.1 + 10.0 * float(t["d_gp_global"]) + math.log(N_DOM), rel=1e-6)


def test_confident_correct_classifier_has_near_zero_cls_and_generator_cls_targets_partner() -> None:
    logits = torch.full((1, N_DOM), -50.0)
    logits[0, 1] = 50.0  # always says "domain 1"
    loss = CGLLoss(stub_model(critic=MeanCritic(logits=logits)), LossConfig(instances=False, cgc=False))
    x = torch.zeros(2, 3, 4, 4)
    _, td = loss.discriminator_loss(PairBatch(x=x, d=torch.tensor([1, 1])), {"global": x})
    assert float(td["d_cls_global"]) == pytest.approx(0.0, abs=1e-6)
    # generator: fakes of the pair (0, 1) must be classified as (1, 0); the classifier says 1 for both
    _, tg = loss.generator_loss(PairBatch(x=x, d=torch.tensor([0, 1])))
    assert float(tg["g_cls_global"]) == pytest.approx(100.0 / 2, rel=1e-4)


@pytest.mark.parametrize(("a", "expect"), [(math.sqrt(48), 0.0), (2 * math.sqrt(48), 1.0)])
def test_gradient_penalty_of_a_linear_critic(a: float, expect: float) -> None:
    real, fake = torch.rand(3, 3, 4, 4), torch.rand(3, 3, 4, 4)
    gp = gradient_penalty(MeanCritic(a), real, fake)
    assert float(gp) == pytest.approx(expect, abs=1e-5)


def test_ablations_drop_their_terms() -> None:
    _, t = CGLLoss(stub_model(), LossConfig(cgc=False)).generator_loss(rand_batch())
    assert "cgc_global" not in t and "cc_instance" in t
    _, t = CGLLoss(stub_model(), LossConfig(instances=False, cgc=False)).generator_loss(
        PairBatch(x=rand_batch().x, d=rand_batch().d)
    )
    assert not any("instance" in k for k in t)
    from edgecgl.errors import EdgecglError

    with pytest.raises(EdgecglError):
        LossConfig(instances=False, cgc=True).validate()


def test_real_tiny_model_all_terms_finite_and_differentiable() -> None:
    torch.manual_seed(0)
    model = CGLModel(ModelConfig(preset="tiny"))
    loss = CGLLoss(model)
    batch = rand_batch(b=1, hw=64)
    fakes = loss.translate_for_critic(batch)
    assert fakes["global"].shape == batch.x.shape and fakes["instance"].shape == batch.o.shape
    d_total, td = loss.discriminator_loss(batch, fakes)
    d_total.backward()
    assert all(torch.isfinite(v).all() for v in td.values())
    assert model.dis_global.src.weight.grad is not None
    model.zero_grad(set_to_none=True)
    g_total, tg = loss.generator_loss(batch)
    g_total.backward()
    assert all(torch.isfinite(v).all() for v in tg.values())
    assert model.content_enc_inst.net[0][1].weight.grad is not None  # instance encoder trained
    assert model.gen.mlp.net[0].weight.grad is not None
