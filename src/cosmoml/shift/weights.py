"""Covariate-shift corrections: per-training-object weights and per-science-object flags.

Every method returns a :class:`Correction`: ``weights`` (one per training object, mean 1,
ready for ``fit(..., sample_weight=...)`` and for weighted spec-z histograms) and
``covered`` (one per science object: False where the training set cannot speak for it).
Only photometry of both samples is used, never truth; the training labels only by
``success`` (weights that may depend on the label, for redshift-dependent incompleteness).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from cosmoml.errors import ConfigError
from cosmoml.estimators.base import linear_assign
from cosmoml.shift.diagnostics import (
    _check,
    classifier_propensity,
    effective_sample_size,
    science_counts_in_balls,
    training_ball_radii,
)

log = logging.getLogger(__name__)
#: ``success`` weights whose cell-balance χ² per cell exceeds this are said not to fit (the
#: benchmark's covered scenarios: 0.6–1.2; colour-selected or magnitude-short ones: 3–33)
SUCCESS_MISFIT = 2.0
#: ``success`` smoothing, as multiples of ``smooth``, tried in turn while the fit's effective
#: sample size is under half of the next one's (a few labels took the weight)
SUCCESS_SMOOTH_LADDER = (3.0, 10.0, 30.0)
#: ... or while the largest weight is more than this many times the largest with 10× the
#: smoothing: a weight the data hold survives more smoothing, one that weak instruments
#: let a few labels take collapses (the benchmark's runaways: 7–55×; fits that hold: at
#: most 2.4× on VVDS-like surveys, 1.2–1.7× on synthetic ones whose true weights reach
#: 18× the mean — which an absolute cap on the weight would have smoothed away)
SUCCESS_RUNAWAY = 4.0


@dataclass
class Correction:
    """Weights for the training set and coverage flags for the science set;
    ``info['warning']``, if present, says why the weights are not to be trusted.
    ``weight_draws`` (fitted-model corrections): a callable yielding weight vectors drawn
    from the fit's uncertainty (mean 1 each), for the n(z) errors to carry it.
    ``covers``: the coverage rule behind ``covered``, for science objects the correction
    did not see (features → bool per row; None where the correction has none, which a
    catalogue read part by part then cannot use). ``covers_cells``: where that rule goes
    through a per-object cell the n(z) needs too (the SOM cell, the propensity stratum),
    features → (covered, cell) in one evaluation; ``covers`` is then its first part."""

    method: str
    weights: np.ndarray
    covered: np.ndarray
    info: dict = field(default_factory=dict)
    weight_draws: Callable[[], Iterator[np.ndarray]] | None = field(default=None, repr=False)
    covers: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    covers_cells: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = field(
        default=None, repr=False)

    def __post_init__(self) -> None:
        if self.covers_cells is not None and self.covers is None:
            self.covers = lambda X: self.covers_cells(X)[0]

    @property
    def ess(self) -> float:
        """Effective sample size of the weights."""
        return effective_sample_size(self.weights)

    def summary(self) -> dict:
        return {"method": self.method, "ess": self.ess, "n_train": int(self.weights.size),
                "covered_fraction": float(np.mean(self.covered)), **self.info}


def _normalise(w: np.ndarray) -> np.ndarray:
    s = w.sum()
    if s <= 0:
        raise ConfigError("all weights are zero: the training set does not overlap the science "
                          "sample at all")
    return w * (w.size / s)


def in_ball_rule(X_train: np.ndarray, k: int = 5, radii: np.ndarray | None = None
                 ) -> Callable[[np.ndarray], np.ndarray]:
    """Lima et al.'s coverage as a rule for any science rows: inside at least one training
    object's d_k ball (as ``coverage(...)["in_ball"]``; ``radii``: the d_k if known)."""
    radii = training_ball_radii(X_train, k) if radii is None else radii
    return lambda X: science_counts_in_balls(X_train, np.asarray(X, dtype=float),
                                             radii)[1] > 0


def no_correction(X_train, X_sci, k: int = 5, **_) -> Correction:
    """Unit weights; coverage still reported (Lima's training balls), since an uncorrected
    estimate speaks for the uncovered objects no better than a corrected one."""
    X_train, X_sci = _check(X_train, X_sci, k)
    rule = in_ball_rule(X_train, k)
    return Correction("none", np.ones(len(X_train)), rule(X_sci), covers=rule)


