"""Default row names of `edgecgl eval` when several models would share one (snapshots of two trainings)."""

from pathlib import Path

from edgecgl.cli.eval_cmd import distinct_names


def test_snapshots_of_two_runs_get_the_shortest_tails_that_differ() -> None:
    paths = [
        Path(f"runs/fleet-s{s}/000-realfog/checkpoints/model-00{k}000.pt") for s in (0, 1) for k in (4, 6)
    ]
    assert distinct_names(paths) == [
        "fleet-s0/000-realfog/model-004000",
        "fleet-s0/000-realfog/model-006000",
        "fleet-s1/000-realfog/model-004000",
        "fleet-s1/000-realfog/model-006000",
    ]


def test_one_run_needs_only_the_file_and_bundles_their_folder() -> None:
    run = Path("runs/fleet/000-realfog/checkpoints")
    assert distinct_names([run / "model-004000.pt", run / "model.pt"]) == ["model-004000", "model"]
    assert distinct_names([Path("a/bundle"), Path("b/bundle")]) == ["a/bundle", "b/bundle"]


def test_identical_paths_fall_back_to_the_paths() -> None:
    assert distinct_names([Path("x/model.pt"), Path("x/model.pt")]) == ["x/model.pt", "x/model.pt"]
