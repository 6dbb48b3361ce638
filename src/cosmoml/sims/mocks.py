"""Clustered mock skies: photometric ("unknown") and spectroscopic ("reference") galaxies
drawn from one lognormal density field in redshift shells, with randoms.

Our own small generator (GLASS, with healpy, is the full-sky alternative): a square patch
of ``area_deg2`` near the equator, flat-sky in each thin redshift shell. Per shell, the
matter C_ℓ of the shell (top-hat in z, Limber, pyccl) sets a Gaussian field G on a pixel
grid (FFT) ``pad`` times wider than the patch, of which the patch is one corner: the patch
is not periodic and its mean density varies between realisations, as a patch of a larger
sky does (a periodic field of zero mean pins the patch's mean density, which makes the
realisations agree better than a jackknife, which cannot know of that constraint,
predicts); a sample with linear bias b(z) is Poisson-sampled from
n̄ · exp(b G − b² σ_G² / 2), a lognormal field with bias b on large scales. Unknown and
reference galaxies in the same shell see the same G, so they cross-correlate as b_u b_r
w_mm and not across shells (shells are independent: thin-shell approximation, adequate
when shells are wider than the correlation length integrated over, ~100 Mpc at Δz = 0.05).
Positions are degrees: RA = x / cos(Dec), Dec = y, so angular distances on the sphere equal
the flat-map distances locally. Redshifts within a shell follow the sample's n(z).

The galaxy bias may evolve with redshift (a callable ``b(z)``): the main systematic of
clustering redshifts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
import scipy.fft

from cosmoml.errors import ConfigError

BiasLike = float | Callable[[np.ndarray], np.ndarray]


@dataclass
class MockSky:
    """``unknown`` (ra, dec, z_true, z_phot, bin), ``reference`` (ra, dec, z),
    ``randoms`` (ra, dec); the patch's area and the shells' edges."""

    unknown: pd.DataFrame
    reference: pd.DataFrame
    randoms: pd.DataFrame
    area_deg2: float
    z_edges: np.ndarray


def shell_cls(cosmo, z_edges: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """Matter angular power spectrum of each shell (top-hat n(z)), shape (n_shells, n_ell)."""
    import pyccl

    out = []
    for lo, hi in pairwise(z_edges):
        z = np.linspace(max(lo, 1e-3), hi, 32)
        tr = pyccl.NumberCountsTracer(cosmo, has_rsd=False, dndz=(z, np.ones_like(z)),
                                      bias=(z, np.ones_like(z)))
        out.append(pyccl.angular_cl(cosmo, tr, tr, ell))
    return np.array(out)


def cl_interp(ell_grid: np.ndarray, cl: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """C_ℓ tabulated at ``ell_grid`` interpolated to ``ell`` (≥ 1) linearly in
    log ℓ – log C_ℓ (floored at 10⁻³⁰)."""
    return np.exp(np.interp(np.log(ell), np.log(ell_grid), np.log(np.maximum(cl, 1e-30))))


def _bias(b: BiasLike, z: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.asarray(b(z) if callable(b) else b, dtype=float), z.shape)


def _gaussian_field(cl_of_ell: Callable[[np.ndarray], np.ndarray], n: int, pix_rad: float,
                    rng: np.random.Generator) -> np.ndarray:
    """A flat-sky Gaussian field of power spectrum C_ℓ on an n × n grid (pixel in radians):
    white noise of unit variance has power pix²; scaling its Fourier modes by
    sqrt(C_ℓ) / pix gives power C_ℓ. Real FFTs (scipy, both cores) on the half-plane."""
    k = 2 * np.pi * np.fft.fftfreq(n, d=pix_rad)
    kr = 2 * np.pi * np.fft.rfftfreq(n, d=pix_rad)
    ell = np.hypot(k[:, None], kr[None, :])
    amp = np.sqrt(np.clip(cl_of_ell(np.maximum(ell, 1.0)), 0, None)) / pix_rad
    amp[0, 0] = 0.0  # no monopole: the field's mean density is n̄
    modes = scipy.fft.rfft2(rng.standard_normal((n, n)), workers=-1)
    return scipy.fft.irfft2(modes * amp, s=(n, n), workers=-1)


def _draw(counts: np.ndarray, n: int, pix_deg: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Uniform positions inside the pixels holding ``counts`` objects (flat x, y degrees)."""
    flat = np.repeat(np.arange(n * n), counts.ravel())
    iy, ix = np.divmod(flat, n)
    x = (ix + rng.random(flat.size)) * pix_deg
    y = (iy + rng.random(flat.size)) * pix_deg
    return x, y