def lima_weights(X_train, X_sci, k: int = 5, **_) -> Correction:
    """Lima et al. (2008) nearest-neighbour weights, as DESIGN.md §5 defines them.

    For training object i, d_k is the distance to its k-th nearest other training object;
    w_i ∝ N_sci(< d_k) / k, normalised to mean 1. A science object inside no training
    ball is flagged uncovered.
    """
    X_train, X_sci = _check(X_train, X_sci, k)
    radii = training_ball_radii(X_train, k)
    counts, inside = science_counts_in_balls(X_train, X_sci, radii)
    covered = inside > 0
    w = counts / k * (len(X_train) / len(X_sci))
    return Correction("lima", _normalise(w.astype(float)), covered, {"k": k},
                      covers=in_ball_rule(X_train, k, radii))


def classifier_weights(
    X_train, X_sci, max_weight: float = 30.0, k: int = 5, random_state: int = 0, **_
) -> Correction:
    """Density ratio from a calibrated, cross-fitted classifier: w = p/(1−p) · n_t/n_s
    with p = P(science | x). Weights above ``max_weight`` × mean are clipped (the fraction
    clipped and the effective sample size are reported). Coverage: Lima's training balls.
    """
    X_train, X_sci = _check(X_train, X_sci, k)
    p_train, _ = classifier_propensity(X_train, X_sci, random_state=random_state)
    p = np.clip(p_train, 1e-4, 1 - 1e-4)
    w = _normalise(p / (1 - p) * len(X_train) / len(X_sci))
    clipped = w > max_weight
    w = _normalise(np.minimum(w, max_weight))
    rule = in_ball_rule(X_train, k)
    return Correction("classifier", w, rule(X_sci), {"clipped_fraction": float(clipped.mean()),
                                                     "max_weight": max_weight}, covers=rule)


def propensity_strata(
    X_train, X_sci, n_strata: int = 5, random_state: int = 0, return_rule: bool = False
) -> tuple:
    """StratLearn strata (Autenrieth et al. 2024): quantiles of the propensity score
    P(training | x) over the combined sample. Returns (stratum of each training object,
    stratum of each science object, the inner stratum edges in propensity), and with
    ``return_rule`` the stratum of any other rows (features → stratum; their propensity
    from the mean of the cross-fitted classifiers, none of which saw them)."""
    p_train, p_sci, p_of = classifier_propensity(X_train, X_sci, random_state=random_state,
                                                 return_rule=True)
    e_train, e_sci = 1 - p_train, 1 - p_sci
    edges = np.quantile(np.r_[e_train, e_sci], np.linspace(0, 1, n_strata + 1)[1:-1])
    out = (np.searchsorted(edges, e_train, side="right"),
           np.searchsorted(edges, e_sci, side="right"), edges)
    if not return_rule:
        return out
    return (*out, lambda X: np.searchsorted(edges, 1 - p_of(X), side="right"))


def stratlearn_weights(X_train, X_sci, n_strata: int = 5, k: int = 5, random_state: int = 0,
                       **_) -> Correction:
    """Stratum-level importance weights: w = (n_sci,s / n_sci) / (n_train,s / n_train) for a
    training object in stratum s. A science object in a stratum with no training object is
    uncovered (as is one outside every Lima ball). ``info['strata_train']`` and
    ``info['strata_science']`` hold the strata for fitting models within strata
    (:class:`cosmoml.shift.StratifiedPhotoZ`), ``info['stratum_of']`` the stratum of any
    other science rows (:func:`propensity_strata`'s rule)."""
    X_train, X_sci = _check(X_train, X_sci, k)
    s_train, s_sci, edges, stratum_of = propensity_strata(X_train, X_sci, n_strata,
                                                          random_state, return_rule=True)
    n_t = np.bincount(s_train, minlength=n_strata) / len(X_train)
    n_s = np.bincount(s_sci, minlength=n_strata) / len(X_sci)
    ratio = np.divide(n_s, n_t, out=np.zeros(n_strata), where=n_t > 0)
    in_ball = in_ball_rule(X_train, k)
    covered = (n_t[s_sci] > 0) & in_ball(X_sci)

    def covers_cells(X):
        s = stratum_of(X)
        return (n_t[s] > 0) & in_ball(X), s

    return Correction(
        "stratlearn", _normalise(ratio[s_train]), covered,
        {"n_strata": n_strata, "strata_train": s_train, "strata_science": s_sci,
         "stratum_weights": ratio, "propensity_edges": edges, "stratum_of": stratum_of},
        covers_cells=covers_cells,
    )


# ----------------------------------------------------------------------------------------
@dataclass
class SOMCells:
    """A self-organising map over standardised features, with each sample's cell."""

    weights: np.ndarray  # (n_cells, n_features) in standardised units
    mean: np.ndarray
    scale: np.ndarray

    def cells(self, X: np.ndarray, chunk: int = 50_000) -> np.ndarray:
        """Index of the best-matching cell of each row of ``X``."""
        out = np.empty(len(X), dtype=np.int64)
        w2 = (self.weights**2).sum(axis=1)
        for s in range(0, len(X), chunk):
            z = (X[s : s + chunk] - self.mean) / self.scale
            out[s : s + chunk] = np.argmin(w2[None, :] - 2 * z @ self.weights.T, axis=1)
        return out


