"""The CGL networks: sizes against the paper, shapes at both granularities, explicit AdaIN."""

from __future__ import annotations

import pytest
import torch
from edgecgl.train.nets import (
    CGLModel,
    ContentEncoder,
    Decoder,
    Discriminator,
    Generator,
    ModelConfig,
    StyleEncoder,
    adain,
    count_parameters,
    init_weights,
)


def test_paper_preset_sizes_match_the_paper() -> None:
    m = CGLModel(ModelConfig(preset="paper"))
    gen = sum(count_parameters(x) for x in (m.content_enc, m.style_enc, m.gen))
    assert abs(gen - 15.03e6) / 15.03e6 < 0.05  # the MUNIT-spec generator
    assert 110 < count_parameters(m) * 4 / 1e6 < 125  # the paper's 119 MB (G + D)
    assert m.cfg.n_adain == 4096  # M's last layer: 4 AdaIN blocks x 2 layers x (shift + scale) x 256


def test_shapes_tiny() -> None:
    cfg = ModelConfig(preset="tiny")
    x = torch.rand(2, 3, 64, 128) * 2 - 1
    z = torch.eye(4)[[0, 2]]
    c = ContentEncoder(cfg)(x)
    assert c.shape == (2, cfg.content_channels, 16, 32)
    s = StyleEncoder(cfg)(x, z)
    assert s.shape == (2, cfg.style_dim)
    y = Generator(cfg)(c, s, z)
    assert y.shape == x.shape and y.abs().max() <= 1
    src, cls = Discriminator(cfg, cfg.d_layers_global)(x)
    assert src.shape[:2] == (2, 1) and cls.shape == (2, 4)
    src, cls = Discriminator(cfg, cfg.d_layers_instance)(torch.rand(3, 3, 32, 32))
    assert cls.shape == (3, 4)  # the cls head works at the instance resolution too


def test_adain_parameters_are_explicit_and_used() -> None:
    cfg = ModelConfig(preset="tiny")
    dec = Decoder(cfg)
    c = torch.rand(1, cfg.content_channels, 8, 8)
    p1 = torch.randn(1, cfg.n_adain)
    assert not torch.equal(dec(c, p1), dec(c, torch.randn(1, cfg.n_adain)))
    assert torch.equal(dec(c, p1), dec(c, p1))  # pure function: no state kept between calls
    with pytest.raises(ValueError, match="adain_params"):
        dec(c, torch.randn(1, 3))
    x = torch.randn(2, 4, 5, 5)
    out = adain(x, torch.zeros(2, 4), torch.ones(2, 4))
    assert torch.allclose(out.mean(dim=(2, 3)), torch.zeros(2, 4), atol=1e-5)


def test_shared_encoders_alias_and_separate_ones_do_not() -> None:
    shared = CGLModel(ModelConfig(preset="tiny", share_encoders=True))
    assert shared.encoders("instance")[0] is shared.content_enc
    assert "content_enc_inst" not in shared.generator_modules()
    sep = CGLModel(ModelConfig(preset="tiny"))
    assert sep.encoders("instance")[0] is sep.content_enc_inst


def test_style_encoder_sees_the_domain() -> None:
    enc = StyleEncoder(ModelConfig(preset="tiny"))
    x = torch.rand(1, 3, 32, 32)
    assert not torch.equal(enc(x, torch.eye(4)[[0]]), enc(x, torch.eye(4)[[1]]))


def test_paper_init_kaiming_for_g_gaussian_for_d() -> None:
    torch.manual_seed(0)
    m = CGLModel(ModelConfig(preset="tiny"))
    init_weights(m)
    w = m.dis_global.body[0].weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.005
    conv = m.content_enc.net[1][1].requires_grad_(False)  # conv 4x4 s2, fan_in = 8 * 16
    assert abs(float(conv.weight.std()) - (2 / (8 * 16)) ** 0.5) < 0.03
    assert float(conv.bias.abs().max()) == 0.0
