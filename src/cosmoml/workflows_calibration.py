"""File-level workflows behind ``cosmoml calibrate``: read, validate, compute, write."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from cosmoml.catalog.io import atomic_path
from cosmoml.errors import CatalogError
from cosmoml.nz.combine import combine_shifts

COMBINE_COLUMNS = ("method", "bin", "dz", "sigma")


def combine_file(
    path: str | os.PathLike,
    output: str | os.PathLike | None = None,
    p_threshold: float = 0.01,
    inflate: bool = True,
) -> pd.DataFrame:
    """Combine per-bin Δz measurements from a CSV (or parquet) in long format — one row per
    method and bin with columns ``method``, ``bin``, ``dz``, ``sigma`` — into the table of
    :func:`cosmoml.nz.combine.combine_shifts`; write it as CSV to ``output`` (atomically)."""
    path = Path(path)
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except FileNotFoundError:
        raise CatalogError(f"{path}: no such file") from None
    except Exception as exc:
        raise CatalogError(f"{path}: cannot be read: {exc}") from exc
    missing = [c for c in COMBINE_COLUMNS if c not in df.columns]
    if missing:
        raise CatalogError(f"{path}: missing column(s) {missing}; expected {list(COMBINE_COLUMNS)}")
    for c in ("bin", "dz", "sigma"):
        values = pd.to_numeric(df[c], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna())[0])
            raise CatalogError(
                f"{path}: column {c!r} row {row}: not a number ({df[c].iloc[row]!r})")
        df[c] = values
    if (df["sigma"] <= 0).any():
        row = int(np.flatnonzero(df["sigma"] <= 0)[0])
        raise CatalogError(f"{path}: column 'sigma' row {row}: must be positive")
    if df.duplicated(["method", "bin"]).any():
        row = int(np.flatnonzero(df.duplicated(["method", "bin"]))[0])
        raise CatalogError(f"{path}: row {row}: a second value for method "
                           f"{df['method'].iloc[row]!r}, bin {int(df['bin'].iloc[row])}")
    bins = np.sort(df["bin"].astype(int).unique())
    measurements = {}
    for method, g in df.groupby("method", sort=False):
        s = g.set_index(g["bin"].astype(int)).reindex(bins)
        measurements[str(method)] = (s["dz"].to_numpy(float), s["sigma"].to_numpy(float))
    table = combine_shifts(measurements, p_threshold, inflate)
    table["bin"] = bins
    if output is not None:
        with atomic_path(output) as tmp:
            table.to_csv(tmp, index=False)
    return table
