"""The k-prototypes algorithm of :class:`~segmint.segmenters._mixed.MixedTypeSegmenter`.

* :func:`_kproto_costs` -- the dissimilarity of every customer to every prototype (squared
  Euclidean distance plus ``gamma`` times the categorical mismatches);
* :func:`_kproto_run` -- one batch run from one seeded initialisation (k-means++ or random),
  updating prototypes as weighted means (:func:`_weighted_means`) and modes
  (:func:`_weighted_modes`);
* :func:`_default_gamma` -- the categorical weight that makes every column contribute the same
  expected dissimilarity;
* :func:`_gower` -- the Gower dissimilarity matrix on which candidate numbers of segments are
  compared by silhouette.
"""

from __future__ import annotations

import numpy as np


def _kproto_costs(
    Xn: np.ndarray, Xc: np.ndarray, centers: np.ndarray, modes: np.ndarray, gamma: float
) -> np.ndarray:
    """Dissimilarity (n_samples, k): squared Euclidean + gamma × categorical mismatches.

    Categorical values coded -1 (missing or unseen) mismatch every prototype equally and are
    left out, so they never decide an assignment.
    """
    k = centers.shape[0]
    out = np.zeros((Xn.shape[0], k))
    observed = Xc >= 0
    for j in range(k):
        if Xn.shape[1]:
            diff = Xn - centers[j]
            out[:, j] = np.einsum("ij,ij->i", diff, diff)
        if Xc.shape[1]:
            out[:, j] += gamma * ((Xc != modes[j]) & observed).sum(axis=1)
    return out


def _weighted_modes(
    Xc: np.ndarray, labels: np.ndarray, weight: np.ndarray, k: int, n_levels: list[int]
) -> np.ndarray:
    modes = np.zeros((k, Xc.shape[1]), dtype=np.int64)
    for c, n_lev in enumerate(n_levels):
        ok = Xc[:, c] >= 0
        counts = np.bincount(
            labels[ok] * n_lev + Xc[ok, c], weights=weight[ok], minlength=k * n_lev
        ).reshape(k, n_lev)
        modes[:, c] = counts.argmax(axis=1)
    return modes


def _weighted_means(Xn: np.ndarray, labels: np.ndarray, weight: np.ndarray, k: int) -> np.ndarray:
    onehot = np.zeros((Xn.shape[0], k))
    onehot[np.arange(Xn.shape[0]), labels] = weight
    sizes = onehot.sum(axis=0)
    return (onehot.T @ Xn) / np.where(sizes > 0, sizes, 1.0)[:, None]


def _kproto_run(
    Xn: np.ndarray,
    Xc: np.ndarray,
    weight: np.ndarray,
    k: int,
    gamma: float,
    n_levels: list[int],
    init: str,
    max_iter: int,
    seed: int,
) -> dict:
    """One batch k-prototypes run from one seeded initialisation."""
    rng = np.random.RandomState(seed)
    n = Xn.shape[0]
    prob = weight / weight.sum()
    global_modes = _weighted_modes(Xc, np.zeros(n, dtype=np.int64), weight, 1, n_levels)[0]

    def point(i: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``i`` as a one-prototype (centres, modes) pair; missing codes -> global mode."""
        return Xn[i][None], np.where(Xc[i] >= 0, Xc[i], global_modes)[None]

    if init == "random":
        idx = rng.choice(n, size=k, replace=False, p=prob if np.count_nonzero(prob) >= k else None)
    else:  # greedy k-means++ seeding (Arthur & Vassilvitskii, 2007) in this geometry
        n_trials = 2 + int(np.log(k))
        idx = [int(rng.choice(n, p=prob))]
        closest = _kproto_costs(Xn, Xc, *point(idx[0]), gamma)[:, 0]
        for _ in range(1, k):
            mass = weight * closest
            total = mass.sum()
            if total > 0:
                candidates = rng.choice(n, size=n_trials, p=mass / total)
            else:
                candidates = rng.choice(n, size=n_trials)
            trial = np.column_stack(
                [_kproto_costs(Xn, Xc, *point(c), gamma)[:, 0] for c in candidates]
            )
            trial = np.minimum(trial, closest[:, None])
            best = int(np.argmin(weight @ trial))
            idx.append(int(candidates[best]))
            closest = trial[:, best]
    centers = np.vstack([point(i)[0] for i in idx]).reshape(k, Xn.shape[1])
    modes = np.vstack([point(i)[1] for i in idx]).reshape(k, Xc.shape[1])

    labels = np.full(n, -1, dtype=np.int64)
    converged, n_iter = False, 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter used after the loop
        costs = _kproto_costs(Xn, Xc, centers, modes, gamma)
        new = costs.argmin(axis=1)
        if np.array_equal(new, labels):
            converged = True
            break
        labels = new
        sizes = np.bincount(labels, weights=weight, minlength=k)
        empty = np.flatnonzero(sizes <= 0)
        if empty.size:  # re-seed empty prototypes on the worst-served samples
            worst = np.argsort(-costs[np.arange(n), labels], kind="stable")
            labels[worst[: empty.size]] = empty
        centers = _weighted_means(Xn, labels, weight, k)
        modes = _weighted_modes(Xc, labels, weight, k, n_levels)
    costs = _kproto_costs(Xn, Xc, centers, modes, gamma)
    labels = costs.argmin(axis=1)
    cost = float(weight @ costs[np.arange(n), labels])
    return {
        "cost": cost,
        "labels": labels,
        "centers": centers,
        "modes": modes,
        "converged": converged,
        "n_iter": n_iter,
    }


def _default_gamma(
    Xn: np.ndarray, Xc: np.ndarray, weight: np.ndarray, n_levels: list[int]
) -> float:
    """Equal expected pairwise contribution of every column (see MixedTypeSegmenter Notes).

    ``gamma = 2 * mean_numeric_variance / mean_categorical_gini`` where the Gini concentration
    ``1 - sum_l p_l**2`` is the probability that two random customers differ on the column.
    """
    if Xn.shape[1] == 0 or Xc.shape[1] == 0:
        return 1.0
    total = weight.sum()
    mean = weight @ Xn / total
    variance = float((weight @ (Xn - mean) ** 2 / total).mean())
    gini = []
    for c, n_lev in enumerate(n_levels):
        ok = Xc[:, c] >= 0
        counts = np.bincount(Xc[ok, c], weights=weight[ok], minlength=n_lev)
        if counts.sum() > 0:
            p = counts / counts.sum()
            gini.append(1.0 - float(p @ p))
    mean_gini = float(np.mean(gini)) if gini else 0.0
    if variance <= 0 or mean_gini <= 0:
        return 1.0
    return 2.0 * variance / mean_gini


def _gower(
    Xn: np.ndarray, Xc: np.ndarray, num_range: np.ndarray, num_weight: np.ndarray
) -> np.ndarray:
    """Gower (1971) dissimilarity matrix; a missing categorical value drops that feature."""
    m = max(Xn.shape[0], Xc.shape[0])
    total = np.zeros((m, m))
    count = np.zeros((m, m))
    for f in range(Xn.shape[1]):
        if num_range[f] > 0:
            total += num_weight[f] * np.abs(Xn[:, f, None] - Xn[None, :, f]) / num_range[f]
            count += num_weight[f]
    for f in range(Xc.shape[1]):
        both = (Xc[:, f, None] >= 0) & (Xc[None, :, f] >= 0)
        total += both & (Xc[:, f, None] != Xc[None, :, f])
        count += both
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)
