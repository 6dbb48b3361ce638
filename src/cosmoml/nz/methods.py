"""n(z) estimators per tomographic bin beyond stacking: point-estimate histograms, weighted
spec-z histograms (DIR) and SOM cells, plus bootstrap uncertainties.

Every function returns an array (n_bins, G) of n(z) normalised on ``grid`` (a row of
zeros for an empty bin). The mean redshift of a row is :func:`mean_z`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cosmoml.pdf import _trapz_weights
from cosmoml.shift.diagnostics import effective_sample_size


def _grid_histogram(z: np.ndarray, w: np.ndarray, grid: np.ndarray,
                    linear: bool = False) -> np.ndarray:
    """Weighted histogram of ``z`` on cells centred on the grid nodes, as a density
    (:func:`grid_counts` normalised)."""
    return counts_nz(grid_counts(z, w, grid, linear), grid)


def counts_nz(counts: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Counts on the grid (one row, or one row per bin) normalised to unit integral (an
    empty row stays zeros)."""
    norm = counts @ _trapz_weights(grid)
    return counts / np.where(norm > 0, norm, 1.0)[..., None]


def grid_counts(z: np.ndarray, w: np.ndarray, grid: np.ndarray,
                linear: bool = False) -> np.ndarray:
    """Weighted counts of ``z`` in cells centred on the grid nodes (additive: the counts of
    a sample are the sums of its parts').

    ``linear`` shares each value between its two neighbouring nodes in proportion to
    distance (the mean of the histogram is then the weighted mean of ``z`` exactly, away
    from the grid's ends) instead of giving it to the nearest node."""
    if linear:
        from cosmoml.estimators.base import linear_assign

        lo, hi, t = linear_assign(grid, np.asarray(z, dtype=float))
        h = np.bincount(lo, w * (1 - t), minlength=grid.size)
        h += np.bincount(hi, w * t, minlength=grid.size)
        return h
    mids = 0.5 * (grid[1:] + grid[:-1])
    idx = np.searchsorted(mids, z)
    return np.bincount(idx, weights=w, minlength=grid.size)[: grid.size].astype(float)


