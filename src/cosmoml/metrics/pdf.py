"""PDF metrics: PIT and its uniformity tests, CRPS and the CDE loss.

- PIT_i = CDF_i(z_true,i). KS and Cramér–von Mises statistics against U(0, 1) come from
  scipy; Anderson–Darling is the one-sample A^2 against U(0, 1),
  A^2 = -n - (1/n) sum_i (2i - 1) [ln u_(i) + ln(1 - u_(n+1-i))], with u clipped to
  [1e-6, 1 - 1e-6] so that a PIT of exactly 0 or 1 stays finite.
- PIT outlier fraction: PIT < 0.0001 or PIT > 0.9999.
- CRPS_i = integral (CDF_i(z) - H(z - z_true,i))^2 dz on the grid, averaged.
- CDE loss (Izbicki & Lee 2017) = mean_i integral p_i(z)^2 dz - 2 mean_i p_i(z_true,i).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from cosmoml.pdf import PDFs, _trapz_weights


def anderson_darling_uniform(u: np.ndarray) -> float:
    """One-sample Anderson–Darling A^2 of ``u`` against U(0, 1)."""
    u = np.sort(np.clip(np.asarray(u, dtype=float), 1e-6, 1 - 1e-6))
    n = u.size
    i = np.arange(1, n + 1)
    return float(-n - np.mean((2 * i - 1) * (np.log(u) + np.log1p(-u[::-1]))))


def pit_metrics(pit: np.ndarray, nbins: int = 20) -> dict:
    """KS, CvM and AD statistics of the PIT against uniform, outlier rate and histogram."""
    pit = np.asarray(pit, dtype=float)
    pit = pit[np.isfinite(pit)]
    hist, _ = np.histogram(pit, bins=nbins, range=(0, 1))
    return {
        "pit_ks": float(stats.kstest(pit, "uniform").statistic),
        "pit_cvm": float(stats.cramervonmises(pit, "uniform").statistic),
        "pit_ad": anderson_darling_uniform(pit),
        "pit_outlier_frac": float(np.mean((pit < 1e-4) | (pit > 0.9999))),
        "pit_hist": (hist / max(pit.size, 1) * nbins).tolist(),
    }


def crps(pdfs: PDFs, z_true: np.ndarray) -> np.ndarray:
    """Continuous ranked probability score of each PDF (units of redshift).

    CRPS = integral_{z < y} F^2 dz + integral_{z > y} (1 - F)^2 dz, with F linear between
    grid points and the cell holding y split at y (so the step is placed exactly);
    outside the grid F is 0 below and 1 above.
    """
    y = np.asarray(z_true, dtype=float)
    g = pdfs.grid
    f = pdfs.cdf().astype(float)
    rows = np.arange(len(y))
    dz = np.diff(g)
    f2 = f * f
    h2 = (1.0 - f) ** 2
    left_cum = np.concatenate(
        [np.zeros((len(y), 1)), np.cumsum(0.5 * (f2[:, 1:] + f2[:, :-1]) * dz, axis=1)], axis=1
    )
    right_cum = np.concatenate(
        [np.zeros((len(y), 1)), np.cumsum(0.5 * (h2[:, 1:] + h2[:, :-1]) * dz, axis=1)], axis=1
    )
    k = np.clip(np.searchsorted(g, y, side="right") - 1, 0, g.size - 2)
    yc = np.clip(y, g[0], g[-1])
    t = (yc - g[k]) / dz[k]
    fy = f[rows, k] + t * (f[rows, k + 1] - f[rows, k])
    left = left_cum[rows, k] + (yc - g[k]) * 0.5 * (f2[rows, k] + fy * fy)
    right = (right_cum[:, -1] - right_cum[rows, k + 1]) + (g[k + 1] - yc) * 0.5 * (
        (1 - fy) ** 2 + h2[rows, k + 1]
    )
    return left + right + np.clip(g[0] - y, 0, None) + np.clip(y - g[-1], 0, None)


def cde_loss(pdfs: PDFs, z_true: np.ndarray) -> float:
    """Conditional density estimation loss (lower is better; can be negative)."""
    ok = ~np.isnan(pdfs.pdf[:, 0])
    sub = pdfs[ok]
    term1 = (sub.pdf**2) @ _trapz_weights(sub.grid)
    term2 = sub.pdf_at(np.asarray(z_true, dtype=float)[ok])
    return float(term1.mean() - 2 * term2.mean())


def pdf_metrics(pdfs: PDFs, z_true: np.ndarray) -> dict:
    """PIT statistics, mean CRPS and CDE loss for objects with a PDF."""
    z_true = np.asarray(z_true, dtype=float)
    ok = ~np.isnan(pdfs.pdf[:, 0]) & np.isfinite(z_true)
    sub = pdfs[ok]
    out = pit_metrics(sub.pit(z_true[ok]))
    out["crps"] = float(crps(sub, z_true[ok]).mean())
    out["cde_loss"] = cde_loss(sub, z_true[ok])
    return out
