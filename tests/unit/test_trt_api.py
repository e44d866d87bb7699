"""Contract tests: the TensorRT builder and runtime call sequences against fake ``tensorrt`` modules made
from the real bindings of 8.6.1, 10.3.0, 10.13.3.9 and 11.4.0.106 (and the 8.5 name index).

Every attribute touched must exist in that version, every call must bind to the member's real signature
(argument count, keyword names, enum types), and nothing deprecated in the version a path targets may be
used. This proves the calls exist on each version's path; it says nothing about numerics (the real
builds are the ``trt``/``gpu``-marked tests in test_trt_build.py and benchmarks/gpu_check.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from edgecgl.export.tensorrt import MAX_BATCH_INSTANCE, build_engine, onnx_for, plan_for, profile_shapes

from edgecgl.backends.tensorrt import EngineRunner, _torch_dtype
from edgecgl.errors import EdgecglError
from tests.unit.trt_fake import BINDINGS, NAME_INDEX, FakeEnum, FakeTRT

VERSIONS = NAME_INDEX + BINDINGS
PRECISIONS = ("fp32", "fp16", "int8")
PROFILES = {
    "frame": {"image": ((1, 3, 8, 8), (1, 3, 16, 16), (2, 3, 32, 32))},
    "crops": {"image": ((1, 3, 4, 4), (4, 3, 8, 8), (8, 3, 8, 8))},
}


def _build(trt: FakeTRT, version: str, precision: str) -> tuple[bytes, bytes]:
    return build_engine(trt, Path("model.onnx"), plan_for(version, precision), PROFILES, 1 << 20, b"")


def _calls(trt: FakeTRT, cls: str, name: str) -> list[tuple]:
    return [args for c, n, args in trt.calls if (c, n) == (cls, name)]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_builder_binds_to_the_real_api_and_uses_nothing_deprecated(version: str, precision: str) -> None:
    trt = FakeTRT(version)
    engine, cache = _build(trt, version, precision)
    assert engine == b"fake-IHostMemory" and cache == b"fake-IHostMemory"
    touched = trt.touched()
    assert not trt.deprecated_touched(), f"{version} {precision} uses deprecated {trt.deprecated_touched()}"
    for needed in [("Builder", "build_serialized_network"), ("IBuilderConfig", "set_timing_cache")]:
        assert needed in touched
    assert ("tensorrt", "init_libnvinfer_plugins") in touched or (
        "IPluginRegistry",
        "init_libnvinfer_plugins",
    ) in touched
    # one optimization profile per use
    assert len(_calls(trt, "IBuilderConfig", "add_optimization_profile")) == 2
    assert len(_calls(trt, "IOptimizationProfile", "set_shape")) == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_plugins_and_native_instancenorm(version: str) -> None:
    """Item 1: plugins initialised before parsing; 8.6+ asks for the native InstanceNormalization layer."""
    trt = FakeTRT(version)
    _build(trt, version, "fp16")
    order = [(c, n) for c, n, _ in trt.calls]
    init = [i for i, (c, n) in enumerate(order) if n == "init_libnvinfer_plugins"]
    parse = order.index(("OnnxParser", "parse_from_file"))
    assert init and init[0] < parse
    flags = [a[0] for a in _calls(trt, "OnnxParser", "set_flag")]
    if version == "8.5":
        assert flags == []
    else:
        assert flags == [FakeEnum("OnnxParserFlag", "NATIVE_INSTANCENORM")]
        assert order.index(("OnnxParser", "set_flag")) < parse


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_tf32_is_cleared_for_fp32_only(version: str, precision: str) -> None:
    """Item 9: TF32 is on by default; an fp32 engine must not use it."""
    trt = FakeTRT(version)
    _build(trt, version, precision)
    cleared = [a[0] for a in _calls(trt, "IBuilderConfig", "clear_flag")]
    assert cleared == ([FakeEnum("BuilderFlag", "TF32")] if precision == "fp32" else [])


def test_plans_follow_the_version_rules() -> None:
    for v in ("8.5", "8.6"):
        p = plan_for(v, "fp16")
        assert p.network_flags == ("EXPLICIT_BATCH",) and "FP16" in p.builder_flags and p.pin_norms
        assert "INT8" in plan_for(v, "int8").builder_flags and not p.strongly_typed
        assert plan_for(v, "fp32").builder_flags == ()
    assert not plan_for("8.5", "fp16").native_instancenorm and plan_for("8.6", "fp16").native_instancenorm
    for v in ("10.3", "10.13", "10.16"):
        for prec in PRECISIONS:  # item 4: INT8 strongly typed too, no precision flags
            p = plan_for(v, prec)
            assert p.network_flags == ("STRONGLY_TYPED",) and p.builder_flags == () and not p.pin_norms
    for prec in PRECISIONS:  # item 10: 11.x takes no creation flag at all
        p = plan_for("11.4", prec)
        assert p.strongly_typed and p.network_flags == () and p.builder_flags == () and not p.pin_norms
    with pytest.raises(EdgecglError, match="too old"):
        plan_for("8.4.3", "fp32")


def test_strongly_typed_int8_builds_the_qdq_fp16_graph() -> None:
    entry = {"file": "g.int8.onnx", "trt_file": "g.int8-fp16.onnx", "precision": "int8"}
    assert onnx_for(entry, plan_for("10.13", "int8")) == "g.int8-fp16.onnx"
    assert onnx_for(entry, plan_for("11.4", "int8")) == "g.int8-fp16.onnx"
    assert onnx_for(entry, plan_for("8.6", "int8")) == "g.int8.onnx"  # weakly typed: TensorRT picks FP16
    assert onnx_for({"file": "g.fp16.onnx", "precision": "fp16"}, plan_for("10.3", "fp16")) == "g.fp16.onnx"


def test_the_fake_rejects_what_a_version_lacks() -> None:
    """An 8.x recipe on TensorRT 11 must fail: EXPLICIT_BATCH and the FP16 flag are gone."""
    with pytest.raises(AttributeError, match="EXPLICIT_BATCH"):
        build_engine(FakeTRT("11.4.0.106"), Path("m.onnx"), plan_for("8.5", "fp16"), PROFILES)
    with pytest.raises(AttributeError, match="STRONGLY_TYPED"):
        build_engine(FakeTRT("8.6.1"), Path("m.onnx"), plan_for("10.3", "fp16"), PROFILES)
    with pytest.raises(AttributeError, match="NATIVE_INSTANCENORM|set_flag"):
        build_engine(FakeTRT("8.5"), Path("m.onnx"), plan_for("8.6", "fp16"), PROFILES)


def test_the_fake_checks_signatures_and_deprecations() -> None:
    """The harness itself can fail: wrong argument types and deprecated members are caught."""
    trt = FakeTRT("10.13.3.9")
    config = trt.Builder(trt.Logger()).create_builder_config()
    with pytest.raises(TypeError, match="wants a BuilderFlag"):
        config.set_flag(trt.OnnxParserFlag.NATIVE_INSTANCENORM)
    with pytest.raises(TypeError, match="takes"):
        config.set_timing_cache(1, 2, 3)
    config.set_flag(trt.BuilderFlag.FP16)
    assert ("BuilderFlag", "FP16") in trt.deprecated_touched()
    assert not FakeTRT("10.3.0").api.is_deprecated("BuilderFlag", "FP16")


@pytest.mark.parametrize("version", ["8.5", "8.6.1"])
def test_only_norm_layers_are_pinned_by_type_not_name(version: str) -> None:
    """Item 2: the FP16 cast after a norm carries the norm's name but must not be pinned to FP32."""
    trt = FakeTRT(version)
    norm = ("PLUGIN_V2", "/net/in0/InstanceNormalization", "InstanceNormalization_TRT")
    trt.layers = [
        ("CONVOLUTION", "/net/conv0/Conv", ""),
        norm if version == "8.5" else ("NORMALIZATION", "/net/in0/InstanceNormalization", ""),
        ("CAST", "cast_/net/in0/InstanceNormalization_output_0__fp16", ""),
        ("PLUGIN_V2", "/net/other_plugin", "SomeOtherPlugin_TRT"),
    ]
    if version != "8.5":
        trt.layers.append(norm)
    build_engine(trt, Path("m.onnx"), plan_for(version, "fp16"), PROFILES)
    pinned = [obj._name for obj in trt.layer_objects if "precision" in obj.set]
    expected = ["/net/in0/InstanceNormalization"] * (1 if version == "8.5" else 2)
    assert pinned == expected
    assert not trt.deprecated_touched()


