"""The inference checkpoint: generator side only, plain tensors and lists, loaded with weights_only=True.

This is the contract between the trainer (which writes it) and the exporter (which reads it):

    {"format": "edgecgl-inference", "version": 1,
     "model": ModelConfig as a dict, "domains": [names in one-hot order],
     "resolution": {"frame": [H, W], "instance": [h, w]},
     "weights": state_dict of CGLModel.generator_modules() (the EMA copy when training keeps one),
     "style_stats": {"global" | "instance": {domain: {"mean": Tensor[S], "cov": Tensor[S, S]}}}
                    (+ "luma": Tensor[2] in "global": the frames' lowest and highest mean luma),
     "config_sha256": str, "step": int}
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import torch
from edgecgl.train.checkpoint import load_failure
from edgecgl.train.nets import CGLModel, ModelConfig
from torch import nn

from edgecgl.atomic import atomic_path
from edgecgl.errors import EdgecglError

FORMAT = "edgecgl-inference"
VERSION = 1


@dataclasses.dataclass
class InferenceModel:
    """The generator side of a trained model plus what the exporter must carry into the bundle."""

    cfg: ModelConfig
    modules: nn.ModuleDict  # content_enc, style_enc, gen [, content_enc_inst, style_enc_inst]
    domains: list[str]
    frame_size: tuple[int, int]
    instance_size: tuple[int, int]
    style_stats: dict[str, dict[str, dict[str, torch.Tensor]]]
    config_sha256: str
    step: int

    def encoders(self, granularity: str) -> tuple[nn.Module, nn.Module]:
        if granularity == "instance" and "content_enc_inst" in self.modules:
            return self.modules["content_enc_inst"], self.modules["style_enc_inst"]
        return self.modules["content_enc"], self.modules["style_enc"]


def save_inference(
    path: Path,
    model: CGLModel,
    domains: list[str],
    frame_size: tuple[int, int],
    instance_size: tuple[int, int],
    style_stats: dict[str, dict[str, dict[str, torch.Tensor]]],
    config_sha256: str,
    step: int,
    generator_modules: nn.ModuleDict | None = None,
) -> None:
    """Write atomically. ``generator_modules`` overrides the weights (pass the EMA copy)."""
    mods = generator_modules if generator_modules is not None else model.generator_modules()
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": dataclasses.asdict(model.cfg),
        "domains": list(domains),
        "resolution": {"frame": list(frame_size), "instance": list(instance_size)},
        "weights": {k: v.detach().cpu().clone() for k, v in mods.state_dict().items()},
        "style_stats": {
            g: {d: {k: t.detach().cpu().float() for k, t in s.items()} for d, s in per.items()}
            for g, per in style_stats.items()
        },
        "config_sha256": config_sha256,
        "step": int(step),
    }
    with atomic_path(Path(path)) as tmp:
        torch.save(payload, tmp)


def load_inference(path: Path, map_location: str | torch.device = "cpu") -> InferenceModel:
    """Load with ``weights_only=True``: a crafted pickle cannot run code; anything else is a user error."""
    p = Path(path)
    if not p.is_file():
        raise EdgecglError(f"checkpoint {p} does not exist")
    try:
        with warnings.catch_warnings():  # a raw pickle's protocol note: the file is refused or checked below
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            data: dict[str, Any] = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our checkpoint"
        raise EdgecglError(
            f"{p} is not a loadable edgecgl checkpoint: {load_failure(exc)}",
            "give a model.pt written by edgecgl train",
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EdgecglError(
            f"{p} is not an edgecgl inference checkpoint", "use runs/train/<run>/checkpoints/model.pt"
        )
    if data.get("version") != VERSION:
        raise EdgecglError(f"{p} has checkpoint version {data.get('version')}, this edgecgl reads {VERSION}")
    cfg = ModelConfig(**{**data["model"], "preset": "custom"})
    full = CGLModel(cfg)
    mods = full.generator_modules()
    missing, unexpected = mods.load_state_dict(data["weights"], strict=False)
    if missing or unexpected:
        raise EdgecglError(
            f"{p} does not match its model config (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    mods.eval()
    res = data["resolution"]
    return InferenceModel(
        cfg=cfg,
        modules=mods,
        domains=list(data["domains"]),
        frame_size=(int(res["frame"][0]), int(res["frame"][1])),
        instance_size=(int(res["instance"][0]), int(res["instance"][1])),
        style_stats=data.get("style_stats", {}),
        config_sha256=str(data.get("config_sha256", "")),
        step=int(data.get("step", 0)),
    )
