"""The adaptive gradient-penalty weight: rise, fall, hold, EMA restart, state round trip."""

from __future__ import annotations

import pytest
from edgecgl.train.gp import AdaptiveGPWeight, GPConfig

from edgecgl.errors import EdgecglError


def test_rises_when_penalty_above_upper_then_holds() -> None:
    w = AdaptiveGPWeight(GPConfig(initial=10, upper=0.05, lower=0.001, hold=3))
    assert w.update(0.2) == 20.0  # EMA starts at the first value, above 0.05 -> x2
    assert w.hold_left == 3 and w.ema is None
    for _ in range(3):
        assert w.update(1.0) == 20.0  # held although far above upper
    assert w.update(1.0) == 40.0  # hold over: EMA (restarted during the hold) is high -> x2


def test_falls_below_lower_and_stays_in_band() -> None:
    w = AdaptiveGPWeight(GPConfig(initial=10, upper=0.05, lower=0.01, hold=0))
    assert w.update(0.001) == 5.0
    assert w.update(0.02) == 5.0  # EMA restarted at 0.02: inside the band, no change
    assert w.changes == 1


def test_ema_is_bias_corrected_and_decays() -> None:
    w = AdaptiveGPWeight(GPConfig(initial=10, decay=0.99, upper=0.05, lower=0.0, hold=0))
    for _ in range(99):
        w.update(0.04)
    assert w.ema == pytest.approx(0.04)  # a mean of the observations, not pulled toward a 0 start
    assert w.value == 10.0
    w.update(1.3)  # (0.01 * 1.3 + 0.99 * 0.04 * (1 - 0.99^99)) / (1 - 0.99^100) > 0.05
    assert w.value == 20.0
    w = AdaptiveGPWeight(GPConfig(decay=0.5, upper=10, lower=0.0, hold=0))
    w.update(4.0)
    w.update(0.0)
    assert w.ema == pytest.approx((0.5 * 0.5 * 4.0) / (1 - 0.25))  # recent values weigh more


def test_not_adaptive_and_nonfinite_leave_it_alone() -> None:
    w = AdaptiveGPWeight(GPConfig(adaptive=False))
    assert w.update(100.0) == 10.0
    w = AdaptiveGPWeight()
    assert w.update(float("nan")) == 10.0 and w.ema is None


def test_clamped() -> None:
    assert GPConfig().max_value == 1e3
    w = AdaptiveGPWeight(GPConfig(initial=4, max_value=5, hold=0))
    assert w.update(1.0) == 5.0
    assert w.update(1.0) == 5.0


def test_state_round_trip() -> None:
    a = AdaptiveGPWeight(GPConfig(hold=5))
    a.update(0.3)
    a.update(0.2)
    b = AdaptiveGPWeight(GPConfig(hold=5))
    b.load_state_dict(a.state_dict())
    assert (b.value, b.ema, b.hold_left, b.changes) == (a.value, a.ema, a.hold_left, a.changes)
    for p in (0.5, 0.0, 0.0001, 0.3, 0.3, 0.3, 0.3):
        assert a.update(p) == b.update(p)


def test_bad_config_is_a_user_error() -> None:
    with pytest.raises(EdgecglError):
        GPConfig(lower=0.1, upper=0.05).validate()
