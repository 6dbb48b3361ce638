"""Culling: drop science objects far from the training set, and see what it buys.

The key plot of the field's covariate-shift studies: metrics against the culled fraction,
computed side by side on a validation sample drawn like the training set and on the
science sample. A validation curve that stays flat while the science curve improves is
the signature of a training set that does not represent the science sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cosmoml.errors import ConfigError
from cosmoml.metrics import point_metrics
from cosmoml.shift.diagnostics import _check, coverage

CULL_METHODS = ("knn", "isolation")
DEFAULT_FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)


def culling_scores(X_train, X, method: str = "knn", k: int = 5, random_state: int = 0):
    """Outlyingness of each row of ``X`` relative to the training set (higher = farther).

    ``"knn"``: the k-th-neighbour distance to the training set over the local training
    scale (:func:`cosmoml.shift.coverage`); ``"isolation"``: minus the score of an
    isolation forest fitted on the training features (scikit-learn).
    """
    X_train, X = _check(X_train, X, k)
    if method == "knn":
        return coverage(X_train, X, k)["distance_ratio"]
    if method == "isolation":
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=200, random_state=random_state).fit(X_train)
        return -forest.score_samples(X)
    raise ConfigError(f"unknown culling method {method!r}; choose one of {CULL_METHODS}")


def cull_mask(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Keep mask that drops the ``fraction`` of objects with the highest scores."""
    if not 0 <= fraction < 1:
        raise ConfigError(f"culled fraction must be in [0, 1), got {fraction}")
    if fraction == 0:
        return np.ones(len(scores), dtype=bool)
    return scores <= np.quantile(scores, 1 - fraction)


def culling_curve(samples: dict, fractions=DEFAULT_FRACTIONS) -> pd.DataFrame:
    """Point metrics against culled fraction for several samples.

    ``samples`` maps a name (e.g. ``"validation"``, ``"science"``) to a tuple
    ``(scores, z_phot, z_true)``. Returns one row per (sample, fraction) with the kept
    count and :func:`cosmoml.metrics.point_metrics`.
    """
    rows = []
    for name, (scores, zp, zt) in samples.items():
        scores, zp, zt = (np.asarray(a, dtype=float) for a in (scores, zp, zt))
        for f in fractions:
            keep = cull_mask(scores, f)
            rows.append({"sample": name, "culled_fraction": float(f),
                         "n_kept": int(keep.sum()), **point_metrics(zp[keep], zt[keep])})
    return pd.DataFrame(rows)
