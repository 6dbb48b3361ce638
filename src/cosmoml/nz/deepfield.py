"""Deep-field calibration of tomographic n(z) (DES Y1 COSMOS method, Hoyle et al. 2018;
the transfer of DES Y3's SOMPZ, Myles et al. 2021).

A deep field observes the wide survey's bands much deeper and carries precise many-band
redshift labels (COSMOS-like). Its photometry is degraded to wide depth (``n_real`` noise
realisations per deep galaxy, as injecting deep galaxies into wide images does). Then
either

``deepfield_nz_assign``  every degraded realisation goes through the wide survey's own
                         selection and bin assignment (the photo-z model and bin edges);
                         a bin's n(z) is the histogram of the labels of the realisations
                         that land in it. No matching: unbiased whenever the degradation
                         reproduces the wide noise (the recommended method);
``deepfield_nz``         (kNN, DES Y1) every wide galaxy inherits the labels of its ``k``
                         nearest degraded realisations in the common bands; for bins that
                         cannot be recomputed (an external pipeline's assignment). kNN
                         smoothing in the noisy wide space pulls the lowest bin's mean
                         towards the bulk of the sample (measured +0.012 on the Buzzard
                         simulation: see ``benchmarks/calibration.py``).

Uncertainties of each bin's mean redshift, added in quadrature:

``sigma_sample``  jackknife over deep-field patches (leave one out and match again):
                  sample variance as far as the patches capture it; in simulations
                  without clustering it is shot noise. ``external_sigma`` adds a
                  cosmic-variance estimate (DES Y1 used simulations for this);
``sigma_match``   the spread of the bin mean between the ``n_real`` degradation
                  realisations matched one at a time, over √n_real;
``sigma_label``   the labels' own mean error, ``label_sigma`` × (1 + ⟨z⟩) (for example
                  from the many-band photo-z's outlier rate × typical outlier offset).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.neighbors import KDTree

from cosmoml.errors import ConfigError
from cosmoml.nz.methods import mean_z, point_nz
from cosmoml.pdf import _trapz_weights, make_grid


@dataclass
class DeepFieldResult:
    """Per-bin n(z) (rows) on ``grid`` and the table of means and uncertainties."""

    grid: np.ndarray
    nz: np.ndarray
    table: pd.DataFrame
    matched_labels: np.ndarray = field(repr=False)


def _match(wide_x: np.ndarray, ref_x: np.ndarray, k: int) -> np.ndarray:
    """Indices (n_wide, k) of each wide galaxy's k nearest reference points."""
    k = min(k, len(ref_x))
    return KDTree(ref_x).query(wide_x, k=k, return_distance=False)


