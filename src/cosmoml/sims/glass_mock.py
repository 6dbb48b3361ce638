"""Clustered mock skies from GLASS (optional extra ``cosmoml[glass]``): full-sky HEALPix
lognormal matter shells, galaxies with *linear* bias, cut to a footprint.

The same inputs and output (:class:`~cosmoml.sims.mocks.MockSky`) as our flat-sky
:func:`~cosmoml.sims.mocks.lognormal_mock`, with two differences that matter for
clustering redshifts: the sky is curved (HEALPix, no flat-sky approximation) and the
galaxies trace the matter field with GLASS's linear bias, n ∝ 1 + b δ_m (clipped at 0),
so that their bias is the same on all scales (clipping lowers it somewhat below b where
b δ_m < −1 is common), where our generator's lognormal galaxies, exp(b G), carry a
non-linear bias at small scales.

What GLASS would download we generate instead (nothing may download at run time here):

- shell spectra: a Limber integral with pyccl over each top-hat shell
  (:func:`~cosmoml.sims.mocks.shell_cls`, seconds), not CAMB's full source windows;
- the HEALPix pixel window, which healpy reads from files it fetches from the network:
  :func:`pixel_window` computes it for a square pixel of the same area (HEALPix pixels are
  equal-area, nearly square quadrilaterals); the test suite checks it against the
  variance of maps averaged onto HEALPix pixels.

Shells are independent (thin-shell, as in our generator: adjacent top-hat shells do not
overlap, so their Limber cross-spectra vanish).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from cosmoml.errors import ConfigError
from cosmoml.sims.mocks import (
    BiasLike,
    MockSky,
    _bias,
    _defaults,
    _sample_z,
    _shell_fraction,
    _with_photoz,
    cl_interp,
    shell_cls,
)

RA0 = 10.0  # the box starts at RA = 10°: no wrap at 0/360 (deg)


def have_glass() -> bool:
    """True where GLASS and healpy are installed (``pip install cosmoml[glass]``)."""
    try:
        import glass  # noqa: F401
        import healpy  # noqa: F401
    except ImportError:
        return False
    return True


def pixel_window(nside: int, lmax: int, n_phi: int = 64) -> np.ndarray:
    """Pixel window w_ℓ (ℓ = 0..lmax) of an equal-area HEALPix pixel of ``nside``,
    approximated by a square pixel of side a = √Ω_pix: the azimuthal mean of
    sinc²(ℓ a cos φ / 2) sinc²(ℓ a sin φ / 2), square-rooted (flat-sky, ℓ + ½)."""
    a = np.sqrt(4 * np.pi / (12 * nside**2))
    ell = np.arange(lmax + 1) + 0.5
    phi = (np.arange(n_phi) + 0.5) * (np.pi / 2) / n_phi  # a quadrant suffices
    kx = np.outer(ell, np.cos(phi)) * a / 2
    ky = np.outer(ell, np.sin(phi)) * a / 2
    w2 = (np.sinc(kx / np.pi) ** 2 * np.sinc(ky / np.pi) ** 2).mean(axis=1)
    out = np.sqrt(w2)
    out[0] = 1.0
    return out


def _box(area_deg2: float) -> tuple[float, float]:
    """(RA width, Dec half-width) in degrees of an equatorial box of ``area_deg2``:
    Dec within ±h with h = √area / 2, RA width from the exact spherical area."""
    h = np.sqrt(area_deg2) / 2
    if h >= 90:
        raise ConfigError(f"area_deg2 = {area_deg2} does not fit an equatorial box")
    ra_width = np.degrees(np.radians(area_deg2) * (np.pi / 180) / (2 * np.sin(np.radians(h))))
    if ra_width > 360:
        raise ConfigError(f"area_deg2 = {area_deg2} does not fit an equatorial box")
    return float(ra_width), float(h)


def glass_mock(
    area_deg2: float = 100.0,
    n_unknown: int = 100_000,
    n_reference: int = 10_000,
    unknown_nz: tuple[np.ndarray, np.ndarray] | None = None,
    reference_nz: tuple[np.ndarray, np.ndarray] | None = None,
    bias_unknown: BiasLike = 1.5,
    bias_reference: BiasLike = 2.0,
    z_edges: np.ndarray | None = None,
    nside: int = 1024,
    n_randoms_factor: float = 5.0,
    photoz_sigma: float = 0.05,
    photoz_outliers: float = 0.02,
    bin_edges: tuple[float, ...] = (0.2, 0.43, 0.63, 0.9, 1.3),
    cosmo=None,
    seed: int = 0,
) -> MockSky:
    """Simulate unknown and reference samples and randoms with GLASS in an equatorial box.

    Arguments as :func:`~cosmoml.sims.mocks.lognormal_mock`, except ``nside`` (HEALPix
    resolution, 1024: 0.057° pixels, ≈ 1 Mpc at z ≈ 0.5; the maps are full-sky, so the
    cost grows as nside², not with the area). Galaxies are Poisson-sampled in the pixels
    with linear bias b(z) at each shell's mid-point; the footprint is the pixels whose
    centre lies in the box, and the randoms fill exactly those pixels.
    """
    if not have_glass():
        raise ConfigError("the GLASS backend needs the optional extra: "
                          "pip install 'cosmoml[glass]' (glass, healpy)")
    import glass
    import healpy as hp

    from cosmoml.cosmology import ccl_cosmology

    if area_deg2 <= 0 or nside < 1 or nside & (nside - 1):
        raise ConfigError("area_deg2 must be positive and nside a power of 2")
    rng = np.random.default_rng(seed)
    cosmo = cosmo or ccl_cosmology()
    z_edges, unknown_nz, reference_nz = _defaults(z_edges, unknown_nz, reference_nz)
    lmax = 2 * nside
    # shell spectra by Limber (pyccl) on a log grid, interpolated to every ℓ
    ell_log = np.geomspace(1.0, lmax, 200)
    cls_log = shell_cls(cosmo, z_edges, ell_log)
    ell = np.arange(lmax + 1)
    pw2 = pixel_window(nside, lmax) ** 2
    spectra = []  # GLASS order: (0,0), (1,1), (1,0), (2,2), ... — no cross-shell terms
    for i in range(len(z_edges) - 1):
        cl = cl_interp(ell_log, cls_log[i], np.maximum(ell, 1))
        cl[0] = 0.0  # no monopole: GLASS then leaves the shell's mean density alone
        spectra.append(cl)
        spectra.extend(np.zeros(0) for _ in range(i))
    with warnings.catch_warnings():  # shells need not start at z = 0
        warnings.filterwarnings("ignore", message=".*does not start at redshift zero")
        shells = glass.tophat_windows(z_edges)
    fields = glass.lognormal_fields(shells)
    # the pixelised field must have the shell's spectrum: multiply in the pixel window
    # before solving for the Gaussian spectra (what glass.discretized_cls does with
    # healpy's downloaded window)
    gls = glass.solve_gaussian_spectra(fields, [s * pw2 if s.size else s for s in spectra])

    ra_width, h = _box(area_deg2)
    theta, phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    vis = ((theta >= RA0) & (theta < RA0 + ra_width) & (np.abs(phi) < h)).astype(float)
    area_arcmin2 = vis.sum() * hp.nside2pixarea(nside, degrees=True) * 3600
    unk, ref = [], []
    for s, delta in enumerate(glass.generate(fields, gls, nside, ncorr=0, rng=rng)):
        lo, hi = float(z_edges[s]), float(z_edges[s + 1])
        zmid = np.array([0.5 * (lo + hi)])
        for nz_pair, total, b, out in ((unknown_nz, n_unknown, bias_unknown, unk),
                                       (reference_nz, n_reference, bias_reference, ref)):
            ngal = total * _shell_fraction(nz_pair, lo, hi) / area_arcmin2
            if ngal <= 0:
                continue
            bb = float(_bias(b, zmid)[0])
            for lon, lat, count in glass.positions_from_delta(ngal, delta, bb, vis, rng=rng):
                z = _sample_z(*(np.asarray(a, float) for a in nz_pair), lo, hi, int(count),
                              rng)
                out.append(pd.DataFrame({"ra": lon, "dec": lat, "z": z}))
    unknown, reference = _with_photoz(unk, ref, photoz_sigma, photoz_outliers, bin_edges,
                                      rng)
    # randoms: uniform on the sphere in a box one pixel wider, kept where the pixel is in
    n_rand = int(n_randoms_factor * max(len(unknown), len(reference)))
    pad = 2 * np.degrees(np.sqrt(hp.nside2pixarea(nside)))
    keep_ra, keep_dec = [], []
    n_kept = 0
    sin_lo, sin_hi = np.sin(np.radians([-h - pad, h + pad]))
    while n_kept < n_rand:
        m = int(1.2 * (n_rand - n_kept)) + 1000
        ra = rng.uniform(RA0 - pad, RA0 + ra_width + pad, m)
        dec = np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, m)))
        ok = vis[hp.ang2pix(nside, ra, dec, lonlat=True)] > 0
        keep_ra.append(ra[ok])
        keep_dec.append(dec[ok])
        n_kept += int(ok.sum())
    randoms = pd.DataFrame({"ra": np.concatenate(keep_ra)[:n_rand],
                            "dec": np.concatenate(keep_dec)[:n_rand]})
    return MockSky(unknown, reference, randoms, area_arcmin2 / 3600, z_edges)
