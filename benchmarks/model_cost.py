"""Parameters and FLOPs per preset and module at 256x512 and 720x1280 (no timing, runs anywhere).

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matmuls, 2 FLOP per
multiply-add; norms, activations, padding and upsampling are not counted) on the meta device, so
counting ``paper`` at 720x1280 allocates nothing. A frame costs content encoder + generator (the style
code is fixed per video; the style encoder runs once, or never when the bundle's mean style is used).

    python -m benchmarks.model_cost
"""

from __future__ import annotations

import torch
from edgecgl.train.nets import PRESETS, CGLModel, ModelConfig, count_parameters
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import log, write_results

SIZES = ((256, 512), (720, 1280))


def module_flops(module: torch.nn.Module, *inputs: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as fc:
        module(*inputs)
    return int(fc.get_total_flops())


def preset_cost(preset: str) -> dict[str, object]:
    with torch.device("meta"):
        model = CGLModel(ModelConfig(preset=preset)).eval()
    cfg = model.cfg
    params = {
        "content_encoder": count_parameters(model.content_enc),
        "style_encoder": count_parameters(model.style_enc),
        "mlp": count_parameters(model.gen.mlp),
        "decoder": count_parameters(model.gen.decoder),
        "generator": count_parameters(model.gen),
        "discriminator_global": count_parameters(model.dis_global),
        "discriminator_instance": count_parameters(model.dis_inst),
        "generator_side_total": count_parameters(model.generator_modules()),
        "all": count_parameters(model),
    }
    per_size = {}
    for h, w in SIZES:
        with torch.device("meta"), torch.no_grad():
            img = torch.empty(1, 3, h, w)
            dom = torch.zeros(1, cfg.n_domains)
            content = torch.empty(1, cfg.content_channels, h // 4, w // 4)
            style = torch.empty(1, cfg.style_dim)
            enc = module_flops(model.content_enc, img)
            gen = module_flops(model.gen, content, style, dom)
            sty = module_flops(model.style_enc, img, dom)
        per_size[f"{h}x{w}"] = {
            "content_encoder_gflop": round(enc / 1e9, 3),
            "generator_gflop": round(gen / 1e9, 3),
            "style_encoder_gflop": round(sty / 1e9, 3),
            "frame_gflop": round((enc + gen) / 1e9, 3),
        }
    return {
        "config": {k: getattr(cfg, k) for k in ("dim", "n_res", "mlp_dim", "d_dim")},
        "params": params,
        "flops": per_size,
    }


def main() -> None:
    out = {p: preset_cost(p) for p in PRESETS}
    for p, r in out.items():
        f = r["flops"]
        log(
            f"{p:6s} generator-side {r['params']['generator_side_total'] / 1e6:6.2f} M params, "
            f"all {r['params']['all'] / 1e6:6.2f} M; "
            + "; ".join(f"{s}: {v['frame_gflop']:.1f} GFLOP/frame" for s, v in f.items())
        )
    write_results("model_cost", {"torch": torch.__version__, "counter": "FlopCounterMode", "presets": out})


if __name__ == "__main__":
    main()
