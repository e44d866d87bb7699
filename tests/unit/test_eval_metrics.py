"""Metrics against known values: PSNR/SSIM (hand cases + scikit-image references), FID, KID."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from edgecgl.train.eval.fid import (
    feature_stats,
    fid_from_features,
    frechet_distance,
    kid,
    mmd2_unbiased,
    polynomial_kernel,
)
from edgecgl.train.eval.metrics import box_slices, paired_scores, psnr, ssim


def _fixed_pair() -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:24, 0:32] / 32.0
    a = np.stack([np.sin(3 * x + y) * 0.5 + 0.5, x * y, (x + y) / 2])
    b = np.clip(a**1.5 + 0.05 * np.cos(7 * x * y * 10), 0, 1)
    return a, b


# Computed with scikit-image 0.26 (structural_similarity(..., channel_axis=0, data_range=1.0,
# gaussian_weights=True, sigma=1.5, use_sample_covariance=False) and peak_signal_noise_ratio).
SKIMAGE_SSIM = 0.6181722098584189
SKIMAGE_PSNR = 19.323205838192774
SKIMAGE_SSIM_GRAY = 0.8166677232289143


def test_psnr_known_cases() -> None:
    a = np.zeros((3, 8, 8))
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    assert psnr(a, a + 0.01) == pytest.approx(40.0)
    assert psnr(a, a + 0.2, data_range=2.0) == pytest.approx(20.0)
    assert psnr(a, a) == float("inf")


def test_ssim_identical_and_constant_images() -> None:
    a, _ = _fixed_pair()
    assert ssim(a, a) == pytest.approx(1.0)
    c1, c2 = 0.3, 0.7
    x, y = np.full((20, 20), c1), np.full((20, 20), c2)
    k1 = (0.01 * 1.0) ** 2
    # Zero variance: only the luminance term remains.
    expected = (2 * c1 * c2 + k1) / (c1**2 + c2**2 + k1)
    assert ssim(x, y, channel_axis=None) == pytest.approx(expected, rel=1e-9)


def test_psnr_ssim_match_scikit_image_reference_values() -> None:
    a, b = _fixed_pair()
    assert ssim(a, b) == pytest.approx(SKIMAGE_SSIM, abs=1e-9)
    assert psnr(a, b) == pytest.approx(SKIMAGE_PSNR, abs=1e-9)
    g = a[0][:16, :16]
    assert ssim(g, np.clip(g * 0.5 + 0.2, 0, 1), channel_axis=None) == pytest.approx(
        SKIMAGE_SSIM_GRAY, abs=1e-9
    )
    # Channel-last layout gives the same number.
    assert ssim(np.moveaxis(a, 0, -1), np.moveaxis(b, 0, -1), channel_axis=-1) == pytest.approx(SKIMAGE_SSIM)


def test_ssim_matches_live_scikit_image_when_installed() -> None:
    metrics = pytest.importorskip("skimage.metrics", reason="scikit-image not installed: live check skipped")
    rng = np.random.default_rng(3)
    a = rng.random((3, 30, 26))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    ref = metrics.structural_similarity(
        a, b, channel_axis=0, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(a, b) == pytest.approx(ref, abs=1e-12)


def test_box_slices_clip_and_drop() -> None:
    boxes = np.array([[-3.0, 2.2, 5.5, 7.0], [30.0, 30.0, 40.0, 40.0], [4.0, 4.0, 4.5, 9.0]])
    sl = box_slices(boxes, height=10, width=12)
    assert sl == [(slice(2, 7), slice(0, 6))]  # second is outside, third is < 2 px wide


def test_paired_scores_frame_and_instances() -> None:
    target = np.zeros((3, 16, 16))
    output = target.copy()
    output[:, 4:8, 4:8] = 0.2  # in [-1,1] units: 0.1 in [0,1] units inside the box only
    s = paired_scores(output, target, boxes=[[4, 4, 8, 8], [10, 10, 14, 14]])
    assert s["psnr_instance"][0] == pytest.approx(20.0)
    assert s["psnr_instance"][1] == float("inf")
    assert s["psnr"][0] == pytest.approx(20.0 + 10 * np.log10(16 * 16 / 16))  # error on 1/16 of pixels
    assert s["ssim"][0] < 1.0 and s["ssim_instance"][1] == pytest.approx(1.0)


def test_fid_of_a_set_with_itself_is_zero() -> None:
    f = np.random.default_rng(0).standard_normal((64, 16))
    assert fid_from_features(f, f) == pytest.approx(0.0, abs=1e-6)


def test_fid_of_shifted_gaussians_matches_closed_form() -> None:
    # Same covariance, shifted mean: FID = ||shift||^2 exactly.
    rng = np.random.default_rng(1)
    m = rng.standard_normal((6, 6))
    cov = m @ m.T + np.eye(6)
    mu = rng.standard_normal(6)
    shift = np.array([1.0, -2.0, 0.5, 0.0, 0.0, 3.0])
    assert frechet_distance(mu, cov, mu + shift, cov) == pytest.approx(float(shift @ shift), rel=1e-8)
    # Diagonal covariances: ||dmu||^2 + sum (s1 + s2 - 2 sqrt(s1 s2)).
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    closed = 1.0 + float(np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2)))
    assert frechet_distance(np.zeros(3), np.diag(s1), np.array([1.0, 0, 0]), np.diag(s2)) == pytest.approx(
        closed
    )


def test_fid_on_samples_approaches_closed_form() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((20000, 4))
    b = rng.standard_normal((20000, 4)) * 2.0 + 1.0  # N(1, 4 I)
    closed = 4 * 1.0 + 4 * (1 + 4 - 2 * 2)  # ||dmu||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2))
    assert fid_from_features(a, b) == pytest.approx(closed, rel=0.03)


def test_feature_stats_needs_two_rows() -> None:
    with pytest.raises(ValueError):
        feature_stats(np.zeros((1, 3)))


def test_kid_unbiased_estimator_matches_brute_force() -> None:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[2.0, 0.0], [0.0, 0.5]])

    def k(u: np.ndarray, v: np.ndarray) -> float:
        return (float(u @ v) / 2 + 1) ** 3

    xx = np.mean([k(x[i], x[j]) for i, j in itertools.permutations(range(3), 2)])
    yy = np.mean([k(y[i], y[j]) for i, j in itertools.permutations(range(2), 2)])
    xy = np.mean([k(u, v) for u in x for v in y])
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)
    assert polynomial_kernel(x, y)[0, 0] == pytest.approx(1.0)  # (0*2 + 1*0)/2 + 1 = 1
    mean, std = kid(x, y, n_subsets=1)
    assert mean == pytest.approx(xx + yy - 2 * xy) and std == 0.0


def test_kid_same_distribution_near_zero_and_shift_positive() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
    same, _ = kid(a, b, n_subsets=20, subset_size=200)
    shifted, _ = kid(a, b + 1.0, n_subsets=20, subset_size=200)
    assert abs(same) < 0.02
    assert shifted > 0.5


@pytest.mark.parametrize("n,m,d", [(5, 7, 32), (40, 30, 8), (3, 3, 3)])
def test_low_rank_fid_equals_sqrtm_fid(n: int, m: int, d: int) -> None:
    rng = np.random.default_rng(n * 100 + m)
    a, b = rng.standard_normal((n, d)), rng.standard_normal((m, d)) * 1.5 + 0.3
    ref = frechet_distance(*feature_stats(a), *feature_stats(b))
    assert fid_from_features(a, b) == pytest.approx(ref, rel=1e-6, abs=1e-6)
