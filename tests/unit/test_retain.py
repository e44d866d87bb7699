"""edgecgl/retain.py: which boxes a translation keeps, and ``--keep-objects``' redraw towards the mean."""

from __future__ import annotations

import numpy as np

from edgecgl.detect import Detection
from edgecgl.retain import (
    Choice,
    KeepCounts,
    band,
    keep_objects,
    keep_objects_clip,
    kept,
    lighter_spreads,
    near,
)

H = 100
CAR = Detection((10.0, 10.0, 60.0, 40.0), "car", 0.9)  # 30 % of the height: near
FAR = Detection((70.0, 50.0, 74.0, 53.0), "person", 0.8)  # 3 %: far


def test_bands_and_near() -> None:
    assert band(CAR, H) == "near" and band(FAR, H) == "far"
    assert near([CAR, FAR], H) == [CAR]


def test_kept_matches_one_to_one_within_class_groups() -> None:
    truck = Detection(CAR.box, "truck", 0.5)  # same group as car
    assert kept([CAR, FAR], [truck]) == [True, False]
    assert kept([CAR], [Detection(CAR.box, "person", 0.9)]) == [False]
    shifted = Detection((35.0, 10.0, 85.0, 40.0), "car", 0.9)  # IoU 1/3
    assert kept([CAR], [shifted]) == [False]


def fake(lost_above: float) -> tuple[list[float], object, object]:
    """A translator that hides the car at spreads above ``lost_above``; the detector reads the image."""
    calls: list[float] = []

    def translate(spread: float) -> np.ndarray:
        calls.append(spread)
        return np.full((H, H, 3), 0 if spread > lost_above else 1, np.uint8)

    def detect(img: np.ndarray) -> list[Detection]:
        return [CAR] if img[0, 0, 0] else []

    return calls, translate, detect


def test_a_kept_draw_is_not_redrawn() -> None:
    calls, translate, detect = fake(lost_above=10.0)
    out, c = keep_objects(translate, detect, [CAR, FAR], H, 2.0)
    assert c == Choice(2.0, 1, 1) and calls == [2.0] and out[0, 0, 0] == 1


def test_a_lost_car_is_redrawn_at_half_the_spread_until_found() -> None:
    calls, translate, detect = fake(lost_above=0.6)
    out, c = keep_objects(translate, detect, [CAR], H, 2.0)
    assert calls == [2.0, 1.0, 0.5] and c == Choice(0.5, 1, 1) and out[0, 0, 0] == 1


def test_the_last_try_is_the_mean_style() -> None:
    calls, translate, detect = fake(lost_above=0.0)  # found only at the mean
    out, c = keep_objects(translate, detect, [CAR], H, 2.0, tries=3)
    assert calls == [2.0, 1.0, 0.5, 0.0] and c == Choice(0.0, 1, 1) and out[0, 0, 0] == 1


def test_lost_everywhere_the_mean_is_used() -> None:
    """A car the detector misses in every try is still easiest to see in the lightest fog."""
    calls, translate, detect = fake(lost_above=-1.0)
    out, c = keep_objects(translate, detect, [CAR], H, 2.0, tries=3)
    assert calls == [2.0, 1.0, 0.5, 0.0] and c == Choice(0.0, 0, 1) and out[0, 0, 0] == 0


def test_none_keeps_all_the_one_that_keeps_most_wins() -> None:
    other = Detection((50.0, 50.0, 95.0, 90.0), "car", 0.9)  # a second near car, lost at every spread
    keeps = {2.0: [], 1.0: [CAR], 0.5: [], 0.0: []}  # the first car comes back at 1 only

    def translate(spread: float) -> np.ndarray:
        return np.full((H, H, 3), int(spread * 10), np.uint8)

    def detect(img: np.ndarray) -> list[Detection]:
        return keeps[img[0, 0, 0] / 10]

    out, c = keep_objects(translate, detect, [CAR, other], H, 2.0)
    assert c == Choice(1.0, 1, 2) and out[0, 0, 0] == 10  # not the mean, which keeps neither
    keeps[0.5] = [CAR]
    _, c = keep_objects(translate, detect, [CAR, other], H, 2.0)
    assert c == Choice(0.5, 1, 2)  # a tie: the lighter


def test_counts_add_up_choices() -> None:
    counts = KeepCounts()
    counts.add(Choice(2.0, 1, 1), 2.0)
    counts.add(Choice(0.5, 2, 3), 2.0)
    assert counts.as_dict() == {"images": 2, "redrawn": 1, "near": 4, "near_kept": 3, "short": 1}
    assert counts.summary().startswith("--keep-objects: 1 of 2 image(s) redrawn lighter; 3 of 4 near")
    assert counts.summary().endswith("1 image(s) still miss some, no lighter draw finding more")  # s31: why
    whole = KeepCounts()
    whole.add(Choice(2.0, 1, 1), 2.0)
    assert "still miss" not in whole.summary()


def test_only_near_objects_are_checked() -> None:
    calls, translate, detect = fake(lost_above=-1.0)
    _, c = keep_objects(translate, detect, [FAR], H, 2.0)  # real fog may hide the far pedestrian
    assert calls == [2.0] and c == Choice(2.0, 0, 0)


def test_lighter_spreads_halve_then_reach_the_mean() -> None:
    assert lighter_spreads(2.0) == [2.0, 1.0, 0.5, 0.0]
    assert lighter_spreads(3.0, tries=1) == [3.0, 0.0]


def test_a_clip_takes_the_first_spread_that_keeps_every_probes_near_objects() -> None:
    calls: list[float] = []

    def translate(spread: float) -> list[np.ndarray]:
        calls.append(spread)  # probe 0 always keeps its car; probe 1 loses it above spread 0.6
        return [np.full((H, H, 3), v, np.uint8) for v in (1, 0 if spread > 0.6 else 1)]

    def detect(img: np.ndarray) -> list[Detection]:
        return [CAR] if img[0, 0, 0] else []

    assert keep_objects_clip(translate, detect, [[CAR], [CAR, FAR]], H, 2.0) == Choice(0.5, 2, 2)
    assert calls == [2.0, 1.0, 0.5]
    calls.clear()  # probes without near objects: the draw stands
    assert keep_objects_clip(translate, detect, [[FAR], []], H, 2.0) == Choice(2.0, 0, 0) and calls == [2.0]
    lost = keep_objects_clip(lambda s: [np.zeros((H, H, 3), np.uint8)], detect, [[CAR]], H, 2.0)
    assert lost == Choice(0.0, 0, 1)  # lost at every spread, the mean too: the lightest, the mean
