"""Compact PDF storage for survey-scale outputs, and what it costs.

Encodings (bytes per galaxy for the default 301-point grid):

``float32``   the grid densities as they are (1,204 B);
``float16``   the grid densities in half precision (602 B; relative error ~5e-4);
``quantiles`` ``n_quantiles`` quantiles at probabilities (k + ½)/n (default 32: 128 B);
              decoded by linear interpolation of the CDF through them (the tails
              continue the neighbouring slopes) and differentiation on the grid.

:func:`fidelity` measures an encoding on real predictions: CRPS and stacked-n(z) mean
shifts of the decoded PDFs against the full ones.
"""

from __future__ import annotations

import numpy as np

from cosmoml.errors import ConfigError
from cosmoml.pdf import PDFs

ENCODINGS = ("float32", "float16", "quantiles")


def parse_encoding(encoding: str) -> tuple[str, int]:
    """``"quantiles:20"`` → (``"quantiles"``, 20); others → (name, 0)."""
    name, _, arg = encoding.partition(":")
    if name not in ENCODINGS:
        raise ConfigError(f"unknown PDF encoding {encoding!r}; choose one of {ENCODINGS} "
                          "(quantiles:N for N quantiles)")
    n = int(arg) if arg else (32 if name == "quantiles" else 0)
    if name == "quantiles" and not 2 <= n <= 1000:
        raise ConfigError(f"quantiles:N needs 2 <= N <= 1000, got {n}")
    return name, n


def quantile_levels(n: int) -> np.ndarray:
    """The probabilities (k + ½)/n, k = 0..n−1, at which quantiles are stored."""
    return (np.arange(n) + 0.5) / n


def encode(pdfs: PDFs, encoding: str = "float32") -> np.ndarray:
    """The stored array (N, width) for ``encoding``."""
    name, n = parse_encoding(encoding)
    if name == "float32":
        return pdfs.pdf.astype(np.float32)
    if name == "float16":
        return pdfs.pdf.astype(np.float16)
    return pdfs.quantile(quantile_levels(n)).astype(np.float32)


def decode(values: np.ndarray, grid: np.ndarray, encoding: str = "float32") -> PDFs:
    """PDFs on ``grid`` from stored ``values`` (rows of NaN stay NaN)."""
    name, n = parse_encoding(encoding)
    values = np.asarray(values)
    if name in ("float32", "float16"):
        return PDFs(grid, values.astype(np.float32), normalised=False)
    if values.shape[1] != n:
        raise ConfigError(f"quantile encoding expects {n} columns, got {values.shape[1]}")
    levels = np.r_[0.0, quantile_levels(n), 1.0]
    cdf = np.full((len(values), grid.size), np.nan)
    for i, q in enumerate(values):
        if np.isnan(q[0]):
            continue
        q = np.maximum.accumulate(q)
        # the tails (probability 1/(2n) each) continue the neighbouring slope of the CDF
        # rather than stretching to the grid's ends, which would move the mean
        x = np.r_[q[0] - 0.5 * (q[1] - q[0]), q, q[-1] + 0.5 * (q[-1] - q[-2])]
        x = np.maximum.accumulate(np.clip(x, grid[0], grid[-1]))
        # equal nodes (narrow PDFs): keep the last level reached at each x
        keep = np.r_[np.diff(x) > 0, True]
        cdf[i] = np.interp(grid, x[keep], levels[keep])
    dens = np.gradient(cdf, grid, axis=1)
    dens = np.where(np.isnan(dens), np.nan, np.maximum(dens, 0.0))
    return PDFs(grid, dens.astype(np.float32), normalised=False)


def fidelity(pdfs: PDFs, z_true: np.ndarray, encoding: str,
             edges=(0.2, 0.43, 0.63, 0.9, 1.3)) -> dict:
    """How much an encoding loses: mean CRPS full vs decoded, and the largest shift of a
    tomographic bin's stacked mean redshift (bins by the full PDFs' median)."""
    from cosmoml.metrics import crps
    from cosmoml.nz import assign_bins
    from cosmoml.nz.methods import mean_z

    stored = encode(pdfs, encoding)
    back = decode(stored, pdfs.grid, encoding)
    c_full, c_enc = float(np.mean(crps(pdfs, z_true))), float(np.mean(crps(back, z_true)))
    bins = assign_bins(pdfs.median(), edges)
    shifts = []
    for b in range(len(edges) - 1):
        sel = bins == b
        if sel.any():
            m = mean_z(np.vstack([pdfs[sel].stack(), back[sel].stack()]), pdfs.grid)
            shifts.append(abs(m[1] - m[0]))
    return {"encoding": encoding, "bytes_per_galaxy": int(stored.shape[1] * stored.itemsize),
            "crps_full": c_full, "crps_encoded": c_enc,
            "crps_rel_change": c_enc / c_full - 1, "max_nz_mean_shift": float(max(shifts))}
