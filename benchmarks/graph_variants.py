"""ONNX rewrites that measure what a part of the graph costs (used by ``benchmarks.investigate``).

``fold_reflect_pads``: every reflect ``Pad -> Conv`` becomes one ``Conv`` with zero ``pads``. Numerically a
different model (zero instead of reflection borders) with the same FLOPs, so the time it saves is what the
separate reflection Pad costs (an extra full read + write of each activation map).

``subpixel_upconvs``: ``Resize(nearest x2) -> Pad(reflect 2) -> Conv 5x5`` becomes
``Pad(reflect 1) -> Conv 3x3 (4*Cout) -> DepthToSpace(2)``. A 5x5 convolution on a nearest-upsampled map
only ever sees 3 distinct input pixels per axis, so each of the 4 output phases is a 3x3 convolution of
the low-resolution map with summed taps: 36 instead of 100 multiply-adds per low-resolution pixel and
channel pair. Exact in the interior; the outermost output rows/columns differ because reflecting the
upsampled map is not the upsampled reflection (replicate padding would make it exact everywhere).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

# tap dy of a 5-tap kernel on the x2-nearest-upsampled map -> low-res offset index (0,1,2 = -1,0,+1)
_PHASE_TAPS = {0: (0, 0, 1, 1, 2), 1: (0, 1, 1, 2, 2)}


def _consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = {}
    for n in model.graph.node:
        for i in n.input:
            out.setdefault(i, []).append(n)
    return out


def _const(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    for init in model.graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for n in model.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return numpy_helper.to_array(n.attribute[0].t)
    return None


def _mode(node: onnx.NodeProto) -> str:
    return next((a.s.decode() for a in node.attribute if a.name == "mode"), "constant")


def _set_pads(conv: onnx.NodeProto, pads: list[int]) -> None:
    for a in list(conv.attribute):
        if a.name in ("pads", "auto_pad"):
            conv.attribute.remove(a)
    conv.attribute.append(helper.make_attribute("pads", pads))


def fold_reflect_pads(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """(model with reflect Pad->Conv folded into zero-padded Convs, number folded)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    cons = _consumers(m)
    drop, n = [], 0
    for pad in m.graph.node:
        if pad.op_type != "Pad" or _mode(pad) != "reflect":
            continue
        users = cons.get(pad.output[0], [])
        p = _const(m, pad.input[1])
        if len(users) != 1 or users[0].op_type != "Conv" or p is None or len(p) != 8 or any(p[[0, 1, 4, 5]]):
            continue
        conv = users[0]
        conv.input[0] = pad.input[0]
        _set_pads(conv, [int(p[2]), int(p[3]), int(p[6]), int(p[7])])
        drop.append(pad)
        n += 1
    for d in drop:
        m.graph.node.remove(d)
    return m, n


def subpixel_upconvs(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """(model with nearest-x2 + reflect-pad-2 + conv5x5 chains turned into conv3x3 + DepthToSpace, count)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    cons = _consumers(m)
    inits = {i.name: i for i in m.graph.initializer}
    count = 0
    for rs in list(m.graph.node):
        if rs.op_type != "Resize" or _mode(rs) != "nearest":
            continue
        scales = _const(m, rs.input[2]) if len(rs.input) > 2 and rs.input[2] else None
        if scales is None or list(scales) != [1, 1, 2, 2]:
            continue
        pads = cons.get(rs.output[0], [])
        if len(pads) != 1 or pads[0].op_type != "Pad" or _mode(pads[0]) != "reflect":
            continue
        pad = pads[0]
        convs = cons.get(pad.output[0], [])
        if len(convs) != 1 or convs[0].op_type != "Conv":
            continue
        conv = convs[0]
        w = numpy_helper.to_array(inits[conv.input[1]])
        if w.shape[2:] != (5, 5) or list(_const(m, pad.input[1])) != [0, 0, 2, 2, 0, 0, 2, 2]:
            continue
        cout, cin = w.shape[:2]
        w3 = np.zeros((cout, 4, cin, 3, 3), np.float32)
        for a in (0, 1):
            for b in (0, 1):
                for dy, ty in enumerate(_PHASE_TAPS[a]):
                    for dx, tx in enumerate(_PHASE_TAPS[b]):
                        w3[:, 2 * a + b, :, ty, tx] += w[:, :, dy, dx]
        w3 = w3.reshape(4 * cout, cin, 3, 3)
        bias = numpy_helper.to_array(inits[conv.input[2]]) if len(conv.input) > 2 else np.zeros(cout)
        base = conv.name or conv.output[0]
        pad1 = helper.make_tensor(f"{base}_sp_pads", onnx.TensorProto.INT64, [8], [0, 0, 1, 1, 0, 0, 1, 1])
        wt = numpy_helper.from_array(w3, f"{base}_sp_w")
        bt = numpy_helper.from_array(np.repeat(bias.astype(np.float32), 4), f"{base}_sp_b")
        m.graph.initializer.extend([pad1, wt, bt])
        p_out, c_out = f"{base}_sp_padded", f"{base}_sp_phases"
        new = [
            helper.make_node("Pad", [rs.input[0], pad1.name], [p_out], mode="reflect", name=f"{base}_sp_pad"),
            helper.make_node(
                "Conv", [p_out, wt.name, bt.name], [c_out], kernel_shape=[3, 3], name=f"{base}_sp"
            ),
            helper.make_node(
                "DepthToSpace", [c_out], [conv.output[0]], blocksize=2, mode="CRD", name=f"{base}_d2s"
            ),
        ]
        idx = list(m.graph.node).index(rs)
        for old in (rs, pad, conv):
            m.graph.node.remove(old)
        for k, node in enumerate(new):
            m.graph.node.insert(idx + k, node)
        count += 1
    return m, count
