"""Graph simplification with onnxsim (the user's choice) or onnxslim (pure Python, what Ultralytics uses).

onnxsim has no CPython 3.10 wheels (JetPack 6 ships 3.10), so onnxslim is the fallback the CLI names
when onnxsim is missing. Both are run without their own numeric check: the exporter checks parity
against torch itself (``export.verify``), on shapes the dynamic graph must accept.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import onnx

from edgecgl.errors import EdgecglError

SIMPLIFIERS = ("onnxsim", "onnxslim", "none")


def simplify(model: onnx.ModelProto, tool: str = "onnxslim") -> onnx.ModelProto:
    """Constant-fold and fuse; keeps input/output names, dynamic dims and the opset."""
    if tool not in SIMPLIFIERS:
        raise EdgecglError(f"unknown simplifier '{tool}'", f"choose one of {', '.join(SIMPLIFIERS)}")
    if tool == "none":
        return model
    opset = _opset(model)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if tool == "onnxsim":
            try:
                import onnxsim
            except ImportError:
                raise EdgecglError(
                    "onnxsim is not installed (it has no wheels for Python 3.10)",
                    "use --simplifier onnxslim, or pip install onnxsim on Python >= 3.11",
                ) from None
            out, _ = onnxsim.simplify(model, check_n=0)
        else:
            try:
                import onnxslim
            except ImportError:
                raise EdgecglError("onnxslim is not installed", "pip install onnxslim") from None
            out = onnxslim.slim(model)
    if _opset(out) != opset:
        raise EdgecglError(
            f"{tool} changed the opset from {opset} to {_opset(out)}", "use --simplifier onnxslim or none"
        )
    return out


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
