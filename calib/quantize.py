"""INT8 by explicit quantization: Q/DQ nodes in the ONNX (what TensorRT 8.5 -> 11 all build the same way).

ONNX Runtime ``quantize_static`` in QDQ format with what TensorRT accepts (DESIGN.md §4): symmetric int8
activations and weights (every zero-point 0), per-channel weights (axis 0), per-tensor activations, no
bias quantization (TensorRT rejects int32 bias DequantizeLinear). Only the inputs of convolutions are
quantized (NVIDIA's placement: ``OpTypesToExcludeOutputQuantization``), so no Q/DQ touches an
InstanceNormalization: its input is the output of a convolution and its statistics stay FP32.

Not quantized, because they cost accuracy and gain no speed (``excluded_nodes``): the style MLP's
Gemm/MatMul (a [B, style_dim] input making AdaIN parameters), the first convolution of a 3-channel image
and the last convolution to RGB.

Three graphs per quantized role: ``<role>.int8.onnx`` keeps every non-quantized op FP32 (TensorRT 8.x
where the FP16 flag lets TensorRT choose; ONNX Runtime CUDA), ``<role>.int8-fp16.onnx`` is the same Q/DQ
graph with everything else FP16 except the norms (``export/precision.py``), for TensorRT 10.x/11.x, which
build strongly typed and run each op at its ONNX type (manifest key ``trt_file``), and
``<role>.int8-cpu.onnx`` (manifest key ``cpu_file``) for ONNX Runtime's CPU provider.

Why a separate CPU graph: ONNX Runtime's CPU provider runs the TensorRT Q/DQ graph's convolutions in FP32
between extra Q/DQ passes (fp32 bias, fp32 conv outputs: no QLinearConv fusion), 0.76x FP32 on an AMD
EPYC. The CPU graph is QOperator format (explicit ``QLinearConv``, nothing left to a fusion pass), uint8
asymmetric activations with int8 per-channel weights (U8S8: the VNNI / ARM dot-product kernels) and the
same nodes left float (norms, style MLP, first and last conv), plus the generator's last stage, the
convolutions that feed the conv to RGB (``cpu_float_nodes``: a ``QLinearConv`` rounds its output to
uint8 too, and there that rounding reaches the pixels); docs/PERFORMANCE.md "INT8 on ONNX Runtime CPU"
has the measurements.

The generator is calibrated on what it sees at run time: content codes from the FP32 content encoders on
calibration frames and crops, paired with every domain's mean style and seeded samples of its style
distribution (the bundle's statistics).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgecgl.errors import EdgecglError

QUANTIZED_OPS = ("Conv",)
UNQUANTIZED_OPS = ("Gemm", "MatMul")  # the style MLP
QUANTIZERS = ("ort", "modelopt")

# Runs in ModelOpt's own interpreter: nvidia-modelopt[onnx] pins an older onnx and onnxruntime-gpu, so it
# lives in a separate venv (EDGECGL_MODELOPT_PYTHON) and only files cross the process boundary.
_MODELOPT_SCRIPT = """
import json, sys
import numpy as np
from modelopt.onnx.quantization import quantize
a = json.loads(sys.argv[1])
with np.load(a["calib"]) as z:
    data = {k: z[k] for k in z.files}
