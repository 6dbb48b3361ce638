"""Clustering redshifts: n(z) of a photometric sample from its angular cross-correlation
with a spectroscopic reference sample in thin redshift slices (Newman 2008; Ménard et al.
2013; Davis et al. 2017 for DES Y1).

For reference slice i (spectroscopic) and unknown sample u, TreeCorr counts pairs in log-θ
bins spanning that slice's own physical annulus (default 1–5 Mpc, proper,
θ = r (1 + z_i) / χ(z_i)), so no slice pays for another's scales. With one random catalogue
on the common footprint the Davis–Peebles estimators w_ur = D_u D_r / R D_r − 1 and
w_rr = D_r D_r / R D_r − 1 share the slice's single R D_r count (no R R, the costliest count
of a Landy–Szalay estimator with 10⁶ randoms, and half the random pairs). Their mean over
the annulus's log-θ bins is W_ur(z_i), W_rr(z_i); the dark matter's W_mm comes from theory
(pyccl, the slice as a top-hat). Then

    n_u(z_i) ∝ W_ur(z_i) / sqrt(W_rr(z_i) W_mm(z_i)) / b_u(z_i),

which removes the reference bias and the growth of dark-matter clustering. The unknown
sample's own bias evolution b_u(z) is the method's main systematic: it is modelled as
b_u ∝ (1 + z)^γ, the power law DES Y1 used (Davis et al. 2017; Gatti et al. 2018), with
``bias_index`` γ (default 0, no evolution) and a prior width ``bias_index_sigma`` Δγ
(default 1, our choice: γ of 0–2 spans the evolution of typical samples); each bin's mean
redshift is recomputed at γ ± Δγ and half the difference is its ``sigma_bias`` term, and a
bin is flagged where that term exceeds the statistical error (``lognormal_mock`` simulates
evolving bias to test this). Each bin's mean redshift is taken within a window around it.
Statistical errors: delete-one-patch jackknife over sky patches (TreeCorr patches from
k-means on the randoms; ``treecorr.estimate_multi_cov`` with the whole calculation as the
function), so the covariance of the mean redshifts is that of the full estimator.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from cosmoml.errors import ConfigError


@dataclass
class ClusteringResult:
    """n(z) per bin on the slice centres ``z`` (unit integral, at the fitted ``bias_index``),
    and per bin the mean redshift in its window with the jackknife error (``sigma_stat``),
    the bias-evolution term (``sigma_bias``), their quadrature sum (``sigma``) and a
    ``bias_flag`` where the bias term exceeds the statistical error; ``cov`` is the
    jackknife covariance of the means."""

    z: np.ndarray
    nz: np.ndarray
    table: pd.DataFrame
    cov: np.ndarray


def _shared_tree_nn():
    """TreeCorr's NNCorrelation with the tree-cell size limits fixed for every slice.

    TreeCorr derives a catalogue's tree (its cached "field") from the correlation's min_sep
    and max_sep; every slice has its own annulus, so the 10⁶ randoms and each unknown bin
    would get a new tree per slice (0.8 s each, most of the time). Fixing the limits to
    those of the smallest and largest scale of all slices lets one tree per catalogue
    (per patch) serve every slice: cells stop no coarser than the finest slice needs, so
    the counts agree with per-slice trees to bin_slop's tolerance (1e-3 of the pairs).
    ``_get_minmax_size`` is TreeCorr-internal (5.x); without it this is a plain subclass.
    """
    import treecorr

    class SharedTreeNN(treecorr.NNCorrelation):
        sizes: tuple[float, float] | None = None

        def _get_minmax_size(self):
            return self.sizes if self.sizes is not None else super()._get_minmax_size()

    return SharedTreeNN


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
    n_theta: int = 8,
    cosmo=None,
    dm_correction: bool = True,
    bias_index: float = 0.0,
    bias_index_sigma: float = 1.0,
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
    n_theta
        Log-θ bins across each slice's annulus.
    bias_index, bias_index_sigma
        The unknown sample's bias evolution b_u ∝ (1 + z)^γ: γ and its prior width.
    max_randoms
        Randoms beyond this many are subsampled (their pair counts are normalised).
    bin_slop
        TreeCorr's binning tolerance, in units of the log-θ bin width (0.3: within
        TreeCorr's advice, ~1.6x faster than 0.1 here).
    """
    import pyccl
    import treecorr

    from cosmoml.cosmology import ccl_cosmology

    cosmo = cosmo or ccl_cosmology()
    bins = np.asarray(unknown[bin_column], dtype=int)
    n_bins = int(bins.max()) + 1
    if n_bins < 1:
        raise ConfigError(f"{bin_column!r}: no galaxy is in a bin")
    if z_column not in reference.columns:
        raise ConfigError(f"reference: no redshift column {z_column!r}")
    zr = np.asarray(reference[z_column], dtype=float)
    if z_edges is None:
        lo, hi = np.floor(zr.min() / 0.05) * 0.05, np.ceil(zr.max() / 0.05) * 0.05
        z_edges = np.round(np.arange(lo, hi + 1e-9, 0.05), 6)
    z_edges = np.asarray(z_edges, dtype=float)
    zc = 0.5 * (z_edges[1:] + z_edges[:-1])
    windows = windows or [(z_edges[0], z_edges[-1])] * n_bins
    if len(windows) != n_bins:
        raise ConfigError(f"{len(windows)} windows for {n_bins} bins")

    rng = np.random.default_rng(seed)
    if len(randoms) > max_randoms:
        randoms = randoms.iloc[np.sort(rng.choice(len(randoms), max_randoms, replace=False))]
    rand = _catalog(randoms, npatch=npatch, rng=rng)
    centers = rand.patch_centers
    unk = [_catalog(unknown[bins == b], patch_centers=centers) for b in range(n_bins)]
    slices = [(zr >= lo) & (zr < hi) for lo, hi in pairwise(z_edges)]
    in_window = [any(lo <= zc[k] <= hi for lo, hi in windows) for k in range(zc.size)]
    keep = [k for k, s in enumerate(slices) if s.sum() >= 10 and in_window[k]]
    if not keep:
        raise ConfigError("no reference slice with >= 10 galaxies inside the windows")
    chi = pyccl.comoving_radial_distance(cosmo, 1 / (1 + zc[keep]))
    th_min = np.degrees(r_min_mpc * (1 + zc[keep]) / chi)
    th_max = np.degrees(r_max_mpc * (1 + zc[keep]) / chi)
    corrs: list = []  # per kept slice: the reference auto, then the n_bins crosses
    thetas = []
    nn_class = _shared_tree_nn()
    kws = [{"min_sep": float(th_min[j]), "max_sep": float(th_max[j]), "nbins": n_theta,
            "sep_units": "deg", "bin_slop": bin_slop,
            "cross_patch_weight": "simple"} for j in range(len(keep))]
    sizes = None
    if hasattr(treecorr.NNCorrelation, "_get_minmax_size"):
        limits = np.array([nn_class(**kw)._get_minmax_size() for kw in kws])
        sizes = (float(limits[:, 0].min()), float(limits[:, 1].max()))

    def nn(kw):
        c = nn_class(**kw)
        c.sizes = sizes
        return c

    for j, k in enumerate(keep):
        kw = kws[j]
        ref_k = _catalog(reference[slices[k]], patch_centers=centers)
        rd = nn(kw)  # R D_r: the one random count of this slice
        rd.process(rand, ref_k)
        dd = nn(kw)
        dd.process(ref_k)
        dd.calculateXi(rr=rd)  # Davis–Peebles: D_r D_r / R D_r - 1
        crosses = []
        for b in range(n_bins):
            ur = nn(kw)
            ur.process(unk[b], ref_k)
            ur.calculateXi(rr=rd)  # D_u D_r / R D_r - 1
            crosses.append(ur)
        corrs += [dd, *crosses]
        thetas.append(np.exp(rd.logr))
    w_mm = _theory_w(cosmo, z_edges, keep, thetas) if dm_correction else np.ones(len(keep))
    zk = zc[keep]
    win = [(zk >= lo) & (zk <= hi) for lo, hi in windows]

    def means_at(cs, gamma: float) -> np.ndarray:
        nz = _nz_from(cs, w_mm, n_bins) / (1 + zk) ** gamma
        return np.array([np.sum(zk[w] * nz[b, w]) / np.sum(nz[b, w])
                         for b, w in enumerate(win)])

    means = means_at(corrs, bias_index)
    cov = treecorr.estimate_multi_cov(corrs, "jackknife",
                                      func=lambda cs: means_at(cs, bias_index))
    sig = np.sqrt(np.diag(cov))
    sig_b = 0.5 * np.abs(means_at(corrs, bias_index + bias_index_sigma)
                         - means_at(corrs, bias_index - bias_index_sigma))
    table = pd.DataFrame({"bin": np.arange(n_bins), "mean_z": means, "sigma_stat": sig,
                          "sigma_bias": sig_b, "sigma": np.hypot(sig, sig_b),
                          "bias_flag": sig_b > sig,
                          "window_lo": [w[0] for w in windows],
                          "window_hi": [w[1] for w in windows],
                          "n_unknown": [int(np.sum(bins == b)) for b in range(n_bins)]})
    nz = _nz_from(corrs, w_mm, n_bins) / (1 + zk) ** bias_index
    full = np.full((n_bins, zc.size), np.nan)
    width = np.diff(z_edges)[keep]
    norm = np.sum(nz * width, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        full[:, keep] = np.where(norm > 0, nz / norm, np.nan)  # unit integral (noise: < 0)
    return ClusteringResult(zc, full, table, cov)


def _nz_from(cs, w_mm, n_bins) -> np.ndarray:
    """n(z) b_u(z) per bin (rows) on the kept slices from the correlations' xi values."""
    per = n_bins + 1
    out = np.zeros((n_bins, len(w_mm)))
    for k in range(len(w_mm)):
        w_rr = np.mean(cs[k * per].xi)
        for b in range(n_bins):
            w_ur = np.mean(cs[k * per + 1 + b].xi)
            out[b, k] = w_ur / np.sqrt(w_rr * w_mm[k]) if w_rr > 0 else 0.0
    return out


def _theory_w(cosmo, z_edges, keep, thetas) -> np.ndarray:
    """Dark-matter W_mm of each kept slice (top-hat in z) averaged over its θ bins."""
    import pyccl

    from cosmoml.sims.mocks import shell_cls

    ell = np.unique(np.geomspace(1, 3e4, 3000).astype(int)).astype(float)
    out = []
    for j, k in enumerate(keep):
        cl = shell_cls(cosmo, z_edges[k : k + 2], ell)[0]
        w = pyccl.correlation(cosmo, ell=ell, C_ell=cl, theta=thetas[j], type="NN")
        out.append(np.mean(w))
    return np.array(out)
