"""What an n(z) error costs: angular power spectra under the true and estimated n(z).

Built on `pyccl <https://ccl.readthedocs.io>`_ (BSD): :func:`angular_cls` gives the cosmic
shear or galaxy clustering C_ℓ of every bin pair (Limber), :func:`cl_bias` the relative bias
C_ℓ[estimated n(z)] / C_ℓ[true n(z)] − 1 against the Gaussian (Knox) statistical error
of C_ℓ for a stated sky fraction, source density and shape noise, and
:func:`equivalent_dz` the mean-redshift shift of each bin. The linear power spectrum
defaults to Eisenstein & Hu (fast, no CAMB): ratios of C_ℓ, which is what the bias is,
barely depend on it; pass ``transfer_function="boltzmann_camb"`` with CAMB installed for
accurate absolute spectra.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cosmoml.errors import ConfigError

#: arcmin² per steradian
ARCMIN2_PER_SR = (180 * 60 / np.pi) ** 2


def ccl_cosmology(
    Omega_c: float = 0.26,
    Omega_b: float = 0.049,
    h: float = 0.6727,
    sigma8: float = 0.81,
    n_s: float = 0.9645,
    transfer_function: str = "eisenstein_hu",
    matter_power_spectrum: str = "halofit",
):
    """A flat ΛCDM ``pyccl.Cosmology`` (defaults close to Planck 2015)."""
    import pyccl

    return pyccl.Cosmology(Omega_c=Omega_c, Omega_b=Omega_b, h=h, sigma8=sigma8, n_s=n_s,
                           transfer_function=transfer_function,
                           matter_power_spectrum=matter_power_spectrum)


def _tracers(cosmo, z: np.ndarray, nz: np.ndarray, kind: str, bias: Sequence[float] | None):
    import pyccl

    z = np.asarray(z, dtype=float)
    nz = np.atleast_2d(np.asarray(nz, dtype=float))
    if nz.shape[1] != z.size:
        raise ConfigError(f"n(z) has {nz.shape[1]} points, the grid {z.size}")
    if kind == "shear":
        return [pyccl.WeakLensingTracer(cosmo, dndz=(z, n)) for n in nz]
    if kind == "clustering":
        b = np.ones(len(nz)) if bias is None else np.asarray(bias, dtype=float)
        return [pyccl.NumberCountsTracer(cosmo, has_rsd=False, dndz=(z, n),
                                         bias=(z, np.full(z.size, bi))) for n, bi in zip(nz, b,
                                                                                        strict=True)]
    raise ConfigError(f"kind must be 'shear' or 'clustering', got {kind!r}")


def bin_pairs(n_bins: int) -> list[tuple[int, int]]:
    """All (i, j) with i <= j, in the order of :func:`angular_cls`'s rows."""
    return [(i, j) for i in range(n_bins) for j in range(i, n_bins)]


def angular_cls(cosmo, z: np.ndarray, nz: np.ndarray, ell: np.ndarray, kind: str = "shear",
                bias: Sequence[float] | None = None) -> np.ndarray:
    """C_ℓ of every bin pair (rows in :func:`bin_pairs` order), shape (n_pairs, n_ell).

    ``nz``: (n_bins, len(z)) redshift distributions (any normalisation); ``kind``:
    ``"shear"`` (cosmic shear, E-mode convergence) or ``"clustering"`` (number counts with
    a constant linear ``bias`` per bin, default 1; no RSD or magnification).
    """
    import pyccl

    tr = _tracers(cosmo, z, nz, kind, bias)
    ell = np.asarray(ell, dtype=float)
    return np.array([pyccl.angular_cl(cosmo, tr[i], tr[j], ell)
                     for i, j in bin_pairs(len(tr))])


def knox_sigma(cls: np.ndarray, noise: np.ndarray, ell: np.ndarray, delta_ell: np.ndarray,
               f_sky: float) -> np.ndarray:
    """Gaussian error of each C_ℓ^{ij} (rows in :func:`bin_pairs` order):
    σ² = [(C^{ii}+N^{ii})(C^{jj}+N^{jj}) + (C^{ij}+N^{ij})²] / ((2ℓ+1) Δℓ f_sky)."""
    n_bins = len(noise)
    pairs = bin_pairs(n_bins)
    full = {}
    for k, (i, j) in enumerate(pairs):
        full[i, j] = full[j, i] = cls[k] + (noise[i] if i == j else 0.0)
    denom = (2 * ell + 1) * delta_ell * f_sky
    return np.array([np.sqrt((full[i, i] * full[j, j] + full[i, j] ** 2) / denom)
                     for i, j in pairs])


