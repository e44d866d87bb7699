"""Export the decoder's up-convolutions in the sub-pixel form when that is exact.

A ``nearest_conv5`` up-convolution (nearest x2, then a 5x5 conv) sees only 3 distinct low-resolution
pixels per axis, so a 3x3 conv to 4x the channels + ``PixelShuffle(2)`` (ONNX ``DepthToSpace``) computes
the same map with 36 instead of 100 multiply-adds per pixel and channel pair (docs/PERFORMANCE.md, "The
fast decoder": x1.23-1.29 per frame on `small`). With ``replicate`` or ``zero`` padding the two agree
everywhere, borders included (``train.nets.subpixel_from_conv5``: the pad of the low-resolution map is the
pad of the upsampled one), so a model trained in the slow form is exported in the fast one with no change
to what it computes; with ``reflect`` padding the outermost pixels differ (the mirror of an upsampled
map is not the upsampled mirror), so those decoders are exported as trained.
"""

from __future__ import annotations

import copy

import torch
from edgecgl.train.nets import ConvBlock, Decoder, subpixel_from_conv5
from torch import nn

EXACT_PADDINGS = ("replicate", "zero")


def can_rewrite(decoder: Decoder, padding: str, upsample: str) -> bool:
    """True when the sub-pixel form is exact: nearest_conv5 up-convolutions with replicate or zero borders."""
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
            padded = (
                isinstance(pad, nn.ReplicationPad2d) if padding == "replicate" else conv5.padding == (2, 2)
            )
            conv5x5 = isinstance(conv5, nn.Conv2d) and conv5.kernel_size == (5, 5)
            if (
                padding not in EXACT_PADDINGS
                or not padded
                or not conv5x5
                or not isinstance(norm, nn.GroupNorm)
            ):
                raise ValueError(f"not a {padding}-padded nearest_conv5 up-convolution: {block}")
            fast = ConvBlock(conv5.in_channels, conv5.out_channels, 3, 1, "ln", "relu", padding, shuffle=2)
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
