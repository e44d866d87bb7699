"""The CGL networks (paper §4 "Training setting"; MUNIT-style parts, DESIGN.md §2).

AdaIN parameters are explicit tensors: ``Decoder.forward(content, adain)`` takes them as an argument, so
the generator is a pure function of (content, style, domain) that DDP, torch.compile and ONNX handle.
Domain conditioning is explicit too: the style encoder sees one-hot planes concatenated to the image,
the MLP sees the one-hot concatenated to the style code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgecgl.errors import EdgecglError

# name -> (dim, n_res, mlp_dim, d_dim, d_max_channels); everything else shared by the presets.
PRESETS: dict[str, tuple[int, int, int, int, int]] = {
    "paper": (64, 4, 256, 64, 256),
    "small": (32, 4, 256, 32, 128),  # ~1/4 of paper FLOPs (channels halve)
    "tiny": (8, 1, 32, 8, 32),  # tests and CPU demos
}
UPSAMPLE_MODES = ("nearest_conv5", "subpixel")
PADDING_MODES = ("reflect", "replicate", "zero")
POSITION_MODES = ("none", "rows")


@dataclass
class ModelConfig:
    """Network sizes. ``preset`` fills dim/n_res/mlp_dim/d_dim/d_max_channels unless set to ``custom``."""

    preset: str = "paper"
    dim: int = 64
    n_down: int = 2  # content stride 4
    n_res: int = 4
    style_dim: int = 8
    style_down: int = 4
    mlp_dim: int = 256
    n_domains: int = 4
    d_dim: int = 64
    d_layers_global: int = 6
    d_layers_instance: int = 5
    d_max_channels: int = 256
    share_encoders: bool = False  # paper: E_g and E_o are separate, the generator is shared
    # Recipe options (docs/RESULTS.md, "The GAN recipe"); the defaults are the paper's single head.
    d_scales: int = 1  # >1: add d_scales - 1 patch critics at full, 1/2, 1/4 ... resolution (MUNIT)
    d_patch_layers: int = 4  # stride-2 layers of each extra patch critic (receptive field ~ 2**layers px)
    d_domain_src: bool = False  # one real/fake output per domain, the target's is read (StarGAN v2)
    # Speed options (docs/PERFORMANCE.md, "The fast decoder"); the defaults are the paper's layers.
    upsample: str = "nearest_conv5"  # subpixel: conv3 to 4x channels + PixelShuffle(2) (ONNX DepthToSpace)
    padding: str = "reflect"  # the encoders' and generator's borders: reflect | replicate | zero
    # rows: the frame's content encoder also sees each pixel's row (-1 top .. 1 bottom), a cue for what
    # grows with distance on a road camera (fog, dusk); instance crops stay position-free unless the
    # encoders are shared (then a crop sees its own rows).
    position: str = "none"

    def __post_init__(self) -> None:
        for key, value, allowed in (
            ("upsample", self.upsample, UPSAMPLE_MODES),
            ("padding", self.padding, PADDING_MODES),
            ("position", self.position, POSITION_MODES),
        ):
            if value not in allowed:
                raise EdgecglError(f"unknown model.{key} '{value}'", f"choose {', '.join(allowed)}")
        if self.preset != "custom":
            if self.preset not in PRESETS:
                raise EdgecglError(
                    f"unknown model.preset '{self.preset}'", f"choose {', '.join(PRESETS)} or custom"
                )
            self.dim, self.n_res, self.mlp_dim, self.d_dim, self.d_max_channels = PRESETS[self.preset]
        sizes = ("dim", "n_down", "n_res", "style_dim", "style_down", "mlp_dim", "n_domains", "d_dim")
        sizes += ("d_layers_global", "d_layers_instance", "d_max_channels")
        for key in sizes:  # a zero or negative size fails deep inside torch, after the run folder is made
            if getattr(self, key) < 1:
                raise EdgecglError(f"model.{key} must be >= 1, got {getattr(self, key)}")

    @property
    def content_channels(self) -> int:
        return self.dim * 2**self.n_down

    @property
    def n_adain(self) -> int:
        """Number of AdaIN parameters the MLP emits: per AdaIN layer one shift and one scale per channel."""
        return self.n_res * 2 * 2 * self.content_channels


def _check(x: Tensor, ndim: int, name: str, channels: int | None = None) -> None:
    if x.dim() != ndim or (channels is not None and x.shape[1] != channels):
        raise ValueError(f"{name}: expected {ndim}-D tensor with {channels} channels, got {tuple(x.shape)}")


def padded_conv(cin: int, cout: int, k: int, s: int, pad: int, padding: str) -> tuple[nn.Module, nn.Conv2d]:
    """(pad module, conv): reflect/replicate as a Pad layer; zero inside the Conv (no separate Pad op in
    ONNX, so no extra pass over the activation map) with an Identity keeping the state_dict keys."""
    if padding == "zero":
        return nn.Identity(), nn.Conv2d(cin, cout, k, s, pad)
    if padding == "replicate":
        return nn.ReplicationPad2d(pad), nn.Conv2d(cin, cout, k, s)
    if padding == "reflect":
        return nn.ReflectionPad2d(pad), nn.Conv2d(cin, cout, k, s)
    raise ValueError(f"unknown padding '{padding}' (choose {', '.join(PADDING_MODES)})")


class ConvBlock(nn.Sequential):
    """Padded conv, optional norm, optional activation; ``shuffle`` > 1: PixelShuffle after the conv, which
    then emits cout * shuffle**2 channels (the sub-pixel up-convolution)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        k: int,
        s: int,
        norm: str = "none",
        act: str = "relu",
        padding: str = "reflect",
        shuffle: int = 1,
    ) -> None:
        if k % 2 == 0 and s == 1:
            raise ValueError("even kernels are for stride 2")
        layers: list[nn.Module] = list(
            padded_conv(cin, cout * shuffle**2, k, s, (k - 1) // 2 if s == 1 else 1, padding)
        )
        if shuffle > 1:
            layers.append(nn.PixelShuffle(shuffle))
        if norm == "in":
            layers.append(nn.InstanceNorm2d(cout, affine=False))
        elif norm == "ln":
            layers.append(nn.GroupNorm(1, cout))  # MUNIT's LayerNorm over (C,H,W) with per-channel affine
        if act == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif act == "lrelu":
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, ch: int, padding: str = "reflect") -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBlock(ch, ch, 3, 1, "in", "relu", padding), ConvBlock(ch, ch, 3, 1, "in", "none", padding)
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def row_ramp(image: Tensor) -> Tensor:
    """[B, 1, H, W] holding each pixel's row, -1 at the top to 1 at the bottom. Built from the image's own
    shape, so an exported graph with dynamic H keeps it right at every size (ONNX Range)."""
    rows = torch.arange(image.shape[2], device=image.device).to(image.dtype)  # int Range: ORT has no fp16 one
    rows = rows / rows[-1:].clamp(min=1.0) * 2.0 - 1.0  # a tensor divisor: the trace keeps H symbolic
    return rows.view(1, 1, -1, 1).expand_as(image[:, :1])


