"""Adaptive weight of the WGAN gradient penalty (Deep Photo Enhancer, CVPR 2018; paper §4).

WGAN-GP trains well only in a narrow band of λ_gp. Instead of tuning it, watch an exponential moving
average of the *unweighted* penalty E[(‖∇D(x̂)‖ - 1)²]: when the critic's gradients drift off norm 1
(EMA above ``upper``) the penalty is too weak, so λ doubles; when the EMA falls below ``lower`` the
penalty dominates the critic, so λ halves. After every change λ is held for ``hold`` updates and the EMA
restarts, so one change can take effect before the next is considered. The EMA is bias-corrected
(as Adam's moments): right after a restart it is the mean of the penalties seen since, not 60 % the
first one (a plain EMA seeded with its first value keeps 0.99^50 of it after a 50-step hold).

The published code only raises λ and publishes no lower bound: ``lower`` is our config value, and so is
the ``max_value`` cap. Why a cap: with Adam, once the penalty dominates the critic's loss, doubling λ
barely changes the critic's steps (Adam is invariant to the loss scale), so the penalty does not fall
and λ doubles every ``hold`` steps while the adversarial term fades to nothing. On SynthWeather with the
paper's initialisation, λ went 10 -> 1e5 in 900 iterations and the translations collapsed into stripes.

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
    max_value: float = 1e3  # clamp (ours): see the module docstring

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
        self._raw = 0.0  # EMA accumulator since the last restart (starts at 0)
        self._n = 0  # observations since the last restart
        self.hold_left = 0
        self.changes = 0

    @property
    def ema(self) -> float | None:
        """Bias-corrected EMA of the penalty since the last restart; None right after one."""
        if self._n == 0:
            return None
        return self._raw / (1.0 - self.cfg.decay**self._n)

    def update(self, penalty: float) -> float:
        """Feed the unweighted penalty of this step; returns λ for the next step.

        Non-finite penalties are ignored here (the trainer stops on them anyway).
        """
        c = self.cfg
        if not c.adaptive or not math.isfinite(penalty):
            return self.value
        self._raw = c.decay * self._raw + (1.0 - c.decay) * penalty
        self._n += 1
        ema = self.ema
        assert ema is not None
        if self.hold_left > 0:
            self.hold_left -= 1
            return self.value
        new = self.value
        if ema > c.upper:
            new = min(self.value * c.factor, c.max_value)
        elif ema < c.lower:
            new = max(self.value / c.factor, c.min_value)
        if new != self.value:
            self.value = new
            self._raw, self._n = 0.0, 0
            self.hold_left = c.hold
            self.changes += 1
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ema_raw": self._raw,
            "ema_n": self._n,
            "hold_left": self.hold_left,
            "changes": self.changes,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])
        self._raw = float(state["ema_raw"])
        self._n = int(state["ema_n"])
        self.hold_left = int(state["hold_left"])
        self.changes = int(state.get("changes", 0))