def test_timing_cache_mismatch_starts_a_new_cache() -> None:
    """Item 10: set_timing_cache's False (a cache from another TensorRT/GPU) is not ignored."""
    trt = FakeTRT("10.3.0")
    answers = iter([False, True])
    trt.script[("IBuilderConfig", "set_timing_cache")] = lambda *a: next(answers)
    logs: list[str] = []
    build_engine(trt, Path("m.onnx"), plan_for("10.3", "fp16"), PROFILES, 1 << 20, b"old", logs.append)
    assert [a[0] for a in _calls(trt, "IBuilderConfig", "create_timing_cache")] == [b"old", b""]
    assert any("timing cache" in s for s in logs)
    trt = FakeTRT("10.3.0")
    trt.script[("IBuilderConfig", "set_timing_cache")] = False
    with pytest.raises(EdgecglError, match="timing cache"):
        build_engine(trt, Path("m.onnx"), plan_for("10.3", "fp16"), PROFILES)


def _runner(version: str) -> tuple[FakeTRT, EngineRunner]:
    trt = FakeTRT(version)
    trt.profiles = [PROFILES["frame"], PROFILES["crops"]]
    return trt, EngineRunner(trt, b"plan", "content_encoder.fp16.engine")


@pytest.mark.parametrize("version", VERSIONS)
def test_runtime_binds_to_the_real_api_and_uses_nothing_deprecated(version: str) -> None:
    trt, runner = _runner(version)
    assert runner.inputs == ["image"] and runner.outputs == ["content"] and runner.num_profiles == 2
    shapes = runner.set_inputs({"image": (1, 3, 16, 16)}, {"image": 1234}, 7)
    assert shapes == {"content": (1, 8, 4, 4)}
    runner.set_outputs({"content": 5678})
    runner.enqueue(7)
    for dt in ("FLOAT", "HALF", "INT32", "INT8", "BOOL"):
        _torch_dtype(trt, torch, getattr(trt.DataType, dt))
    touched = trt.touched()
    assert not trt.deprecated_touched(), trt.deprecated_touched()
    assert any(n == "init_libnvinfer_plugins" for _, n in touched)  # item 1, runtime side
    for call in ("num_io_tensors", "get_tensor_name", "get_tensor_mode", "num_optimization_profiles"):
        assert ("ICudaEngine", call) in touched
    for call in (
        "set_optimization_profile_async",
        "set_input_shape",
        "set_tensor_address",
        "execute_async_v3",
    ):
        assert ("IExecutionContext", call) in touched


