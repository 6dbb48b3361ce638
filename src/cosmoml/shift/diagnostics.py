"""How unrepresentative is a training set? Coverage, two-sample tests, per-feature shifts.

All functions take feature matrices (rows = objects; e.g. colours and one magnitude, as
built by :class:`cosmoml.catalog.PhotometryFeatures`) of the training (spec-z) sample and
the science (photometric) sample.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from scipy.stats import ks_2samp

from cosmoml.errors import ConfigError

log = logging.getLogger(__name__)

#: A science object whose k-th-neighbour distance to the training set exceeds this many
#: times the local training scale is "far" from the training set.
DISTANCE_RATIO_LIMIT = 3.0
#: Below this covered fraction, corrections cannot fix the science sample: warn loudly.
MIN_COVERED_FRACTION = 0.9


def _check(X_train: np.ndarray, X_sci: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    X_train = np.asarray(X_train, dtype=float)
    X_sci = np.asarray(X_sci, dtype=float)
    if X_train.ndim != 2 or X_sci.ndim != 2 or X_train.shape[1] != X_sci.shape[1]:
        raise ConfigError(
            f"training and science features must be 2-D with the same columns, got "
            f"{X_train.shape} and {X_sci.shape}"
        )
    if not (np.all(np.isfinite(X_train)) and np.all(np.isfinite(X_sci))):
        raise ConfigError("features contain NaN or inf: apply a non-detection policy first")
    if X_train.shape[0] <= k:
        raise ConfigError(f"need more than k={k} training objects, got {X_train.shape[0]}")
    return X_train, X_sci


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size (Σw)² / Σw²."""
    w = np.asarray(weights, dtype=float)
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0


def training_ball_radii(X_train: np.ndarray, k: int = 5) -> np.ndarray:
    """d_k of each training object: distance to its k-th nearest *other* training object."""
    d, _ = cKDTree(X_train).query(X_train, k=k + 1)
    return d[:, k]


def science_counts_in_balls(
    X_train: np.ndarray, X_sci: np.ndarray, radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per training ball, the number of science objects inside it; per science object,
    the number of training balls it lies inside (> 0: covered, Lima et al. 2008)."""
    tree = cKDTree(X_sci)
    members = tree.query_ball_point(X_train, r=radii)
    counts = np.fromiter((len(m) for m in members), dtype=np.int64, count=len(members))
    inside = np.zeros(len(X_sci), dtype=np.int64)
    if counts.sum():
        inside = np.bincount(np.concatenate([np.asarray(m, dtype=np.int64) for m in members]),
                             minlength=len(X_sci))
    return counts, inside


def coverage(X_train, X_sci, k: int = 5, ratio_limit: float = DISTANCE_RATIO_LIMIT) -> dict:
    """Per-science-object coverage by the training set.

    Returns a dict of arrays over science objects: ``distance`` (to the k-th nearest
    training object), ``distance_ratio`` (that distance over the d_k of the nearest
    training object, i.e. relative to the training set's own local scale; ≈ 1 where the
    two samples overlap), ``far`` (ratio > ``ratio_limit``) and ``in_ball`` (inside at
    least one training object's d_k ball, Lima et al. 2008; the ``uncovered`` objects are
    the rest).
    """
    X_train, X_sci = _check(X_train, X_sci, k)
    radii = training_ball_radii(X_train, k)
    d, idx = cKDTree(X_train).query(X_sci, k=k)
    d_k = d[:, k - 1]
    nearest = idx[:, 0]
    scale = np.maximum(radii[nearest], np.finfo(float).tiny)
    ratio = d_k / scale
    in_ball = science_counts_in_balls(X_train, X_sci, radii)[1] > 0
    return {"distance": d_k, "distance_ratio": ratio, "far": ratio > ratio_limit,
            "in_ball": in_ball}


def classifier_propensity(
    X_train,
    X_sci,
    n_folds: int = 3,
    calibrate: bool = True,
    random_state: int = 0,
    return_rule: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, Callable]:
    """Cross-fitted P(science | x) for every training and every science object.

    A gradient-boosted classifier (scikit-learn's ``HistGradientBoostingClassifier``,
    isotonic-calibrated when ``calibrate``) is trained to tell science (1) from training
    (0); each object's probability comes from the folds that did not see it. With
    ``return_rule`` also P(science | x) for any other rows (features → probability): the
    mean of the fold classifiers, none of which saw them.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    X_train, X_sci = _check(X_train, X_sci)
    X = np.vstack([X_train, X_sci])
    y = np.r_[np.zeros(len(X_train)), np.ones(len(X_sci))]
    p = np.empty(len(X))
    models = []
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    for fit_idx, out_idx in folds.split(X, y):
        # shallow, strongly regularised trees: smooth propensities; the unregularised
        # default gives isotonic calibration extreme probabilities and wild ratios
        clf = HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=8, min_samples_leaf=200,
            l2_regularization=1.0, early_stopping=True, random_state=random_state,
        )
        if calibrate:
            clf = CalibratedClassifierCV(clf, method="isotonic", cv=3)
        clf.fit(X[fit_idx], y[fit_idx])
        p[out_idx] = clf.predict_proba(X[out_idx])[:, 1]
        if return_rule:
            models.append(clf)
    if not return_rule:
        return p[: len(X_train)], p[len(X_train) :]

    def rule(X_new: np.ndarray) -> np.ndarray:
        X_new = np.asarray(X_new, dtype=float)
        return np.mean([m.predict_proba(X_new)[:, 1] for m in models], axis=0)

    return p[: len(X_train)], p[len(X_train) :], rule


