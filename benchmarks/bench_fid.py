"""FID speed and agreement: ganscape's symmetric eigenvalue method vs scipy.linalg.sqrtm.

The reference is the method of pytorch-fid / clean-fid, re-implemented here:
np.cov covariances, sqrtm(S1 @ S2), keep the real part, take the trace. Both run
in this process on the same synthetic features (correlated Gaussians, default
10k x 2048 like Inception pool3 features) with the same thread limit.

Printed: distance-only time (from precomputed mean/covariance), end-to-end time
(features -> FID, including the statistics), the speed ratios and the relative
difference of the two FID values. Timings are the minimum over --repeats runs.

    PYTHONPATH=src python benchmarks/bench_fid.py [--n 10000] [--dim 2048] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import scipy
import scipy.linalg
import torch
from threadpoolctl import threadpool_limits

from ganscape.metrics.fid import fid_from_features, frechet_distance, gaussian_stats


def reference_stats(features):
    return np.mean(features, axis=0), np.cov(features, rowvar=False)


def reference_distance(mu1, s1, mu2, s2):
    """sqrtm-based Frechet distance, as in pytorch-fid / clean-fid."""
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    covmean = np.real(covmean)  # sqrtm returns rounding-level imaginary parts
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def reference_fid(f1, f2):
    mu1, s1 = reference_stats(f1)
    mu2, s2 = reference_stats(f2)
    return reference_distance(mu1, s1, mu2, s2)


def correlated_features(n, dim, rng, shift=0.0):
    """n samples of a random correlated Gaussian (dense covariance, decaying spectrum)."""
    mixing = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    scales = 1.0 / np.sqrt(1.0 + np.arange(dim) / 64.0)  # eigen-spectrum decay like CNN features
    z = rng.standard_normal((n, dim)) * scales
    return z @ mixing + shift


def best_time(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), times, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples per feature set")
    parser.add_argument("--dim", type=int, default=2048, help="feature dimension")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/LAPACK threads for both methods (0 = library defaults)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    f1 = correlated_features(args.n, args.dim, rng)
    f2 = correlated_features(args.n, args.dim, rng, shift=0.05)

    limit = args.threads if args.threads > 0 else None
    if limit:
        torch.set_num_threads(limit)
    print(f"n={args.n} dim={args.dim} threads={args.threads or 'default'} "
          f"torch={torch.__version__} numpy={np.__version__} scipy={scipy.__version__}")
    with threadpool_limits(limits=limit):
        mu1, s1 = gaussian_stats(f1)
        mu2, s2 = gaussian_stats(f2)
        t_ours, ours_all, fid_ours = best_time(lambda: frechet_distance(mu1, s1, mu2, s2), args.repeats)
        t_ref, ref_all, fid_ref = best_time(lambda: reference_distance(mu1, s1, mu2, s2), args.repeats)
        t_ours_e2e, _, fid_ours_e2e = best_time(lambda: fid_from_features(f1, f2), args.repeats)
        t_ref_e2e, _, fid_ref_e2e = best_time(lambda: reference_fid(f1, f2), args.repeats)

    print(f"distance only : ours {t_ours:8.3f} s   sqrtm {t_ref:8.3f} s   "
          f"speed-up {t_ref / t_ours:6.1f}x")
    print(f"  (all runs: ours {[round(t, 3) for t in ours_all]}, sqrtm {[round(t, 3) for t in ref_all]})")
    print(f"end to end    : ours {t_ours_e2e:8.3f} s   sqrtm {t_ref_e2e:8.3f} s   "
          f"speed-up {t_ref_e2e / t_ours_e2e:6.1f}x")
    print(f"FID ours {fid_ours:.10f}  sqrtm {fid_ref:.10f}  "
          f"relative difference {abs(fid_ours - fid_ref) / abs(fid_ref):.2e}")
    print(f"FID end to end: ours {fid_ours_e2e:.10f}  sqrtm {fid_ref_e2e:.10f}  "
          f"relative difference {abs(fid_ours_e2e - fid_ref_e2e) / abs(fid_ref_e2e):.2e}")


if __name__ == "__main__":
    main()
