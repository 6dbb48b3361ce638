"""Point-estimate metrics, exactly as DESIGN.md §3 defines them.

With e = (z_phot - z_spec) / (1 + z_spec):
bias = mean(e) (and median(e)); sigma68 = (P84.135 - P15.865) / 2 of e; sigma95 likewise
with P2.275 and P97.725; sigma_IQR = (P75 - P25) / 1.349; sigma_NMAD = 1.4826 median|e -
median(e)|; outlier fraction |e| > 0.15; catastrophic rate |e| > max(0.06, 3 sigma_IQR)
(RAIL's definition).
"""

from __future__ import annotations

import numpy as np

from cosmoml.errors import ConfigError


def scaled_residuals(z_phot: np.ndarray, z_spec: np.ndarray) -> np.ndarray:
    """e = (z_phot - z_spec) / (1 + z_spec); pairs with a NaN are dropped."""
    z_phot = np.asarray(z_phot, dtype=float)
    z_spec = np.asarray(z_spec, dtype=float)
    if z_phot.shape != z_spec.shape:
        raise ConfigError(f"z_phot has shape {z_phot.shape}, z_spec {z_spec.shape}")
    ok = np.isfinite(z_phot) & np.isfinite(z_spec)
    return (z_phot[ok] - z_spec[ok]) / (1.0 + z_spec[ok])


def point_metrics(z_phot: np.ndarray, z_spec: np.ndarray) -> dict[str, float]:
    """All point metrics of DESIGN.md §3 as a dict of floats."""
    e = scaled_residuals(z_phot, z_spec)
    if e.size == 0:
        raise ConfigError("no finite (z_phot, z_spec) pair to evaluate")
    p = np.percentile(e, [2.275, 15.865, 25.0, 50.0, 75.0, 84.135, 97.725])
    sigma_iqr = (p[4] - p[2]) / 1.349
    med = p[3]
    return {
        "n": int(e.size),
        "bias": float(e.mean()),
        "bias_median": float(med),
        "sigma68": float((p[5] - p[1]) / 2),
        "sigma95": float((p[6] - p[0]) / 2),
        "sigma_iqr": float(sigma_iqr),
        "sigma_nmad": float(1.4826 * np.median(np.abs(e - med))),
        "outlier_frac": float(np.mean(np.abs(e) > 0.15)),
        "catastrophic_frac": float(np.mean(np.abs(e) > max(0.06, 3 * sigma_iqr))),
    }
