"""k-nearest-neighbour photo-z with error-aware neighbour weights."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import KDTree

from cosmoml.errors import ConfigError
from cosmoml.estimators.base import PhotoZEstimator, kernel_pdf


class KNNPhotoZ(PhotoZEstimator):
    """PDF from the redshifts of the k nearest training galaxies.

    Neighbours are found in standardised feature space (a KD-tree). Each neighbour j of
    object q contributes a Gaussian N(z; z_j, bandwidth (1 + z_j)), weighted by
    ``sample_weight_j`` times

    - ``weights="distance"``: 1 / (d_qj + 1e-3), d in standardised units;
    - ``weights="chi2"`` (error-aware): exp(-chi2_qj / 2) with chi2_qj = sum_f
      (F_qf - F_jf)^2 / (sigma_qf^2 + sigma_jf^2), the likelihood that both photometries
      come from the same galaxy given their errors.

    With ``errors=True`` X is ``[F, sigma_F]`` (features followed by their 1-sigma errors,
    as ``PhotometryFeatures(use_errors=True)`` builds it); neighbours are searched in F only.
    On the DC2 benchmark the error-aware weights gave sigma68 0.032 against 0.026 for
    distance weights (they let one bright neighbour dominate), so distance is the default.

    Parameters
    ----------
    n_neighbors
        Neighbours per object.
    bandwidth
        Kernel width per neighbour in units of (1 + z).
    weights
        ``"distance"`` or ``"chi2"`` (needs ``errors=True``).
    errors
        Whether X carries the error half ``[F, sigma_F]``.
    zmin, zmax, nz
        Redshift grid.
    calibrate
        PIT calibration on a 10% hold-out (see :mod:`cosmoml.estimators.base`).
    random_state
        Seed of the hold-out split.
    """

    def __init__(
        self,
        n_neighbors: int = 10,
        bandwidth: float = 0.01,
        weights: str = "distance",
        errors: bool = True,
        zmin: float = 0.0,
        zmax: float = 3.0,
        nz: int = 301,
        calibrate: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.bandwidth = bandwidth
        self.weights = weights
        self.errors = errors
        self.zmin = zmin
        self.zmax = zmax
        self.nz = nz
        self.calibrate = calibrate
        self.random_state = random_state

    def _split(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if not self.errors:
            return X, None
        if X.shape[1] % 2:
            raise ConfigError(
                "KNNPhotoZ(errors=True) needs X = [features, their errors] (an even number "
                f"of columns), got {X.shape[1]}; build X with use_errors=True or pass errors=False"
            )
        m = X.shape[1] // 2
        return X[:, :m], X[:, m:]

    def _fit(self, X, z, w, X_val, z_val, w_val) -> None:
        if self.n_neighbors < 1 or self.bandwidth <= 0:
            raise ConfigError("n_neighbors must be >= 1 and bandwidth > 0")
        if self.weights not in ("distance", "chi2"):
            raise ConfigError(f"weights={self.weights!r} not in ('distance', 'chi2')")
        if self.weights == "chi2" and not self.errors:
            raise ConfigError("weights='chi2' needs the errors in X (errors=True)")
        F, E = self._split(X)
        keep = w > 0
        self.mean_ = F[keep].mean(axis=0)
        self.scale_ = F[keep].std(axis=0)
        self.scale_[self.scale_ == 0] = 1.0
        self.train_features_ = F[keep]
        self.train_errors_ = E[keep] if E is not None else None
        self.train_z_ = z[keep]
        self.train_w_ = w[keep]
        self._build_tree()

    def _build_tree(self) -> None:
        self.tree_ = KDTree((self.train_features_ - self.mean_) / self.scale_)

    def _raw_pdf(self, X: np.ndarray) -> np.ndarray:
        F, E = self._split(X)
        k = min(self.n_neighbors, self.train_z_.size)
        dist, idx = self.tree_.query((F - self.mean_) / self.scale_, k=k)
        if self.weights == "chi2":
            var = E[:, None, :] ** 2 + self.train_errors_[idx] ** 2
            chi2 = (
                ((F[:, None, :] - self.train_features_[idx]) ** 2) / np.maximum(var, 1e-12)
            ).sum(-1)
            weight = np.exp(-0.5 * (chi2 - chi2.min(axis=1, keepdims=True)))
        else:
            weight = 1.0 / (dist + 1e-3)
        weight = weight * self.train_w_[idx]
        return kernel_pdf(self.grid_, self.train_z_[idx], weight, self.bandwidth)

    def _get_state(self):
        arrays = {
            "mean_": self.mean_,
            "scale_": self.scale_,
            "train_features_": self.train_features_,
            "train_z_": self.train_z_,
            "train_w_": self.train_w_,
        }
        if self.train_errors_ is not None:
            arrays["train_errors_"] = self.train_errors_
        return self._base_state(), arrays

    def _set_state(self, meta, arrays):
        self._set_base_state(meta)
        for key in ("mean_", "scale_", "train_features_", "train_z_", "train_w_"):
            setattr(self, key, arrays[key])
        self.train_errors_ = arrays.get("train_errors_")
        self._build_tree()