def equivalent_dz(z: np.ndarray, nz_true: np.ndarray, nz_est: np.ndarray) -> np.ndarray:
    """⟨z⟩_est − ⟨z⟩_true per bin: the shift that moves each true bin to the estimated mean."""
    from cosmoml.nz.methods import mean_z

    return mean_z(np.atleast_2d(nz_est), z) - mean_z(np.atleast_2d(nz_true), z)


def cl_bias(
    z: np.ndarray,
    nz_true: np.ndarray,
    nz_est: np.ndarray,
    kind: str = "shear",
    ell_edges: np.ndarray | None = None,
    f_sky: float = 0.1,
    n_gal_arcmin2: float | Sequence[float] = 10.0,
    sigma_e: float = 0.26,
    bias: Sequence[float] | None = None,
    cosmo=None,
) -> pd.DataFrame:
    """Relative C_ℓ bias of an estimated n(z) against its statistical error.

    ``ell_edges`` (default 20 log-spaced band powers from 20 to 2000); ``f_sky`` the
    survey's sky fraction; ``n_gal_arcmin2`` the galaxy density per bin (a number: split
    equally over the bins); ``sigma_e`` the shape noise per component (shear); ``bias`` the
    linear galaxy bias per bin (clustering). Noise: σ_e²/n (shear) or 1/n (clustering),
    with n per steradian.

    Returns one row per (bin pair, ℓ): ``i``, ``j``, ``ell``, ``cl_true``, ``cl_est``,
    ``rel_bias`` = C_est/C_true − 1, ``sigma_rel`` = σ(C_ℓ)/C_true (Knox) and
    ``bias_over_sigma``. ``DataFrame.attrs`` holds the per-bin ``equivalent_dz`` and the
    total ``chi2`` = Σ (ΔC/σ)² over pairs and ℓ (diagonal covariance).
    """
    cosmo = cosmo or ccl_cosmology()
    edges = np.geomspace(20, 2000, 21) if ell_edges is None else np.asarray(ell_edges, float)
    ell = np.sqrt(edges[1:] * edges[:-1])
    d_ell = np.diff(edges)
    nz_true, nz_est = np.atleast_2d(nz_true), np.atleast_2d(nz_est)
    n_bins = len(nz_true)
    if nz_est.shape != nz_true.shape:
        raise ConfigError("true and estimated n(z) need the same shape")
    dens = np.broadcast_to(np.asarray(n_gal_arcmin2, dtype=float), (n_bins,)).copy()
    if np.ndim(n_gal_arcmin2) == 0:
        dens /= n_bins
    n_sr = dens * ARCMIN2_PER_SR
    noise = sigma_e**2 / n_sr if kind == "shear" else 1.0 / n_sr
    c_true = angular_cls(cosmo, z, nz_true, ell, kind, bias)
    c_est = angular_cls(cosmo, z, nz_est, ell, kind, bias)
    sig = knox_sigma(c_true, noise, ell, d_ell, f_sky)
    rows = []
    for k, (i, j) in enumerate(bin_pairs(n_bins)):
        for e in range(ell.size):
            rel = c_est[k, e] / c_true[k, e] - 1
            srel = sig[k, e] / c_true[k, e]
            rows.append({"i": i, "j": j, "ell": ell[e], "cl_true": c_true[k, e],
                         "cl_est": c_est[k, e], "rel_bias": rel, "sigma_rel": srel,
                         "bias_over_sigma": rel / srel})
    out = pd.DataFrame(rows)
    out.attrs["equivalent_dz"] = equivalent_dz(z, nz_true, nz_est).tolist()
    out.attrs["chi2"] = float(np.sum(out["bias_over_sigma"] ** 2))
    out.attrs["kind"], out.attrs["f_sky"] = kind, f_sky
    return out