class ContentEncoder(nn.Module):
    """E^c: conv7 s1 -> n_down x conv4 s2 -> n_res residual blocks, InstanceNorm + ReLU.

    ``rows``: the first conv also sees ``row_ramp`` (the input stays a 3-channel image)."""

    def __init__(self, cfg: ModelConfig, rows: bool = False) -> None:
        super().__init__()
        pad = cfg.padding
        self.rows = rows
        layers: list[nn.Module] = [ConvBlock(3 + int(rows), cfg.dim, 7, 1, "in", padding=pad)]
        ch = cfg.dim
        for _ in range(cfg.n_down):
            layers.append(ConvBlock(ch, ch * 2, 4, 2, "in", padding=pad))
            ch *= 2
        layers += [ResBlock(ch, pad) for _ in range(cfg.n_res)]
        self.net = nn.Sequential(*layers)
        self.out_channels = ch

    def forward(self, image: Tensor) -> Tensor:
        _check(image, 4, "ContentEncoder.image", 3)
        if self.rows:
            image = torch.cat([image, row_ramp(image)], dim=1)
        return self.net(image)


class StyleEncoder(nn.Module):
    """E^s(x, z_d): conv7 s1 -> style_down x conv4 s2 -> global average pool -> 1x1 to style_dim. No norm."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_domains = cfg.n_domains
        layers: list[nn.Module] = [ConvBlock(3 + cfg.n_domains, cfg.dim, 7, 1, padding=cfg.padding)]
        ch = cfg.dim
        for i in range(cfg.style_down):
            nxt = ch * 2 if i < 2 else ch  # MUNIT: channels double twice, then stay
            layers.append(ConvBlock(ch, nxt, 4, 2, padding=cfg.padding))
            ch = nxt
        self.net = nn.Sequential(*layers)
        self.fc = nn.Conv2d(ch, cfg.style_dim, 1)

    def forward(self, image: Tensor, domain: Tensor) -> Tensor:
        _check(image, 4, "StyleEncoder.image", 3)
        _check(domain, 2, "StyleEncoder.domain", self.n_domains)
        planes = domain[:, :, None, None].expand(-1, -1, image.shape[2], image.shape[3])
        h = self.net(torch.cat([image, planes], dim=1))
        return self.fc(h.mean(dim=(2, 3), keepdim=True)).flatten(1)


class MLP(nn.Module):
    """M: (style + domain one-hot) -> mlp_dim -> mlp_dim -> AdaIN parameters."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(cfg.style_dim + cfg.n_domains, cfg.mlp_dim),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.mlp_dim, cfg.mlp_dim),
            nn.ReLU(inplace=True),
            nn.Linear(cfg.mlp_dim, cfg.n_adain),
        )

    def forward(self, style: Tensor, domain: Tensor) -> Tensor:
        return self.net(torch.cat([style, domain], dim=1))