quantize(
    onnx_path=a["src"], quantize_mode="int8", calibration_data=data, calibration_method="max",
    calibration_eps=["cpu"], op_types_to_exclude=["InstanceNormalization", "Gemm", "MatMul"],
    nodes_to_exclude=a["exclude"], high_precision_dtype="fp32", use_zero_point=False, output_path=a["dst"],
)
"""
BATCH = 8


def _reader(batches: list[dict[str, np.ndarray]]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class _ListReader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

        def rewind(self) -> None:
            self._it = iter(batches)

    return _ListReader()


def quantize_int8(src: Path, dst: Path, batches: list[dict[str, np.ndarray]], method: str = "minmax") -> Path:
    """FP32 ONNX + calibration feeds -> Q/DQ INT8 ONNX that TensorRT accepts."""
    from onnxruntime.quantization import QuantFormat, QuantType

    return _quantize_static(
        src, dst, batches, method,
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        extra_options={
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            "QuantizeBias": False,
            "OpTypesToExcludeOutputQuantization": list(QUANTIZED_OPS),
            "CalibMovingAverage": False,
        },
    )  # fmt: skip


def quantize_int8_cpu(
    src: Path, dst: Path, batches: list[dict[str, np.ndarray]], method: str = "minmax"
) -> Path:
    """FP32 ONNX + calibration feeds -> QOperator U8S8 INT8 ONNX for ONNX Runtime's CPU provider, with
    ``cpu_float_nodes`` left float."""
    from onnxruntime.quantization import QuantFormat, QuantType

    return _quantize_static(
        src, dst, batches, method,
        keep=cpu_float_nodes,
        quant_format=QuantFormat.QOperator,
        activation_type=QuantType.QUInt8,  # U8S8: VNNI / dot-product kernels do not saturate it
        extra_options={"CalibMovingAverage": False},
    )  # fmt: skip


def _method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if name not in methods:
        raise EdgecglError(f"unknown calibration method '{name}'", f"choose {', '.join(methods)}")
    return methods[name]


def _quantize_static(
    src: Path,
    dst: Path,
    batches: list[dict[str, np.ndarray]],
    method: str,
    keep: Callable[[onnx.ModelProto], list[str]] | None = None,
    **fmt: Any,
) -> Path:
    """What both INT8 graphs share: int8 per-channel weights of ``QUANTIZED_OPS``, the norms and ``keep``
    (default ``excluded_nodes``) left float, the same calibration; ``fmt`` is the format's own arguments."""
    from onnxruntime.quantization import QuantType, quantize_static

    calibrate = _method(method)
    if not batches:
        raise EdgecglError("the calibration set is empty", "make one with edgecgl calib DATA --out calib.npz")
    model = onnx.load(str(src))
    norms = [n.name for n in model.graph.node if "Normalization" in n.op_type]
    keep_float = norms + (keep or excluded_nodes)(model)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_static warns on the root logger to run its pre-processing
    try:
        quantize_static(
            str(src),
            str(dst),
            _reader(batches),
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            reduce_range=False,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep_float,
            calibrate_method=calibrate,
            **fmt,
        )
    finally:
        root.setLevel(level)
    return Path(dst)


def cpu_int8_violations(model: onnx.ModelProto, fp32: onnx.ModelProto) -> list[str]:
    """What would keep the CPU graph from running int8 convolutions (empty = fine): every convolution of
    ``fp32`` is a ``QLinearConv``, except the ones ``cpu_float_nodes`` keeps float; those stay ``Conv``."""
    keep = set(cpu_float_nodes(fp32))
    convs = {n.name for n in fp32.graph.node if n.op_type == "Conv"}
    ops = {n.name: n.op_type for n in model.graph.node}
    bad = []
    for name in sorted(convs):
        if name in keep and ops.get(name) != "Conv":
            bad.append(f"{name} (first/last conv or the last stage) is not a float Conv")
        elif name not in keep and ops.get(f"{name}_quant") != "QLinearConv":
            bad.append(f"{name} is not a QLinearConv")
    return bad


def excluded_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes that stay unquantized: the style MLP (Gemm/MatMul), the first conv of a 3-channel image and
    the last conv to RGB (found by their weight shapes [out, in/groups, kh, kw]); the last conv also in
    its phase-domain form (export/fast_decoder.py ``PhaseTail``: 4 RGB phases, a 4x4 stride-1 conv)."""
    out = [n.name for n in model.graph.node if n.op_type in UNQUANTIZED_OPS]
    return out + [n.name for n, role in _rgb_convs(model) if role in ("first", "last")]


def cpu_float_nodes(model: onnx.ModelProto) -> list[str]:
    """What the CPU graph keeps float: ``excluded_nodes`` and the last stage's convolutions, the ones that
    feed the convolution to RGB. A ``QLinearConv`` also quantizes its output (uint8, one range per tensor);
    the last stage's output reaches the pixels through nothing but a LayerNorm and the RGB conv, so its
    rounding shows: on a trained ``small`` the generator fell to 29.1 dB worst frame against FP32 (the
    TensorRT graph, whose conv outputs stay float, 41.2 dB), and to 42.4 dB with this stage float, at
    x2.1 instead of x2.3 FP32's speed (docs/PERFORMANCE.md "INT8 on ONNX Runtime CPU")."""
    keep = excluded_nodes(model)
    last = [n.name for n, role in _rgb_convs(model) if role == "last"]
    return keep + [c for c in _convs_before(model, last) if c not in keep]