def deepfield_nz(
    wide_x: np.ndarray,
    wide_bins: np.ndarray,
    deep_x: np.ndarray,
    deep_source: np.ndarray,
    deep_labels: np.ndarray,
    deep_patch: np.ndarray | None = None,
    n_bins: int | None = None,
    k: int = 5,
    grid: np.ndarray | None = None,
    external_sigma: float | np.ndarray = 0.0,
    label_sigma: float = 0.0,
) -> DeepFieldResult:
    """n(z) of each wide bin from deep-field labels matched in feature space.

    Parameters
    ----------
    wide_x
        Wide features (n_wide, F), e.g. magnitudes and colours.
    wide_bins
        Tomographic bin of each wide galaxy (-1 = in no bin).
    deep_x
        Features of the degraded deep realisations (n_ref, F), same space as ``wide_x``.
    deep_source
        Index of the deep galaxy each realisation came from (n_ref,); realisations of one
        galaxy share its label and patch. Realisation r of galaxy g is the r-th row with
        ``deep_source == g`` (the order :func:`degrade_deep` writes).
    deep_labels
        Many-band redshift label per deep galaxy.
    deep_patch
        Deep-field patch per deep galaxy, for the jackknife (None: no sample-variance term).
    n_bins
        Number of bins (default ``wide_bins.max() + 1``).
    k
        Neighbours per wide galaxy (each carries weight 1/k).
    grid
        Redshift grid for n(z) (default 0..3, 301 points).
    external_sigma
        Extra per-bin uncertainty of the mean (cosmic variance), added in quadrature.
    label_sigma
        Uncertainty of the labels' mean, in units of (1 + z).
    """
    grid = make_grid() if grid is None else np.asarray(grid, dtype=float)
    wide_x, deep_x = np.asarray(wide_x, float), np.asarray(deep_x, float)
    wide_bins = np.asarray(wide_bins, dtype=int)
    deep_source = np.asarray(deep_source, dtype=int)
    deep_labels = np.asarray(deep_labels, dtype=float)
    if wide_x.shape[1] != deep_x.shape[1]:
        raise ConfigError(f"wide features have {wide_x.shape[1]} columns, deep {deep_x.shape[1]}")
    if len(deep_x) != len(deep_source) or deep_source.max() >= len(deep_labels):
        raise ConfigError("deep_source must index deep_labels, one entry per deep realisation")
    if not (np.isfinite(wide_x).all() and np.isfinite(deep_x).all()):
        raise ConfigError("features must be finite (apply the non-detection policy first)")
    n_bins = int(wide_bins.max()) + 1 if n_bins is None else n_bins
    ref_labels = deep_labels[deep_source]

    def nz_of(ref_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels = ref_labels[ref_rows[_match(wide_x, deep_x[ref_rows], k)]]  # (n_wide, k)
        return point_nz(labels.ravel(), np.repeat(wide_bins, labels.shape[1]), grid,
                        n_bins, linear=True), labels

    nz, labels = nz_of(np.arange(len(deep_x)))
    means = mean_z(nz, grid)
    table = _table(wide_bins, n_bins, means, deep_source, deep_patch,
                   lambda rows: mean_z(nz_of(rows)[0], grid), external_sigma,
                   label_sigma * (1 + means))
    return DeepFieldResult(grid, nz, table, labels)


def deepfield_nz_assign(
    real_bins: np.ndarray,
    deep_source: np.ndarray,
    deep_labels: np.ndarray,
    deep_patch: np.ndarray | None = None,
    n_bins: int | None = None,
    grid: np.ndarray | None = None,
    external_sigma: float | np.ndarray = 0.0,
    label_sigma: float = 0.0,
    label_error: tuple[np.ndarray, np.ndarray] | None = None,
    outliers: LabelOutliers | None = None,
) -> DeepFieldResult:
    """n(z) of each wide bin from the labels of degraded deep realisations that the wide
    selection and bin assignment put in it.

    ``real_bins``: bin of every degraded realisation under the wide survey's own selection
    and photo-z binning (-1: not selected or in no bin); ``deep_source`` its deep galaxy
    (row order as :func:`degrade_deep` writes); ``label_error``: per-bin (bias, sigma) of
    the labels (:func:`label_bias_by_bin`), subtracted from the means with its sigma as
    the label term (replacing ``label_sigma``); ``outliers``: the labels' outlier mixture
    (:func:`label_outliers`), removed from n(z) and means with its error as the label
    term (not with ``label_error``); the rest as in :func:`deepfield_nz`.
    """
    grid = make_grid() if grid is None else np.asarray(grid, dtype=float)
    real_bins = np.asarray(real_bins, dtype=int)
    deep_source = np.asarray(deep_source, dtype=int)
    deep_labels = np.asarray(deep_labels, dtype=float)
    if real_bins.shape != deep_source.shape:
        raise ConfigError("real_bins and deep_source need one entry per deep realisation")
    n_bins = int(real_bins.max()) + 1 if n_bins is None else n_bins
    ref_labels = deep_labels[deep_source]

    def nz_of(rows: np.ndarray) -> np.ndarray:
        return point_nz(ref_labels[rows], real_bins[rows], grid, n_bins, linear=True)

    if label_error is not None and outliers is not None:
        raise ConfigError("give label_error (per-bin bias) or outliers (mixture), not both")
    nz = nz_of(np.arange(real_bins.size))
    means = mean_z(nz, grid)
    if outliers is not None:
        nz, corrected, sig_label = _outlier_corrected(nz, grid, outliers)
        table = _table(real_bins, n_bins, corrected, deep_source, deep_patch,
                       lambda rows: mean_z(nz_of(rows), grid), external_sigma, sig_label)
        table["outlier_fraction"] = outliers.fraction
        return DeepFieldResult(grid, nz, table, ref_labels)
    if label_error is None:
        bias, sig_label = np.zeros(n_bins), label_sigma * (1 + means)
    else:
        bias, sig_label = (np.asarray(a, dtype=float) for a in label_error)
        nz = np.array([np.interp(grid + bb, grid, row, left=0, right=0)
                       for row, bb in zip(nz, bias, strict=True)])
    table = _table(real_bins, n_bins, means - bias, deep_source, deep_patch,
                   lambda rows: mean_z(nz_of(rows), grid), external_sigma, sig_label)
    if label_error is not None:
        table["label_bias"] = bias
    return DeepFieldResult(grid, nz, table, ref_labels)


def label_bias_by_bin(
    real_bins: np.ndarray,
    deep_source: np.ndarray,
    z_label: np.ndarray,
    z_spec: np.ndarray,
    n_bins: int,
) -> pd.DataFrame:
    """Per-bin mean label error ⟨z_label − z_spec⟩ from deep galaxies that also have a
    spectroscopic redshift (``z_spec`` finite; NaN elsewhere), weighted as their
    realisations fall in each bin, with its standard error over distinct galaxies.

    Many-band labels are validated this way in practice (COSMOS against its spec-z); the
    result feeds ``label_error=(bias, sigma)`` of :func:`deepfield_nz_assign` to correct
    the bins' means for the labels' own bias. Outliers make it noisy: it needs hundreds of
    validation galaxies per bin.
    """
    real_bins = np.asarray(real_bins, dtype=int)
    deep_source = np.asarray(deep_source, dtype=int)
    err = np.asarray(z_label, float) - np.asarray(z_spec, float)
    rows = []
    for b in range(n_bins):
        src = deep_source[(real_bins == b) & np.isfinite(err[deep_source])]
        gal, count = np.unique(src, return_counts=True)
        if gal.size < 2:
            rows.append({"bin": b, "bias": 0.0, "sigma": np.nan, "n_galaxies": int(gal.size)})
            continue
        e, w = err[gal], count / count.sum()
        bias = float(np.sum(w * e))
        # standard error of a weighted mean over independent galaxies
        se = float(np.sqrt(np.sum(w**2 * (e - bias) ** 2) * gal.size / (gal.size - 1)))
        rows.append({"bin": b, "bias": bias, "sigma": se, "n_galaxies": int(gal.size)})
    return pd.DataFrame(rows)


@dataclass
class LabelOutliers:
    """The labels' catastrophic outliers as a mixture: a fraction ``fraction`` (± its
    binomial error) of labels drawn from a distribution of mean ``mean`` (± its standard
    error) whatever the true redshift; ``labels`` and ``weights``: the validation labels
    and each one's probability of being an outlier (the distribution's sample)."""

    fraction: float
    fraction_sigma: float
    mean: float
    mean_sigma: float
    labels: np.ndarray = field(repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)


def label_outliers(z_label: np.ndarray, z_spec: np.ndarray, threshold: float = 0.15,
                   n_iter: int = 100, bin_width: float = 0.1) -> LabelOutliers:
    """Outlier fraction and outlier-label distribution from deep galaxies that also have a
    spec-z (NaN elsewhere), fitted as a mixture by expectation-maximisation: each label is
    either good, z_spec + N(0, s (1 + z_spec)), or an outlier drawn from p_out(z) (a
    histogram of ``bin_width``) whatever z_spec; |z_label − z_spec| > ``threshold``
    (1 + z_spec) only starts it.

    Fitted, not counted: an outlier that lands near its galaxy's true redshift is still an
    outlier of the process, and how many do depends on the redshift (more in a wide bin at
    high z), so a fraction counted by a threshold misfits each bin differently (in the
    benchmark's 1-deg² deep fields, +0.001…+0.002 in the bin means).

    One global estimate from all validation galaxies, so far less noisy than a per-bin
    mean error (:func:`label_bias_by_bin`: hundreds of validation galaxies per bin, and
    the outliers dominate its variance). It assumes that outlying labels do not depend on
    the true redshift or the bin (true of random catastrophic failures; not of
    systematic degeneracies such as the Lyman/Balmer-break confusion, which need the
    per-bin estimate).
    """
    zl, zs = np.asarray(z_label, float), np.asarray(z_spec, float)
    ok = np.isfinite(zl) & np.isfinite(zs)
    n = int(ok.sum())
    if n < 10:
        raise ConfigError(f"label_outliers needs validation spec-z; {n} galaxies have one")
    zl, zs = zl[ok], zs[ok]
    dev = (zl - zs) / (1 + zs)
    r = (np.abs(dev) > threshold).astype(float)
    edges = np.arange(0.0, zl.max() + bin_width, bin_width)
    idx = np.clip(np.digitize(zl, edges) - 1, 0, edges.size - 2)
    for _ in range(n_iter):
        f = float(np.clip(r.mean(), 1 / n, 1 - 1 / n))
        s = max(float(np.sqrt(np.average(dev**2, weights=1 - r + 1e-12))), 1e-3)
        # p_out: responsibility-weighted histogram, half a count per bin against empty bins
        counts = np.bincount(idx, weights=r, minlength=edges.size - 1) + 0.5
        p_out = counts / (counts.sum() * bin_width)
        good = np.exp(-0.5 * (dev / s) ** 2) / (np.sqrt(2 * np.pi) * s * (1 + zs))
        r_new = f * p_out[idx] / (f * p_out[idx] + (1 - f) * good)
        change = float(np.max(np.abs(r_new - r)))
        r = r_new
        if change < 1e-6:
            break
    f = float(r.mean())
    w_sum = float(r.sum())
    mean = float(np.sum(r * zl) / w_sum) if w_sum > 0 else 0.0
    var = float(np.sum(r * (zl - mean) ** 2) / w_sum) if w_sum > 0 else 0.0
    mean_sigma = float(np.sqrt(var / w_sum)) if w_sum > 1 else 0.0
    return LabelOutliers(f, float(np.sqrt(max(f * (1 - f), 1 / n) / n)), mean, mean_sigma,
                         zl, r)


def _outlier_corrected(nz: np.ndarray, grid: np.ndarray, lo: LabelOutliers):
    """n(z) and means with the outlier mixture removed, n = (n_label − f p_out) / (1 − f)
    with p_out the histogram of the outlying labels, and the error of each mean from the
    errors of f and of the outliers' mean (first-order propagation)."""
    f = lo.fraction
    p_out = point_nz(lo.labels, np.zeros(lo.labels.size, int), grid, 1, weights=lo.weights,
                     linear=True)[0] if lo.labels.size else np.zeros(grid.size)
    area = np.trapezoid(p_out, grid)
    p_out = p_out / area if area > 0 else p_out
    labelled = mean_z(nz, grid)
    means = (labelled - f * lo.mean) / (1 - f)
    sigma = np.hypot((labelled - lo.mean) / (1 - f) ** 2 * lo.fraction_sigma,
                     f / (1 - f) * lo.mean_sigma)
    norm = nz @ _trapz_weights(grid)
    corrected = (nz - f * norm[:, None] * p_out[None]) / (1 - f)
    return corrected, means, sigma


def _jackknife(deep_patch, deep_source, bin_means, n_bins: int) -> np.ndarray:
    """Delete-one-patch jackknife error of ``bin_means(rows)`` over deep-field patches."""
    if deep_patch is None:
        return np.zeros(n_bins)
    patch = np.asarray(deep_patch)[deep_source]
    patches = np.unique(patch)
    if patches.size < 2:
        raise ConfigError("the jackknife needs at least two deep-field patches")
    jk = np.array([bin_means(np.flatnonzero(patch != p)) for p in patches])
    n = patches.size
    return np.sqrt((n - 1) / n * np.sum((jk - jk.mean(axis=0)) ** 2, axis=0))


def _table(bins, n_bins, means, deep_source, deep_patch, bin_means, external_sigma,
           sig_label) -> pd.DataFrame:
    """Means and uncertainties per bin. ``bin_means(rows)`` recomputes the bins' means
    from a subset of the realisations: once per degradation realisation (matching noise:
    their spread over √n_real) and once per left-out patch (jackknife)."""
    occurrence = _occurrence(deep_source)
    n_real = int(occurrence.max()) + 1
    sig_match = (np.array([bin_means(np.flatnonzero(occurrence == r)) for r in range(n_real)])
                 .std(axis=0, ddof=1) / np.sqrt(n_real) if n_real > 1 else np.zeros(n_bins))
    sig_sample = _jackknife(deep_patch, deep_source, bin_means, n_bins)
    sig_ext = np.broadcast_to(np.asarray(external_sigma, dtype=float), (n_bins,))
    total = np.sqrt(sig_sample**2 + sig_ext**2 + sig_match**2 + sig_label**2)
    return pd.DataFrame({
        "bin": np.arange(n_bins), "n": [int(np.sum(bins == b)) for b in range(n_bins)],
        "mean_z": means, "sigma_sample": sig_sample, "sigma_external": sig_ext,
        "sigma_match": sig_match, "sigma_label": sig_label, "sigma": total,
    })


def _occurrence(source: np.ndarray) -> np.ndarray:
    """For each row, how many earlier rows share its source (0 for the first)."""
    order = np.argsort(source, kind="stable")
    s = source[order]
    start = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    counts = np.diff(np.r_[start, s.size])
    occ_sorted = np.arange(s.size) - np.repeat(start, counts)
    out = np.empty_like(occ_sorted)
    out[order] = occ_sorted
    return out


def degrade_deep(
    deep: pd.DataFrame,
    bands: list[str],
    error_model: Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame],
    n_real: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """``n_real`` wide-depth realisations of every deep galaxy.

    ``error_model(df, rng)`` adds wide-survey noise to the magnitude columns ``bands`` of
    ``df`` (for example a ``photerr`` model with the wide survey's depth) and returns the
    noisy magnitudes with errors ``<band>_err``. Applied to the deep *observed*
    magnitudes, so the result carries the deep noise too (small by construction), as
    injecting deep-field galaxies into wide images does. Adds ``source`` (row of ``deep``)
    and ``realisation``.
    """
    if n_real < 1:
        raise ConfigError("n_real must be >= 1")
    rng = np.random.default_rng(seed)
    parts = []
    for r in range(n_real):
        noisy = error_model(deep[bands].reset_index(drop=True), rng)
        noisy = noisy.assign(source=np.arange(len(deep)), realisation=r)
        parts.append(noisy)
    return pd.concat(parts, ignore_index=True)