def adain(x: Tensor, shift: Tensor, scale: Tensor, eps: float = 1e-5) -> Tensor:
    """Instance-normalise x, then apply per-sample, per-channel scale and shift ([B, C] each)."""
    return F.instance_norm(x, eps=eps) * scale[:, :, None, None] + shift[:, :, None, None]


class AdaINResBlock(nn.Module):
    def __init__(self, ch: int, padding: str = "reflect") -> None:
        super().__init__()
        self.pad1, self.conv1 = padded_conv(ch, ch, 3, 1, 1, padding)
        self.pad2, self.conv2 = padded_conv(ch, ch, 3, 1, 1, padding)

    def forward(self, x: Tensor, params: Tensor) -> Tensor:
        """params: [B, 4*C] = (shift1, scale1, shift2, scale2)."""
        s1, g1, s2, g2 = params.chunk(4, dim=1)
        h = F.relu(adain(self.conv1(self.pad1(x)), s1, g1))
        h = adain(self.conv2(self.pad2(h)), s2, g2)
        return x + h


class Decoder(nn.Module):
    """G's image half: n_res AdaIN residual blocks -> n_down x (x2 up-convolution, LN, ReLU) -> conv7 -> tanh.

    Up-convolution ``nearest_conv5`` (MUNIT, the paper): nearest x2 then a 5x5 conv. ``subpixel``: a 3x3
    conv on the low-resolution map to 4x the channels, then PixelShuffle(2) (ONNX DepthToSpace, CRD). A
    5x5 conv on a nearest-upsampled map sees only 3 distinct pixels per axis, so subpixel spans that
    function family (exactly, up to the borders; benchmarks/graph_variants.py) with 36 instead of 100
    multiply-adds per low-resolution pixel and channel pair, and is trained directly in this form.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        ch = cfg.content_channels
        self.channels = ch
        self.blocks = nn.ModuleList([AdaINResBlock(ch, cfg.padding) for _ in range(cfg.n_res)])
        up: list[nn.Module] = []
        for _ in range(cfg.n_down):
            if cfg.upsample == "subpixel":
                block = ConvBlock(ch, ch // 2, 3, 1, "ln", padding=cfg.padding, shuffle=2)
                nearest_init_(block[1], nn.Conv2d(ch, ch // 2, 5))
                up.append(block)
            else:
                up += [
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    ConvBlock(ch, ch // 2, 5, 1, "ln", padding=cfg.padding),
                ]
            ch //= 2
        up += [*padded_conv(ch, 3, 7, 1, 3, cfg.padding), nn.Tanh()]
        self.up = nn.Sequential(*up)

    def forward(self, content: Tensor, adain_params: Tensor) -> Tensor:
        _check(content, 4, "Decoder.content", self.channels)
        expected = len(self.blocks) * 4 * self.channels
        if adain_params.dim() != 2 or adain_params.shape[1] != expected:
            raise ValueError(
                f"Decoder.adain_params: expected [B, {expected}], got {tuple(adain_params.shape)}"
            )
        h = content
        for block, p in zip(self.blocks, adain_params.chunk(len(self.blocks), dim=1), strict=True):
            h = block(h, p)
        return self.up(h)


# tap d of a 5-tap kernel on the x2-nearest-upsampled map -> low-resolution tap (0, 1, 2 = -1, 0, +1), per
# output phase (even, odd row or column); the math of benchmarks/graph_variants.py's ONNX rewrite.
_PHASE_TAPS = {0: (0, 0, 1, 1, 2), 1: (0, 1, 1, 2, 2)}


def subpixel_from_conv5(weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """The ``subpixel`` conv3 (weight [4*Cout, Cin, 3, 3], bias [4*Cout]) that computes what nearest x2 +
    the 5x5 conv (``weight`` [Cout, Cin, 5, 5]) computes: exact with replicate or zero padding; with reflect
    the outermost output pixels differ (and the LayerNorm after it spreads that over the map). Channel 4*c + 2*a + b is phase (a, b) of output c,
    PixelShuffle's (= DepthToSpace CRD) order. Turns a ``nearest_conv5`` checkpoint into a start point."""
    if weight.dim() != 4 or tuple(weight.shape[2:]) != (5, 5) or bias.shape != weight.shape[:1]:
        raise ValueError(f"expected a [Cout, Cin, 5, 5] weight and [Cout] bias, got {tuple(weight.shape)}")
    cout, cin = weight.shape[:2]
    w3 = weight.new_zeros(cout, 4, cin, 3, 3)
    for a in (0, 1):
        for b in (0, 1):
            for dy, ty in enumerate(_PHASE_TAPS[a]):
                for dx, tx in enumerate(_PHASE_TAPS[b]):
                    w3[:, 2 * a + b, :, ty, tx] += weight[:, :, dy, dx]
    return w3.reshape(4 * cout, cin, 3, 3), bias.repeat_interleave(4)


