"""The decoder's speed options (model.upsample, model.padding): shapes, validation, the sub-pixel math,
ONNX parity and DepthToSpace in the graph, checkpoint round trip, a training step."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from edgecgl.export.onnx import Dims, example_inputs, export_onnx, roles_of
from edgecgl.export.verify import torch_parity
from edgecgl.train.nets import CGLModel, ModelConfig, subpixel_from_conv5

from edgecgl.errors import EdgecglError

SHAPES = [((32, 32), 1), ((20, 36), 2)]
OPTIONS = [("subpixel", "reflect"), ("nearest_conv5", "replicate"), ("nearest_conv5", "zero"),
           ("subpixel", "zero")]  # fmt: skip


def _model(upsample: str, padding: str, seed: int = 0) -> CGLModel:
    torch.manual_seed(seed)
    return CGLModel(ModelConfig(preset="tiny", upsample=upsample, padding=padding)).eval()


def _dims(m: CGLModel) -> Dims:
    return Dims(m.cfg.content_channels, m.cfg.style_dim, m.cfg.n_domains)


@pytest.mark.parametrize("upsample", ["nearest_conv5", "subpixel"])
@pytest.mark.parametrize("padding", ["reflect", "replicate", "zero"])
def test_every_option_keeps_the_roles_shapes(upsample: str, padding: str) -> None:
    m = _model(upsample, padding)
    dims = _dims(m)
    for role, mod in roles_of(m.generator_modules()).items():
        ex = example_inputs(role, dims, (20, 36), batch=2)
        with torch.no_grad():
            out = mod(*ex)
        if role == "generator":
            assert out.shape == (2, 3, 20, 36)
        elif role.startswith("content_encoder"):
            assert out.shape == (2, dims.content_channels, 5, 9)


@pytest.mark.parametrize("key", ["upsample", "padding"])
def test_unknown_option_is_a_user_error(key: str) -> None:
    with pytest.raises(EdgecglError, match=f"unknown model.{key} 'mirror'"):
        ModelConfig(preset="tiny", **{key: "mirror"})


def test_defaults_keep_the_paper_layers_and_checkpoint_keys() -> None:
    """Existing nearest_conv5/reflect checkpoints must still load: same modules at the same indices."""
    m = _model("nearest_conv5", "reflect")
    up = m.gen.decoder.up
    assert isinstance(up[0], torch.nn.Upsample) and isinstance(up[4], torch.nn.ReflectionPad2d)
    keys = set(m.gen.state_dict())
    assert {"decoder.up.1.1.weight", "decoder.up.3.2.weight", "decoder.up.5.weight"} <= keys
    assert not any(isinstance(x, torch.nn.PixelShuffle) for x in m.modules())
    # zero padding lives inside the convs, the keys stay those of the reflect model
    assert set(_model("nearest_conv5", "zero").state_dict()) == set(m.state_dict())
    assert not any(isinstance(x, torch.nn.ReflectionPad2d) for x in _model("subpixel", "zero").modules())


def test_subpixel_from_conv5_is_exact_with_replicate_padding() -> None:
    """The sub-pixel form spans nearest x2 + conv5: mapped weights give the same image with replicate or
    zero padding (reflect differs at the border, and the LayerNorm spreads that over the whole map)."""
    outs = {}
    for padding in ("replicate", "zero", "reflect"):
        ref, sp = _model("nearest_conv5", padding, seed=1), _model("subpixel", padding, seed=2)
        state = ref.gen.state_dict()
        for i in (1, 3):  # the two up-convolution blocks: conv at .1, LayerNorm at .2
            w, b = subpixel_from_conv5(
                state.pop(f"decoder.up.{i}.1.weight"), state.pop(f"decoder.up.{i}.1.bias")
            )
            j = (i - 1) // 2
            state[f"decoder.up.{j}.1.weight"], state[f"decoder.up.{j}.1.bias"] = w, b
            state[f"decoder.up.{j}.3.weight"] = state.pop(f"decoder.up.{i}.2.weight")
            state[f"decoder.up.{j}.3.bias"] = state.pop(f"decoder.up.{i}.2.bias")
        state["decoder.up.3.weight"] = state.pop("decoder.up.5.weight")
        state["decoder.up.3.bias"] = state.pop("decoder.up.5.bias")
        sp.gen.load_state_dict(state)
        ex = example_inputs("generator", _dims(ref), (16, 24), batch=2, seed=3)
        with torch.no_grad():
            outs[padding] = (ref.gen(*ex) - sp.gen(*ex)).abs().max().item()
    assert outs["replicate"] < 1e-5 and outs["zero"] < 1e-5, outs
    assert outs["reflect"] > 1e-3, outs  # the mapping is not a no-op: borders matter


def test_subpixel_from_conv5_checks_shapes() -> None:
    with pytest.raises(ValueError, match="5, 5"):
        subpixel_from_conv5(torch.zeros(4, 2, 3, 3), torch.zeros(4))


@pytest.mark.parametrize(("upsample", "padding"), OPTIONS)
def test_onnx_matches_torch(upsample: str, padding: str, tmp_path: Path) -> None:
    m = _model(upsample, padding)
    dims = _dims(m)
    for role in ("generator", "content_encoder", "style_encoder"):
        mod = roles_of(m.generator_modules())[role]
        p = export_onnx(mod, role, tmp_path / f"{role}.onnx", example_inputs(role, dims, (32, 48)))
        assert torch_parity(mod, p, role, dims, SHAPES) < 1e-4, (role, upsample, padding)
        ops = [n.op_type for n in onnx.load(str(p)).graph.node]
        if role == "generator":
            assert ops.count("DepthToSpace") == (2 if upsample == "subpixel" else 0)
            assert ("Resize" in ops) == (upsample == "nearest_conv5")
        if padding == "zero":
            assert "Pad" not in ops, (role, ops)


def test_checkpoint_records_the_options(tmp_path: Path) -> None:
    from edgecgl.train.inference import load_inference, save_inference

    m = _model("subpixel", "zero")
    p = tmp_path / "model.pt"
    save_inference(p, m, ["a", "b", "c", "d"], (32, 32), (16, 16), {}, "", 1)
    back = load_inference(p)
    assert (back.cfg.upsample, back.cfg.padding) == ("subpixel", "zero")
    ex = example_inputs("generator", _dims(m), (16, 16))
    with torch.no_grad():
        assert torch.equal(back.modules["gen"](*ex), m.gen(*ex))


def test_subpixel_trains() -> None:
    m = _model("subpixel", "reflect")
    m.train()
    opt = torch.optim.Adam(m.gen.parameters(), lr=1e-3)
    dims = _dims(m)
    content, style, domain = example_inputs("generator", dims, (16, 16), batch=2, seed=4)
    target = torch.zeros(2, 3, 16, 16)
    losses = []
    for _ in range(5):
        loss = (m.gen(content, style, domain) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        losses.append(loss.item())
        assert all(p.grad is not None for p in m.gen.decoder.up.parameters())
        opt.step()
    assert losses[-1] < losses[0]


def test_trainer_runs_and_saves_the_options(tmp_path: Path) -> None:
    """Two real training steps with the fast decoder; model.pt carries the options for export."""
    from edgecgl.train.inference import load_inference
    from edgecgl.train.trainer import Trainer

    from tests.unit.fake_data import FakeDataset
    from tests.unit.test_trainer import tiny_cfg

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = tiny_cfg(**{"model.upsample": "subpixel", "model.padding": "zero", "log.checkpoint_every": 2})
        Trainer(cfg, FakeDataset(), tmp_path).run()
    finally:
        torch.set_num_threads(n)
    (model_pt,) = tmp_path.rglob("model.pt")
    back = load_inference(model_pt)
    assert (back.cfg.upsample, back.cfg.padding) == ("subpixel", "zero")
    assert any(isinstance(x, torch.nn.PixelShuffle) for x in back.modules["gen"].modules())


@pytest.mark.parametrize("paper_init", [False, True])
def test_subpixel_starts_with_tied_phases(paper_init: bool) -> None:
    """A fresh sub-pixel decoder equals nearest x2 + a 5x5 conv (no checkerboard at the start)."""
    from edgecgl.train.nets import init_weights

    m = _model("subpixel", "replicate")
    if paper_init:
        init_weights(m)
    conv = m.gen.decoder.up[0][1]
    w = conv.weight.reshape(-1, 4, conv.in_channels, 3, 3)
    # phase (0, 0) and (1, 1) of a 5x5 on a nearest map use the low-res taps -1,0 and 0,+1 unevenly: the
    # tied form has every phase's weights summing to the same total
    sums = w.sum(dim=(2, 3, 4))
    assert torch.allclose(sums, sums[:, :1].expand_as(sums), atol=1e-5)
    assert w[:, 0].abs().sum() > 0 and not torch.allclose(w[:, 0], w[:, 3])


@pytest.mark.parametrize("padding", ["replicate", "zero", "reflect"])
def test_export_writes_the_exact_subpixel_form_for_replicate_models(padding: str, tmp_path: Path) -> None:
    """A nearest_conv5 model is exported with DepthToSpace up-convolutions that compute what the trained
    decoder computes: everywhere for replicate or zero padding; reflect recomputes its one-pixel edges."""
    import json

    import numpy as np
    import onnxruntime as ort
    from edgecgl.export.bundle import write_bundle
    from edgecgl.export.toy import make_toy_checkpoint
    from edgecgl.train.inference import load_inference

    ckpt = make_toy_checkpoint(tmp_path / "model.pt", frame_size=(32, 48), padding=padding, seed=5)
    out = write_bundle(ckpt, tmp_path / "bundle", pt2=False)
    manifest = json.loads((out / "manifest.json").read_text())
    ops = [n.op_type for n in onnx.load(str(out / "generator.onnx")).graph.node]
    tail = ", phase-domain output conv" if padding == "reflect" else ""
    assert manifest["decoder"] == f"subpixel (from nearest_conv5, {padding}){tail}"
    # reflect: the first up-conv's, the 3-channel output's and the four border strips'
    assert ops.count("DepthToSpace") == (6 if padding == "reflect" else 2)
    # reflect: the edge strips are upsampled along one axis (2 Resize per layer), never the whole map
    assert ops.count("Resize") == (4 if padding == "reflect" else 0)
    im = load_inference(ckpt)
    trained = im.modules["gen"]  # as trained, not rewritten
    dims = Dims(im.cfg.content_channels, im.cfg.style_dim, im.cfg.n_domains)
    content, style, domain = example_inputs("generator", dims, (40, 56), batch=2, seed=7)
    with torch.no_grad():
        want = trained(content, style, domain).numpy()
    sess = ort.InferenceSession(str(out / "generator.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"content": content.numpy(), "style": style.numpy(), "domain": domain.numpy()})[0]
    assert np.abs(got - want).max() < 1e-4


def test_subpixel_decoder_refuses_what_it_cannot_rewrite_exactly() -> None:
    from edgecgl.export.fast_decoder import can_rewrite, subpixel_decoder

    m = _model("nearest_conv5", "reflect")
    assert can_rewrite(m.gen.decoder, "reflect", "nearest_conv5")
    assert not can_rewrite(_model("subpixel", "replicate").gen.decoder, "replicate", "subpixel")
    with pytest.raises(ValueError, match="replicate-padded"):  # the model's pads are not what it was told
        subpixel_decoder(m.gen.decoder, "replicate")
    with pytest.raises(ValueError, match="at least 2x2"):
        subpixel_decoder(m.gen.decoder, "reflect").up[0][0](torch.zeros(1, m.gen.decoder.channels, 1, 4))


@pytest.mark.parametrize("size", [(2, 2), (3, 7), (9, 4), (16, 24)])
def test_reflect_subpixel_equals_nearest_reflect_conv5(size: tuple[int, int]) -> None:
    """Every output pixel, edges and corners included, on odd and minimal map sizes."""
    from edgecgl.export.fast_decoder import ReflectSubpixel
    from torch.nn import functional as F

    torch.manual_seed(3)
    conv = torch.nn.Conv2d(6, 5, 5)
    x = torch.randn(2, 6, *size)
    want = conv(F.pad(F.interpolate(x, scale_factor=2, mode="nearest"), (2, 2, 2, 2), mode="reflect"))
    with torch.no_grad():
        got = ReflectSubpixel(conv)(x)
        # the sub-pixel part alone is wrong exactly on the outermost rows and columns: the edges matter
        inner = F.pixel_shuffle(ReflectSubpixel(conv).fast(F.pad(x, (1, 1, 1, 1), mode="replicate")), 2)
    assert got.shape == want.shape
    assert (got - want).abs().max() < 1e-5
    assert (inner[:, :, 1:-1, 1:-1] - want[:, :, 1:-1, 1:-1]).abs().max() < 1e-5
    assert (inner - want).abs().max() > 1e-3


def test_flops_of_the_reflect_subpixel_generator(tmp_path: Path) -> None:
    """onnx_flops counts the rewritten graph (its edge strips defeat ONNX shape inference, so the shapes
    come from an ONNX Runtime run): each up-conv's 100 MACs per pixel become 36 + the 5x5 edges."""
    from edgecgl.export.fast_decoder import subpixel_decoder

    from edgecgl.bench import onnx_flops

    m = _model("nearest_conv5", "reflect")
    c, h, w = m.cfg.content_channels, 6, 10
    shapes = {"content": (1, c, h, w), "style": (1, m.cfg.style_dim), "domain": (1, m.cfg.n_domains)}
    dims = _dims(m)
    ex = example_inputs("generator", dims, (4 * h, 4 * w))
    slow = onnx_flops(export_onnx(m.gen, "generator", tmp_path / "slow.onnx", ex), shapes)["Conv"]
    m.gen.decoder = subpixel_decoder(m.gen.decoder, "reflect")
    fast = onnx_flops(export_onnx(m.gen, "generator", tmp_path / "fast.onnx", ex), shapes)["Conv"]
    saved = 0.0
    for _ in range(m.cfg.n_down):  # per up layer: Cin = c, Cout = c / 2, low-res h x w
        macs = c * (c // 2)
        saved += 2 * macs * (25 * 4 * h * w - 36 * h * w - 25 * (2 * 2 * w + 2 * 2 * h))
        c, h, w = c // 2, 2 * h, 2 * w
    # the output conv (c -> 3, 7x7 at h x w): a 4x4 conv on the phases (4c -> 12 at h/2+1 x w/2+1) and
    # four 4-pixel strips through the 7x7 conv (5 rows or columns each before the crop)
    saved += 2 * 3 * c * 49 * h * w
    saved -= 2 * 12 * 4 * c * 16 * (h // 2 + 1) * (w // 2 + 1)
    saved -= 2 * 3 * c * 49 * (2 * 5 * w + 2 * 5 * h)
    assert slow - fast == pytest.approx(saved, rel=1e-9)


@pytest.mark.parametrize("size", [(4, 4), (4, 9), (7, 5), (12, 20)])
def test_phase_tail_equals_the_trained_tail(size: tuple[int, int]) -> None:
    """Every output pixel, the 4-pixel borders and corners included, on minimal and odd map sizes."""
    from edgecgl.export.fast_decoder import PhaseTail, ReflectSubpixel

    torch.manual_seed(4)
    conv5, out = torch.nn.Conv2d(6, 5, 5), torch.nn.Conv2d(5, 3, 7)
    norm = torch.nn.GroupNorm(1, 5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    up = ReflectSubpixel(conv5)
    trained = torch.nn.Sequential(
        up, norm, torch.nn.ReLU(), torch.nn.ReflectionPad2d(3), out, torch.nn.Tanh()
    )
    x = torch.randn(2, 6, *size)
    with torch.no_grad():
        want, got = trained(x), PhaseTail(up, norm, out)(x)
    assert got.shape == want.shape == (2, 3, 2 * size[0], 2 * size[1])
    assert (got - want).abs().max() < 1e-5


def test_phase_tail_refuses_a_map_too_small_for_its_strips() -> None:
    from edgecgl.export.fast_decoder import PhaseTail, ReflectSubpixel

    tail = PhaseTail(
        ReflectSubpixel(torch.nn.Conv2d(4, 2, 5)), torch.nn.GroupNorm(1, 2), torch.nn.Conv2d(2, 3, 7)
    )
    with pytest.raises(ValueError, match="at least 4x4"):
        tail(torch.randn(1, 4, 3, 8))


def test_phase_tail_generator_exports_to_pt2_with_dynamic_sizes(tmp_path: Path) -> None:
    """The .pt2 program keeps batch, H and W dynamic down to a 2x2 content map (the strips then cover the
    whole 8-pixel output) and matches the trained generator there and at an odd size."""
    from edgecgl.export.fast_decoder import PhaseTail, subpixel_decoder
    from edgecgl.export.onnx import export_pt2

    m = _model("nearest_conv5", "reflect")
    trained = m.gen
    fast = CGLModel(m.cfg).eval()
    fast.load_state_dict(m.state_dict())
    fast.gen.decoder = subpixel_decoder(fast.gen.decoder, "reflect")
    assert any(isinstance(layer, PhaseTail) for layer in fast.gen.decoder.up)
    dims = _dims(m)
    path = export_pt2(
        fast.gen, "generator", tmp_path / "g.pt2", example_inputs("generator", dims, (32, 48), batch=2)
    )
    program = torch.export.load(str(path)).module()
    for hw, batch in (((8, 8), 1), ((12, 20), 3)):
        content, style, domain = example_inputs("generator", dims, hw, batch=batch, seed=2)
        with torch.no_grad():
            want = trained(content, style, domain)
            got = program(content, style, domain)
        assert got.shape == want.shape
        assert (got - want).abs().max() < 1e-4
