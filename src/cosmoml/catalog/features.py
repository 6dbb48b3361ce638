"""From magnitudes to model features, with an explicit non-detection policy.

A non-detection is a magnitude of 99, -99 (or any |m| >= ``sentinel_abs``), NaN or
infinite, or m <= 0 (a zero or negative "missing" code: no galaxy in a survey catalogue is
that bright). It is never fed silently to a model; the policy is one of

``"limit"``
    replace the magnitude by the band's limiting magnitude (given, or learned in ``fit``
    as the faintest detected magnitude in the training set) and its error by
    ``NONDETECTION_ERR`` (1.0857 mag, i.e. signal-to-noise 1);
``"drop"``
    rows with any non-detection are left out of training and get no prediction
    (they are flagged, never removed from the output);
``"nan"``
    pass NaN through, for models that handle missing values (the gradient-boosted one).

Rows with no detection in any band are always flagged and get no prediction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

import numpy as np

from cosmoml.errors import ConfigError

POLICIES = ("limit", "drop", "nan")
#: Error (mag) given to a magnitude replaced by its limit: 2.5 / ln 10, signal-to-noise 1.
NONDETECTION_ERR = 2.5 / np.log(10.0)


def nondetected(mags: np.ndarray, sentinel_abs: float = 90.0) -> np.ndarray:
    """Boolean mask of non-detections in an array of AB magnitudes."""
    mags = np.asarray(mags, dtype=float)
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(mags) | (np.abs(mags) >= sentinel_abs) | (mags <= 0)


class PhotometryFeatures:
    """Build ``[magnitudes, adjacent colours]`` (and their errors) from AB magnitudes.

    With ``use_errors`` the feature matrix is ``[F, sigma_F]``: every feature followed, in
    the same order, by its 1-sigma error (colour errors add the two bands' errors in
    quadrature), so error-aware models can read both halves.

    Parameters
    ----------
    bands
        Band names, in wavelength order (used for feature names only).
    policy
        Non-detection policy, one of ``"limit"``, ``"drop"``, ``"nan"``.
    limits
        Limiting AB magnitude per band for ``policy="limit"``; learned when None.
    use_errors
        Append the 1-sigma error of every feature.
    magnitudes
        ``"all"`` keeps every band's magnitude; ``"reference"`` keeps only
        ``reference_band`` (colours plus one magnitude, the usual kNN space).
    reference_band
        Band kept by ``magnitudes="reference"``; default the band nearest to i.
    sentinel_abs
        A magnitude with ``|m| >= sentinel_abs`` is a non-detection (covers 99 and -99).
    """

    def __init__(
        self,
        bands: Sequence[str],
        policy: str = "limit",
        limits: Mapping[str, float] | None = None,
        use_errors: bool = False,
        magnitudes: str = "all",
        reference_band: str | None = None,
        sentinel_abs: float = 90.0,
    ) -> None:
        self.bands = list(bands)
        self.policy = policy
        self.limits = dict(limits) if limits else None
        self.use_errors = use_errors
        self.magnitudes = magnitudes
        self.reference_band = reference_band
        self.sentinel_abs = sentinel_abs

    # -- learning -------------------------------------------------------------------
    def fit(self, mags: np.ndarray, errs: np.ndarray | None = None) -> PhotometryFeatures:
        if self.policy not in POLICIES:
            raise ConfigError(f"non-detection policy {self.policy!r} not in {POLICIES}")
        mags = self._check(mags, "magnitudes")
        if self.use_errors and errs is None:
            raise ConfigError("use_errors=True but the catalogue has no error columns")
        if self.magnitudes not in ("all", "reference"):
            raise ConfigError(f"magnitudes={self.magnitudes!r} not in ('all', 'reference')")
        if self.reference_band is not None and self.reference_band not in self.bands:
            raise ConfigError(f"reference band {self.reference_band!r} not in {self.bands}")
        bad = nondetected(mags, self.sentinel_abs)
        limits = np.empty(mags.shape[1])
        for j, band in enumerate(self.bands):
            if self.limits and band in self.limits:
                limits[j] = float(self.limits[band])
            else:
                good = mags[~bad[:, j], j]
                limits[j] = float(good.max()) if good.size else np.nan
        if self.policy == "limit" and np.isnan(limits).any():
            empty = [b for b, v in zip(self.bands, limits, strict=True) if np.isnan(v)]
            raise ConfigError(f"band(s) {empty} have no detection to learn a limit from")
        self.limits_ = limits
        self.nondetected_fraction_ = bad.mean(axis=0)
        return self

    # -- applying -------------------------------------------------------------------
    def transform(
        self, mags: np.ndarray, errs: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(X, valid)``: features (n, n_features) and the rows that may be predicted.

        Invalid rows (no detection at all, or any non-detection under ``"drop"``) hold
        NaN features and must not be passed to a model.
        """
        if not hasattr(self, "limits_"):
            raise ConfigError("PhotometryFeatures.transform called before fit")
        mags = self._check(mags, "magnitudes").copy()
        bad = nondetected(mags, self.sentinel_abs)
        valid = ~bad.all(axis=1)
        if self.policy == "drop":
            valid &= ~bad.any(axis=1)
        if self.policy == "limit":
            mags = np.where(bad, self.limits_[None, :], mags)
        else:
            mags[bad] = np.nan
        keep = self._mag_index()
        parts = [mags[:, keep], mags[:, :-1] - mags[:, 1:]]
        if self.use_errors:
            if errs is None:
                raise ConfigError("this model uses magnitude errors; the catalogue has none")
            errs = self._check(errs, "errors").copy()
            errs = np.where(bad | ~np.isfinite(errs) | (errs < 0), NONDETECTION_ERR, errs)
            if self.policy == "nan":
                errs[bad] = np.nan
            parts += [errs[:, keep], np.hypot(errs[:, :-1], errs[:, 1:])]
        X = np.hstack(parts)
        X[~valid] = np.nan
        return X, valid

    def nondetected_rows(self, mags: np.ndarray) -> np.ndarray:
        """Rows with at least one non-detected band."""
        return nondetected(mags, self.sentinel_abs).any(axis=1)

    def _mag_index(self) -> list[int]:
        if self.magnitudes == "all":
            return list(range(len(self.bands)))
        ref = self.reference_band
        if ref is None:
            ref = "i" if "i" in self.bands else self.bands[len(self.bands) // 2]
        return [self.bands.index(ref)]

    @property
    def feature_names(self) -> list[str]:
        b = self.bands
        names = [f"mag_{b[j]}" for j in self._mag_index()]
        names += [f"{x}-{y}" for x, y in pairwise(b)]
        if self.use_errors:
            names += [f"err({n})" for n in names]
        return names

    def _check(self, a: np.ndarray, what: str) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        if a.ndim != 2 or a.shape[1] != len(self.bands):
            raise ConfigError(
                f"expected {what} of shape (n, {len(self.bands)}) for bands {self.bands}, "
                f"got {a.shape}"
            )
        return a

    # -- persistence ----------------------------------------------------------------
    def get_state(self) -> dict:
        return {
            "bands": self.bands,
            "policy": self.policy,
            "limits": self.limits,
            "use_errors": self.use_errors,
            "magnitudes": self.magnitudes,
            "reference_band": self.reference_band,
            "sentinel_abs": self.sentinel_abs,
            "limits_": [float(v) for v in self.limits_],
            "nondetected_fraction_": [float(v) for v in self.nondetected_fraction_],
        }

    @classmethod
    def from_state(cls, state: dict) -> PhotometryFeatures:
        obj = cls(
            state["bands"],
            state["policy"],
            state["limits"],
            state["use_errors"],
            state["magnitudes"],
            state["reference_band"],
            state["sentinel_abs"],
        )
        obj.limits_ = np.asarray(state["limits_"], dtype=float)
        obj.nondetected_fraction_ = np.asarray(state["nondetected_fraction_"], dtype=float)
        return obj