@torch.no_grad()
def nearest_init_(conv: nn.Conv2d, conv5: nn.Conv2d) -> None:
    """Start a sub-pixel conv as the function of nearest x2 + ``conv5`` (its 4 phases tied): independent
    random phases start as a checkerboard, which the 400-iteration runs kept (docs/PERFORMANCE.md)."""
    w, b = subpixel_from_conv5(conv5.weight, conv5.bias)
    conv.weight.copy_(w)
    conv.bias.copy_(b)


class Generator(nn.Module):
    """The shared generator G(c, s, z_d) = Decoder(c, M(s, z_d)), one for both granularities."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.mlp = MLP(cfg)
        self.decoder = Decoder(cfg)
        self.n_domains = cfg.n_domains
        self.style_dim = cfg.style_dim

    def forward(self, content: Tensor, style: Tensor, domain: Tensor) -> Tensor:
        _check(style, 2, "Generator.style", self.style_dim)
        _check(domain, 2, "Generator.domain", self.n_domains)
        return self.decoder(content, self.mlp(style, domain))


def _critic_body(cfg: ModelConfig, n_layers: int) -> tuple[list[nn.Module], int]:
    """n_layers conv4 s2 + LeakyReLU 0.2, channels doubling from d_dim up to d_max_channels; and the
    channels it ends with."""
    layers: list[nn.Module] = []
    cin, ch = 3, cfg.d_dim
    for _ in range(n_layers):
        layers += [nn.Conv2d(cin, ch, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        cin, ch = ch, min(ch * 2, cfg.d_max_channels)
    return layers, cin


class PatchCritic(nn.Module):
    """A real/fake-only PatchGAN of ``n_layers`` conv4 s2 layers: a critic of local texture."""

    def __init__(self, cfg: ModelConfig, n_layers: int, out_channels: int) -> None:
        super().__init__()
        layers, cin = _critic_body(cfg, n_layers)
        self.net = nn.Sequential(*layers, nn.Conv2d(cin, out_channels, 1))

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image)


class Discriminator(nn.Module):
    """Two-headed PatchGAN: n_layers conv4 s2 (LeakyReLU 0.2) -> src (1x1 conv) and cls (4x4 conv) heads.

    Channels double from d_dim and are capped at d_max_channels (the literal 64->2048 doubling would be
    ~45 M parameters per D, far over the paper's 119 MB). The cls head is averaged over space so it also
    works at the instance resolution; at a 256-px input with 6 layers it is exactly the paper's 4x4 conv.

    Options (both off in the paper's setting): ``d_domain_src`` gives src one channel per domain (the
    loss reads the image's own or target domain, StarGAN v2); ``d_scales`` > 1 adds patch critics of
    ``d_patch_layers`` layers on the image at full, 1/2, ... resolution (MUNIT's multi-scale D), whose
    scores are averaged with the main head's: src is then one score per sample, [B, C, 1, 1].
    """

    def __init__(self, cfg: ModelConfig, n_layers: int) -> None:
        super().__init__()
        layers, cin = _critic_body(cfg, n_layers)
        self.body = nn.Sequential(*layers)
        n_src = cfg.n_domains if cfg.d_domain_src else 1
        self.src = nn.Conv2d(cin, n_src, 1)
        self.cls = nn.Conv2d(cin, cfg.n_domains, 4)
        self.patch = nn.ModuleList(
            [PatchCritic(cfg, cfg.d_patch_layers, n_src) for _ in range(max(cfg.d_scales, 1) - 1)]
        )

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """-> (src [B, 1 or n_domains, h, w] critic scores, cls [B, n_domains] domain logits)."""
        _check(image, 4, "Discriminator.image", 3)
        h = self.body(image)
        src = self.src(h)
        if len(self.patch):
            scores = [src.mean(dim=(2, 3))]
            x = image
            for i, head in enumerate(self.patch):
                if i:
                    x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
                scores.append(head(x).mean(dim=(2, 3)))
            src = torch.stack(scores).mean(dim=0)[:, :, None, None]
        ph, pw = max(0, 4 - h.shape[2]), max(0, 4 - h.shape[3])
        if ph or pw:
            h = F.pad(h, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return src, self.cls(h).mean(dim=(2, 3))


class CGLModel(nn.Module):
    """Every network of the method. ``instance`` encoders alias the global ones when ``share_encoders``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.content_enc = ContentEncoder(cfg, rows=cfg.position == "rows")
        self.style_enc = StyleEncoder(cfg)
        if not cfg.share_encoders:
            self.content_enc_inst = ContentEncoder(cfg)
            self.style_enc_inst = StyleEncoder(cfg)
        self.gen = Generator(cfg)
        self.dis_global = Discriminator(cfg, cfg.d_layers_global)
        self.dis_inst = Discriminator(cfg, cfg.d_layers_instance)

    def encoders(self, granularity: str) -> tuple[nn.Module, nn.Module]:
        """(content encoder, style encoder) for 'global' or 'instance'."""
        if granularity == "global" or self.cfg.share_encoders:
            return self.content_enc, self.style_enc
        return self.content_enc_inst, self.style_enc_inst

    def generator_modules(self) -> nn.ModuleDict:
        """Everything the generator-side optimizer trains and the inference checkpoint holds."""
        mods = {"content_enc": self.content_enc, "style_enc": self.style_enc, "gen": self.gen}
        if not self.cfg.share_encoders:
            mods.update(content_enc_inst=self.content_enc_inst, style_enc_inst=self.style_enc_inst)
        return nn.ModuleDict(mods)

    def discriminator_modules(self) -> nn.ModuleDict:
        return nn.ModuleDict({"dis_global": self.dis_global, "dis_inst": self.dis_inst})


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def init_weights(model: CGLModel, d_std: float = 0.02) -> None:
    """The paper's §4 initialisation: Kaiming normal for encoders, MLP and decoder; N(0, d_std) for the
    discriminators (MUNIT's gaussian 0.02); zero biases."""
    for mod in model.generator_modules().values():
        for m in mod.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, a=0.0, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    for block in model.gen.decoder.up:  # sub-pixel convs start as Kaiming-initialised nearest + conv5
        if isinstance(block, ConvBlock) and any(isinstance(m, nn.PixelShuffle) for m in block):
            conv5 = nn.Conv2d(block[1].in_channels, block[1].out_channels // 4, 5)
            nn.init.kaiming_normal_(conv5.weight, a=0.0, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(conv5.bias)
            nearest_init_(block[1], conv5)
    for mod in model.discriminator_modules().values():
        for m in mod.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, d_std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
