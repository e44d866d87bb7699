"""What picking by the training photos buys: one training at step 6000, the step picked per training, and
two trainings side by side with the lowest training-photo KID among both runs' snapshots (every pair).

python -m benchmarks.realfog_pick    # reads benchmarks/results/realfog_trainings.json, prints the table

Only training photos choose; the held-out score is what the choice is judged by (issue 14: KID x100 <= 5).
Ties go to the earlier step, as the README's one-command pick lists them.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS

BAR = 5.0


def candidates(t: dict[str, Any], steps: list[str]) -> list[tuple[float, float]]:
    """(training-photo KID, held-out KID) per snapshot, in step order."""
    return [(t["train_kid"][s], t["heldout_kid"][s]) for s in steps]


def pick(cands: list[tuple[float, float]]) -> float:
    """The held-out KID of the candidate with the lowest training-photo KID (first on a tie)."""
    return min(cands, key=lambda c: c[0])[1]


def strategies(trainings: dict[str, dict[str, Any]]) -> dict[str, list[float]]:
    ts = list(trainings.values())
    steps = ["4000", "5000", "6000"]
    return {
        "one training, step 6000": [t["heldout_kid"]["6000"] for t in ts],
        "one training, step picked (4000/5000/6000)": [pick(candidates(t, steps)) for t in ts],
        "two trainings, the better at step 6000": [
            pick(candidates(a, ["6000"]) + candidates(b, ["6000"])) for a, b in itertools.combinations(ts, 2)
        ],
        "two trainings, the best of their six snapshots": [
            pick(candidates(a, steps) + candidates(b, steps)) for a, b in itertools.combinations(ts, 2)
        ],
    }


def table(trainings: dict[str, dict[str, Any]]) -> list[str]:
    out = [
        "| strategy | cases | held-out KID×100, mean | worst | cases ≤ 5 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, vals in strategies(trainings).items():
        ok = sum(v <= BAR for v in vals)
        out.append(
            f"| {name} | {len(vals)} | {sum(vals) / len(vals):.2f} | {max(vals):.2f} | {ok} of {len(vals)} |"
        )
    return out


def main(path: Path = RESULTS / "realfog_trainings.json") -> None:
    print("\n".join(table(json.loads(path.read_text(encoding="utf-8"))["trainings"])))


if __name__ == "__main__":
    main()
