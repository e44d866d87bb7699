"""The training configuration: nested dataclasses, loaded from YAML with ``--set`` overrides.

``configs/*.yaml`` hold only what differs from these defaults; the run folder's ``config.yaml`` holds
everything that ran (``edgecgl.config.dump_yaml``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import asdict, dataclass, field

from edgecgl.train.losses import LossConfig
from edgecgl.train.nets import ModelConfig

from edgecgl.config import dump_yaml
from edgecgl.domains import bdd_rules
from edgecgl.errors import EdgecglError


@dataclass
class DataConfig:
    spec: str = ""  # KIND:PATH (folder:, bdd100k:, init:), or --data
    domains: list[str] = field(default_factory=list)  # one-hot order; empty: edgecgl.domains.DOMAINS
    categories: list[str] = field(default_factory=list)  # instance classes kept; empty: the loader's default
    frame_size: list[int] = field(default_factory=lambda: [256, 256])  # H, W of global images
    instance_size: list[int] = field(default_factory=lambda: [64, 64])  # h, w of instance crops
    context: float = 0.1  # box padding on each side, as a fraction of its size
    flip: bool = True
    num_workers: int = 0
    # images without boxes: a random crop of the image (side fraction in [min, max]) is the instance
    fallback_crop: list[float] = field(default_factory=lambda: [0.25, 0.5])
    # Training crops (docs/RESULTS.md, "The GAN recipe"); the defaults are the runtime's crop geometry.
    min_box: float = 0.0  # boxes whose sides (with context) are under min_box * instance_size are skipped
    crop_aspect: str = "stretch"  # pad: grow the box's short side to instance_size's aspect first
    crop_antialias: bool = False  # average roi_align samples over each output pixel's footprint
    # > 1: cut the crops from the same window decoded at crop_scale x frame_size, as the runtime cuts them
    # from the full-resolution frame (1: from the training frame itself, the paper's data path)
    crop_scale: int = 1
    # bdd100k: attributes -> domain, [{domain, weather: [...], timeofday: [...]}, ...], the first matching
    # rule wins (edgecgl.domains.BddRules); empty: the paper's Table 1. Its domains are data.domains' default.
    bdd_rules: list[dict] = field(default_factory=list)

    def validate(self) -> None:
        if self.bdd_rules:  # checked here (one error naming the rule), kept as read: lower case, lists
            self.bdd_rules = [asdict(r) for r in bdd_rules(self.bdd_rules).rules]
        for name in ("frame_size", "instance_size"):
            v = getattr(self, name)
            if len(v) != 2 or min(v) < 1:
                raise EdgecglError(f"data.{name} must be [H, W] with positive sides, got {v}")
        h, w = self.frame_size
        if h % 4 or w % 4:
            raise EdgecglError(f"data.frame_size {self.frame_size} must be multiples of 4 (network stride)")
        if not isinstance(self.crop_scale, int) or not 1 <= self.crop_scale <= 16:
            raise EdgecglError(f"data.crop_scale must be an integer in [1, 16], got {self.crop_scale}")
        lo, hi = self.fallback_crop
        if not 0 < lo <= hi <= 1:
            raise EdgecglError(
                f"data.fallback_crop must satisfy 0 < min <= max <= 1, got {self.fallback_crop}"
            )


@dataclass
class OptimConfig:
    lr: float = 1e-4  # both optimizers (paper §4)
    lr_d: float = 0.0  # 0: same as lr
    beta1: float = 0.5  # MUNIT's Adam betas
    beta2: float = 0.999
    weight_decay: float = 0.0
    lr_step: int = 100_000  # halve (lr_gamma) every lr_step iterations
    lr_gamma: float = 0.5
    n_critic: int = 1  # discriminator updates per generator update

    def validate(self) -> None:
        """Refused here, before a run folder exists: Adam and StepLR would refuse them only in the trainer."""
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise EdgecglError(f"optim.lr must be > 0, got {self.lr}", "the paper's is 1e-4")
        if not (math.isfinite(self.lr_d) and self.lr_d >= 0):
            raise EdgecglError(f"optim.lr_d must be >= 0, got {self.lr_d}", "0 uses optim.lr for the critic")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise EdgecglError(f"optim.{name} must be in [0, 1), got {getattr(self, name)}")
        if not self.weight_decay >= 0:
            raise EdgecglError(f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        if self.lr_step < 1 or not 0.0 < self.lr_gamma <= 1.0:
            raise EdgecglError(
                f"optim.lr_step must be >= 1 and optim.lr_gamma in (0, 1], got {self.lr_step} / {self.lr_gamma}",
                "lr_gamma 1 keeps the learning rate constant",
            )


@dataclass
class EMAConfig:
    enabled: bool = True
    decay: float = 0.999  # with warm-up min(decay, (1 + step) / (10 + step))

    def validate(self) -> None:
        if not 0.0 <= self.decay < 1.0:  # 1 would keep the initial weights forever
            raise EdgecglError(
                f"ema.decay must be in [0, 1), got {self.decay}", "e.g. 0.999; ema.enabled=false turns it off"
            )


@dataclass
class LogConfig:
    every: int = 50  # metrics.jsonl line
    sample_every: int = 1000  # samples/NNNNNN.png (0: off)
    checkpoint_every: int = 1000  # last.pt + model.pt
    snapshots: bool = False  # also keep model-NNNNNN.pt at every checkpoint (to pick a step after training)
    tensorboard: bool = True  # if the tensorboard package is installed
    style_stats_images: int = 64  # per domain, for model.pt's style statistics

    def validate(self) -> None:
        if self.every < 1 or self.checkpoint_every < 1 or self.style_stats_images < 1:
            raise EdgecglError("log.every, log.checkpoint_every and log.style_stats_images must be >= 1")
        if self.sample_every < 0:
            raise EdgecglError(f"log.sample_every must be >= 0 (0: off), got {self.sample_every}")


@dataclass
class TrainConfig:
    name: str = "cgl"
    iters: int = 200_000
    batch: int = 2  # images per domain of the pair (the paper's batch size)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "none"  # none | bf16 | fp16
    compile: bool = False  # torch.compile the generator phase (the critic phase needs double backward)
    threads: int = 0  # CPU threads for torch (0: torch's default, which follows OMP_NUM_THREADS)
    init: str = "paper"  # paper: Kaiming normal (E, M, G) + N(0, 0.02) (D), §4; default: PyTorch's
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def validate(self) -> None:
        if self.amp not in ("none", "bf16", "fp16"):
            raise EdgecglError(f"amp must be none, bf16 or fp16, got '{self.amp}'")
        if self.init not in ("paper", "default"):
            raise EdgecglError(f"init must be paper or default, got '{self.init}'")
        if self.batch < 1 or self.iters < 0 or self.optim.n_critic < 1:
            raise EdgecglError("batch and optim.n_critic must be >= 1, iters >= 0")
        if self.threads < 0:
            raise EdgecglError(f"threads must be >= 0, got {self.threads}", "0 keeps torch's default")
        self.optim.validate()
        self.ema.validate()
        self.log.validate()
        for f in dataclasses.fields(self.loss):  # every weight, also those LossConfig leaves unchecked
            weight = getattr(self.loss, f.name)
            if isinstance(weight, float) and not weight >= 0:
                raise EdgecglError(f"loss.{f.name} must be >= 0, got {weight}", "0 turns the term off")
        m = self.model
        if m.d_scales < 1 or m.d_patch_layers < 1:
            raise EdgecglError("model.d_scales and model.d_patch_layers must be >= 1")
        if m.d_scales > 1:
            need = 2 ** (m.d_patch_layers + m.d_scales - 2)  # the coarsest patch critic's input
            small = min(min(self.data.frame_size), min(self.data.instance_size))
            if small < need:
                raise EdgecglError(
                    f"model.d_scales {m.d_scales} x d_patch_layers {m.d_patch_layers} needs sides of at least"
                    f" {need} px; the smallest input side is {small}",
                    "lower model.d_scales or model.d_patch_layers",
                )
        lo_box = self.data.min_box
        if not 0.0 <= lo_box <= 1.0 or self.data.crop_aspect not in ("stretch", "pad"):
            raise EdgecglError("data.min_box must be in [0, 1] and data.crop_aspect stretch or pad")
        # Each stride-2 layer of a discriminator halves the input: it needs at least 2**layers pixels.
        for name, size, layers in (
            ("frame_size", self.data.frame_size, self.model.d_layers_global),
            ("instance_size", self.data.instance_size, self.model.d_layers_instance),
        ):
            if min(size) < 2**layers:
                raise EdgecglError(
                    f"data.{name} {size} is too small for a {layers}-layer discriminator",
                    f"use sides of at least {2**layers}, or lower model.d_layers_{name.split('_')[0].replace('frame', 'global')}",
                )

    def sha256(self) -> str:
        return hashlib.sha256(dump_yaml(self).encode()).hexdigest()
