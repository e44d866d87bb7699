"""INT8 by explicit quantization: Q/DQ nodes in the ONNX (what TensorRT 8.5 -> 11 all build the same way).

ONNX Runtime ``quantize_static`` in QDQ format with what TensorRT accepts (DESIGN.md §4): symmetric int8
activations and weights (every zero-point 0), per-channel weights, no bias quantization (TensorRT rejects
int32 bias DequantizeLinear). Only the inputs of Conv/Gemm/MatMul are quantized (NVIDIA's placement:
``OpTypesToExcludeOutputQuantization``), so no Q/DQ touches an InstanceNormalization: its input is the
FP32 output of a convolution and the norm's statistics stay FP32, as in the FP16 graph.

The generator is calibrated on what it sees at run time: content codes from the FP32 content encoders on
calibration frames and crops, paired with every domain's mean style and seeded samples of its style
distribution (the bundle's statistics).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgecgl.errors import EdgecglError

QUANTIZED_OPS = ("Conv", "Gemm", "MatMul")
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
    calibration_eps=["cpu"], op_types_to_exclude=["InstanceNormalization"], high_precision_dtype="fp32",
    use_zero_point=False, output_path=a["dst"],
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
    from onnxruntime.quantization import CalibrationMethod

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    if method not in methods:
        raise EdgecglError(f"unknown calibration method '{method}'", f"choose {', '.join(methods)}")
    if not batches:
        raise EdgecglError("the calibration set is empty", "make one with edgecgl calib DATA --out calib.npz")
    norm_nodes = [n.name for n in onnx.load(str(src)).graph.node if "Normalization" in n.op_type]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_static warns on the root logger to run its pre-processing
    try:
        _quantize_static(src, dst, batches, norm_nodes, methods[method])
    finally:
        root.setLevel(level)
    return Path(dst)


def _quantize_static(
    src: Path, dst: Path, batches: list[dict[str, np.ndarray]], norm_nodes: list[str], method: Any
) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    quantize_static(
        str(src),
        str(dst),
        _reader(batches),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=list(QUANTIZED_OPS),
        per_channel=True,
        reduce_range=False,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=norm_nodes,
        calibrate_method=method,
        extra_options={
            "ActivationSymmetric": True,
            "WeightSymmetric": True,
            "QuantizeBias": False,
            "OpTypesToExcludeOutputQuantization": list(QUANTIZED_OPS),
            "CalibMovingAverage": False,
        },
    )


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
) -> None:
    """Quantize the content encoders and the generator of a staged bundle; style encoders stay FP32
    (they run once per video or per reference image, not per frame). ``quantizer``: ``ort`` (ONNX
    Runtime, in process) or ``modelopt`` (NVIDIA ModelOpt, in its own process)."""
    if quantizer not in QUANTIZERS:
        raise EdgecglError(f"unknown quantizer '{quantizer}'", f"choose {', '.join(QUANTIZERS)}")
    if quantizer == "modelopt":
        modelopt_python()  # fail before calibrating when ModelOpt is not there
    from edgecgl.calib.sample import load_calib, sample_calibration
    from edgecgl.export.verify import ort_session

    if Path(calib).suffix == ".npz":
        cs = load_calib(Path(calib))
    else:
        cs = sample_calibration(calib, n=256, log=log)
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
    bad = qdq_violations(onnx.load(str(dst)))
    if bad:
        raise EdgecglError(
            f"{role}: the INT8 graph breaks TensorRT's Q/DQ rules: {bad[0]}", "report this as a bug"
        )
    entries[role].update(file=dst.name, precision="int8")
    log(f"{role}: {dst.name} ({len(batches)} calibration batches)")


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
        args = json.dumps({"src": str(src), "dst": str(dst), "calib": str(calib)})
        r = subprocess.run([modelopt_python(), "-c", _MODELOPT_SCRIPT, args], capture_output=True, text=True)
    if r.returncode != 0 or not Path(dst).is_file():
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EdgecglError(
            f"ModelOpt quantization of {Path(src).name} failed: {tail[0][:200]}", "try --quantizer ort"
        )
    return Path(dst)
