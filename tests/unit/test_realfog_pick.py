"""benchmarks/realfog_pick.py: only the training photos choose, ties go to the earlier step."""

from benchmarks import realfog_pick


def _t(train: tuple[float, float, float], held: tuple[float, float, float]) -> dict:
    steps = ("4000", "5000", "6000")
    return {
        "train_kid": dict(zip(steps, train, strict=True)),
        "heldout_kid": dict(zip(steps, held, strict=True)),
    }


def test_the_lowest_training_kid_chooses_and_the_held_out_score_judges() -> None:
    ts = {
        "a": _t((4.0, 3.9, 3.8), (5.5, 5.4, 5.3)),
        "b": _t((3.7, 3.9, 3.9), (4.5, 4.9, 4.8)),
        "c": _t((3.9, 3.6, 3.6), (5.2, 4.9, 5.0)),
    }
    s = realfog_pick.strategies(ts)
    assert s["one training, step 6000"] == [5.3, 4.8, 5.0]
    assert s["one training, step picked (4000/5000/6000)"] == [5.3, 4.5, 4.9]  # c: tie 5000/6000 -> 5000
    assert s["two trainings, the better at step 6000"] == [5.3, 5.0, 5.0]  # a+b: a's 3.8 beats b's 3.9
    assert s["two trainings, the best of their six snapshots"] == [4.5, 4.9, 4.9]
    rows = realfog_pick.table(ts)
    assert rows[-1] == "| two trainings, the best of their six snapshots | 3 | 4.77 | 4.90 | 3 of 3 |"