def train_som(X: np.ndarray, shape: tuple[int, int] = (20, 20), n_iter: int | None = None,
              random_state: int = 0) -> SOMCells:
    """Train a rectangular SOM (MiniSom) on standardised ``X``."""
    from minisom import MiniSom

    X = np.asarray(X, dtype=float)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    som = MiniSom(shape[0], shape[1], Z.shape[1], sigma=max(shape) / 4, learning_rate=0.5,
                  random_seed=random_state)
    som.pca_weights_init(Z)
    som.train(Z, n_iter or 5 * len(Z), random_order=True)
    return SOMCells(som.get_weights().reshape(-1, Z.shape[1]), mean, scale)


def som_weights(X_train, X_sci, shape: tuple[int, int] = (20, 20), min_train: int = 1,
                random_state: int = 0, max_fit: int = 50_000, **_) -> Correction:
    """SOMPZ-like calibration: a SOM trained on the science photometry; a training object in
    cell c gets w = (n_sci,c / n_sci) / (n_train,c / n_train); the "gold" (covered) science
    objects are those in cells holding at least ``min_train`` training objects.
    ``info['cells_train']`` and ``info['cells_science']`` hold the cells (for SOM n(z))."""
    X_train, X_sci = _check(X_train, X_sci)
    rng = np.random.default_rng(random_state)
    fit_rows = X_sci if len(X_sci) <= max_fit else X_sci[rng.choice(len(X_sci), max_fit,
                                                                      replace=False)]
    som = train_som(fit_rows, shape, random_state=random_state)
    c_train, c_sci = som.cells(X_train), som.cells(X_sci)
    n_cells = som.weights.shape[0]
    n_t = np.bincount(c_train, minlength=n_cells)
    n_s = np.bincount(c_sci, minlength=n_cells)
    ratio = np.divide(n_s / len(X_sci), n_t / len(X_train), out=np.zeros(n_cells),
                      where=n_t > 0)
    covered = n_t[c_sci] >= min_train

    def covers_cells(X):
        c = som.cells(X)
        return n_t[c] >= min_train, c

    return Correction("som", _normalise(ratio[c_train]), covered,
                      {"cells_train": c_train, "cells_science": c_sci, "n_cells": n_cells,
                       "som": som}, covers_cells=covers_cells)


