"""Clustering redshifts: n(z) of a photometric sample from its angular cross-correlation
with a spectroscopic reference sample in thin redshift slices (Newman 2008; Ménard et al.
2013; Davis et al. 2017 for DES Y1).

For reference slice i (spectroscopic) and unknown sample u, TreeCorr counts pairs in log-θ
bins spanning that slice's own physical annulus (default 1–5 Mpc, proper,
θ = r (1 + z_i) / χ(z_i)), so no slice pays for another's scales. With one random catalogue
on the common footprint the Davis–Peebles estimators w_ur = D_u D_r / R D_r − 1 and
w_rr = D_r D_r / R D_r − 1 share the slice's single R D_r count (no R R, the costliest count
of a Landy–Szalay estimator with 10⁶ randoms, and half the random pairs). Their average
over the annulus, each pair weighing θ^``scale_weight`` (default θ⁻¹), is W_ur(z_i),
W_rr(z_i); the dark matter's W_mm comes from theory (pyccl, the slice as a top-hat) with
the same weights. Then

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
    the bias-evolution term (``sigma_bias``), their quadrature sum (``sigma``), a
    ``bias_flag`` where the bias term exceeds the statistical error and the clustering
    ``amplitude`` (the bin's mean bias); ``cov`` is the jackknife covariance of the means;
    ``bias_index_fit`` ± ``bias_index_fit_sigma`` the bias evolution γ measured from the
    amplitudes (also table columns; used only with ``fit_bias_index``; ``table.attrs``
    has the γ used) and ``bias_evolution_detected`` when it is > 3σ from 0."""

    z: np.ndarray
    nz: np.ndarray
    table: pd.DataFrame
    cov: np.ndarray

    @property
    def bias_index_fit(self) -> float:
        """γ measured from the bins' clustering amplitudes."""
        return float(self.table["bias_index_fit"].iloc[0])

    @property
    def bias_index_fit_sigma(self) -> float:
        """Its jackknife error."""
        return float(self.table["bias_index_fit_sigma"].iloc[0])

    @property
    def bias_evolution_detected(self) -> bool:
        """The fitted γ is more than 3σ from 0: the unknown sample's bias evolves."""
        return bool(abs(self.bias_index_fit) > 3 * self.bias_index_fit_sigma)


