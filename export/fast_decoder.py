"""Export the decoder's up-convolutions in the sub-pixel form, exactly.

A ``nearest_conv5`` up-convolution (nearest x2, then a 5x5 conv) sees only 3 distinct low-resolution
pixels per axis, so a 3x3 conv to 4x the channels + ``PixelShuffle(2)`` (ONNX ``DepthToSpace``) computes
the same map with 36 instead of 100 multiply-adds per pixel and channel pair (docs/PERFORMANCE.md, "The
fast decoder": x1.23-1.29 per frame on `small`). With ``replicate`` or ``zero`` padding the two agree
everywhere, borders included (``train.nets.subpixel_from_conv5``: the pad of the low-resolution map is the
pad of the upsampled one), so a model trained in the slow form is exported in the fast one with no change
to what it computes. With ``reflect`` padding (every shipped config) only the outermost output row and
column differ: the 5x5 tap two pixels beyond the border reads the mirror of the upsampled map, which is
the *second* low-resolution row, not the first. ``ReflectSubpixel`` computes those four one-pixel edges
with the original 5x5 conv on a 5-row (5-column) strip and the rest in the sub-pixel form, ~3 % of the
layer's multiply-adds for the edges at 256x512.

The last up-convolution's output (the widest map: 32 channels at the full working resolution for `small`)
then only feeds a LayerNorm, a ReLU and the 3-channel 7x7 output conv. ``PhaseTail`` keeps that map in
the sub-pixel conv's phases (4x the channels at half the resolution): the LayerNorm's statistics over
(C, H, W) do not depend on the layout, and the 7x7 conv on the interleaved map is a 4x4 conv on the
phases to 4 x 3 output phases, interleaved only at the end (3 channels). This saves the wide
DepthToSpace and reflect pad, and a 3-output conv that ONNX Runtime's blocked kernels run at ~1/5 of
their rate (docs/PERFORMANCE.md, "The output layer in the phase domain"). The outermost 4 output rows and
columns, where the reflect pad matters, are recomputed by the 7x7 conv on thin strips.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from edgecgl.train.nets import ConvBlock, Decoder, subpixel_from_conv5
from torch import Tensor, nn

EXACT_PADDINGS = ("replicate", "zero", "reflect")


class ReflectSubpixel(nn.Module):
    """nearest x2 + reflect pad 2 + 5x5 conv, computed as the sub-pixel conv on the replicate-padded input
    (exact away from the border) with the outermost rows and columns recomputed by the 5x5 conv.

    Inside the map a reflect pad of the upsampled map equals a replicate pad of the input; at row 0 the
    5x5 window of the reflected map reads input rows (1, 0, 0, 0, 1), so the edge is that 5-row strip,
    upsampled along the row only, reflect-padded along it, through the 5x5 conv (likewise per edge).
    """

    def __init__(self, conv5: nn.Conv2d) -> None:
        super().__init__()
        if conv5.kernel_size != (5, 5) or conv5.stride != (1, 1) or conv5.padding != (0, 0):
            raise ValueError(f"expected an unpadded 5x5 stride-1 conv, got {conv5}")
        cin, cout = conv5.in_channels, conv5.out_channels
        self.fast = nn.Conv2d(cin, 4 * cout, 3)
        w, b = subpixel_from_conv5(conv5.weight, conv5.bias)
        self.fast.weight.data.copy_(w)
        self.fast.bias.data.copy_(b)
        self.edge = copy.deepcopy(conv5)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[2] < 2 or x.shape[3] < 2:
            raise ValueError(f"ReflectSubpixel needs a map of at least 2x2, got {tuple(x.shape)}")
        inner = F.pixel_shuffle(self.fast(F.pad(x, (1, 1, 1, 1), mode="replicate")), 2)
        top, bottom, left, right = reflect_edges(self.edge, x)
        middle = torch.cat([left[:, :, 1:-1], inner[:, :, 1:-1, 1:-1], right[:, :, 1:-1]], 3)
        return torch.cat([top, middle, bottom], 2)


def reflect_edges(edge: nn.Conv2d, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The outermost output rows (top, bottom: [B, Cout, 1, 2w]) and columns (left, right: [B, Cout, 2h, 1])
    of nearest x2 + reflect pad 2 + ``edge`` (5x5) on ``x``, each from a 5-pixel strip of ``x``."""
    a, b = x[:, :, :1], x[:, :, 1:2]  # first two rows; the last two as (y, z)
    y, z = x[:, :, -1:], x[:, :, -2:-1]
    rows = torch.cat([torch.cat([b, a, a, a, b], 2), torch.cat([z, y, y, y, z], 2)], 0)  # [2B, C, 5, w]
    rows = F.pad(F.interpolate(rows, scale_factor=(1.0, 2.0), mode="nearest"), (2, 2, 0, 0), mode="reflect")
    n = x.shape[0]  # slices, not chunk(2): torch.export keeps the batch dynamic
    edges = edge(rows)
    top, bottom = edges[:n], edges[n:]
    a, b = x[:, :, :, :1], x[:, :, :, 1:2]
    y, z = x[:, :, :, -1:], x[:, :, :, -2:-1]
    cols = torch.cat([torch.cat([b, a, a, a, b], 3), torch.cat([z, y, y, y, z], 3)], 0)  # [2B, C, h, 5]
    cols = F.pad(F.interpolate(cols, scale_factor=(2.0, 1.0), mode="nearest"), (0, 0, 2, 2), mode="reflect")
    edges = edge(cols)
    return top, bottom, edges[:n], edges[n:]


PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))  # (row, column) parity; phase g = 2 * row + column


class PhaseTail(nn.Module):
    """The decoder's tail — last ``ReflectSubpixel`` + LayerNorm + ReLU + reflect pad 3 + 7x7 conv + tanh —
    with the wide full-resolution map kept as 4 phases at half resolution (module docstring: why).

    Exact: away from the border every 7x7 window lies inside the map, and the 4x4 phase conv computes the
    same sums (``phase_conv_weight``); the 4 outermost output rows and columns go through the 7x7 conv on
    strips of the interleaved map, reflect-padded as the trained tail pads them.
    """

    BORDER = 4  # output rows/columns from the strips: those within 3 of the edge, rounded up to 2 phases

    def __init__(self, up: ReflectSubpixel, norm: nn.GroupNorm, out_conv: nn.Conv2d) -> None:
        super().__init__()
        if out_conv.kernel_size != (7, 7) or out_conv.padding != (0, 0) or out_conv.stride != (1, 1):
            raise ValueError(f"expected an unpadded 7x7 stride-1 output conv, got {out_conv}")
        if norm.num_groups != 1:
            raise ValueError(f"expected a LayerNorm (GroupNorm of 1 group), got {norm}")
        c = up.edge.out_channels
        self.channels, self.out_channels = c, out_conv.out_channels
        self.fast, self.edge = (
            up.fast,
            up.edge,
        )  # fast: channel 4*c + g is phase g of c (PixelShuffle's order)
        self.norm = nn.GroupNorm(1, 4 * c, eps=norm.eps)  # same statistics; affine repeated per phase
        self.norm.weight.data.copy_(norm.weight.repeat_interleave(4))
        self.norm.bias.data.copy_(norm.bias.repeat_interleave(4))
        self.out = out_conv  # the trained 7x7, for the border strips
        self.phase = nn.Conv2d(4 * c, 4 * self.out_channels, 4, padding=2)
        self.phase.weight.data.copy_(phase_conv_weight(out_conv.weight))
        self.phase.bias.data.copy_(out_conv.bias.repeat(4))

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[2], x.shape[3]
        if h < 4 or w < 4:
            raise ValueError(f"PhaseTail needs a map of at least 4x4, got {tuple(x.shape)}")
        c, k, b = self.channels, self.out_channels, self.BORDER
        p = self.fast(F.pad(x, (1, 1, 1, 1), mode="replicate"))
        top, bottom, left, right = reflect_edges(self.edge, x)
        # each phase with its outermost full-resolution row/column taken from the edges (ReflectSubpixel)
        g00, g01, g10, g11 = (p[:, g::4] for g in range(4))
        q00 = torch.cat([top[:, :, :, 0::2], torch.cat([left[:, :, 2::2], g00[:, :, 1:, 1:]], 3)], 2)
        q01 = torch.cat([top[:, :, :, 1::2], torch.cat([g01[:, :, 1:, :-1], right[:, :, 2::2]], 3)], 2)
        q10 = torch.cat([torch.cat([left[:, :, 1:-1:2], g10[:, :, :-1, 1:]], 3), bottom[:, :, :, 0::2]], 2)
        q11 = torch.cat([torch.cat([g11[:, :, :-1, :-1], right[:, :, 1:-1:2]], 3), bottom[:, :, :, 1::2]], 2)
        r = F.relu(self.norm(torch.stack([q00, q01, q10, q11], 2).reshape(x.shape[0], 4 * c, h, w)))
        y = self.phase(r)  # [B, 4k, h+1, w+1]: output phase (py, px) is rows py.., columns px..
        parts = [y[:, g * k : (g + 1) * k, py : py + h, px : px + w] for g, (py, px) in enumerate(PHASES)]
        inner = F.pixel_shuffle(torch.stack(parts, 2).reshape(x.shape[0], 4 * k, h, w), 2)
        # the strips, and the assembly by overlapping concats with sizes that are never 0 or 1 (torch.export
        # keeps H and W dynamic from a 2x2 content map up)
        top = self.out(F.pad(F.pixel_shuffle(crop(r, 2, 0, b), 2), (3, 3, 3, 0), mode="reflect"))
        bottom = self.out(F.pad(F.pixel_shuffle(crop(r, 2, h - b, b), 2), (3, 3, 0, 3), mode="reflect"))
        left = self.out(F.pad(F.pixel_shuffle(crop(r, 3, 0, b), 2), (3, 0, 3, 3), mode="reflect"))
        right = self.out(F.pad(F.pixel_shuffle(crop(r, 3, w - b, b), 2), (0, 3, 3, 3), mode="reflect"))
        full_h, full_w = 2 * h, 2 * w
        out = torch.cat([left.narrow(3, 0, b), inner.narrow(3, b, full_w - b)], 3)
        out = torch.cat([out.narrow(3, 0, full_w - b), right.narrow(3, 1, b)], 3)
        out = torch.cat([top.narrow(2, 0, b), out.narrow(2, b, full_h - b)], 2)
        out = torch.cat([out.narrow(2, 0, full_h - b), bottom.narrow(2, 1, b)], 2)
        return torch.tanh(out)


