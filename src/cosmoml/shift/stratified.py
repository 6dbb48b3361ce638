"""StratLearn-style fitting within propensity strata (Autenrieth et al. 2024).

Within a stratum of the propensity score, training and science objects have (nearly) the
same distribution of features, so a model fitted on the stratum's training objects is
unbiased for the stratum's science objects. One clone of the base estimator per stratum;
a stratum with fewer than ``min_train`` training objects borrows its neighbours' (strata
are ordered in propensity) until it has enough.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from cosmoml.errors import ConfigError
from cosmoml.pdf import PDFs


def stratum_groups(strata_train: np.ndarray, n_strata: int, min_train: int) -> list:
    """For each stratum s, the range (lo, hi) of strata whose training objects fit its model:
    s itself, widened symmetrically until it holds at least ``min_train`` objects."""
    strata_train = np.asarray(strata_train)
    if len(strata_train) < min_train:
        raise ConfigError(f"need at least min_train={min_train} training objects, "
                          f"got {len(strata_train)}")
    groups = []
    for s in range(n_strata):
        lo, hi = s, s
        while ((strata_train >= lo) & (strata_train <= hi)).sum() < min_train:
            lo, hi = max(lo - 1, 0), min(hi + 1, n_strata - 1)
        groups.append((lo, hi))
    return groups


class StratifiedPhotoZ:
    """One photo-z estimator per propensity stratum.

    Parameters
    ----------
    estimator
        Any cosmoml estimator (cloned per stratum).
    min_train
        Fewest training objects a stratum's model is fitted on.
    """

    def __init__(self, estimator, min_train: int = 300) -> None:
        self.estimator = estimator
        self.min_train = min_train

    def fit(self, X, z, strata, sample_weight=None) -> StratifiedPhotoZ:
        """Fit one clone per stratum (strata are integers 0..S-1, ordered in propensity)."""
        X, z, strata = np.asarray(X), np.asarray(z, dtype=float), np.asarray(strata)
        if len(strata) != len(X):
            raise ConfigError(f"strata has {len(strata)} entries for {len(X)} objects")
        self.fit_strata_ = stratum_groups(strata, int(strata.max()) + 1, self.min_train)
        self.models_ = []
        for lo, hi in self.fit_strata_:
            sel = (strata >= lo) & (strata <= hi)
            w = None if sample_weight is None else np.asarray(sample_weight)[sel]
            self.models_.append(clone(self.estimator).fit(X[sel], z[sel], sample_weight=w))
        return self

    def predict_pdf(self, X, strata) -> PDFs:
        """PDFs from each object's stratum model (strata beyond the fitted ones use the
        nearest)."""
        X, strata = np.asarray(X), np.clip(np.asarray(strata), 0, len(self.models_) - 1)
        grid = self.models_[0].grid_
        pdf = np.empty((len(X), grid.size), dtype=np.float32)
        for s, model in enumerate(self.models_):
            sel = strata == s
            if sel.any():
                pdf[sel] = model.predict_pdf(X[sel]).pdf
        return PDFs(grid, pdf, normalised=True)