@pytest.mark.parametrize("version", ["8.6.1", "11.4.0.106"])
def test_each_call_runs_on_the_profile_that_holds_its_shapes(version: str) -> None:
    """Item 3: frames on profile 0, crop batches on profile 1, each on its own context."""
    trt, runner = _runner(version)
    runner.set_inputs({"image": (1, 3, 16, 16)}, {"image": 1}, 5)
    frame_ctx = runner.active
    runner.set_inputs({"image": (6, 3, 8, 8)}, {"image": 2}, 5)
    crop_ctx = runner.active
    runner.set_inputs({"image": (2, 3, 32, 32)}, {"image": 3}, 5)
    assert runner.active is frame_ctx and crop_ctx is not frame_ctx
    assert [a for a in _calls(trt, "IExecutionContext", "set_optimization_profile_async")] == [(0, 5), (1, 5)]
    with pytest.raises(EdgecglError, match="outside the engine's profiles"):
        runner.set_inputs({"image": (9, 3, 8, 8)}, {"image": 1})


def test_refused_shapes_and_addresses_are_errors() -> None:
    """Item 10: set_input_shape / set_tensor_address / set_optimization_profile_async return values."""
    for member in ("set_input_shape", "set_tensor_address", "set_optimization_profile_async"):
        trt, runner = _runner("10.13.3.9")
        trt.script[("IExecutionContext", member)] = False
        with pytest.raises(EdgecglError, match="refused"):
            runner.set_inputs({"image": (1, 3, 16, 16)}, {"image": 1})