def crop(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``length`` rows (``dim`` 2) or columns (3) of ``x`` from ``start``: a Slice in ONNX; for torch.export a
    crop by negative padding, since a view (narrow) of a dimension that may be exactly ``length`` long pins
    the dynamic size."""
    if torch.onnx.is_in_onnx_export():
        return x.narrow(dim, start, length)
    end = x.shape[dim] - start - length
    return F.pad(x, (-start, -end) if dim == 3 else (0, 0, -start, -end))


def phase_conv_weight(w7: Tensor) -> Tensor:
    """The 4x4 conv (pad 2) on phase maps [4*C] (channel 4*c + g, PixelShuffle's order) whose output phase
    g' = (py, px), channels g'*K .. g'*K + K - 1, at (i + py, j + px) is the 7x7 conv ``w7`` [K, C, 7, 7] at
    full-resolution pixel (2i + py, 2j + px): [4*K, 4*C, 4, 4].

    Input tap (ty, tx) of phase (a, b) is the full-resolution offset (2(ty - 2) + a + py, likewise x)."""
    k, c = w7.shape[:2]
    out = w7.new_zeros(4 * k, 4 * c, 4, 4)
    for g_out, (py, px) in enumerate(PHASES):
        for g_in, (a, b) in enumerate(PHASES):
            for ty in range(4):
                for tx in range(4):
                    u, v = 2 * (ty - 2) + a + py, 2 * (tx - 2) + b + px
                    if abs(u) <= 3 and abs(v) <= 3:
                        out[g_out * k : (g_out + 1) * k, g_in::4, ty, tx] = w7[:, :, u + 3, v + 3]
    return out


def can_rewrite(decoder: Decoder, padding: str, upsample: str) -> bool:
    """True when the decoder has nearest_conv5 up-convolutions with borders the rewrite knows."""
    return (
        upsample == "nearest_conv5"
        and padding in EXACT_PADDINGS
        and any(isinstance(m, nn.Upsample) for m in decoder.up)
    )


@torch.no_grad()
def subpixel_decoder(decoder: Decoder, padding: str, tail: bool = True) -> Decoder:
    """A copy of ``decoder`` whose (Upsample, ConvBlock 5x5) pairs are sub-pixel ConvBlocks, same padding;
    with reflect padding and ``tail``, the last one and the output conv as one ``PhaseTail``.

    The AdaIN blocks and the output conv are shared weights copied as they are; each LayerNorm (GroupNorm
    of 1 group) keeps its affine parameters. The caller checks the result against the original.
    """
    out = copy.deepcopy(decoder)
    layers = list(out.up)
    new: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, nn.Upsample):
            block = layers[i + 1]
            pad, conv5, norm = block[0], block[1], block[2]
            padded = {
                "replicate": isinstance(pad, nn.ReplicationPad2d),
                "reflect": isinstance(pad, nn.ReflectionPad2d),
                "zero": conv5.padding == (2, 2),
            }.get(padding, False)
            conv5x5 = isinstance(conv5, nn.Conv2d) and conv5.kernel_size == (5, 5)
            if not padded or not conv5x5 or not isinstance(norm, nn.GroupNorm):
                raise ValueError(f"not a {padding}-padded nearest_conv5 up-convolution: {block}")
            if padding == "reflect":
                fast = nn.Sequential(ReflectSubpixel(conv5), copy.deepcopy(norm), *list(block)[3:])
            else:
                fast = ConvBlock(
                    conv5.in_channels, conv5.out_channels, 3, 1, "ln", "relu", padding, shuffle=2
                )
                w, b = subpixel_from_conv5(conv5.weight, conv5.bias)
                fast[1].weight.copy_(w)
                fast[1].bias.copy_(b)
                fast[3].load_state_dict(norm.state_dict())
            new.append(fast)
            i += 2
        else:
            new.append(layer)
            i += 1
    if padding == "reflect" and tail:
        new = phase_tail(new)
    out.up = nn.Sequential(*new)
    return out.eval()


def phase_tail(layers: list[nn.Module]) -> list[nn.Module]:
    """``layers`` with their last (ReflectSubpixel, LN, ReLU), reflect pad 3, 7x7 conv, tanh as one
    ``PhaseTail``; unchanged when they end otherwise."""
    if len(layers) < 4:
        return layers
    last, pad, conv, tanh = layers[-4:]
    if not (
        isinstance(last, nn.Sequential)
        and len(last) == 3
        and isinstance(last[0], ReflectSubpixel)
        and isinstance(last[1], nn.GroupNorm)
        and isinstance(last[2], nn.ReLU)
        and isinstance(pad, nn.ReflectionPad2d)
        and tuple(pad.padding) == (3, 3, 3, 3)
        and isinstance(conv, nn.Conv2d)
        and conv.kernel_size == (7, 7)
        and isinstance(tanh, nn.Tanh)
    ):
        return layers
    return [*layers[:-4], PhaseTail(last[0], last[1], conv)]