def success_weights(X_train, X_sci, z_train=None, mag_index: int = 0, n_mag: int = 8,
                    z_nodes=None, n_cells: int = 150, smooth: float = 0.1, k: int = 5,
                    random_state: int = 0, max_fit: int = 50_000, n_draws: int = 50,
                    groups=None, n_neighbours: int = 30, **_) -> Correction:
    """Redshift-success weights: log w = θ(m, z_label), a bilinear interpolation on a grid
    of magnitude and label-redshift nodes, fitted so that the weighted training set matches
    the science sample in the photometry.

    The model is a spectroscopic survey whose targets were chosen by magnitude alone and
    whose redshift success depends on magnitude and the *true* redshift (VVDS, zCOSMOS,
    DEEP2's failures beyond z ≈ 1.4): the selection probability is a function s(m, z) and
    the right weights are 1/s(m, z). Weights of the features alone (Lima, classifier)
    balance the photometry too, but assume the training set's redshifts at given colours
    are the science sample's, which success that depends on z breaks. Here the weights
    may depend on the label; they are identified because the redshift mix of the
    photometry at the same magnitude differs. Our own code: balancing weights restricted
    to a (magnitude, label) surface are not in a library.

    The balance: one estimating equation per node k, "the weighted training mean of an
    instrument h_k(x) equals the science mean", with h_k(x) = b_m(m) q_z(x) a function of
    the photometry alone (b_m the node's magnitude hat function, q_z the mean of the
    node's redshift hat function over the labels of x's ``n_neighbours`` nearest training
    objects: a kNN photo-z spread on the nodes). The instruments of one half of the
    training set come from the other half's labels (two folds), so no label enters its
    own instrument. Exactly as many equations as nodes, solved by least squares in units
    of their errors with a smoothness penalty. This is survey sampling's instrumental
    calibration for nonresponse that depends on the outcome (Kott & Chang 2010, JASA 105;
    on its failure with weak instruments, Lesage, Haziza & D'Haultfœuille 2019, JASA 114).
    Each equation is unbiased at the true surface, which a χ² balance over
    colour–magnitude cells (used before) is not for sparse labels: a cell's χ² also
    counts the Poisson noise of the one or two sparse labels it holds, and that fit
    under-weights them by ≈ λ/(λ+1) for λ such labels per cell, like a regression on a
    noisy regressor. On synthetic surveys whose 16–31 labels beyond z = 1.5 look like
    low-z galaxies (``tests/test_shift.py``) those labels get 0.91 ± 0.11 of the science
    share they are due (8 surveys; the cell χ² 0.77 ± 0.08, the true weights 0.96). The
    price is variance: the instruments are weak where labels are sparse, and on the
    VVDS-like benchmark 4 of 120 fits let a few labels take much of the weight at the
    default smoothing, which the smoothing rule below catches (``benchmarks/SHIFT.md``).

    ``mag_index``: the magnitude's column in the features (the reference magnitude comes
    first in :func:`cosmoml.nz.pipeline.shift_features`); ``n_mag`` magnitude nodes evenly
    spaced over the training magnitudes' 0.5–99.5 percentiles; ``z_nodes`` (default every
    0.1 to z = 1.5, then every 0.3, within the labels' range). ``smooth``: penalty on
    differences of θ between neighbouring nodes, in units of the equations' χ²; the
    smallest one tried. Weakly identified nodes can let a handful of labels take the
    weight (seen with 1,600 training objects: an effective sample size of 4%): where
    the fit's effective sample size is under half of that with 3× more smoothing, or its
    largest weight is more than :data:`SUCCESS_RUNAWAY` times the largest with 10× more
    (a weight held by the data survives smoothing), 3×, 10× and 30× are tried in turn
    (:data:`SUCCESS_SMOOTH_LADDER`; ``info['smooth']`` is the one used).
    Only the science objects in colour–magnitude cells (``n_cells`` k-means cells of the
    standardised features) that hold training objects are balanced (their share of the
    science sample is ``info['cell_coverage']``). The same cells check the model: the
    weighted cell balance's χ² (``info['balance_chi2']``, about ``n_cells_used`` when the
    model fits; compare ``balance_chi2_unweighted``). It assumes no colour pre-selection:
    with one (DEEP2-like), or where the training set stops short of the science sample in
    magnitude, the model is wrong and that χ² stays large; above :data:`SUCCESS_MISFIT`
    per cell the correction logs and carries a ``warning``. Coverage: Lima's training
    balls.

    ``groups`` (one label per training object, e.g. its survey): a compilation of surveys
    with different targeting (colour cuts, magnitude limits) and success. One surface
    cannot describe it: within a colour-selected survey's targets the selection is
    s(m, z), outside it is another s'(m, z), and a single surface mimics the colour cut
    through z — on a synthetic compilation it balances the cells (χ² ≈ 1.1–1.4 per cell)
    while leaving the mean redshift off by −0.055 (see the tests). With ``groups`` the
    photometry is split into *footprints*: each survey's targets are estimated as the
    points inside at least ⌈k/2⌉ of its objects' d_k balls (:func:`_survey_footprint`),
    and each combination of footprints (which surveys could have targeted a point) gets
    its own surface, fitted against the science objects with the same combination; each
    region's weights sum to its science share. Within a region every survey's targeting
    is constant, so the selection of the compilation (duplicates removed included) is
    again a function of magnitude and redshift there. Regions with fewer than 200
    training or science objects get one weight (their science share).
    ``info['regions']`` holds each region's fit; ``info['outside_footprints']`` the
    science fraction in no footprint, which no region's weights speak for (``covered``
    stays Lima's, as for the other corrections).

    Uncertainty: the sandwich covariance of the penalised fit (:func:`_success_covariance`),
    scaled up by the cell balance's χ²/cell where the model fits worse than its noise
    (the Birge ratio: a misfit widens the error rather than hiding behind it).
    ``info['log_weight_err']`` is its standard deviation per node; ``weight_draws`` yields
    ``n_draws`` weight vectors drawn from it, which
    :func:`cosmoml.nz.pipeline.estimate_nz` carries into ``mean_z_err``.
    """
    if z_train is None:
        raise ConfigError("the 'success' correction needs the training labels (z_train)")
    X_train, X_sci = _check(X_train, X_sci, k)
    z = np.asarray(z_train, dtype=float)
    if z.shape != (len(X_train),) or not np.all(np.isfinite(z)):
        raise ConfigError(f"z_train: need {len(X_train)} finite training redshifts")
    rng = np.random.default_rng(random_state)
    fit_kw = dict(mag_index=mag_index, n_mag=n_mag, z_nodes=z_nodes, n_cells=n_cells,
                  smooth=smooth, random_state=random_state, max_fit=max_fit,
                  n_neighbours=n_neighbours)
    rule = in_ball_rule(X_train, k)
    cov = rule(X_sci)
    names = None
    if groups is not None:
        import pandas as pd

        if np.shape(groups) != z.shape or pd.isna(np.asarray(groups, dtype=object)).any():
            raise ConfigError(f"groups: need one survey label per training object ({z.size}),"
                              " none missing")
        groups = np.asarray(groups).astype(str)
        names = [str(n) for n in np.unique(groups)]
        if len(names) > 62:
            raise ConfigError(f"groups: {len(names)} surveys; at most 62")
    if names is None or len(names) == 1:
        fit = _fit_success(X_train, X_sci, z, **fit_kw)
        info = fit.info
        if "warning" in info:
            log.warning(info["warning"])
        theta_draws = rng.multivariate_normal(fit.theta, fit.cov, size=n_draws,
                                              method="eigh")

        def draws() -> Iterator[np.ndarray]:
            for t in theta_draws:
                yield fit.weights(X_train[:, mag_index], z, t)

        return Correction("success", fit.weights(X_train[:, mag_index], z), cov, info,
                          weight_draws=draws, covers=rule)
    return replace(_compilation_weights(X_train, X_sci, z, groups, names, cov, k, n_draws,
                                        rng, fit_kw), covers=rule)


