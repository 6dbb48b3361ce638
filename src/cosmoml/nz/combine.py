"""Combining independent calibrations of each tomographic bin's mean redshift.

DES Y1 (Hoyle et al. 2018, Table 4; Davis et al. 2017) calibrated every bin twice — a
deep field with many-band redshifts and clustering redshifts — and combined the two shifts
by inverse variance after checking that they agree. :func:`combine_shifts` does the same
for any number of methods: per bin, the inverse-variance mean of the Δz measurements, its
error 1/√(Σ 1/σ²), the χ² of the measurements about it (n − 1 degrees of freedom) with its
p-value, and the largest pairwise tension in σ. A bin is flagged ``inconsistent`` when the
p-value is below ``p_threshold`` (default 0.01, about 2.6σ for two methods); the combined
error of such a bin is then inflated by √(χ²/dof) (the PDG scale factor) unless
``inflate=False``, because averaging methods that disagree would claim a precision that
neither supports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from cosmoml.errors import ConfigError


def combine_shifts(
    measurements: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    p_threshold: float = 0.01,
    inflate: bool = True,
) -> pd.DataFrame:
    """One row per bin: each method's Δz and σ, the combination and the consistency test.

    Parameters
    ----------
    measurements
        ``{method: (dz per bin, sigma per bin)}``; NaN marks a bin a method did not
        measure (it is left out of that bin's combination).
    p_threshold
        χ² p-value below which a bin's methods are called inconsistent.
    inflate
        Scale an inconsistent bin's combined σ by √(χ²/dof).

    Returns
    -------
    DataFrame with columns ``bin``, ``dz_<method>``, ``sigma_<method>`` for each method,
    ``dz_combined``, ``sigma_combined``, ``chi2``, ``dof``, ``p_value``,
    ``max_tension_sigma`` and ``inconsistent``.
    """
    if not measurements:
        raise ConfigError("combine_shifts needs at least one method")
    names = list(measurements)
    dz = np.array([np.asarray(measurements[m][0], dtype=float) for m in names])
    sig = np.array([np.asarray(measurements[m][1], dtype=float) for m in names])
    if dz.shape != sig.shape or dz.ndim != 2:
        raise ConfigError("every method needs one dz and one sigma per bin, all the same length")
    ok = np.isfinite(dz) & np.isfinite(sig)
    if (sig[ok] <= 0).any():
        raise ConfigError("uncertainties must be positive")
    rows = []
    for b in range(dz.shape[1]):
        use = ok[:, b]
        d, s = dz[use, b], sig[use, b]
        row: dict = {"bin": b}
        for k, m in enumerate(names):
            row[f"dz_{m}"], row[f"sigma_{m}"] = dz[k, b], sig[k, b]
        if d.size == 0:
            rows.append({**row, "dz_combined": np.nan, "sigma_combined": np.nan,
                         "chi2": np.nan, "dof": 0, "p_value": np.nan,
                         "max_tension_sigma": np.nan, "inconsistent": False})
            continue
        w = 1.0 / s**2
        mean = float(np.sum(w * d) / np.sum(w))
        err = float(1.0 / np.sqrt(np.sum(w)))
        chi2 = float(np.sum(w * (d - mean) ** 2))
        dof = d.size - 1
        p = float(stats.chi2.sf(chi2, dof)) if dof > 0 else 1.0
        tension = max(
            (abs(d[i] - d[j]) / np.hypot(s[i], s[j]) for i in range(d.size)
             for j in range(i + 1, d.size)),
            default=0.0,
        )
        bad = dof > 0 and p < p_threshold
        if bad and inflate:
            err *= np.sqrt(chi2 / dof)
        rows.append({**row, "dz_combined": mean, "sigma_combined": err, "chi2": chi2,
                     "dof": dof, "p_value": p, "max_tension_sigma": float(tension),
                     "inconsistent": bool(bad)})
    return pd.DataFrame(rows)


def combine_long(table: pd.DataFrame, value: str = "dz", p_threshold: float = 0.01,
                 inflate: bool = True) -> pd.DataFrame:
    """:func:`combine_shifts` on a long table — one row per method and bin with columns
    ``method``, ``bin``, ``value`` and ``sigma`` — over the bins present (a method without
    a bin is left out of it); ``bin`` holds the bins' own labels, and for a value other
    than ``dz`` (e.g. ``mean_z``) the ``dz_*`` columns are named ``<value>_*``."""
    bins = np.sort(table["bin"].astype(int).unique())
    measurements = {}
    for method, g in table.groupby("method", sort=False):
        s = g.set_index(g["bin"].astype(int)).reindex(bins)
        measurements[str(method)] = (s[value].to_numpy(float), s["sigma"].to_numpy(float))
    out = combine_shifts(measurements, p_threshold, inflate)
    out["bin"] = bins
    if value != "dz":
        out = out.rename(columns=lambda c: c.replace("dz_", f"{value}_"))
    return out
