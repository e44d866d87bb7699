"""Byte-mutated small videos through the real CLI (issue 9, "Soak and fuzz").

Ten seeded mutants of a tiny clip (bytes overwritten, a block zeroed, a block spliced in). Each run must
end in a clean user error (exit 2, one line) or a valid output, never a hang (subprocess timeout), a
traceback (exit 1) or an interpreter crash (negative exit code), and never a half-written output.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.integration.test_robust_inputs import RUNTIME, assert_user_error, cli, decode_all, no_partials
from tests.runtime_helpers import make_clip


def mutate(data: bytes, seed: int) -> bytes:
    rng = random.Random(seed)
    b = bytearray(data)
    kind = seed % 3
    if kind == 0:  # scattered byte flips
        for _ in range(rng.randint(1, 40)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:  # a zeroed block
        i, n = rng.randrange(len(b)), rng.randint(16, 2048)
        b[i : i + n] = bytes(len(b[i : i + n]))
    else:  # a block copied from elsewhere into the middle
        i, j, n = rng.randrange(len(b)), rng.randrange(len(b)), rng.randint(16, 2048)
        b[i:i] = b[j : j + n]
    return bytes(b)


@pytest.fixture(scope="module")
def seed_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(tmp_path_factory.mktemp("fuzz") / "seed.mp4", n=12, hw=(32, 48), audio=True).read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_mutated_video_ends_cleanly(tiny_bundle: Path, seed_clip: bytes, tmp_path: Path, seed: int) -> None:
    src = tmp_path / "mutant.mp4"
    src.write_bytes(mutate(seed_clip, seed))
    out = tmp_path / "out.mp4"
    r = cli(
        "video",
        str(src),
        "--to",
        "night",
        "--bundle",
        str(tiny_bundle),
        *RUNTIME,
        "--out",
        str(out),
        timeout=60,
    )
    assert r.returncode in (0, 2), (r.returncode, r.stderr[-2000:])  # not 1 (traceback), not < 0 (crash)
    if r.returncode == 0:
        frames, _, _ = decode_all(out)
        assert len(frames) >= 1 and frames[0].shape == (32, 48, 3)
    else:
        assert_user_error(r)
        assert not out.exists()
    assert not no_partials(tmp_path)