def _compilation_weights(X_train, X_sci, z, groups, names, cov, k, n_draws, rng,
                         fit_kw, min_region: int = 200) -> Correction:
    """``success`` weights of a compilation of surveys (see :func:`success_weights`)."""
    # each object's signature: which surveys' footprints it lies in (a training object
    # always in its own survey's)
    sig_t = np.zeros(len(X_train), dtype=np.int64)
    sig_s = np.zeros(len(X_sci), dtype=np.int64)
    for j, name in enumerate(names):
        own = groups == name
        if own.sum() <= k:
            raise ConfigError(f"success weights: survey {name!r} has {int(own.sum())} "
                              f"training objects; its footprint needs more than {k}")
        fp_s, fp_t = _survey_footprint(X_train[own], X_sci, X_train, k)
        sig_s |= fp_s.astype(np.int64) << j
        sig_t |= (fp_t | own).astype(np.int64) << j
    fits, infos = [], {}
    w = np.zeros(len(X_train))
    small = []
    for code in np.unique(sig_t):
        in_t, in_s = sig_t == code, sig_s == code
        label = "+".join(n for j, n in enumerate(names) if code >> j & 1)
        share = in_s.mean() / in_t.mean()  # the region's science share over its training
        if in_t.sum() < min_region or in_s.sum() < min_region:
            w[in_t] = share
            small.append(label)
            continue
        fit = _fit_success(X_train[in_t], X_sci[in_s], z[in_t], **fit_kw)
        w[in_t] = share * fit.weights(X_train[in_t, fit_kw["mag_index"]], z[in_t])
        fits.append((in_t, fit, share, rng.multivariate_normal(fit.theta, fit.cov,
                                                               size=n_draws, method="eigh")))
        infos[label] = {**fit.info, "n_train": int(in_t.sum()),
                        "science_fraction": float(in_s.mean())}
        if "warning" in fit.info:
            log.warning("footprint %s: %s", label, fit.info["warning"])

    def draws() -> Iterator[np.ndarray]:
        for d in range(n_draws):
            wd = w.copy()
            for in_t, fit, share, th in fits:
                wd[in_t] = share * fit.weights(X_train[in_t, fit_kw["mag_index"]], z[in_t],
                                               th[d])
            yield _normalise(wd)

    info = {"regions": infos, "small_regions": small,
            "balance_chi2": sum(i["balance_chi2"] for i in infos.values()),
            "n_cells_used": sum(i["n_cells_used"] for i in infos.values()),
            "balance_chi2_unweighted": sum(i["balance_chi2_unweighted"]
                                           for i in infos.values()),
            "outside_footprints": float(np.mean(sig_s == 0))}
    bad = [n for n, i in infos.items() if "warning" in i]
    if bad:
        info["warning"] = (f"the 'success' weights do not balance the photometry in the "
                           f"footprint(s) of {', '.join(bad)}: their n(z) is not to be "
                           "trusted — use lima (with cull)")
    return Correction("success", _normalise(w), cov, info, weight_draws=draws)


