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
        a, b = x[:, :, :1], x[:, :, 1:2]  # first two rows; the last two as (y, z)
        y, z = x[:, :, -1:], x[:, :, -2:-1]
        rows = torch.cat([torch.cat([b, a, a, a, b], 2), torch.cat([z, y, y, y, z], 2)], 0)  # [2B, C, 5, w]
        rows = F.pad(
            F.interpolate(rows, scale_factor=(1.0, 2.0), mode="nearest"), (2, 2, 0, 0), mode="reflect"
        )
        n = x.shape[0]  # slices, not chunk(2): torch.export keeps the batch dynamic
        edges = self.edge(rows)
        top, bottom = edges[:n], edges[n:]  # [B, Cout, 1, 2w] each
        a, b = x[:, :, :, :1], x[:, :, :, 1:2]
        y, z = x[:, :, :, -1:], x[:, :, :, -2:-1]
        cols = torch.cat([torch.cat([b, a, a, a, b], 3), torch.cat([z, y, y, y, z], 3)], 0)  # [2B, C, h, 5]
        cols = F.pad(
            F.interpolate(cols, scale_factor=(2.0, 1.0), mode="nearest"), (0, 0, 2, 2), mode="reflect"
        )
        edges = self.edge(cols)
        left, right = edges[:n], edges[n:]  # [B, Cout, 2h, 1] each
        middle = torch.cat([left[:, :, 1:-1], inner[:, :, 1:-1, 1:-1], right[:, :, 1:-1]], 3)
        return torch.cat([top, middle, bottom], 2)


def can_rewrite(decoder: Decoder, padding: str, upsample: str) -> bool:
    """True when the decoder has nearest_conv5 up-convolutions with borders the rewrite knows."""
    return (
        upsample == "nearest_conv5"
        and padding in EXACT_PADDINGS
        and any(isinstance(m, nn.Upsample) for m in decoder.up)
    )


@torch.no_grad()
def subpixel_decoder(decoder: Decoder, padding: str) -> Decoder:
    """A copy of ``decoder`` whose (Upsample, ConvBlock 5x5) pairs are sub-pixel ConvBlocks, same padding.

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
    out.up = nn.Sequential(*new)
    return out.eval()
