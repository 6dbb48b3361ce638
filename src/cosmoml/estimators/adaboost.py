"""AdaBoost regression (Drucker 1997, as in scikit-learn) with a PDF from its members."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import AdaBoostRegressor
from sklearn.tree import DecisionTreeRegressor

from cosmoml.errors import ConfigError
from cosmoml.estimators._skops import dump_sklearn, load_sklearn
from cosmoml.estimators.base import PhotoZEstimator, kernel_pdf


class AdaBoostPhotoZ(PhotoZEstimator):
    """Boosted regression trees; the PDF mixes the members' predictions.

    scikit-learn's AdaBoostRegressor predicts the weighted median of its M trees, with
    weights log(1/beta_m). Here each tree m contributes a Gaussian N(z; zhat_m,
    ``bandwidth`` (1 + zhat_m)) with that weight, so the PDF's median is the usual
    AdaBoost point estimate (to grid precision) and its width reflects how much the trees
    disagree; the PIT calibration then sets the overall width.

    Parameters
    ----------
    n_estimators, max_depth, learning_rate, loss
        Passed to AdaBoostRegressor / its DecisionTreeRegressor base.
    bandwidth
        Width of each member's Gaussian in units of (1 + z).
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int = 12,
        learning_rate: float = 0.5,
        loss: str = "linear",
        bandwidth: float = 0.01,
        zmin: float = 0.0,
        zmax: float = 3.0,
        nz: int = 301,
        calibrate: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.loss = loss
        self.bandwidth = bandwidth
        self.zmin = zmin
        self.zmax = zmax
        self.nz = nz
        self.calibrate = calibrate
        self.random_state = random_state

    def _fit(self, X, z, w, X_val, z_val, w_val) -> None:
        if self.bandwidth <= 0:
            raise ConfigError("bandwidth must be > 0")
        self.model_ = AdaBoostRegressor(
            DecisionTreeRegressor(max_depth=self.max_depth, min_samples_leaf=3),
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            loss=self.loss,
            random_state=self.random_state,
        ).fit(X, z, sample_weight=w)

    def _raw_pdf(self, X: np.ndarray) -> np.ndarray:
        m = self.model_
        n_used = len(m.estimators_)
        preds = np.column_stack([est.predict(X) for est in m.estimators_])
        weights = np.broadcast_to(m.estimator_weights_[:n_used], preds.shape)
        return kernel_pdf(self.grid_, preds, weights, self.bandwidth)

    def _get_state(self):
        return self._base_state(), {"model": dump_sklearn(self.model_)}

    def _set_state(self, meta, arrays):
        self._set_base_state(meta)
        self.model_ = load_sklearn(arrays["model"], (AdaBoostRegressor,))
