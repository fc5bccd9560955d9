"""Change points in a series of run-level values: e-divisive means (Matteson & James, "A
Nonparametric Approach for Multiple Change Point Analysis of Multivariate Data", 2014), the
detector MongoDB's CI and Apache Otava (formerly DataStax Hunter) use on performance history.

E-divisive splits a series where the energy distance between the part before and the part
after is largest, tests that split with a permutation test (is it larger than splits of the
same values shuffled within their segments?), and recurses while splits are significant.
It assumes no distribution (latencies and throughputs are skewed) and finds several changes.

Why not Otava itself: see docs/compare.md ("History"); it pins numpy and scipy versions this
project cannot take and pulls BigQuery, PostgreSQL and Slack clients. This is the algorithm
on numpy, O(n^2) per split with prefix sums of the distance matrix.

Usage::

    points = change_points([100, 101, 99, 100, 110, 111, 109, 110], seed=0)
    points[0].index      # 4: the first value after the change
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

ALPHA = 0.01  # permutation test level: a flat series gets a false change ~1% of the time
PERMUTATIONS = 499  # smallest p reachable: 1/500; enough to tell 0.005 from 0.01
MIN_SIZE = 2  # values on each side of a change: a single odd run is an outlier, not a change


@dataclass(frozen=True)
class ChangePoint:
    """A change before `index` (the first value of the new level). Usage: ``cp.index``"""

    index: int
    p_value: float
    statistic: float  # the energy statistic of the split


def change_points(
    values: list[float] | FloatArray,
    *,
    alpha: float = ALPHA,
    permutations: int = PERMUTATIONS,
    min_size: int = MIN_SIZE,
    seed: int = 0,
) -> list[ChangePoint]:
    """The significant change points of `values`, in series order (deterministic for a
    seed). Usage: see module."""
    series = np.asarray(values, dtype=np.float64)
    if series.size < 2 * min_size:
        return []
    rng = np.random.default_rng(seed)
    bounds = [0, series.size]  # segment edges found so far
    found: list[ChangePoint] = []
    while True:
        best = _best_split(series, bounds, min_size)
        if best is None:
            break
        index, statistic = best
        exceeded = 0
        for _ in range(permutations):
            shuffled = series.copy()
            for start, end in itertools.pairwise(bounds):
                shuffled[start:end] = rng.permutation(shuffled[start:end])
            again = _best_split(shuffled, bounds, min_size)
            if again is not None and again[1] >= statistic:
                exceeded += 1
        p_value = (exceeded + 1) / (permutations + 1)
        if p_value >= alpha:
            break
        found.append(ChangePoint(index, p_value, statistic))
        bounds = sorted([*bounds, index])
    return sorted(found, key=lambda point: point.index)


def _best_split(series: FloatArray, bounds: list[int], min_size: int) -> tuple[int, float] | None:
    """The split (index, statistic) with the largest energy statistic over every segment."""
    best: tuple[int, float] | None = None
    for start, end in itertools.pairwise(bounds):
        found = _segment_split(series[start:end], min_size)
        if found is not None and (best is None or found[1] > best[1]):
            best = (start + found[0], found[1])
    return best


def _segment_split(segment: FloatArray, min_size: int) -> tuple[int, float] | None:
    """argmax over tau, kappa of Q(X = Z[:tau], Y = Z[tau:kappa]) in one segment:
    Q = 2/(m+n) sum|X-Y| - 2m/((m+n)(n-1)) sum_{i<k}|X_i-X_k| - 2n/((m+n)(m-1)) sum|Y_j-Y_k|,
    with n = tau, m = kappa - tau (the energy distance scaled by mn/(m+n))."""
    size = segment.size
    if size < 2 * min_size:
        return None
    distances = np.abs(segment[:, None] - segment[None, :])
    # prefix[i, j] = sum of distances[:i, :j]: any block's sum in O(1)
    prefix = np.zeros((size + 1, size + 1))
    prefix[1:, 1:] = distances.cumsum(axis=0).cumsum(axis=1)
    taus = np.arange(min_size, size - min_size + 1)[:, None]
    kappas = np.arange(2 * min_size, size + 1)[None, :]
    valid = kappas - taus >= min_size
    tau, kappa = np.broadcast_arrays(taus, kappas)
    tau, kappa = np.where(valid, tau, min_size), np.where(valid, kappa, 2 * min_size)
    n, m = tau.astype(np.float64), (kappa - tau).astype(np.float64)
    cross = prefix[tau, kappa] - prefix[tau, tau]  # rows [0, tau) x columns [tau, kappa)
    within_x = prefix[tau, tau] / 2
    within_y = (prefix[kappa, kappa] - 2 * prefix[tau, kappa] + prefix[tau, tau]) / 2
    q = 2 / (m + n) * cross - 2 * m / ((m + n) * (n - 1)) * within_x
    q -= 2 * n / ((m + n) * (m - 1)) * within_y
    q = np.where(valid, q, -np.inf)
    row, column = np.unravel_index(int(np.argmax(q)), q.shape)
    if not np.isfinite(q[row, column]):
        return None
    return int(tau[row, column]), float(q[row, column])