def _rgb_convs(model: onnx.ModelProto) -> list[tuple[onnx.NodeProto, str]]:
    """(conv, "first" | "last") for the convolutions that read a 3-channel image or write RGB."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for n in model.graph.node:
        if n.op_type != "Conv" or len(n.input) < 2 or n.input[1] not in inits:
            continue
        w = numpy_helper.to_array(inits[n.input[1]])
        if w.ndim != 4:
            continue
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        strides = next((list(a.ints) for a in n.attribute if a.name == "strides"), [1, 1])
        rgb_phases = w.shape[0] == 12 and w.shape[2:] == (4, 4) and strides == [1, 1]
        if w.shape[0] == 3 or rgb_phases:
            out.append((n, "last"))
        elif w.shape[1] == 3 and group == 1:
            out.append((n, "first"))
    return out


# ops whose only value input is their first (the rest are shapes, pads, indices, scales or norm weights)
_DATA_FIRST = {"Reshape", "Slice", "Pad", "Resize", "Gather", "Unsqueeze", "Squeeze", "DepthToSpace", "Expand",
               "Tile", "InstanceNormalization", "Transpose", "Cast"}  # fmt: skip
_NO_VALUES = {"Shape", "Size", "Constant", "ConstantOfShape", "Range"}


def _convs_before(model: onnx.ModelProto, names: list[str]) -> list[str]:
    """The convolutions whose output reaches the nodes ``names`` without passing another convolution,
    following values only (never a Shape: the sub-pixel decoder's edge arithmetic reads earlier shapes)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    todo = [n.input[0] for n in model.graph.node if n.name in names]
    seen: set[str] = set()
    found: list[str] = []
    while todo:
        t = todo.pop()
        p = producer.get(t)
        if t in seen or p is None or p.op_type in _NO_VALUES:
            continue
        seen.add(t)
        if p.op_type == "Conv":
            found.append(p.name)  # once: a Conv has one output and each tensor is visited once
        else:
            todo += list(p.input[:1] if p.op_type in _DATA_FIRST else p.input)
    return found


def _axis(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 1)  # ONNX's default axis is 1


def qdq_violations(model: onnx.ModelProto) -> list[str]:
    """Everything TensorRT would reject or we promised not to do (empty = fine)."""
    from onnx import TensorProto, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    consts = {n.output[0]: n.attribute[0].t for n in g.node if n.op_type == "Constant" and n.attribute}
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    bad = []
    qdq = [n for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if not qdq:
        bad.append("no Q/DQ nodes")
    for n in qdq:
        if len(n.input) < 3 or not n.input[2]:
            bad.append(f"{n.name}: no explicit zero-point (would default to uint8)")
            continue
        zp_t = inits.get(n.input[2]) or consts.get(n.input[2])
        if zp_t is None:
            bad.append(f"{n.name}: zero-point {n.input[2]} is not a constant")
            continue
        if zp_t.data_type != TensorProto.INT8:
            bad.append(f"{n.name}: zero-point type {TensorProto.DataType.Name(zp_t.data_type)}, not INT8")
        if np.any(numpy_helper.to_array(zp_t) != 0):
            bad.append(f"{n.name}: non-zero zero-point")
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            dt = inits[n.input[0]].data_type
            if dt != TensorProto.INT8:
                bad.append(f"{n.name}: dequantizes {TensorProto.DataType.Name(dt)} (bias or uint8)")
        scale_t = inits.get(n.input[1]) or consts.get(n.input[1])
        if scale_t is None:
            bad.append(f"{n.name}: scale {n.input[1]} is not a constant")
            continue
        scale = numpy_helper.to_array(scale_t)
        if tuple(scale.shape) != tuple(numpy_helper.to_array(zp_t).shape):
            bad.append(f"{n.name}: zero-point shape differs from the scale's")
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:  # weights: per output channel
            w_shape = tuple(inits[n.input[0]].dims)
            if scale.size > 1 and (scale.ndim != 1 or _axis(n) != 0 or scale.size != w_shape[0]):
                bad.append(
                    f"{n.name}: weight scale {scale.shape} on axis {_axis(n)} is not per output channel "
                    f"(axis 0, {w_shape[0]} values)"
                )
        elif scale.size != 1:
            bad.append(f"{n.name}: activation scale has {scale.size} values (TensorRT wants per-tensor)")
    for name in excluded_nodes(model):
        node = next(x for x in g.node if x.name == name)
        if any(producer.get(t) is not None and producer[t].op_type == "DequantizeLinear" for t in node.input):
            bad.append(f"{node.op_type} {name} is quantized (style MLP / first / last conv stay float)")
    for n in g.node:
        if "Normalization" not in n.op_type:
            continue
        for t in n.input:
            p = producer.get(t)
            if p is not None and p.op_type == "DequantizeLinear":
                bad.append(f"{n.op_type} {n.name} reads a dequantized tensor {t}")
        for t in n.output:
            if any(c.op_type == "QuantizeLinear" for c in consumers.get(t, [])):
                bad.append(f"{n.op_type} {n.name} output {t} is quantized")
    return bad


def _onehot(idx: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n, dtype=np.float32)[idx]


def _batches(arrays: dict[str, np.ndarray], batch: int = BATCH) -> list[dict[str, np.ndarray]]:
    n = len(next(iter(arrays.values())))
    return [
        {k: np.ascontiguousarray(v[i : i + batch]) for k, v in arrays.items()} for i in range(0, n, batch)
    ]


def quantize_bundle_models(
    root: Path,
    entries: dict[str, dict[str, Any]],
    calib: Path,
    domains: list[str],
    dims: Any,
    style_stats: dict[str, dict[str, dict[str, Any]]],
    method: str = "minmax",
    seed: int = 0,
    log: Callable[[str], None] = lambda s: None,
    quantizer: str = "ort",
    bdd_rules: Any = None,
) -> None:
    """Quantize the content encoders and the generator of a staged bundle; style encoders stay FP32
    (they run once per video or per reference image, not per frame). ``quantizer``: ``ort`` (ONNX
    Runtime, in process) or ``modelopt`` (NVIDIA ModelOpt, in its own process). ``calib`` is an
    ``edgecgl calib`` set (.npz) or data to sample one from as ``edgecgl calib`` does, labelled with the
    model's ``domains`` (a ``bdd100k:`` spec through ``bdd_rules``, the table the model was trained with)."""
    if quantizer not in QUANTIZERS:
        raise EdgecglError(f"unknown quantizer '{quantizer}'", f"choose {', '.join(QUANTIZERS)}")
    if quantizer == "modelopt":
        modelopt_python()  # fail before calibrating when ModelOpt is not there
    from edgecgl.calib.sample import load_calib, sample_calibration
    from edgecgl.export.verify import ort_session

    if Path(calib).suffix == ".npz":
        cs = load_calib(Path(calib))
    else:
        cs = sample_calibration(
            calib, n=256, domains=list(domains), default_domain=domains[0], log=log, bdd_rules=bdd_rules
        )
    if cs.meta.get("domains") and list(cs.meta["domains"]) != list(domains):
        raise EdgecglError(
            f"calibration set domains {cs.meta['domains']} differ from the model's {domains}",
            "re-run edgecgl calib with the model's domains",
        )
    log(f"calibration: {len(cs.frames)} frames, {len(cs.instances)} crops from {cs.meta.get('source')}")
    feeds = {"global": cs.images("frames"), "instance": cs.images("instances")}
    rng = np.random.default_rng(seed)
    gen_parts: dict[str, list[np.ndarray]] = {"content": [], "style": [], "domain": []}
    for role in ("content_encoder", "content_encoder_instance"):
        gran = "instance" if role.endswith("_instance") else "global"
        if role not in entries and gran == "instance" and "content_encoder" in entries:
            src_role = "content_encoder"
        elif role in entries:
            src_role = role
        else:
            continue
        images = feeds[gran]
        sess = ort_session(root / entries[src_role]["fp32"])
        content = np.concatenate([sess.run(None, b)[0] for b in _batches({"image": images})])
        target = np.arange(len(images)) % len(domains)
        stats = style_stats.get(gran) or style_stats.get("global") or {}
        styles = np.zeros((len(images), dims.style_dim), np.float32)
        for i, t in enumerate(target):
            st = stats.get(domains[t])
            if st is None:
                styles[i] = rng.standard_normal(dims.style_dim)
                continue
            mean, cov = np.asarray(st["mean"], np.float64), np.asarray(st["cov"], np.float64)
            styles[i] = mean if i % 2 == 0 else rng.multivariate_normal(mean, (cov + cov.T) / 2)
        gen_parts["content"].append(content)
        gen_parts["style"].append(styles)
        gen_parts["domain"].append(_onehot(target, len(domains)))
        if role in entries:
            _quantize_entry(root, entries, role, _batches({"image": images}), method, log, quantizer)
    if "generator" in entries:
        if not gen_parts["content"]:
            raise EdgecglError("no content encoder to calibrate the generator with", "re-export the bundle")
        # crops and frames have different spatial sizes: calibrate on each as its own batches
        batches = []
        for c, s, d in zip(gen_parts["content"], gen_parts["style"], gen_parts["domain"], strict=True):
            batches += _batches({"content": c, "style": s, "domain": d})
        _quantize_entry(root, entries, "generator", batches, method, log, quantizer)


def _quantize_entry(
    root: Path,
    entries: dict[str, dict[str, Any]],
    role: str,
    batches: list[dict[str, np.ndarray]],
    method: str,
    log: Callable[[str], None],
    quantizer: str = "ort",
) -> None:
    dst = root / f"{role}.int8.onnx"
    if quantizer == "modelopt":
        quantize_modelopt(root / entries[role]["fp32"], dst, batches)
    else:
        quantize_int8(root / entries[role]["fp32"], dst, batches, method)
    mixed = int8_fp16(dst, root / f"{role}.int8-fp16.onnx")
    for path in (dst, mixed):
        bad = qdq_violations(onnx.load(str(path)))
        if bad:
            raise EdgecglError(
                f"{role}: {path.name} breaks TensorRT's Q/DQ rules: {bad[0]}", "report this as a bug"
            )
    cpu = quantize_int8_cpu(root / entries[role]["fp32"], root / f"{role}.int8-cpu.onnx", batches, method)
    bad = cpu_int8_violations(onnx.load(str(cpu)), onnx.load(str(root / entries[role]["fp32"])))
    if bad:
        raise EdgecglError(
            f"{role}: {cpu.name} would not run int8 on the CPU: {bad[0]}", "report this as a bug"
        )
    entries[role].update(file=dst.name, precision="int8", trt_file=mixed.name, cpu_file=cpu.name)
    log(f"{role}: {dst.name} + {mixed.name} + {cpu.name} ({len(batches)} calibration batches)")


def int8_fp16(src: Path, dst: Path) -> Path:
    """The Q/DQ graph with every other op FP16 except the norms: Q/DQ stay FP32 (opset 17's QuantizeLinear
    takes only float32) with Casts around them, InstanceNormalization stays FP32 (export/precision.py)."""
    from edgecgl.export.precision import KEEP_FP32, fp32_island_violations, to_fp16

    model = to_fp16(onnx.load(str(src)), KEEP_FP32 + ("QuantizeLinear", "DequantizeLinear"))
    bad = fp32_island_violations(model, KEEP_FP32)
    if bad:
        raise EdgecglError(
            f"{src.name}: the INT8 + FP16 graph breaks the FP32 rule: {bad[0]}", "report this as a bug"
        )
    onnx.save(model, str(dst))
    return Path(dst)


def modelopt_python() -> str:
    """The interpreter that has ModelOpt: EDGECGL_MODELOPT_PYTHON, else this one if it can import it."""
    import importlib.util
    import os
    import sys

    exe = os.environ.get("EDGECGL_MODELOPT_PYTHON")
    if exe:
        if not Path(exe).is_file():
            raise EdgecglError(
                f"EDGECGL_MODELOPT_PYTHON={exe} does not exist", "point it at the ModelOpt venv's python"
            )
        return exe
    if importlib.util.find_spec("modelopt") is None:
        raise EdgecglError(
            "NVIDIA ModelOpt is not installed",
            "pip install 'nvidia-modelopt[onnx]' in a separate venv and set EDGECGL_MODELOPT_PYTHON, or use --quantizer ort",
        )
    return sys.executable


def quantize_modelopt(src: Path, dst: Path, batches: list[dict[str, np.ndarray]]) -> Path:
    """``modelopt.onnx.quantization.quantize`` (INT8, max calibration, CPU, no zero-points) in a subprocess.

    ModelOpt takes one array per input, so only the batches of the most common shape are used (the
    generator sees frames and crops at different sizes; the frames win).
    """
    import json
    import subprocess
    import tempfile

    groups: dict[tuple[Any, ...], list[dict[str, np.ndarray]]] = {}
    for b in batches:
        groups.setdefault(tuple(v.shape[1:] for v in b.values()), []).append(b)
    chosen = max(groups.values(), key=len)
    data = {k: np.concatenate([b[k] for b in chosen]) for k in chosen[0]}
    with tempfile.TemporaryDirectory() as tmp:
        calib = Path(tmp) / "calib.npz"
        np.savez(calib, **data)
        exclude = [re.escape(n) for n in excluded_nodes(onnx.load(str(src)))]  # ModelOpt takes regexes
        args = json.dumps({"src": str(src), "dst": str(dst), "calib": str(calib), "exclude": exclude})
        r = subprocess.run([modelopt_python(), "-c", _MODELOPT_SCRIPT, args], capture_output=True, text=True)
    if r.returncode != 0 or not Path(dst).is_file():
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EdgecglError(
            f"ModelOpt quantization of {Path(src).name} failed: {tail[0][:200]}", "try --quantizer ort"
        )
    return Path(dst)
