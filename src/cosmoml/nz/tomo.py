"""Tomographic bins by point estimate and n(z) per bin by stacking PDFs.

Per bin b (DESIGN.md §3): objects with ``edges[b] <= z_point < edges[b+1]``;
n_b(z) = weighted mean of their PDFs; ⟨z⟩_est = integral z n_b(z) dz; when the true
redshifts are known, ⟨z⟩_true = weighted mean of the bin's true redshifts and
Δ⟨z⟩ = ⟨z⟩_est - ⟨z⟩_true, quoted also as |Δ⟨z⟩| / (1 + ⟨z⟩_true).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cosmoml.errors import ConfigError
from cosmoml.pdf import PDFs, _trapz_weights

#: DES Y1 source tomographic bin edges.
DES_Y1_EDGES = (0.20, 0.43, 0.63, 0.90, 1.30)


def check_edges(edges: Sequence[float]) -> np.ndarray:
    """``edges`` as floats; a :class:`ConfigError` unless ≥ 2 finite, increasing values."""
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)) \
            or np.any(np.diff(edges) <= 0):
        raise ConfigError("tomographic edges: need at least two finite, increasing values "
                          f"(bin b spans edges[b] to edges[b+1]), got {edges.tolist()}")
    return edges


def assign_bins(z_point: np.ndarray, edges: Sequence[float] = DES_Y1_EDGES) -> np.ndarray:
    """Bin index of each object (0-based), −1 outside all bins or without an estimate."""
    edges = check_edges(edges)
    z_point = np.asarray(z_point, dtype=float)
    b = np.searchsorted(edges, z_point, side="right") - 1
    b[(b < 0) | (b >= edges.size - 1) | ~np.isfinite(z_point)] = -1
    return b


def tomographic_nz(
    pdfs: PDFs,
    z_point: np.ndarray,
    edges: Sequence[float] = DES_Y1_EDGES,
    z_true: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Stacked n(z) per tomographic bin.

    Returns ``(table, nz)``: one table row per bin (``bin``, ``z_lo``, ``z_hi``,
    ``n_objects``, ``mean_z``, and with ``z_true`` also ``mean_z_true``, ``delta_mean_z``,
    ``delta_mean_z_scaled``) and the n(z) array of shape (n_bins, G) on ``pdfs.grid``.
    """
    edges = np.asarray(edges, dtype=float)
    bins = assign_bins(z_point, edges)
    w = np.ones(len(pdfs)) if weights is None else np.asarray(weights, dtype=float)
    tw = _trapz_weights(pdfs.grid)
    rows, nzs = [], []
    for b in range(edges.size - 1):
        sel = bins == b
        nz = pdfs[sel].stack(w[sel]) if sel.any() else np.zeros(pdfs.grid.size)
        mean_z = float(nz @ (tw * pdfs.grid)) if sel.any() else np.nan
        row = {
            "bin": b,
            "z_lo": edges[b],
            "z_hi": edges[b + 1],
            "n_objects": int(sel.sum()),
            "mean_z": mean_z,
        }
        if z_true is not None:
            zt = np.asarray(z_true, dtype=float)[sel]
            mt = float(np.average(zt, weights=w[sel])) if sel.any() else np.nan
            row["mean_z_true"] = mt
            row["delta_mean_z"] = mean_z - mt
            row["delta_mean_z_scaled"] = abs(mean_z - mt) / (1 + mt)
        rows.append(row)
        nzs.append(nz)
    return pd.DataFrame(rows), np.array(nzs)
