"""FID and KID on feature vectors (Inception pool-3 features in practice; any [N, D] array here).

Kept separate from the feature extractor so the maths is tested on small synthetic features:
the Fréchet distance between two Gaussians has a closed form, and KID's unbiased MMD estimator
has an exact value on a hand-sized set.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (N-1)-normalised covariance of [N, D] features."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need at least two feature rows [N, D], got {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), as in Heusel et al. / pytorch-fid.

    A singular product (fewer samples than dimensions) gets the usual small diagonal offset.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise ValueError(f"FID: mismatched statistics {mu1.shape}/{s1.shape} vs {mu2.shape}/{s2.shape}")
    diff = mu1 - mu2
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real  # numerical noise from sqrtm; large imaginary parts mean bad statistics
    return float(max(0.0, diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean)))


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID of two feature sets. With fewer samples than dimensions (every small evaluation: 2048-d
    Inception features) it uses an exact low-rank identity instead of a 2048x2048 ``sqrtm``:
    with centred features A [n,D], B [m,D], S1 = A'A/(n-1), S2 = B'B/(m-1), the non-zero eigenvalues of
    S1 S2 are the squared singular values of A B' / sqrt((n-1)(m-1)), so Tr (S1 S2)^(1/2) is that
    matrix's nuclear norm. Same number, seconds instead of minutes, no complex-part clean-up.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n, m = a.shape[0], b.shape[0]
    if min(n, m) >= a.shape[1]:
        return frechet_distance(*feature_stats(a), *feature_stats(b))
    if n < 2 or m < 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two [N>=2, D] feature sets with the same D, got {a.shape} and {b.shape}")
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    ca, cb = a - mu1, b - mu2
    tr1, tr2 = (ca**2).sum() / (n - 1), (cb**2).sum() / (m - 1)
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt((n - 1) * (m - 1))
    diff = mu1 - mu2
    return float(max(0.0, diff @ diff + tr1 + tr2 - 2.0 * cross))


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3, KID's kernel (Binkowski et al. 2018)."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the polynomial kernel: within-set sums leave out the diagonal."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError("KID needs at least two samples in each set")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kid(
    a: np.ndarray, b: np.ndarray, n_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance: mean and std of unbiased MMD^2 over random subsets (without replacement).

    Sets no larger than ``subset_size`` are compared whole, once (std 0): the unbiased estimator
    allows different sizes, and resampling a small set only adds noise.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    size = min(subset_size, a.shape[0], b.shape[0])
    if max(a.shape[0], b.shape[0]) <= subset_size or n_subsets <= 1:
        vals = [mmd2_unbiased(a, b)]
    else:
        vals = [
            mmd2_unbiased(
                a[rng.choice(a.shape[0], size, replace=False)], b[rng.choice(b.shape[0], size, replace=False)]
            )
            for _ in range(n_subsets)
        ]
    return float(np.mean(vals)), float(np.std(vals))
