"""Clustering redshifts: n(z) of a photometric sample from its angular cross-correlation
with a spectroscopic reference sample in thin redshift slices (Newman 2008; Ménard et al.
2013; Davis et al. 2017 for DES Y1).

For reference slice i and unknown sample u, with one random catalogue on the common
footprint, TreeCorr counts pairs in fine log-θ bins and w_ur(θ) = (D_u D_r − R D_r) / R R.
Its average over the log-θ bins inside a fixed physical annulus (default 1–5 Mpc, proper,
θ = r (1 + z_i) / χ(z_i)) is W_ur(z_i); the same for the slice's autocorrelation W_rr and,
from theory, the dark matter's W_mm (pyccl, the slice as a top-hat). Then

    n_u(z_i) ∝ W_ur(z_i) / sqrt(W_rr(z_i) W_mm(z_i)),

which removes the reference bias and the growth of dark-matter clustering; the unknown
sample's own bias evolution is the method's main systematic (``lognormal_mock`` can
simulate it). Each bin's mean redshift is taken within a window around it. Uncertainties:
delete-one-patch jackknife over sky patches (TreeCorr patches from k-means on the randoms;
``treecorr.estimate_multi_cov`` with the whole calculation as the function), so the
covariance of the mean redshifts is that of the full estimator.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from cosmoml.errors import ConfigError

C_KM_S = 299792.458


@dataclass
class ClusteringResult:
    """n(z) per bin on the slice centres ``z``, and per bin the mean redshift in its window
    with the jackknife error; ``cov`` is the jackknife covariance of the means."""

    z: np.ndarray
    nz: np.ndarray
    table: pd.DataFrame
    cov: np.ndarray


def _catalog(df: pd.DataFrame, **kw):
    import treecorr

    for c in ("ra", "dec"):
        if c not in df.columns:
            raise ConfigError(f"positions need columns 'ra' and 'dec' (degrees); missing {c!r}")
    return treecorr.Catalog(ra=df["ra"].to_numpy(), dec=df["dec"].to_numpy(),
                            ra_units="deg", dec_units="deg", **kw)


def clustering_nz(
    unknown: pd.DataFrame,
    reference: pd.DataFrame,
    randoms: pd.DataFrame,
    bin_column: str = "bin",
    z_column: str = "z",
    z_edges: np.ndarray | None = None,
    r_min_mpc: float = 1.0,
    r_max_mpc: float = 5.0,
    windows: list[tuple[float, float]] | None = None,
    npatch: int = 16,
    n_theta: int = 40,
    cosmo=None,
    dm_correction: bool = True,
    max_randoms: int = 1_000_000,
    bin_slop: float = 0.3,
    seed: int = 0,
) -> ClusteringResult:
    """Clustering-redshift n(z) and mean redshift of each unknown bin.

    Parameters
    ----------
    unknown
        ``ra``, ``dec`` (degrees) and ``bin_column`` (tomographic bin, -1 = none).
    reference
        ``ra``, ``dec`` and ``z_column`` (spectroscopic redshift).
    randoms
        ``ra``, ``dec`` uniform on the common footprint.
    z_edges
        Reference slices (default Δz = 0.05 over the reference's range).
    r_min_mpc, r_max_mpc
        Proper transverse scales integrated over.
    windows
        Per bin, the (z_lo, z_hi) window of its mean redshift (default: the whole range).
    npatch
        Jackknife patches (k-means on the randoms).
    max_randoms
        Randoms beyond this many are subsampled (their pair counts are normalised).
    bin_slop
        TreeCorr's binning tolerance (in units of the log-θ bin width; 0.3 is within
        TreeCorr's advice and ~1.6x faster than 0.1 here). Fewer θ bins or randoms were
        faster still but moved the highest bin's mean by 0.03 on a 1000 deg² mock.
    """
    import treecorr

    from cosmoml.cosmology import ccl_cosmology

    cosmo = cosmo or ccl_cosmology()
    bins = np.asarray(unknown[bin_column], dtype=int)
    n_bins = int(bins.max()) + 1
    if n_bins < 1:
        raise ConfigError(f"{bin_column!r}: no galaxy is in a bin")
    zr = np.asarray(reference[z_column], dtype=float)
    if z_edges is None:
        lo, hi = np.floor(zr.min() / 0.05) * 0.05, np.ceil(zr.max() / 0.05) * 0.05
        z_edges = np.round(np.arange(lo, hi + 1e-9, 0.05), 6)
    z_edges = np.asarray(z_edges, dtype=float)
    zc = 0.5 * (z_edges[1:] + z_edges[:-1])
    windows = windows or [(z_edges[0], z_edges[-1])] * n_bins
    if len(windows) != n_bins:
        raise ConfigError(f"{len(windows)} windows for {n_bins} bins")

    import pyccl

    a = 1 / (1 + zc)
    chi = pyccl.comoving_radial_distance(cosmo, a)
    th_min = np.degrees(r_min_mpc * (1 + zc) / chi)
    th_max = np.degrees(r_max_mpc * (1 + zc) / chi)
    kw = {"min_sep": float(th_min.min()) * 0.99, "max_sep": float(th_max.max()) * 1.01,
          "nbins": n_theta, "sep_units": "deg", "var_method": "jackknife",
          "bin_slop": bin_slop, "cross_patch_weight": "simple"}

    rng = np.random.default_rng(seed)
    if len(randoms) > max_randoms:
        randoms = randoms.iloc[np.sort(rng.choice(len(randoms), max_randoms, replace=False))]
    rand = _catalog(randoms, npatch=npatch, rng=rng)
    centers = rand.patch_centers
    unk = [_catalog(unknown[bins == b], patch_centers=centers) for b in range(n_bins)]
    slices = [(zr >= lo) & (zr < hi) for lo, hi in pairwise(z_edges)]
    in_window = [any(lo <= zc[k] <= hi for lo, hi in windows) for k in range(zc.size)]
    keep = [k for k, s in enumerate(slices) if s.sum() >= 10 and in_window[k]]
    rr = treecorr.NNCorrelation(**kw)
    rr.process(rand)
    corrs: list = []  # per kept slice: rr_auto, dr, then the n_bins cross correlations
    for k in keep:
        ref_k = _catalog(reference[slices[k]], patch_centers=centers)
        dd = treecorr.NNCorrelation(**kw)
        dd.process(ref_k)
        dr = treecorr.NNCorrelation(**kw)
        dr.process(ref_k, rand)
        dd.calculateXi(rr=rr, dr=dr)
        rd = treecorr.NNCorrelation(**kw)
        rd.process(rand, ref_k)
        crosses = []
        for b in range(n_bins):
            ur = treecorr.NNCorrelation(**kw)
            ur.process(unk[b], ref_k)
            ur.calculateXi(rr=rr, rd=rd)
            crosses.append(ur)
        corrs += [dd, *crosses]
    theta = np.exp(rr.meanlogr) if np.all(rr.npairs > 0) else np.exp(rr.logr)
    inside = [(theta >= th_min[k]) & (theta <= th_max[k]) for k in keep]
    if not all(m.any() for m in inside):
        raise ConfigError("a slice's scale window holds no θ bin; raise n_theta")
    w_mm = _theory_w(cosmo, z_edges, keep, theta, inside) if dm_correction else np.ones(len(keep))
    zk = zc[keep]
    win = [(zk >= lo) & (zk <= hi) for lo, hi in windows]

    def estimate(cs) -> np.ndarray:
        nz = _nz_from(cs, inside, w_mm, n_bins)
        return np.array([np.sum(zk[w] * nz[b, w]) / np.sum(nz[b, w])
                         for b, w in enumerate(win)])

    nz = _nz_from(corrs, inside, w_mm, n_bins)
    means = estimate(corrs)
    cov = treecorr.estimate_multi_cov(corrs, "jackknife", func=estimate)
    sig = np.sqrt(np.diag(cov))
    table = pd.DataFrame({"bin": np.arange(n_bins), "mean_z": means, "sigma": sig,
                          "window_lo": [w[0] for w in windows],
                          "window_hi": [w[1] for w in windows],
                          "n_unknown": [int(np.sum(bins == b)) for b in range(n_bins)]})
    full = np.full((n_bins, zc.size), np.nan)
    width = np.diff(z_edges)[keep]
    norm = np.sum(nz * width, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        full[:, keep] = np.where(norm > 0, nz / norm, np.nan)  # unit integral (noise: < 0)
    return ClusteringResult(zc, full, table, cov)


def _nz_from(cs, inside, w_mm, n_bins) -> np.ndarray:
    """n(z) per bin (rows) on the kept slices from the correlation list's xi values."""
    per = n_bins + 1
    out = np.zeros((n_bins, len(inside)))
    for k, m in enumerate(inside):
        w_rr = np.mean(cs[k * per].xi[m])
        for b in range(n_bins):
            w_ur = np.mean(cs[k * per + 1 + b].xi[m])
            denom = np.sqrt(w_rr * w_mm[k]) if w_rr > 0 else np.nan
            out[b, k] = w_ur / denom if np.isfinite(denom) else 0.0
    return out


def _theory_w(cosmo, z_edges, keep, theta, inside) -> np.ndarray:
    """Dark-matter W_mm of each kept slice (top-hat in z) averaged over its θ bins."""
    import pyccl

    from cosmoml.sims.mocks import shell_cls

    ell = np.unique(np.geomspace(1, 3e4, 3000).astype(int)).astype(float)
    out = []
    for j, k in enumerate(keep):
        cl = shell_cls(cosmo, z_edges[k : k + 2], ell)[0]
        w = pyccl.correlation(cosmo, ell=ell, C_ell=cl, theta=theta[inside[j]], type="NN")
        out.append(np.mean(w))
    return np.array(out)