def _survey_footprint(X_own, X_sci, X_train, k: int, n_balls: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Which science and which training objects lie in one survey's footprint in
    photometry: inside at least ``n_balls`` (default ⌈k/2⌉) of its objects' d_k balls.
    Inside the footprint a point lies in about k balls whatever the survey's local
    density (the radii adapt to it), at a sharp colour or magnitude cut in about k/2, and
    beyond it in few; Lima's "inside any ball" reaches a radius beyond the cut."""
    n_balls = n_balls or -(-k // 2)
    radii = training_ball_radii(X_own, k)
    return (science_counts_in_balls(X_own, X_sci, radii)[1] >= n_balls,
            science_counts_in_balls(X_own, X_train, radii)[1] >= n_balls)


@dataclass
class _SuccessFit:
    """A fitted success surface θ(m, z) on (magnitude, redshift) nodes, its covariance."""

    theta: np.ndarray
    cov: np.ndarray
    m_nodes: np.ndarray
    z_nodes: np.ndarray
    info: dict

    def log_weight(self, m: np.ndarray, z: np.ndarray, theta: np.ndarray | None = None):
        """log w = θ(m, z) by bilinear interpolation (clamped beyond the nodes)."""
        B = _success_basis(m, z, self.m_nodes, self.z_nodes)
        return B @ (self.theta if theta is None else theta)

    def weights(self, m: np.ndarray, z: np.ndarray, theta: np.ndarray | None = None):
        """w = e^θ(m, z), normalised to mean 1 over the objects given."""
        return _normalise(np.exp(np.clip(self.log_weight(m, z, theta), -30.0, 30.0)))


def _success_basis(m, z, m_nodes, z_nodes):
    from scipy import sparse

    n_z = z_nodes.size
    m0, m1, tm = linear_assign(m_nodes, m)
    z0, z1, tz = linear_assign(z_nodes, z)
    rows = np.repeat(np.arange(len(z)), 4)
    cols = np.c_[m0 * n_z + z0, m0 * n_z + z1, m1 * n_z + z0, m1 * n_z + z1].ravel()
    vals = np.c_[(1 - tm) * (1 - tz), (1 - tm) * tz, tm * (1 - tz), tm * tz].ravel()
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(z), m_nodes.size * n_z))