def _to_sky(x: np.ndarray, y: np.ndarray, side: float) -> tuple[np.ndarray, np.ndarray]:
    dec = y - side / 2
    return x / np.cos(np.radians(dec)), dec


def _sample_z(z: np.ndarray, nz: np.ndarray, lo: float, hi: float, size: int, rng):
    sel = (z >= lo) & (z <= hi)
    zz, w = z[sel], nz[sel]
    if size == 0 or zz.size < 2 or w.sum() <= 0:
        return rng.uniform(lo, hi, size)
    cdf = np.concatenate([[0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(zz))])
    return np.interp(rng.random(size) * cdf[-1], cdf, zz)


def lognormal_mock(
    area_deg2: float = 100.0,
    n_unknown: int = 100_000,
    n_reference: int = 10_000,
    unknown_nz: tuple[np.ndarray, np.ndarray] | None = None,
    reference_nz: tuple[np.ndarray, np.ndarray] | None = None,
    bias_unknown: BiasLike = 1.5,
    bias_reference: BiasLike = 2.0,
    z_edges: np.ndarray | None = None,
    pixel_deg: float = 0.02,
    pad: float = 2.0,
    n_randoms_factor: float = 5.0,
    photoz_sigma: float = 0.05,
    photoz_outliers: float = 0.02,
    bin_edges: tuple[float, ...] = (0.2, 0.43, 0.63, 0.9, 1.3),
    cosmo=None,
    seed: int = 0,
) -> MockSky:
    """Simulate a clustered patch of sky with unknown and reference samples and randoms.

    ``unknown_nz`` / ``reference_nz``: (z, n(z)) of each sample (defaults: a Smail-type
    n(z) ∝ z² exp(−(z/0.5)^1.5) for the unknown, flat in 0.1..1.6 for the reference);
    ``bias_*``: a number or a callable b(z). The unknown galaxies get a photo-z (Gaussian
    scatter ``photoz_sigma`` (1 + z) and ``photoz_outliers`` uniform in 0..2) and a
    tomographic ``bin`` by ``bin_edges`` (-1 outside). Shells default to Δz = 0.05 over
    0..2; ``pixel_deg`` sets the smallest scale (0.02° ≈ 1 Mpc at z ≈ 1.2); ``pad`` ≥ 1 the
    side of the simulated field in units of the patch's (1: a periodic patch, see above).
    """
    from cosmoml.cosmology import ccl_cosmology

    if area_deg2 <= 0 or pixel_deg <= 0:
        raise ConfigError("area_deg2 and pixel_deg must be positive")
    if pad < 1:
        raise ConfigError(f"pad must be >= 1 (the field holds the patch), got {pad}")
    rng = np.random.default_rng(seed)
    cosmo = cosmo or ccl_cosmology()
    z_edges, unknown_nz, reference_nz = _defaults(z_edges, unknown_nz, reference_nz)
    side = float(np.sqrt(area_deg2))
    n = int(np.ceil(side / pixel_deg))
    n_field = scipy.fft.next_fast_len(int(np.ceil(pad * n)), real=True)
    pix_rad = np.radians(pixel_deg)
    ell = np.geomspace(1.0, 2 * np.pi / pix_rad * 1.5, 400)
    cls = shell_cls(cosmo, z_edges, ell)

    unk, ref = [], []
    for s, (lo, hi) in enumerate(pairwise(z_edges)):
        g = _gaussian_field(lambda lv, cl=cls[s]: cl_interp(ell, cl, lv), n_field, pix_rad,
                            rng)
        var = g.var()  # of the whole field: the ensemble's, not the patch's own
        g = g[:n, :n]
        zmid = np.array([0.5 * (lo + hi)])
        for nz_pair, total, b, out in ((unknown_nz, n_unknown, bias_unknown, unk),
                                       (reference_nz, n_reference, bias_reference, ref)):
            mean = total * _shell_fraction(nz_pair, lo, hi) / (n * n)
            if mean <= 0:
                continue
            bb = float(_bias(b, zmid)[0])
            counts = rng.poisson(mean * np.exp(bb * g - 0.5 * bb**2 * var))
            x, y = _draw(counts, n, pixel_deg, rng)
            ra, dec = _to_sky(x, y, n * pixel_deg)
            z = _sample_z(*(np.asarray(a, float) for a in nz_pair), lo, hi, x.size, rng)
            out.append(pd.DataFrame({"ra": ra, "dec": dec, "z": z}))
    unknown, reference = _with_photoz(unk, ref, photoz_sigma, photoz_outliers, bin_edges,
                                      rng)
    n_rand = int(n_randoms_factor * max(len(unknown), len(reference)))
    x, y = rng.random(n_rand) * n * pixel_deg, rng.random(n_rand) * n * pixel_deg
    ra, dec = _to_sky(x, y, n * pixel_deg)
    randoms = pd.DataFrame({"ra": ra, "dec": dec})
    return MockSky(unknown, reference, randoms, (n * pixel_deg) ** 2, z_edges)


