"""Adaptive weight of the WGAN gradient penalty (Deep Photo Enhancer, CVPR 2018; paper §4).

WGAN-GP trains well only in a narrow band of λ_gp. Instead of tuning it, watch an exponential moving
average of the *unweighted* penalty E[(‖∇D(x̂)‖ - 1)²]: when the critic's gradients drift off norm 1
(EMA above ``upper``) the penalty is too weak, so λ doubles; when the EMA falls below ``lower`` the
penalty dominates the critic, so λ halves. After every change λ is held for ``hold`` updates and the EMA
restarts, so one change can take effect before the next is considered.

The published code only raises λ and publishes no lower bound: ``lower`` is our config value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass
class GPConfig:
    initial: float = 10.0  # λ_gp at step 0 (WGAN-GP's usual value)
    adaptive: bool = True  # false: λ stays at ``initial``
    decay: float = 0.99  # EMA decay of the unweighted penalty
    upper: float = 0.05  # EMA above this: λ *= factor
    lower: float = 0.001  # EMA below this: λ /= factor (not published; our choice)
    factor: float = 2.0
    hold: int = 50  # updates to wait after a change (the EMA restarts)
    min_value: float = 1e-3  # clamp, so a long quiet phase cannot drive λ to 0
    max_value: float = 1e5

    def validate(self) -> None:
        from edgecgl.errors import EdgecglError

        if not 0.0 <= self.decay < 1.0:
            raise EdgecglError(f"loss.gp.decay must be in [0, 1), got {self.decay}")
        if not 0.0 <= self.lower < self.upper:
            raise EdgecglError(f"loss.gp needs 0 <= lower < upper, got {self.lower} / {self.upper}")
        if self.factor <= 1.0 or self.hold < 0 or self.initial <= 0:
            raise EdgecglError("loss.gp needs factor > 1, hold >= 0 and initial > 0")


class AdaptiveGPWeight:
    """λ_gp as a small state machine; ``update(penalty)`` once per critic step, read ``value``."""

    def __init__(self, cfg: GPConfig | None = None) -> None:
        self.cfg = cfg or GPConfig()
        self.value = float(self.cfg.initial)
        self.ema: float | None = None  # None: restarts from the next observation
        self.hold_left = 0
        self.changes = 0

    def update(self, penalty: float) -> float:
        """Feed the unweighted penalty of this step; returns λ for the next step.

        Non-finite penalties are ignored here (the trainer stops on them anyway).
        """
        c = self.cfg
        if not c.adaptive or not math.isfinite(penalty):
            return self.value
        self.ema = penalty if self.ema is None else c.decay * self.ema + (1.0 - c.decay) * penalty
        if self.hold_left > 0:
            self.hold_left -= 1
            return self.value
        new = self.value
        if self.ema > c.upper:
            new = min(self.value * c.factor, c.max_value)
        elif self.ema < c.lower:
            new = max(self.value / c.factor, c.min_value)
        if new != self.value:
            self.value = new
            self.ema = None
            self.hold_left = c.hold
            self.changes += 1
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ema": -1.0 if self.ema is None else self.ema,
            "has_ema": self.ema is not None,
            "hold_left": self.hold_left,
            "changes": self.changes,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])
        self.ema = float(state["ema"]) if state["has_ema"] else None
        self.hold_left = int(state["hold_left"])
        self.changes = int(state.get("changes", 0))
