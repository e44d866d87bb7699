"""Adaptive weight of the WGAN gradient penalty (Deep Photo Enhancer, CVPR 2018; paper §4).

WGAN-GP trains well only in a narrow band of λ_gp. Instead of tuning it, a small controller watches an
exponential moving average (EMA) of one statistic of the critic's gradients on the interpolates and
doubles or halves λ. After every change λ is held for ``hold`` updates and the EMA restarts, so one change
can take effect before the next is considered. The EMA is bias-corrected (as Adam's moments): right after
a restart it is the mean of the values seen since, not 60 % of the first one.

Two rules (``rule``):

``norm`` (default, ours): watch the mean gradient norm ‖∇D(x̂)‖. Above ``1 + norm_high`` the critic
    breaks the 1-Lipschitz constraint the penalty enforces, so the penalty is too weak: λ doubles. Below
    ``1 - norm_low`` the constraint holds with room to spare and the penalty only pulls the gradients *up*
    (its two-sided form): λ halves, down to ``min_value``. The default floor equals ``initial`` (10), so by
    default λ only rises above StarGAN's fixed 10 while the critic is too steep: with a floor of 1, a
    critic that starts flat got λ 2.5 by step 100 and then, with Adam (0, 0.99), jumped to ‖∇D‖ 8 and
    E[D(fake)] - E[D(real)] = -708 before λ could double back (docs/RESULTS.md, "The GAN recipe").
``penalty`` (the published rule, the paper's setting): watch the unweighted penalty E[(‖∇D‖ - 1)²]; above
    ``upper`` λ doubles, below ``lower`` (ours; the published code only raises λ) it halves. It cannot tell
    a too-steep critic from a too-flat one. With the paper's D initialisation (N(0, 0.02)) ‖∇D‖ starts
    near 0, the penalty near 1, so λ doubles every ``hold`` steps to ``max_value``; Adam is invariant to the
    loss scale, so the critic's step becomes pure penalty, the real/fake term fades and on SynthWeather the
    generator collapsed into stripes near step 850 (docs/RESULTS.md, "The instability").

``max_value`` caps λ either way (ours; the paper publishes no bound). ``adaptive: false`` keeps λ at
``initial`` (StarGAN v1: fixed λ = 10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

RULES = ("norm", "penalty")


@dataclass
class GPConfig:
    initial: float = 10.0  # λ_gp at step 0 (WGAN-GP's and StarGAN's value)
    adaptive: bool = True  # false: λ stays at ``initial``
    rule: str = "norm"  # norm: act on mean ‖∇D‖ (direction-aware); penalty: the published rule
    decay: float = 0.99  # EMA decay of the watched statistic
    norm_high: float = 0.2  # rule norm: EMA(‖∇D‖) above 1 + norm_high -> λ *= factor
    norm_low: float = 0.5  # rule norm: EMA(‖∇D‖) below 1 - norm_low -> λ /= factor
    upper: float = 0.05  # rule penalty: EMA(penalty) above this -> λ *= factor
    lower: float = 0.001  # rule penalty: EMA(penalty) below this -> λ /= factor (not published; ours)
    factor: float = 2.0
    hold: int = 50  # updates to wait after a change (the EMA restarts)
    min_value: float = 10.0  # floor: λ never goes below StarGAN's fixed 10 (see the module docstring)
    max_value: float = 100.0  # clamp (ours): see the module docstring

    def validate(self) -> None:
        from edgecgl.errors import EdgecglError

        if self.rule not in RULES:
            raise EdgecglError(f"loss.gp.rule must be one of {', '.join(RULES)}, got '{self.rule}'")
        if not 0.0 <= self.decay < 1.0:
            raise EdgecglError(f"loss.gp.decay must be in [0, 1), got {self.decay}")
        if not 0.0 <= self.lower < self.upper:
            raise EdgecglError(f"loss.gp needs 0 <= lower < upper, got {self.lower} / {self.upper}")
        if not (0.0 <= self.norm_low < 1.0 and self.norm_high >= 0.0):
            raise EdgecglError(
                f"loss.gp needs 0 <= norm_low < 1 and norm_high >= 0, got {self.norm_low} / {self.norm_high}"
            )
        if self.factor <= 1.0 or self.hold < 0 or self.initial <= 0:
            raise EdgecglError("loss.gp needs factor > 1, hold >= 0 and initial > 0")
        if not 0.0 < self.min_value <= self.max_value:
            raise EdgecglError(
                f"loss.gp needs 0 < min_value <= max_value, got {self.min_value} / {self.max_value}"
            )


class AdaptiveGPWeight:
    """λ_gp as a small state machine; ``update(penalty, grad_norm)`` once per critic step, read ``value``."""

    def __init__(self, cfg: GPConfig | None = None) -> None:
        self.cfg = cfg or GPConfig()
        self.value = float(self.cfg.initial)
        self._raw = 0.0  # EMA accumulator since the last restart (starts at 0)
        self._n = 0  # observations since the last restart
        self.hold_left = 0
        self.changes = 0

    @property
    def ema(self) -> float | None:
        """Bias-corrected EMA of the watched statistic since the last restart; None right after one."""
        if self._n == 0:
            return None
        return self._raw / (1.0 - self.cfg.decay**self._n)

    def _direction(self, ema: float) -> int:
        """+1: the penalty is too weak (raise λ), -1: too strong (lower λ), 0: leave it."""
        c = self.cfg
        if c.rule == "norm":
            return 1 if ema > 1.0 + c.norm_high else -1 if ema < 1.0 - c.norm_low else 0
        return 1 if ema > c.upper else -1 if ema < c.lower else 0

    def update(self, penalty: float, grad_norm: float | None = None) -> float:
        """Feed this step's unweighted penalty and mean ‖∇D‖; returns λ for the next step.

        The ``norm`` rule needs ``grad_norm``. Non-finite values are ignored here (the trainer stops on
        them anyway).
        """
        c = self.cfg
        if not c.adaptive:
            return self.value
        if c.rule == "norm":
            if grad_norm is None:
                raise ValueError("loss.gp.rule 'norm' needs the critic's mean gradient norm")
            x = float(grad_norm)
        else:
            x = float(penalty)
        if not math.isfinite(x):
            return self.value
        self._raw = c.decay * self._raw + (1.0 - c.decay) * x
        self._n += 1
        ema = self.ema
        assert ema is not None
        if self.hold_left > 0:
            self.hold_left -= 1
            return self.value
        step = self._direction(ema)
        new = self.value
        if step > 0:
            new = min(self.value * c.factor, c.max_value)
        elif step < 0:
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
