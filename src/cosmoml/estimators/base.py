"""The photo-z estimator contract shared by every cosmoml estimator.

scikit-learn compatible: hyper-parameters are stored by ``__init__`` only, ``fit`` learns
and sets attributes ending in ``_``; ``clone``, pipelines and grid search work.

``fit(X, z, sample_weight=None)``
    X: features (n, d) from :class:`cosmoml.catalog.PhotometryFeatures`; z: redshifts.
``predict_pdf(X)``
    :class:`cosmoml.pdf.PDFs` on the estimator's grid (``zmin``..``zmax``, ``nz`` points).
``predict(X)``
    the PDF median (the point estimate the benchmarks score).

PIT calibration (``calibrate=True``): a seeded hold-out fraction of the training set is
set aside, the model is fitted on the rest, and a temperature T is chosen so that the
hold-out PIT is closest to uniform (smallest KS statistic); predicted PDFs are then
p(z)^(1/T), renormalised. T < 1 sharpens, T > 1 broadens. Estimators that are cheap to
train are then refitted on the whole training set.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import _check_sample_weight, check_array, check_is_fitted
from threadpoolctl import threadpool_limits

from cosmoml.errors import ConfigError
from cosmoml.pdf import PDFs, _trapz_weights, make_grid, normalise

#: fewest training objects an estimator is fitted on
MIN_OBJECTS = 20
#: Temperatures tried by the PIT calibration.
TEMPERATURES = np.exp(np.linspace(np.log(0.1), np.log(10.0), 81))


class PhotoZEstimator(RegressorMixin, BaseEstimator):
    """Base class: validation, grid, calibration and persistence hooks."""

    #: whether the model accepts NaN features (missing values)
    _allow_nan = False
    #: whether fit refits on all data after the hold-out calibration
    _refit_after_calibration = True
    #: whether _fit calibrates itself (then fit passes all data and no hold-out)
    _self_calibrating = False

    # -- public API -----------------------------------------------------------------
    def fit(self, X, z, sample_weight=None):
        """Fit on features ``X`` (n, d) and spectroscopic redshifts ``z`` (n,).

        ``sample_weight`` (n,) are non-negative per-object weights (for example
        covariate-shift weights); they are not modified.
        """
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, key)  # forget a previous fit
        X = self._validate_X(X, reset=True)
        z = np.asarray(z, dtype=float).reshape(-1)
        if z.shape[0] != X.shape[0]:
            raise ConfigError(f"X has {X.shape[0]} rows but z has {z.shape[0]}")
        if not np.all(np.isfinite(z)):
            raise ConfigError("training redshifts contain NaN or inf")
        if X.shape[0] < MIN_OBJECTS:
            raise ConfigError(f"need at least {MIN_OBJECTS} training objects, got {X.shape[0]}")
        w = _check_sample_weight(sample_weight, X, dtype=float, ensure_non_negative=True)
        if w.sum() <= 0:
            raise ConfigError("sample_weight sums to zero")
        self.grid_ = make_grid(self.zmin, self.zmax, self.nz)
        self.temperature_ = 1.0
        rng = np.random.default_rng(self.random_state)
        if self.calibrate and not self._self_calibrating:
            order = rng.permutation(X.shape[0])
            n_hold = max(10, round(0.1 * X.shape[0]))
            hold, train = order[:n_hold], order[n_hold:]
            self._fit(X[train], z[train], w[train], X[hold], z[hold], w[hold])
            raw = self._raw_pdf(X[hold])
            self.temperature_ = fit_temperature(self.grid_, raw, z[hold], w[hold])
            if self._refit_after_calibration:
                self._fit(X, z, w, None, None, None)
        else:
            self._fit(X, z, w, None, None, None)
        return self

    def predict_pdf(self, X) -> PDFs:
        """Redshift PDFs on ``self.grid_``."""
        check_is_fitted(self, "grid_")
        X = self._validate_X(X, reset=False)
        return PDFs(self.grid_, self._pdf(X), normalised=True)

    def predict(self, X) -> np.ndarray:
        """PDF median for each object."""
        return self.predict_pdf(X).median()

    # -- for subclasses -------------------------------------------------------------
    def _pdf(self, X: np.ndarray) -> np.ndarray:
        """Calibrated, normalised PDFs; override where tempering can be done faster."""
        return temper(self._raw_pdf(X), self.temperature_, self.grid_)

    def _fit(self, X, z, w, X_val, z_val, w_val) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _raw_pdf(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:  # pragma: no cover
        """Fitted state as (JSON-able dict, dict of numpy arrays); no pickles."""
        raise NotImplementedError

    def _set_state(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------------
    def _validate_X(self, X, reset: bool) -> np.ndarray:
        X = check_array(
            X, dtype=np.float64, ensure_all_finite="allow-nan" if self._allow_nan else True
        )
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ConfigError(
                f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                f"{self.n_features_in_}"
            )
        return X

    def _base_state(self) -> dict:
        return {
            "n_features_in_": int(self.n_features_in_),
            "temperature_": float(self.temperature_),
        }

    def _set_base_state(self, meta: dict) -> None:
        self.n_features_in_ = int(meta["n_features_in_"])
        self.temperature_ = float(meta["temperature_"])
        self.grid_ = make_grid(self.zmin, self.zmax, self.nz)


def temper(pdf: np.ndarray, temperature: float, grid: np.ndarray) -> np.ndarray:
    """p^(1/T), renormalised on the grid (T = 1 leaves ``pdf`` unchanged but normalised)."""
    pdf = np.maximum(pdf, 0.0)  # a new array: the caller's is not modified
    if temperature != 1.0:
        peak = pdf.max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            pdf = pdf / peak
            # p^(1/T) as exp(log(p)/T) in place: the hot loop of every prediction
            np.log(pdf, out=pdf)
            pdf *= 1.0 / temperature
            np.exp(pdf, out=pdf)
    return normalise(pdf, grid)


def weighted_ks_uniform(u: np.ndarray, w: np.ndarray | None = None) -> float:
    """KS distance between the (weighted) empirical CDF of ``u`` and U(0, 1).

    With equal weights this is scipy's ``kstest(u, "uniform").statistic``.
    """
    u = np.asarray(u, dtype=float)
    w = np.ones_like(u) if w is None else np.asarray(w, dtype=float)
    ok = np.isfinite(u) & (w > 0)
    order = np.argsort(u[ok], kind="stable")
    us, ws = u[ok][order], w[ok][order]
    cw = np.cumsum(ws) / ws.sum()
    before = np.concatenate([[0.0], cw[:-1]])
    return float(max(np.max(cw - us), np.max(us - before)))


def fit_temperature(
    grid: np.ndarray, raw: np.ndarray, z: np.ndarray, w: np.ndarray | None = None
) -> float:
    """The temperature in :data:`TEMPERATURES` whose (``w``-weighted) PIT on (raw, z) is
    most uniform. Weights matter: under covariate-shift weights the calibration must
    target the weighted population, not the raw training set."""
    best_t, best_ks = 1.0, np.inf
    for t in TEMPERATURES:
        pit = PDFs(grid, temper(raw, t, grid), normalised=True).pit(z)
        ks = weighted_ks_uniform(pit, w)
        if ks < best_ks:
            best_t, best_ks = float(t), ks
    return best_t


def linear_assign(grid: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid indices (lo, hi = lo + 1) and the weight t of hi that assign ``z`` linearly
    to its two neighbouring grid points (z outside the grid goes to the end point)."""
    hi = np.searchsorted(grid, z, side="right").clip(1, grid.size - 1)
    lo = hi - 1
    t = np.clip((z - grid[lo]) / (grid[hi] - grid[lo]), 0.0, 1.0)
    return lo, hi, t