def _fit_success(X_train, X_sci, z, mag_index: int, n_mag: int, z_nodes, n_cells: int,
                 smooth: float, random_state: int, max_fit: int, n_neighbours: int = 30
                 ) -> _SuccessFit:
    """Fit one success surface θ(m, z) of the training objects against the science
    objects (see :func:`success_weights`)."""
    from scipy.optimize import least_squares
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(random_state)
    mean, scale = X_sci.mean(axis=0), X_sci.std(axis=0)
    scale[scale == 0] = 1.0
    fit_rows = X_sci if len(X_sci) <= max_fit else X_sci[rng.choice(len(X_sci), max_fit,
                                                                      replace=False)]
    n_cells = int(min(n_cells, max(len(X_train) // 20, 2)))
    km = KMeans(n_cells, n_init=1, random_state=random_state).fit(
        (np.r_[fit_rows, X_train] - mean) / scale)
    c_t = km.predict((X_train - mean) / scale)
    c_s = km.predict((X_sci - mean) / scale)

    m = X_train[:, mag_index]
    m_nodes = np.linspace(*np.percentile(m, [0.5, 99.5]), n_mag)
    if z_nodes is None:
        z_nodes = np.r_[np.arange(0.0, 1.5, 0.1), np.arange(1.5, 4.0, 0.3)]
    z_nodes = np.asarray(z_nodes, dtype=float)
    lo, hi = np.searchsorted(z_nodes, [z.min(), z.max()])
    z_nodes = z_nodes[max(lo - 1, 0): hi + 1]
    if z_nodes.size < 2 or m_nodes[-1] <= m_nodes[0]:
        raise ConfigError("the 'success' correction needs training labels and magnitudes "
                          "that span a range")
    n_z = z_nodes.size
    n_par = n_mag * n_z
    B = _success_basis(m, z, m_nodes, z_nodes)
    # only the science objects in cells holding training objects are balanced: no weight
    # can fill an empty cell, and trying would distort the others
    S = np.bincount(c_s, minlength=n_cells) / len(X_sci)
    T0 = np.bincount(c_t, minlength=n_cells) / len(X_train)
    cell_coverage = float(S[T0 > 0].sum())
    moments = _success_moments(X_train, X_sci[(T0 > 0)[c_s]], z, B, mag_index, m_nodes,
                               z_nodes, mean, scale, n_neighbours, rng)
    grid = np.arange(n_par).reshape(n_mag, n_z)  # neighbouring nodes: θ varies smoothly
    pairs = np.r_[np.c_[grid[:, :-1].ravel(), grid[:, 1:].ravel()],
                  np.c_[grid[:-1, :].ravel(), grid[1:, :].ravel()]]

    D = np.zeros((len(pairs), n_par))
    D[np.arange(len(pairs)), pairs[:, 0]] = 1.0
    D[np.arange(len(pairs)), pairs[:, 1]] = -1.0
    sd = np.sqrt(moments.var)

    solved = {}

    def solve(factor):
        # the penalised fit with `factor` times the smoothing (each solved once)
        key = round(factor, 6)
        if key in solved:
            return solved[key]
        smooth_k = smooth * factor
        # a least-squares problem: the moments in units of their errors, the smoothness
        # penalty, and a small ridge that keeps nodes no label reaches at zero
        prior = np.r_[np.sqrt(smooth_k) * D, np.sqrt(1e-3) * np.eye(n_par)]
        res = least_squares(
            lambda t: np.r_[moments.residual(t) / sd, prior @ t], np.zeros(n_par),
            jac=lambda t: np.r_[moments.jacobian(t)[0] / sd[:, None], prior],
            bounds=(-5.0, 5.0), method="trf", tr_solver="lsmr")
        solved[key] = _Solved(res, prior, factor, np.exp(B @ res.x))
        return solved[key]

    # weakly identified nodes can let a handful of labels take the weight (small training
    # sets, or an unlucky fold split): then the effective sample size collapses against
    # 3× more smoothing's, or the largest weight collapses with 10× more, and the
    # smoothing is raised until neither holds
    fit = solve(1.0)
    for factor in SUCCESS_SMOOTH_LADDER:
        more = solve(factor)
        if (fit.ess >= 0.5 * more.ess
                and fit.max_weight <= SUCCESS_RUNAWAY * solve(10 * fit.factor).max_weight):
            break
        fit = more
    res, prior, w = fit.res, fit.prior, fit.w
    # the weighted cell balance, the model's check (the fit itself never sees the cells):
    # its χ² counts the weighted counts' own variance (Σ w² per cell)
    S = np.where(T0 > 0, S, 0.0) / cell_coverage
    T = np.bincount(c_t, weights=w, minlength=n_cells) / w.sum()
    var_w = np.where(T0 > 0, S / len(X_sci)
                     + np.bincount(c_t, weights=w**2, minlength=n_cells) / w.sum() ** 2, np.inf)
    var0 = np.where(T0 > 0, S / len(X_sci) + T0 / len(X_train), np.inf)
    chi2 = float(np.sum((T - S) ** 2 / var_w))
    n_used = int(np.sum(T0 > 0))
    cov_theta = _success_covariance(moments, res.x, prior)
    cov_theta *= max(1.0, chi2 / n_used)
    info = {"n_cells": n_cells, "n_cells_used": n_used, "mag_nodes": m_nodes,
            "z_nodes": z_nodes, "log_weight": res.x.reshape(n_mag, n_z),
            "log_weight_err": np.sqrt(np.diag(cov_theta)).reshape(n_mag, n_z),
            "cell_coverage": cell_coverage, "balance_chi2": chi2, "smooth": smooth * fit.factor,
            "balance_chi2_unweighted": float(np.sum((T0 - S) ** 2 / var0)),
            "converged": bool(res.success)}
    if chi2 / n_used > SUCCESS_MISFIT:
        info["warning"] = (
            f"the 'success' weights do not balance the photometry (χ² {chi2 / n_used:.1f} "
            "per cell, ≈ 1 when the model fits): the selection depends on more than "
            "magnitude and redshift (colour cuts?) or the training set does not reach the "
            "science sample's magnitudes; its n(z) is not to be trusted — use lima (with "
            "cull)")
    return _SuccessFit(res.x, cov_theta, m_nodes, z_nodes, info)


class _Solved(NamedTuple):
    """One penalised fit of the success surface, with ``factor`` times the smoothing:
    its weights' ``ess`` and largest weight over the mean (``max_weight``) decide the
    smoothing (see :func:`_fit_success`)."""

    res: object
    prior: np.ndarray
    factor: float
    w: np.ndarray

    @property
    def ess(self) -> float:
        return effective_sample_size(self.w)

    @property
    def max_weight(self) -> float:
        return float(self.w.max() / self.w.mean())


@dataclass
class _SuccessMoments:
    """The ``success`` surface's estimating equations, one per (magnitude, redshift)
    node k: the weighted training mean of an instrument h_k(x), a function of the
    photometry alone, equals its science mean. Two folds: h from one fold's labels
    meets the other fold's weights, so g(θ₀) is unbiased (see :func:`success_weights`).

    ``H``: per fold, the other fold's instruments (n × n_par); ``B``: their weights'
    basis; ``target``: the science means; ``var``: the moments' variance at θ = 0
    (the fit's fixed scale); ``science_cov``: the covariance of the science part of g."""

    H: list[np.ndarray]
    B: list
    target: list[np.ndarray]
    var: np.ndarray
    science_cov: np.ndarray

    def residual(self, theta: np.ndarray) -> np.ndarray:
        """g(θ): weighted training means minus science means, summed over the folds."""
        g = np.zeros(theta.size)
        for H, B, t in zip(self.H, self.B, self.target, strict=True):
            w = np.exp(B @ theta)
            g += w @ H / w.sum() - t
        return g

    def jacobian(self, theta: np.ndarray, cov: bool = False
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """∂g/∂θ (n_par × n_par) and, with ``cov``, the covariance of g at θ (the
        weighted training means' and the science means')."""
        J = np.zeros((theta.size, theta.size))
        omega = self.science_cov.copy() if cov else None
        for H, B in zip(self.H, self.B, strict=True):
            w = np.exp(B @ theta)
            p = w / w.sum()
            dH = H - p @ H
            J += (B.multiply(p[:, None]).T @ dH).T
            if cov:
                omega += (dH.T * p**2) @ dH
        return J, omega


def _success_moments(X_train, X_sci, z, B, mag_index, m_nodes, z_nodes, mean, scale,
                     n_neighbours: int, rng) -> _SuccessMoments:
    """Cross-fitted instruments for the ``success`` balance: h_k(x) = b_m(m) · q_z(x),
    b_m the magnitude node's hat function and q_z the mean redshift-node hat function of
    the labels of x's ``n_neighbours`` nearest training objects of the other fold (a kNN
    photo-z of x, spread on the nodes)."""
    from scipy.spatial import cKDTree

    def hats(x, nodes):
        a, b, t = linear_assign(nodes, x)
        out = np.zeros((len(x), nodes.size))
        np.add.at(out, (np.arange(len(x)), a), 1 - t)
        np.add.at(out, (np.arange(len(x)), b), t)
        return out

    Zt, Zs = (X_train - mean) / scale, (X_sci - mean) / scale
    Bz, Mt, Ms = hats(z, z_nodes), hats(X_train[:, mag_index], m_nodes), \
        hats(X_sci[:, mag_index], m_nodes)
    fold = rng.permutation(len(z)) % 2
    H, Bs, target, var_t, h_sci = [], [], [], np.zeros(B.shape[1]), 0.0
    for f in (0, 1):
        src, dst = fold == f, fold != f
        k = min(n_neighbours, int(src.sum()))
        tree = cKDTree(Zt[src])
        q_t = Bz[src][tree.query(Zt[dst], k=k)[1].reshape(-1, k)].mean(axis=1)
        q_s = Bz[src][tree.query(Zs, k=k)[1].reshape(-1, k)].mean(axis=1)
        h_t = (Mt[dst][:, :, None] * q_t[:, None, :]).reshape(len(q_t), -1)
        h_s = (Ms[:, :, None] * q_s[:, None, :]).reshape(len(q_s), -1)
        H.append(h_t)
        Bs.append(B[dst])
        target.append(h_s.mean(axis=0))
        var_t += h_t.var(axis=0) / len(h_t)
        h_sci = h_sci + h_s  # g's science part: both folds' instruments on one sample
    cov_s = np.atleast_2d(np.cov(h_sci, rowvar=False)) / len(X_sci)
    # a node no object's instrument reaches has (almost) no moment: a floor keeps its
    # scale from swamping the others
    var = var_t + np.diag(cov_s)
    var = np.maximum(var, 1e-6 * var.max())
    return _SuccessMoments(H, Bs, target, var, cov_s)


def _success_covariance(moments: _SuccessMoments, theta: np.ndarray, prior: np.ndarray
                        ) -> np.ndarray:
    """Covariance of the fitted ``success`` surface θ, the sandwich of an M-estimator:
    A⁻¹ (JᵀV⁻¹ Ω V⁻¹J) A⁻¹ with A = JᵀV⁻¹J + PᵀP the fit's curvature (J = ∂g/∂θ, V the
    moments' fixed scale, P the smoothness and ridge rows) and Ω the covariance of the
    estimating equations g at θ. The moments overlap (neighbouring nodes' instruments
    are correlated), so their own variances alone would misstate it (by about 3× on the
    tests' synthetic survey). The overall scale of the weights is not measured (only
    their ratios are): a tight constraint on θ's mean removes that direction."""
    n_par = theta.size
    J, omega = moments.jacobian(theta, cov=True)
    JV = J.T / moments.var
    A = JV @ J + prior.T @ prior + 1e3 * np.full((n_par, n_par), 1.0 / n_par**2)
    A_inv = np.linalg.inv(A)
    cov = A_inv @ (JV @ omega @ JV.T) @ A_inv
    return 0.5 * (cov + cov.T)


METHODS = {
    "none": no_correction,
    "lima": lima_weights,
    "classifier": classifier_weights,
    "stratlearn": stratlearn_weights,
    "som": som_weights,
    "success": success_weights,
}


def correct(method: str, X_train, X_sci, **kw) -> Correction:
    """Run the correction ``method`` (one of :data:`METHODS`)."""
    if method not in METHODS:
        raise ConfigError(f"unknown correction {method!r}; choose one of {sorted(METHODS)}")
    return METHODS[method](X_train, X_sci, **kw)