def _with_photoz(unk: list[pd.DataFrame], ref: list[pd.DataFrame], photoz_sigma: float,
                 photoz_outliers: float, bin_edges, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate the shells' samples; give the unknown galaxies a photo-z (Gaussian
    scatter σ (1 + z), a fraction of outliers uniform in 0..2) and a tomographic bin."""
    unknown = pd.concat(unk, ignore_index=True).rename(columns={"z": "z_true"})
    reference = pd.concat(ref, ignore_index=True)
    zt = unknown["z_true"].to_numpy()
    zp = zt + photoz_sigma * (1 + zt) * rng.standard_normal(zt.size)
    out_mask = rng.random(zt.size) < photoz_outliers
    zp[out_mask] = rng.uniform(0, 2, out_mask.sum())
    unknown["z_phot"] = zp
    edges = np.asarray(bin_edges, dtype=float)
    b = np.digitize(zp, edges) - 1
    unknown["bin"] = np.where((zp >= edges[0]) & (zp < edges[-1]), b, -1)
    return unknown, reference


def _defaults(z_edges, unknown_nz, reference_nz):
    """Shell edges (Δz = 0.05 over 0..2) and the samples' default n(z): Smail-type
    z² exp(−(z/0.5)^1.5) for the unknown, flat in 0.1..1.6 for the reference."""
    z_edges = np.round(np.arange(0.0, 2.0001, 0.05), 6) if z_edges is None else np.asarray(
        z_edges, dtype=float)
    zg = np.linspace(0.0, float(z_edges[-1]), 2001)
    if unknown_nz is None:
        unknown_nz = (zg, zg**2 * np.exp(-((zg / 0.5) ** 1.5)))
    if reference_nz is None:
        reference_nz = (zg, ((zg > 0.1) & (zg < 1.6)).astype(float))
    return z_edges, unknown_nz, reference_nz


def _shell_fraction(nz_pair, lo: float, hi: float) -> float:
    """Fraction of a sample's n(z) inside the shell [lo, hi]."""
    z, w = (np.asarray(a, dtype=float) for a in nz_pair)
    total = np.trapezoid(w, z)
    sel = (z >= lo) & (z <= hi)
    return np.trapezoid(w[sel], z[sel]) / total if total > 0 and sel.sum() > 1 else 0.0
