"""Mixed FP16: everything in FP16 except InstanceNormalization (inputs, statistics, output) and the I/O.

FP16 InstanceNorm overflows in GAN generators (the variance of a large activation map exceeds 65504),
the known failure in TensorRT (DESIGN.md §4). TensorRT 11 has no FP16 flag and no per-layer precision:
the ONNX itself must say which tensors are FP16, so the result is a strongly typed graph that 8.5
(with the FP16 flag), 10.x and 11.x all build the same way.

ModelOpt AutoCast (``modelopt.onnx.autocast``) does this when the ``modelopt`` extra is installed; it
pins an older onnx, so it is not importable in the export venv here and ``convert_fp16`` is our own
pass. It needs no op list beyond the one to keep: which inputs follow the node's precision comes from
the ONNX schema (an input whose type constraint equals the output's), so Resize ``scales`` (always
float32), shape tensors and indices are left alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

KEEP_FP32 = ("InstanceNormalization",)
FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16


# Runs in ModelOpt's interpreter (its own venv: EDGECGL_MODELOPT_PYTHON); only files cross over.
_AUTOCAST_SCRIPT = """
import json, sys
import onnx
from modelopt.onnx.autocast import convert_to_mixed_precision
a = json.loads(sys.argv[1])
m = convert_to_mixed_precision(
    onnx_path=a["src"], low_precision_type="fp16", op_types_to_exclude=a["keep"], keep_io_types=True
)
onnx.save(m, a["dst"])
"""


def modelopt_available() -> bool:
    import importlib.util
    import os

    return bool(os.environ.get("EDGECGL_MODELOPT_PYTHON")) or importlib.util.find_spec("modelopt") is not None


def convert_fp16(
    src: Path, dst: Path, keep_fp32: tuple[str, ...] = KEEP_FP32, tool: str = "auto"
) -> tuple[Path, str]:
    """FP32 ONNX file -> mixed FP16 ONNX file (graph inputs and outputs stay FP32).

    ``tool``: ``modelopt`` (AutoCast, own process), ``edgecgl`` (our pass) or ``auto`` (AutoCast where
    ModelOpt is available). Either way the result must pass ``fp32_island_violations``. Returns the file
    and the tool used.
    """
    from edgecgl.errors import EdgecglError

    use = ("modelopt" if modelopt_available() else "edgecgl") if tool == "auto" else tool
    if use == "modelopt":
        _autocast(Path(src), Path(dst), keep_fp32)
    elif use == "edgecgl":
        onnx.save(to_fp16(onnx.load(str(src)), keep_fp32), str(dst))
    else:
        raise EdgecglError(f"unknown FP16 tool '{tool}'", "choose auto, modelopt or edgecgl")
    bad = fp32_island_violations(onnx.load(str(dst)), keep_fp32)
    if bad:
        raise EdgecglError(
            f"{use} FP16 graph of {Path(src).name} breaks the FP32 rule: {bad[0]}", "report this as a bug"
        )
    return Path(dst), use


def _autocast(src: Path, dst: Path, keep_fp32: tuple[str, ...]) -> None:
    import json
    import subprocess

    from edgecgl.calib.quantize import modelopt_python

    from edgecgl.errors import EdgecglError

    args = json.dumps({"src": str(src), "dst": str(dst), "keep": list(keep_fp32)})
    r = subprocess.run([modelopt_python(), "-c", _AUTOCAST_SCRIPT, args], capture_output=True, text=True)
    if r.returncode != 0 or not dst.is_file():
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EdgecglError(
            f"ModelOpt AutoCast failed on {src.name}: {tail[0][:200]}",
            "unset EDGECGL_MODELOPT_PYTHON to use our pass",
        )


def to_fp16(model: onnx.ModelProto, keep_fp32: tuple[str, ...] = KEEP_FP32) -> onnx.ModelProto:
    model = onnx.shape_inference.infer_shapes(model)
    g = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    old_type: dict[str, int] = {
        v.name: v.type.tensor_type.elem_type for v in (*g.input, *g.output, *g.value_info)
    }
    inits = {i.name: i for i in g.initializer}
    old_type.update({n: i.data_type for n, i in inits.items()})
    new_type: dict[str, int] = {v.name: v.type.tensor_type.elem_type for v in g.input}
    new_type.update({n: i.data_type for n, i in inits.items()})
    new_inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    casts: dict[tuple[str, int], str] = {}

    def as_type(name: str, want: int) -> str:
        """``name`` in dtype ``want``: itself, a converted initializer copy, or the output of a Cast."""
        have = new_type.get(name, old_type.get(name))
        if have == want or have not in (FLOAT, HALF):
            return name
        key = (name, want)
        if key in casts:
            return casts[key]
        suffix = "fp16" if want == HALF else "fp32"
        out = f"{name}__{suffix}"
        if name in inits:
            arr = numpy_helper.to_array(inits[name]).astype(np.float16 if want == HALF else np.float32)
            new_inits.append(numpy_helper.from_array(arr, out))
        else:
            nodes.append(helper.make_node("Cast", [name], [out], to=want, name=f"cast_{out}"))
        new_type[out] = want
        casts[key] = out
        return out

    for node in g.node:
        target = FLOAT if node.op_type in keep_fp32 else HALF
        if node.op_type == "Cast":
            to = next(a for a in node.attribute if a.name == "to")
            if to.i == FLOAT and target == HALF:
                to.i = HALF
            new_type[node.output[0]] = to.i
        elif node.op_type in ("Constant", "ConstantOfShape"):
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == FLOAT and target == HALF:
                    a.t.CopyFrom(
                        numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16), a.t.name)
                    )
                if a.name == "value":
                    new_type[node.output[0]] = a.t.data_type
        else:
            schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
            main = schema.outputs[0].type_str if schema.outputs else None
            for i, name in enumerate(node.input):
                formal = schema.inputs[min(i, len(schema.inputs) - 1)].type_str
                # a node kept FP32 takes all its float inputs in FP32 (QuantizeLinear's x is "T1", not "T")
                if name and (formal == main or (target == FLOAT and node.op_type in keep_fp32)):
                    node.input[i] = as_type(name, target)
            for i, name in enumerate(node.output):
                formal = schema.outputs[min(i, len(schema.outputs) - 1)].type_str
                floaty = old_type.get(name) in (FLOAT, HALF, None) and formal == main
                new_type[name] = target if floaty and _float_inputs(node, new_type) else old_type.get(name, 0)
        nodes.append(node)

    # Graph outputs stay FP32: rename an FP16 producer's output and cast it back under the public name.
    for out in g.output:
        if new_type.get(out.name) != HALF:
            continue
        inner = f"{out.name}__fp16"
        for n in nodes:
            n.output[:] = [inner if o == out.name else o for o in n.output]
            n.input[:] = [inner if i == out.name else i for i in n.input]
        nodes.append(helper.make_node("Cast", [inner], [out.name], to=FLOAT, name=f"cast_{out.name}_out"))

    used = {i for n in nodes for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(keep + [i for i in new_inits if i.name in used])
    del g.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model)
    return model


def _float_inputs(node: onnx.NodeProto, types: dict[str, int]) -> bool:
    """A node produces a float tensor only if it consumes one (Shape -> Concat of int64 stays int64)."""
    return any(types.get(i) in (FLOAT, HALF) for i in node.input if i) or not node.input


def fp32_island_violations(model: onnx.ModelProto, keep_fp32: tuple[str, ...] = KEEP_FP32) -> list[str]:
    """Every place the mixed-precision invariant is broken (empty list = the graph is as promised)."""
    model = onnx.shape_inference.infer_shapes(model)
    g = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*g.input, *g.output, *g.value_info)}
    types.update({i.name: i.data_type for i in g.initializer})
    bad = []
    for v in (*g.input, *g.output):
        if v.type.tensor_type.elem_type not in (FLOAT, TensorProto.INT64):
            bad.append(f"graph I/O {v.name} is {TensorProto.DataType.Name(v.type.tensor_type.elem_type)}")
    for n in g.node:
        if n.op_type in keep_fp32:
            for t in (*n.input, *n.output):
                if t and types.get(t) != FLOAT:
                    bad.append(
                        f"{n.op_type} {n.name} tensor {t} is {TensorProto.DataType.Name(types.get(t, 0))}"
                    )
    return bad