def mean_z(nz: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Mean redshift of each n(z) row (NaN for an empty row)."""
    nz = np.atleast_2d(nz)
    tw = _trapz_weights(grid)
    norm = nz @ tw
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, nz @ (tw * grid) / norm, np.nan)


def shift_nz(nz: np.ndarray, grid: np.ndarray, dz) -> np.ndarray:
    """Each n(z) row moved by ``dz`` (one shift per row, in redshift): n_b(z − dz_b), zero
    where that falls off the grid. The mean moves by dz_b (less any mass pushed off it)."""
    nz = np.atleast_2d(nz)
    dz = np.broadcast_to(np.asarray(dz, dtype=float), (nz.shape[0],))
    return np.stack([np.interp(grid - d, grid, row, left=0.0, right=0.0)
                     for row, d in zip(nz, dz, strict=True)])


def std_z(nz: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Standard deviation of each n(z) row about its mean (NaN for an empty row)."""
    nz = np.atleast_2d(nz)
    tw = _trapz_weights(grid)
    mu = mean_z(nz, grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (nz * (grid[None, :] - mu[:, None]) ** 2) @ tw / (nz @ tw)
    return np.sqrt(var)


def point_nz(z_point, bins, grid, n_bins: int, weights=None,
             linear: bool = False) -> np.ndarray:
    """Histogram of the point estimates of each bin's objects (``linear``: see
    :func:`_grid_histogram`)."""
    z_point, bins = np.asarray(z_point, dtype=float), np.asarray(bins)
    w = np.ones(z_point.size) if weights is None else np.asarray(weights, dtype=float)
    return np.array([_grid_histogram(z_point[bins == b], w[bins == b], grid, linear)
                     for b in range(n_bins)])


def dir_nz(z_spec, bins_train, grid, n_bins: int, weights=None) -> np.ndarray:
    """DIR (direct calibration, Lima et al. 2008): the weighted histogram of the spec-z of
    the training objects assigned to each bin (by their photo-z)."""
    return point_nz(z_spec, bins_train, grid, n_bins, weights)


def som_nz(cells_train, z_spec, bins_train, cells_sci, bins_sci, grid, n_bins: int,
           weights_sci=None) -> np.ndarray:
    """SOMPZ-like n(z): n_b(z) = Σ_c p(c | b) p(z | c, b), with p(c | b) the fraction of bin
    b's science objects in cell c and p(z | c, b) the spec-z histogram of the cell's training
    objects assigned to the same bin (all the cell's training objects where none is).
    Conditioning on the bin matters: a cell spans a range of photo-z, and its whole p(z | c)
    would leak neighbouring bins' redshifts into bin b. Science objects in cells without
    training objects are left out (the "gold" selection)."""
    cells_train, cells_sci = np.asarray(cells_train), np.asarray(cells_sci)
    bins_sci = np.asarray(bins_sci)
    w_sci = np.ones(cells_sci.size) if weights_sci is None else np.asarray(weights_sci, float)
    n_cells = int(max(cells_train.max(), cells_sci.max())) + 1
    counts = np.array([np.bincount(cells_sci[bins_sci == b], weights=w_sci[bins_sci == b],
                                   minlength=n_cells) for b in range(n_bins)])
    return som_nz_counts(cells_train, z_spec, bins_train, counts, grid)


def som_nz_counts(cells_train, z_spec, bins_train, counts_sci, grid) -> np.ndarray:
    """:func:`som_nz` from the science objects' (weighted) counts per bin and cell,
    ``counts_sci`` (n_bins, n_cells): all it needs of them, summed part by part for a
    catalogue of any size."""
    cells_train, z_spec = np.asarray(cells_train), np.asarray(z_spec, dtype=float)
    bins_train = np.asarray(bins_train)
    counts_sci = np.asarray(counts_sci, dtype=float)
    n_bins, n_cells = counts_sci.shape
    iz = np.searchsorted(0.5 * (grid[1:] + grid[:-1]), z_spec)

    def counts(sel):  # (cells × grid) spec-z counts of the selected training objects
        h = np.zeros((n_cells, grid.size))
        np.add.at(h, (cells_train[sel], iz[sel]), 1.0)
        return h

    h_all = counts(np.ones(cells_train.size, dtype=bool))
    n_all = h_all.sum(axis=1)
    out = np.zeros((n_bins, grid.size))
    tw = _trapz_weights(grid)
    for b in range(n_bins):
        pcb = np.where(n_all > 0, counts_sci[b], 0.0)
        if not np.any(pcb > 0):
            continue
        h_b = counts(bins_train == b)
        n_b = h_b.sum(axis=1)
        h = np.where((n_b > 0)[:, None], h_b, h_all)
        pzc = h / np.maximum(h.sum(axis=1), 1.0)[:, None]
        nz = pcb @ pzc
        out[b] = nz / (nz @ tw)
    return out


def bootstrap_std(statistic, n: int, n_boot: int = 100, seed: int = 0) -> np.ndarray:
    """Standard deviation over ``n_boot`` bootstrap resamples of ``statistic(idx)``, which
    takes resampled row indices (0..n-1) and returns an array (e.g. one value per bin).
    Resample k draws from ``default_rng([seed, k])`` (reproducible, order-free)."""
    draws = [statistic(np.random.default_rng([seed, k]).integers(0, n, n))
             for k in range(n_boot)]
    return np.nanstd(np.array(draws, dtype=float), axis=0, ddof=1)


def binned_mean_std(values, bins, n_bins: int, weights=None, n_boot: int = 100,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean of ``values`` per bin (bins < 0 ignored) and its bootstrap standard
    deviation (NaN with ``n_boot`` < 2)."""
    values, bins = np.asarray(values, dtype=float), np.asarray(bins)
    w = np.ones(values.size) if weights is None else np.asarray(weights, dtype=float)

    def stat(idx):
        b, v, ww = bins[idx], values[idx], w[idx]
        num = np.bincount(b[b >= 0], weights=(v * ww)[b >= 0], minlength=n_bins)[:n_bins]
        den = np.bincount(b[b >= 0], weights=ww[b >= 0], minlength=n_bins)[:n_bins]
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / den

    mean = stat(np.arange(values.size))
    if n_boot < 2:
        return mean, np.full(n_bins, np.nan)
    return mean, bootstrap_std(stat, values.size, n_boot, seed)


def calibration_noise(nz: np.ndarray, grid: np.ndarray, bins_train, n_bins: int,
                      weights=None) -> np.ndarray:
    """Shot noise of the calibration (training) sample on each bin's mean redshift:
    σ_b / √ESS_b, with σ_b the standard deviation of n_b(z) and ESS_b the effective number
    of (weighted) training objects whose photo-z falls in bin b. It is what a bootstrap of
    the training set gives for DIR, and the floor below which no estimate of the bin's mean
    can be verified with this training set (infinite for a bin without training objects)."""
    bins_train = np.asarray(bins_train)
    w = np.ones(bins_train.size) if weights is None else np.asarray(weights, dtype=float)
    sigma = std_z(nz, grid)
    out = np.full(n_bins, np.inf)
    for b in range(n_bins):
        wb = w[bins_train == b]
        if wb.sum() <= 0 or not np.isfinite(sigma[b]):
            continue
        out[b] = sigma[b] / np.sqrt(effective_sample_size(wb))
    return out


def method_shifts(tables: dict, reference: str) -> pd.DataFrame:
    """The shift of each bin's mean redshift between methods, when the truth is unknown.

    ``tables`` maps a method name to its per-bin table (``bin``, ``mean_z``,
    ``mean_z_err``, as :func:`cosmoml.nz.pipeline.estimate_nz` returns). One row per
    (method, bin): ``shift`` = ⟨z⟩_method − ⟨z⟩_reference, its error (the two errors in
    quadrature: conservative, since both use the same objects) and ``significance``.
    """
    if reference not in tables:
        raise KeyError(f"reference method {reference!r} not among {sorted(tables)}")
    ref = tables[reference].set_index("bin")
    rows = []
    for name, t in tables.items():
        if name == reference:
            continue
        t = t.set_index("bin")
        shift = t["mean_z"] - ref["mean_z"]
        err = np.hypot(t["mean_z_err"], ref["mean_z_err"])
        for b in t.index:
            rows.append({"method": name, "reference": reference, "bin": int(b),
                         "shift": float(shift[b]), "shift_err": float(err[b]),
                         "significance": float(abs(shift[b]) / err[b]) if err[b] > 0
                         else np.inf})
    return pd.DataFrame(rows)
