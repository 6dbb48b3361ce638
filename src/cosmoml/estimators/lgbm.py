"""Gradient-boosted conditional density: LightGBM classification over redshift bins."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from cosmoml.errors import ConfigError
from cosmoml.estimators.base import PhotoZEstimator, smoothing_matrix


class LightGBMPhotoZ(PhotoZEstimator):
    """p(z | x) as a LightGBM multiclass classifier over ``n_bins`` redshift bins.

    Bin edges are quantiles of the training redshifts (equal occupancy). The PDF spreads
    each bin's probability uniformly over the bin and smooths it with a Gaussian of width
    ``bandwidth (1 + z)``. With ``calibrate=True`` the 10% hold-out also sets the number of
    boosting rounds by early stopping; the model is then refitted on all data with that
    number. Missing values (NaN features, non-detection policy ``"nan"``) are handled by
    LightGBM natively.
    """

    _allow_nan = True

    def __init__(
        self,
        n_bins: int = 60,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 10,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        bandwidth: float = 0.005,
        n_jobs: int = -1,
        zmin: float = 0.0,
        zmax: float = 3.0,
        nz: int = 301,
        calibrate: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.n_bins = n_bins
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.bandwidth = bandwidth
        self.n_jobs = n_jobs
        self.zmin = zmin
        self.zmax = zmax
        self.nz = nz
        self.calibrate = calibrate
        self.random_state = random_state

    def _params(self, n_classes: int) -> dict:
        return {
            "objective": "multiclass",
            "num_class": n_classes,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "num_threads": self.n_jobs if self.n_jobs and self.n_jobs > 0 else 0,
            "seed": 0 if self.random_state is None else int(self.random_state),
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

    def _fit(self, X, z, w, X_val, z_val, w_val) -> None:
        if self.n_bins < 2:
            raise ConfigError("n_bins must be >= 2")
        if X_val is None:  # final fit: bins and rounds come from the calibration fit if any
            if not hasattr(self, "best_iteration_"):
                self.best_iteration_ = self.n_estimators
        else:
            self.best_iteration_ = self.n_estimators
        edges = np.unique(np.quantile(z, np.linspace(0, 1, self.n_bins + 1)))
        edges[0] = min(edges[0], self.zmin)
        edges[-1] = max(edges[-1], self.zmax)
        self.bin_edges_ = edges
        k = edges.size - 1
        y = np.clip(np.searchsorted(edges, z, side="right") - 1, 0, k - 1)
        train = lgb.Dataset(X, y, weight=w, free_raw_data=True)
        params = self._params(k)
        if X_val is not None:
            yv = np.clip(np.searchsorted(edges, z_val, side="right") - 1, 0, k - 1)
            valid = lgb.Dataset(X_val, yv, weight=w_val, reference=train)
            booster = lgb.train(
                params,
                train,
                num_boost_round=self.n_estimators,
                valid_sets=[valid],
                callbacks=[lgb.early_stopping(30, verbose=False)],
            )
            self.best_iteration_ = int(booster.best_iteration or self.n_estimators)
        else:
            booster = lgb.train(params, train, num_boost_round=int(self.best_iteration_))
        self.booster_ = booster
        self._bin_matrix = None

    def _matrix(self) -> np.ndarray:
        """(k, G): class probability -> density on the grid (uniform in bin, smoothed)."""
        if getattr(self, "_bin_matrix", None) is None:
            g = self.grid_
            k = self.bin_edges_.size - 1
            idx = np.clip(np.searchsorted(self.bin_edges_, g, side="right") - 1, 0, k - 1)
            m = np.zeros((k, g.size))
            m[idx, np.arange(g.size)] = 1.0 / np.diff(self.bin_edges_)[idx]
            if self.bandwidth > 0:
                m = m @ smoothing_matrix(g, self.bandwidth) * (g[1] - g[0])
            self._bin_matrix = m
        return self._bin_matrix

    def _raw_pdf(self, X: np.ndarray) -> np.ndarray:
        prob = self.booster_.predict(X, num_iteration=int(self.best_iteration_))
        return prob @ self._matrix()

    def _get_state(self):
        meta = {
            **self._base_state(),
            "best_iteration_": int(self.best_iteration_),
            "booster": self.booster_.model_to_string(),
        }
        return meta, {"bin_edges_": self.bin_edges_}

    def _set_state(self, meta, arrays):
        self._set_base_state(meta)
        self.best_iteration_ = int(meta["best_iteration_"])
        self.bin_edges_ = arrays["bin_edges_"]
        try:
            self.booster_ = lgb.Booster(model_str=meta["booster"])
        except Exception as exc:  # LightGBM's text parser: no code execution
            from cosmoml.errors import ModelFileError

            raise ModelFileError(f"embedded LightGBM model is corrupt: {exc}") from exc
        self._bin_matrix = None