def classifier_auc(p_train: np.ndarray, p_sci: np.ndarray) -> tuple[float, float]:
    """AUC of telling science from training by the scores, and its standard error under
    the null of no shift (Hanley & McNeil 1982: √((n₁ + n₀ + 1) / (12 n₁ n₀)))."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(p_train)), np.ones(len(p_sci))]
    auc = float(roc_auc_score(y, np.r_[p_train, p_sci]))
    n0, n1 = len(p_train), len(p_sci)
    return auc, float(np.sqrt((n0 + n1 + 1) / (12.0 * n0 * n1)))


def feature_shift(X_train, X_sci, names: list[str] | None = None) -> pd.DataFrame:
    """Per feature: means, two-sample KS statistic and p-value, standardised mean difference
    (science − training over the pooled standard deviation)."""
    X_train, X_sci = _check(X_train, X_sci)
    names = names or [f"x{j}" for j in range(X_train.shape[1])]
    rows = []
    for j, name in enumerate(names):
        a, b = X_train[:, j], X_sci[:, j]
        ks = ks_2samp(a, b)
        pooled = np.sqrt(0.5 * (a.var() + b.var()))
        rows.append({
            "feature": name,
            "mean_train": a.mean(),
            "mean_science": b.mean(),
            "smd": (b.mean() - a.mean()) / pooled if pooled > 0 else 0.0,
            "ks": float(ks.statistic),
            "ks_p": float(ks.pvalue),
        })
    return pd.DataFrame(rows)


@dataclass
class ShiftDiagnostics:
    """The result of :func:`diagnose`; ``summary()`` reads it out."""

    n_train: int
    n_science: int
    auc: float
    auc_se: float
    covered_fraction: float
    near_fraction: float
    median_distance_ratio: float
    features: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def shift_detected(self) -> bool:
        """The classifier tells the samples apart: AUC above 0.5 by > 3σ and by ≥ 0.05
        (a practical size; tiny AUC excesses are significant in large samples)."""
        return self.auc - 0.5 > max(3 * self.auc_se, 0.05)

    @property
    def verdict(self) -> str:
        if self.covered_fraction < MIN_COVERED_FRACTION:
            return "poorly covered"
        return "shifted, covered" if self.shift_detected else "representative"

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in (
            "n_train", "n_science", "auc", "auc_se", "covered_fraction", "near_fraction",
            "median_distance_ratio", "warnings")}
        d.update(verdict=self.verdict, shift_detected=self.shift_detected,
                 features=self.features.to_dict(orient="records"))
        return d

    def summary(self) -> str:
        lines = [
            f"training objects {self.n_train:,}, science objects {self.n_science:,}",
            f"verdict: {self.verdict.upper()}",
            f"classifier AUC (training vs science): {self.auc:.3f} ± {self.auc_se:.3f} "
            f"({'shift detected' if self.shift_detected else 'no shift detected'})",
            f"science inside a training ball (Lima et al.): {100 * self.covered_fraction:.1f}%",
            f"science within {DISTANCE_RATIO_LIMIT:g}× the local training scale: "
            f"{100 * self.near_fraction:.1f}% (median distance ratio "
            f"{self.median_distance_ratio:.2f})",
            "per feature (SMD = standardised mean difference):",
            self.features.to_string(index=False, float_format=lambda v: f"{v:.3g}"),
        ]
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


def diagnose(
    X_train, X_sci, names: list[str] | None = None, k: int = 5, random_state: int = 0,
    max_science: int = 200_000,
) -> ShiftDiagnostics:
    """All diagnostics in one call (science subsampled to ``max_science`` for speed)."""
    X_train, X_sci = _check(X_train, X_sci, k)
    if len(X_sci) > max_science:
        pick = np.random.default_rng(random_state).choice(len(X_sci), max_science, replace=False)
        X_sci = X_sci[np.sort(pick)]
    cov = coverage(X_train, X_sci, k)
    p_train, p_sci = classifier_propensity(X_train, X_sci, random_state=random_state)
    auc, se = classifier_auc(p_train, p_sci)
    diag = ShiftDiagnostics(
        n_train=len(X_train),
        n_science=len(X_sci),
        auc=auc,
        auc_se=se,
        covered_fraction=float(cov["in_ball"].mean()),
        near_fraction=float(1 - cov["far"].mean()),
        median_distance_ratio=float(np.median(cov["distance_ratio"])),
        features=feature_shift(X_train, X_sci, names),
    )
    if diag.covered_fraction < MIN_COVERED_FRACTION:
        diag.warnings.append(
            f"only {100 * diag.covered_fraction:.1f}% of the science sample lies inside the "
            "training set's coverage: no reweighting can correct the rest; cull it (gold "
            "selection) or treat its n(z) as unconstrained"
        )
    if diag.shift_detected and diag.auc > 0.8:
        diag.warnings.append(
            f"training and science samples are easily told apart (AUC {diag.auc:.2f}): "
            "validation metrics on the training distribution do not describe the science sample"
        )
    for w in diag.warnings:
        log.warning(w)
    return diag
