"""Random forest / extra trees with PDFs from leaf populations (TPZ-like)."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

from cosmoml.errors import ConfigError
from cosmoml.estimators._skops import dump_sklearn, load_sklearn
from cosmoml.estimators.base import PhotoZEstimator, linear_assign, smoothing_matrix


class ForestPhotoZ(PhotoZEstimator):
    """Tree ensemble whose PDF is the redshift distribution of the training galaxies that
    share a leaf with the object, averaged over trees (Carrasco Kind & Brunner 2013, TPZ;
    Meinshausen 2006, quantile regression forests).

    Each leaf stores the (sample-weighted) histogram of its training redshifts on the grid,
    as a sparse matrix; a prediction averages the T leaf histograms it falls in and
    smooths them with a Gaussian of width ``bandwidth (1 + z)``.

    Parameters
    ----------
    kind
        ``"extra"`` (ExtraTreesRegressor) or ``"random"`` (RandomForestRegressor).
    n_estimators, min_samples_leaf, max_features
        Passed to scikit-learn.
    bandwidth
        Smoothing width in units of (1 + z).
    n_jobs
        Threads for scikit-learn.
    """

    def __init__(
        self,
        kind: str = "random",
        n_estimators: int = 100,
        min_samples_leaf: int = 5,
        max_features: float | str | None = 0.5,
        bandwidth: float = 0.01,
        n_jobs: int | None = -1,
        zmin: float = 0.0,
        zmax: float = 3.0,
        nz: int = 301,
        calibrate: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.kind = kind
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.bandwidth = bandwidth
        self.n_jobs = n_jobs
        self.zmin = zmin
        self.zmax = zmax
        self.nz = nz
        self.calibrate = calibrate
        self.random_state = random_state

    def _fit(self, X, z, w, X_val, z_val, w_val) -> None:
        cls = {"extra": ExtraTreesRegressor, "random": RandomForestRegressor}.get(self.kind)
        if cls is None:
            raise ConfigError(f"ForestPhotoZ kind {self.kind!r} not in ('extra', 'random')")
        self.forest_ = cls(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        ).fit(X, z, sample_weight=w)
        leaves = self.forest_.apply(X)  # (n, T) node ids
        counts = np.array([t.tree_.node_count for t in self.forest_.estimators_])
        self.leaf_offsets_ = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        rows = (leaves + self.leaf_offsets_[None, :]).ravel()
        lo, hi, t = linear_assign(self.grid_, z)
        n_t = leaves.shape[1]
        ww = np.repeat(w, n_t)
        data = np.concatenate([ww * np.repeat(1 - t, n_t), ww * np.repeat(t, n_t)])
        cols = np.concatenate([np.repeat(lo, n_t), np.repeat(hi, n_t)])
        hist = sparse.coo_matrix(
            (data, (np.concatenate([rows, rows]), cols)), shape=(int(counts.sum()), self.grid_.size)
        ).tocsr()
        tot = np.asarray(hist.sum(axis=1)).ravel()
        inv = np.divide(1.0, tot, out=np.zeros_like(tot), where=tot > 0)
        self.leaf_hist_ = sparse.diags(inv) @ hist
        self._kernel = None

    def _raw_pdf(self, X: np.ndarray) -> np.ndarray:
        leaves = self.forest_.apply(X) + self.leaf_offsets_[None, :]
        n, n_t = leaves.shape
        q = sparse.csr_matrix(
            (np.full(n * n_t, 1.0 / n_t), leaves.ravel(), np.arange(0, n * n_t + 1, n_t)),
            shape=(n, self.leaf_hist_.shape[0]),
        )
        hist = (q @ self.leaf_hist_).toarray()
        if getattr(self, "_kernel", None) is None:
            self._kernel = smoothing_matrix(self.grid_, self.bandwidth)
        return hist @ self._kernel

    def _get_state(self):
        h = self.leaf_hist_.tocsr()
        arrays = {
            "forest": dump_sklearn(self.forest_),
            "leaf_offsets_": self.leaf_offsets_,
            "hist_data": h.data,
            "hist_indices": h.indices,
            "hist_indptr": h.indptr,
            "hist_shape": np.asarray(h.shape),
        }
        return self._base_state(), arrays

    def _set_state(self, meta, arrays):
        self._set_base_state(meta)
        self.forest_ = load_sklearn(arrays["forest"], (RandomForestRegressor, ExtraTreesRegressor))
        self.leaf_offsets_ = arrays["leaf_offsets_"]
        self.leaf_hist_ = sparse.csr_matrix(
            (arrays["hist_data"], arrays["hist_indices"], arrays["hist_indptr"]),
            shape=tuple(int(v) for v in arrays["hist_shape"]),
        )
        self._kernel = None