def test_profiles_per_use() -> None:
    """Items 3 and 7: frame and crop profiles; shared encoders get the crop profile too."""
    m = {"resolution": {"frame": [256, 512], "instance": [128, 128]}, "content_channels": 256, "style_dim": 8}
    m |= {"domains": ["a", "b", "c", "d"], "stride": 4}
    m["models"] = {
        r: {} for r in ("content_encoder", "content_encoder_instance", "style_encoder", "generator")
    }
    enc = profile_shapes(m, "content_encoder")
    assert list(enc) == ["frame"]
    assert enc["frame"]["image"] == ((1, 3, 128, 256), (1, 3, 256, 512), (2, 3, 256, 512))
    inst = profile_shapes(m, "content_encoder_instance")
    assert list(inst) == ["crops"] and inst["crops"]["image"][2] == (MAX_BATCH_INSTANCE, 3, 128, 128)
    gen = profile_shapes(m, "generator")
    assert list(gen) == ["frame", "crops"]
    assert gen["frame"]["content"] == ((1, 256, 32, 64), (1, 256, 64, 128), (2, 256, 64, 128))
    assert gen["crops"]["content"][2] == (MAX_BATCH_INSTANCE, 256, 32, 32)
    assert gen["crops"]["style"][2] == (MAX_BATCH_INSTANCE, 8) and gen["frame"]["domain"][2] == (2, 4)
    assert list(profile_shapes(m, "style_encoder")) == ["frame", "crops"]  # no style_encoder_instance
    del m["models"]["content_encoder_instance"]
    shared = profile_shapes(m, "content_encoder")
    assert list(shared) == ["frame", "crops"] and shared["crops"]["image"][1] == (4, 3, 128, 128)


def test_upsampler_profile() -> None:
    m = {"resolution": {"frame": [256, 512], "instance": [128, 128]}, "content_channels": 8, "style_dim": 8}
    m |= {"domains": ["a", "b"], "models": {"upsampler": {}}}
    up = profile_shapes(m, "upsampler")["output"]
    assert up["guide"] == ((1, 3, 1, 1), (1, 3, 720, 1280), (1, 3, 1920, 1920))
    assert up["low_guide"] == up["low_image"] == ((1, 3, 64, 128), (1, 3, 256, 512), (1, 3, 256, 512))
    crops = profile_shapes(m, "upsampler")["crops"]
    assert crops["low_image"] == ((1, 3, 128, 128),) * 3 and crops["guide"][1] == (1, 3, 256, 256)
    m["resolution"]["frame"] = [1088, 1920]  # a working size above 1080p: the range still contains it
    g = profile_shapes(m, "upsampler")["output"]["guide"]
    assert all(a <= b <= c for a, b, c in zip(*g, strict=True)) and g[2][2] >= 1088


@pytest.mark.parametrize(
    "frame,instance", [((256, 512), (64, 64)), ((128, 256), (32, 32)), ((64, 128), (64, 64))]
)
def test_every_upsampler_call_the_runtime_makes_has_a_profile(
    frame: tuple[int, int], instance: tuple[int, int]
) -> None:
    """The shapes ``Translator.translate_frame`` and ``translate_windows`` send to the upsampler, against
    the profiles the engine is built with: the crops' low pair is the instance size, not the frame's
    (TensorRT would have refused every frame with an instance), and the guide is any input video or crop
    window."""
    import numpy as np

    from edgecgl.backends.tensorrt import _fits
    from edgecgl.compose import letterbox

    m = {"resolution": {"frame": list(frame), "instance": list(instance)}, "content_channels": 8}
    m |= {"style_dim": 8, "domains": ["a", "b"], "models": {"upsampler": {}}, "stride": 4}
    profiles = list(profile_shapes(m, "upsampler").values())

    def fits(guide: tuple[int, int], low: tuple[int, int]) -> bool:
        shapes = {"guide": (1, 3, *guide), "low_guide": (1, 3, *low), "low_image": (1, 3, *low)}
        return any(all(_fits(shapes[n], p[n][0], p[n][2]) for n in shapes) for p in profiles)

    for video in [(540, 960), (720, 1280), (1080, 1920), (480, 640), (240, 320), (1920, 1080), (375, 1242)]:
        _, lb = letterbox(np.zeros((*video, 3), np.uint8), frame)
        assert fits(video, lb.inner_hw), (video, lb.inner_hw)
    for window in [(6, 9), (40, 30), instance, (300, 500), (1080, 800)]:
        assert fits(window, instance), window