def smoothing_matrix(grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """K (G, G): row g' is a Gaussian of width ``bandwidth (1 + z_g')`` centred on grid point
    g', normalised to unit trapezoid integral on the grid (so no mass leaks off the grid or
    is lost when the kernel is narrower than the grid spacing). ``hist @ K`` turns masses
    on the grid into a smooth density."""
    s = bandwidth * (1 + grid)[:, None]
    k = np.exp(-0.5 * ((grid[None, :] - grid[:, None]) / s) ** 2)
    return k / (k @ _trapz_weights(grid))[:, None]


def kernel_pdf(
    grid: np.ndarray,
    centres: np.ndarray,
    weights: np.ndarray,
    bandwidth: float,
    chunk: int = 4096,
) -> np.ndarray:
    """Row i = sum_k w_ik N(z; c_ik, bandwidth (1 + c_ik)), to grid precision.

    The centres are assigned linearly to the grid (a weighted histogram per row, built
    with one ``bincount``) and smoothed with :func:`smoothing_matrix`: O(n G^2) instead of
    O(n k G) exponentials, and several times faster for k >= 10. The smoothing product
    always runs on full ``chunk``-row blocks (the last one zero-padded), in one BLAS
    thread: BLAS rounds rows differently for other shapes and thread counts, and a
    galaxy's PDF must not depend on how the catalogue was chunked or how many cores ran it.
    """
    n, g = centres.shape[0], grid.size
    kern = smoothing_matrix(grid, bandwidth)
    out = np.empty((n, g))
    with threadpool_limits(1, user_api="blas"):  # one BLAS thread: thread-count-invariant
        _smooth_blocks(out, grid, centres, weights, kern, chunk)
    return out


def _smooth_blocks(out, grid, centres, weights, kern, chunk) -> None:
    n, k = centres.shape
    g = grid.size
    for s in range(0, n, chunk):
        c = centres[s : s + chunk].ravel()
        w = weights[s : s + chunk].ravel()
        m = c.size // k
        lo, hi, t = linear_assign(grid, c)
        rows = np.repeat(np.arange(m), k) * g
        hist = np.bincount(rows + lo, w * (1 - t), minlength=m * g)
        hist += np.bincount(rows + hi, w * t, minlength=m * g)
        block = np.zeros((chunk, g))
        block[:m] = hist.reshape(m, g)
        out[s : s + chunk] = (block @ kern)[:m]