def nz_windows(z: np.ndarray, nz: np.ndarray, n_sigma: float = 2.0
               ) -> list[tuple[float, float]]:
    """Per bin, the window mean ± ``n_sigma`` standard deviations of an n(z) (rows on
    ``z``), e.g. the photo-z n(z) being calibrated: DES Y1's choice (Davis et al. 2017),
    which keeps the noisy far slices, with their long lever arm on the mean, out."""
    z = np.asarray(z, dtype=float)
    nz = np.clip(np.nan_to_num(np.atleast_2d(nz)), 0, None)
    area = np.trapezoid(nz, z, axis=1)
    if np.any(area <= 0):
        raise ConfigError("an n(z) row is empty: no window")
    w = nz / area[:, None]
    m = np.trapezoid(w * z[None], z, axis=1)
    sd = np.sqrt(np.trapezoid(w * (z[None] - m[:, None]) ** 2, z, axis=1))
    return [(float(max(lo, 0.0)), float(hi)) for lo, hi in
            zip(m - n_sigma * sd, m + n_sigma * sd, strict=True)]


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
    fit_bias_index: bool = False,
    scale_weight: float = -1.0,
    cross_patch_weight: str = "simple",
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
        Per bin, the (z_lo, z_hi) window of its mean redshift (default: the whole range):
        the slices whose centres lie inside; the table's ``window_lo``/``window_hi`` are
        those slices' outer edges.
    npatch
        Jackknife patches (k-means on the randoms).
    n_theta
        Log-θ bins across each slice's annulus.
    bias_index, bias_index_sigma
        The unknown sample's bias evolution b_u ∝ (1 + z)^γ: γ and its prior width.
    fit_bias_index
        Measure γ from the data instead (:func:`_fit_bias_index`: the bins' clustering
        amplitudes are their mean biases) and use its jackknife error as Δγ. Needs ≥ 2
        bins at different redshifts (3 or more to be a test); it assumes the bins share
        one b_u(z) and inherits the redshift dependence of the W_mm model's errors.
        Always computed and reported (``bias_index_fit``), used only when True.
    scale_weight
        Each pair inside the annulus weighs θ^scale_weight in W (−1, as yet_another_wizz's
        default r⁻¹: the noisy few pairs at small θ count less than in a plain mean over
        log-θ bins, which is about −2).
    cross_patch_weight
        TreeCorr's weight, in the jackknife, of pairs between a deleted and a kept patch:
        "simple" (drop them) or "match" (Mohammad & Percival 2022; TreeCorr suggests it).
        Measured on 10 mocks (benchmarks/clustering.py): the means' jackknife errors agree
        to 1%, but with "match" the error of the fitted bias index is 1.7x the scatter
        between mocks and with "simple" about equal to it.
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
    # every slice in the span of the windows: the amplitudes of the bias fit need the
    # bins' whole n(z), not only their windows
    span = (min(w[0] for w in windows), max(w[1] for w in windows))
    in_window = [span[0] <= zc[k] <= span[1] for k in range(zc.size)]
    keep = [k for k, s in enumerate(slices) if s.sum() >= 10 and in_window[k]]
    if not keep:
        raise ConfigError("no reference slice with >= 10 galaxies inside the windows")
    chi = pyccl.comoving_radial_distance(cosmo, 1 / (1 + zc[keep]))
    th_min = np.degrees(r_min_mpc * (1 + zc[keep]) / chi)
    th_max = np.degrees(r_max_mpc * (1 + zc[keep]) / chi)
    corrs: list = []  # per kept slice: the reference auto, then the n_bins crosses
    thetas, weights = [], []
    nn_class = _shared_tree_nn()
    kws = [{"min_sep": float(th_min[j]), "max_sep": float(th_max[j]), "nbins": n_theta,
            "sep_units": "deg", "bin_slop": bin_slop,
            "cross_patch_weight": cross_patch_weight} for j in range(len(keep))]
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
        # random pairs per θ bin measure the annulus's area: the weight of a θ bin is its
        # expected number of pairs times θ^scale_weight
        wt = rd.weight * thetas[-1] ** scale_weight
        weights.append(wt / wt.sum() if wt.sum() > 0 else np.full(n_theta, 1 / n_theta))
    w_mm = (_theory_w(cosmo, z_edges, keep, thetas, weights) if dm_correction
            else np.ones(len(keep)))
    zk = zc[keep]
    win = [(zk >= lo) & (zk <= hi) for lo, hi in windows]
    if not all(w.any() for w in win):
        raise ConfigError("a window holds no reference slice with >= 10 galaxies")
    # the mean is over whole slices: report the slice edges actually used, so that a
    # comparison (a truth, another method) can use the same range
    lo_edges = np.asarray(z_edges)[np.asarray(keep)]
    hi_edges = np.asarray(z_edges)[np.asarray(keep) + 1]
    used = [(float(lo_edges[w].min()), float(hi_edges[w].max())) for w in win]

    # n_b(z) b_u(z) per slice for the full sample and each delete-one-patch sample: every
    # derived quantity (means, amplitudes, the bias index) gets its jackknife from these
    raw = _nz_from(corrs, w_mm, weights, n_bins)
    design, _ = treecorr.build_multi_cov_design_matrix(
        corrs, "jackknife", func=lambda cs: _nz_from(cs, w_mm, weights, n_bins).ravel())
    jk = design.reshape(-1, n_bins, len(keep))

    def jk_cov(values: np.ndarray) -> np.ndarray:
        d = values - values.mean(axis=0)
        return (len(values) - 1) / len(values) * d.T @ d

    def means_at(p: np.ndarray, gamma: float) -> np.ndarray:
        nz = p / (1 + zk) ** gamma
        return np.array([np.sum(zk[w] * nz[b, w]) / np.sum(nz[b, w])
                         for b, w in enumerate(win)])

    with np.errstate(invalid="ignore", divide="ignore"):
        var_ln_amp = np.diag(jk_cov(np.log(jk.sum(axis=2))))
    inv_var = np.where(np.isfinite(var_ln_amp) & (var_ln_amp > 0), 1 / var_ln_amp, 0.0)
    fit = _fit_bias_index(raw, zk, inv_var)
    fits = np.array([_fit_bias_index(p, zk, inv_var)[0] for p in jk])
    gamma_fit = fit[0]
    gamma_fit_sigma = float(np.sqrt(jk_cov(fits[:, None])[0, 0])) if np.isfinite(
        fits).all() else np.nan
    if fit_bias_index and not (np.isfinite(gamma_fit) and np.isfinite(gamma_fit_sigma)):
        raise ConfigError("fit_bias_index: the bins' clustering amplitudes do not constrain "
                          "γ (need >= 2 bins with positive amplitude)")
    if fit_bias_index:
        bias_index, bias_index_sigma = gamma_fit, gamma_fit_sigma
    means = means_at(raw, bias_index)
    cov = jk_cov(np.array([means_at(p, bias_index) for p in jk]))
    sig = np.sqrt(np.diag(cov))
    sig_b = 0.5 * np.abs(means_at(raw, bias_index + bias_index_sigma)
                         - means_at(raw, bias_index - bias_index_sigma))
    table = pd.DataFrame({"bin": np.arange(n_bins), "mean_z": means, "sigma_stat": sig,
                          "sigma_bias": sig_b, "sigma": np.hypot(sig, sig_b),
                          "bias_flag": sig_b > sig,
                          "amplitude": fit[1],
                          "bias_index_fit": gamma_fit,
                          "bias_index_fit_sigma": gamma_fit_sigma,
                          "window_lo": [w[0] for w in used],
                          "window_hi": [w[1] for w in used],
                          "n_unknown": [int(np.sum(bins == b)) for b in range(n_bins)]})
    table.attrs.update(bias_index=float(bias_index), bias_index_sigma=float(bias_index_sigma))
    nz = raw / (1 + zk) ** bias_index
    full = np.full((n_bins, zc.size), np.nan)
    width = np.diff(z_edges)[keep]
    norm = np.sum(nz * width, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        full[:, keep] = np.where(norm > 0, nz / norm, np.nan)  # unit integral (noise: < 0)
    return ClusteringResult(zc, full, table, cov)


def _fit_bias_index(p: np.ndarray, zk: np.ndarray, inv_var: np.ndarray):
    """The unknown bias's power-law index from the bins' clustering amplitudes.

    With W_mm in absolute units, Σ_k p[b, k] over the slices (p = n_b b_u per slice, the
    fraction of bin b in slice k times its bias) is the bin's mean bias b̄_b; a weighted
    straight line through ln b̄_b against ln(1 + ⟨z⟩_b) has slope γ (b ∝ (1 + z)^γ). The
    slope depends only on the amplitudes' ratios, not on σ8 or b_r. ``inv_var``: the
    weights, 1 / var(ln b̄). Returns (γ, amplitudes).
    """
    amp = p.sum(axis=1)
    zbar = np.array([np.sum(zk * row) / np.sum(row) if np.sum(row) > 0 else np.nan
                     for row in p])
    ok = (amp > 0) & np.isfinite(zbar) & (inv_var > 0)
    if ok.sum() < 2:
        return np.nan, amp
    x, y, w = np.log1p(zbar[ok]), np.log(amp[ok]), inv_var[ok]
    xm, ym = np.average(x, weights=w), np.average(y, weights=w)
    slope = np.sum(w * (x - xm) * (y - ym)) / np.sum(w * (x - xm) ** 2)
    return float(slope), amp


def _nz_from(cs, w_mm, weights, n_bins) -> np.ndarray:
    """n(z) b_u(z) per bin (rows) on the kept slices from the correlations' xi values."""
    per = n_bins + 1
    out = np.zeros((n_bins, len(w_mm)))
    for k in range(len(w_mm)):
        w_rr = weights[k] @ cs[k * per].xi
        for b in range(n_bins):
            w_ur = weights[k] @ cs[k * per + 1 + b].xi
            out[b, k] = w_ur / np.sqrt(w_rr * w_mm[k]) if w_rr > 0 else 0.0
    return out


def _theory_w(cosmo, z_edges, keep, thetas, weights) -> np.ndarray:
    """Dark-matter W_mm of each kept slice (top-hat in z), weighted over its θ bins as the
    measurements are."""
    import pyccl

    from cosmoml.sims.mocks import shell_cls

    ell = np.unique(np.geomspace(1, 3e4, 3000).astype(int)).astype(float)
    out = []
    for j, k in enumerate(keep):
        cl = shell_cls(cosmo, z_edges[k : k + 2], ell)[0]
        w = pyccl.correlation(cosmo, ell=ell, C_ell=cl, theta=thetas[j], type="NN")
        out.append(weights[j] @ w)
    return np.array(out)
