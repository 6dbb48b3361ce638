"""Redshift PDFs on a grid: the container every estimator returns.

PDFs are tabulated on an increasing grid ``z`` (default 0 <= z <= 3, 301 points) and
normalised with the trapezoid rule, so that ``integral p(z) dz = 1``. The CDF is the
cumulative trapezoid integral; quantiles invert it by linear interpolation.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from cosmoml.errors import ConfigError

DEFAULT_ZMIN, DEFAULT_ZMAX, DEFAULT_NZ = 0.0, 3.0, 301
_BLOCK = 4096  # rows per cache-sized block in CDF and quantile computations


def make_grid(
    zmin: float = DEFAULT_ZMIN, zmax: float = DEFAULT_ZMAX, nz: int = DEFAULT_NZ
) -> np.ndarray:
    """The redshift grid: ``nz`` evenly spaced points from ``zmin`` to ``zmax``."""
    if not (zmax > zmin >= 0 and nz >= 3):
        raise ConfigError(f"bad redshift grid zmin={zmin}, zmax={zmax}, nz={nz}")
    return np.linspace(zmin, zmax, int(nz))


def _trapz_weights(grid: np.ndarray) -> np.ndarray:
    dz = np.diff(grid)
    w = np.zeros_like(grid)
    w[:-1] += dz / 2
    w[1:] += dz / 2
    return w


def rowdot(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a @ w`` for a 2-D ``a``, with a summation order that does not depend on the
    number of BLAS threads (numpy's own loops, as fast here): results must be
    byte-identical whichever engine, worker or machine computes them."""
    return np.einsum("ij,j->i", a, w)


def normalise(pdf: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Clip negatives and normalise each row to unit integral.

    float32 input stays float32 (half the memory traffic for large catalogues). A row
    with no positive density becomes NaN: it has no PDF.
    """
    pdf = np.asarray(pdf)
    if pdf.dtype not in (np.float32, np.float64):
        pdf = pdf.astype(np.float64)
    pdf = np.maximum(pdf, 0.0)  # np.clip is several times slower on large arrays
    norm = rowdot(pdf, _trapz_weights(grid).astype(pdf.dtype))
    with np.errstate(invalid="ignore", divide="ignore"):
        pdf /= norm[:, None]
    pdf[~(norm > 0)] = np.nan
    return pdf


class PDFs:
    """An ensemble of redshift PDFs on a shared grid.

    Parameters
    ----------
    grid
        Increasing redshift grid, shape (G,).
    pdf
        Densities, shape (N, G); normalised on construction unless ``normalised=True``.
        A row of NaN is an object without a prediction (flagged input).
    """

    def __init__(self, grid: np.ndarray, pdf: np.ndarray, normalised: bool = False) -> None:
        grid = np.asarray(grid, dtype=float)
        pdf = np.atleast_2d(np.asarray(pdf))
        if pdf.dtype not in (np.float32, np.float64):
            pdf = pdf.astype(np.float64)
        if grid.ndim != 1 or np.any(np.diff(grid) <= 0):
            raise ConfigError("PDF grid must be 1-D and strictly increasing")
        if pdf.shape[1] != grid.size:
            raise ConfigError(f"PDF array has {pdf.shape[1]} columns, grid has {grid.size} points")
        self.grid = grid
        self.pdf = pdf if normalised else normalise(pdf, grid)
        self._cdf: np.ndarray | None = None

    def __len__(self) -> int:
        return self.pdf.shape[0]

    def __getitem__(self, idx) -> PDFs:
        return PDFs(self.grid, self.pdf[idx], normalised=True)

    def __repr__(self) -> str:
        return f"PDFs(n={len(self)}, grid={self.grid[0]:g}..{self.grid[-1]:g} [{self.grid.size}])"

    # -- summaries ------------------------------------------------------------------
    def cdf(self) -> np.ndarray:
        """CDF on the grid, shape (N, G), from the trapezoid rule; ends at exactly 1.

        Computed once and cached (the PDFs are not meant to be modified in place)."""
        if self._cdf is None:
            c = np.empty(self.pdf.shape, self.pdf.dtype)
            for s in range(0, len(self), _BLOCK):
                c[s : s + _BLOCK] = self._cdf_block(s)
            self._cdf = c
        return self._cdf

    def _cdf_block(self, start: int) -> np.ndarray:
        """CDF of rows ``start:start + _BLOCK`` (from the cache when it exists). Working
        in blocks of rows that stay in cache is 3-5x faster on survey chunks than whole
        (N, G) passes, and quantiles never need the full CDF in memory."""
        if self._cdf is not None:
            return self._cdf[start : start + _BLOCK]
        import torch  # torch's cumsum is ~6x numpy's along rows; deterministic per row

        blk = self.pdf[start : start + _BLOCK]
        inc = blk[:, 1:] + blk[:, :-1]
        inc *= (0.5 * np.diff(self.grid)).astype(blk.dtype)
        c = np.empty(blk.shape, blk.dtype)
        c[:, 0] = 0
        c[:, 1:] = torch.cumsum(torch.from_numpy(inc), dim=1).numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            c /= c[:, -1:]
        return c

    def mean(self) -> np.ndarray:
        w = (_trapz_weights(self.grid) * self.grid).astype(self.pdf.dtype)
        return rowdot(self.pdf, w).astype(float)

    def std(self) -> np.ndarray:
        w = _trapz_weights(self.grid)
        m = self.mean()
        var = rowdot(self.pdf, (w * self.grid**2).astype(self.pdf.dtype)).astype(float) - m**2
        return np.sqrt(np.clip(var, 0, None))

    def mode(self) -> np.ndarray:
        # rows are either all finite or all NaN (no PDF), which the line below masks
        out = self.grid[np.argmax(self.pdf, axis=1)]
        return np.where(np.isnan(self.pdf[:, 0]), np.nan, out)

    def quantile(self, q: float | np.ndarray) -> np.ndarray:
        """Quantile(s) ``q`` in [0, 1] of each PDF; returns shape (N,) or (N, len(q))."""
        import torch  # lazy: keeps ``cosmoml.pdf`` import-light for the CLI

        qs = np.atleast_1d(np.asarray(q, dtype=float))
        out = np.empty((len(self), qs.size))
        # per block of rows (in cache): the first grid index where the CDF reaches q, by a
        # batched binary search (rows are sorted; ~5x faster than a comparison pass over
        # (N, G) per quantile), then linear interpolation inside that cell, in float64
        ot, gt = torch.from_numpy(out), torch.from_numpy(self.grid)
        q_search = torch.from_numpy(qs.astype(self.pdf.dtype))
        q64 = torch.from_numpy(qs)
        for s in range(0, len(self), _BLOCK):
            c = torch.from_numpy(np.ascontiguousarray(self._cdf_block(s)))
            idx = torch.searchsorted(c, q_search.expand(c.shape[0], -1).contiguous())
            idx.clamp_(1, self.grid.size - 1)
            c0 = torch.gather(c, 1, idx - 1).double()
            d = torch.gather(c, 1, idx).double() - c0
            t = torch.where(d > 0, (q64 - c0) / d, 0.0).clamp_(0, 1)
            g0 = gt[idx - 1]
            res = g0 + t * (gt[idx] - g0)
            res[torch.isnan(c[:, -1])] = torch.nan  # no PDF (NaN or all-zero row)
            ot[s : s + _BLOCK] = res
        return out[:, 0] if np.ndim(q) == 0 else out

    def median(self) -> np.ndarray:
        return self.quantile(0.5)

    def interval(self, level: float = 0.6827) -> tuple[np.ndarray, np.ndarray]:
        """Central interval holding ``level`` of the probability."""
        lo, hi = self.quantile(np.array([(1 - level) / 2, (1 + level) / 2])).T
        return lo, hi

    def point_estimates(self, quantiles: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """``z_mode``, ``z_mean``, ``z_median``, ``z_lo68``, ``z_hi68``, ``z_std``; with
        ``quantiles`` (levels) also ``"quantiles"`` (N, len) from the same CDF pass."""
        extra = np.asarray(quantiles if quantiles is not None else [], dtype=float)
        qs = self.quantile(np.r_[(1 - 0.6827) / 2, 0.5, (1 + 0.6827) / 2, extra])
        out = {
            "z_mode": self.mode(),
            "z_mean": self.mean(),
            "z_median": qs[:, 1],
            "z_lo68": qs[:, 0],
            "z_hi68": qs[:, 2],
            "z_std": self.std(),
        }
        if quantiles is not None:
            out["quantiles"] = qs[:, 3:]
        return out

    def pit(self, z_true: np.ndarray) -> np.ndarray:
        """Probability integral transform CDF_i(z_true_i), linear in each grid cell."""
        z_true = np.asarray(z_true, dtype=float)
        cdf = self.cdf()
        idx = np.searchsorted(self.grid, z_true, side="right").clip(1, self.grid.size - 1)
        rows = np.arange(len(self))
        z0, z1 = self.grid[idx - 1], self.grid[idx]
        t = np.clip((z_true - z0) / (z1 - z0), 0, 1)
        # exact for the trapezoid CDF to first order; clipped outside the grid
        pit = cdf[rows, idx - 1] + t * (cdf[rows, idx] - cdf[rows, idx - 1])
        pit = np.where(z_true <= self.grid[0], 0.0, pit)
        return np.where(z_true >= self.grid[-1], 1.0, pit)

    def pdf_at(self, z: np.ndarray) -> np.ndarray:
        """Each PDF evaluated at its own redshift ``z[i]`` (linear interpolation)."""
        z = np.asarray(z, dtype=float)
        idx = np.searchsorted(self.grid, z, side="right").clip(1, self.grid.size - 1)
        rows = np.arange(len(self))
        z0, z1 = self.grid[idx - 1], self.grid[idx]
        t = np.clip((z - z0) / (z1 - z0), 0, 1)
        val = (1 - t) * self.pdf[rows, idx - 1] + t * self.pdf[rows, idx]
        return np.where((z < self.grid[0]) | (z > self.grid[-1]), 0.0, val)

    def stack(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Weighted mean of the PDFs (an n(z) normalised to unit integral); NaN rows skipped."""
        ok = ~np.isnan(self.pdf[:, 0])
        w = np.ones(len(self)) if weights is None else np.asarray(weights, dtype=float)
        w = np.where(ok, w, 0.0)
        if w.sum() <= 0:
            return np.zeros(self.grid.size)
        nz = (w[ok, None] * self.pdf[ok]).sum(axis=0) / w.sum()
        return nz / (nz @ _trapz_weights(self.grid))

    # -- I/O ------------------------------------------------------------------------
    def to_frame(self, prefix: str = "pdf", dtype: type = np.float32) -> pd.DataFrame:
        """Point estimates plus the PDF as one list column (parquet-friendly)."""
        df = pd.DataFrame(self.point_estimates())
        df[prefix] = list(self.pdf.astype(dtype))
        return df

    def write_qp(self, path: str | os.PathLike, ancil: dict[str, np.ndarray] | None = None) -> Path:
        """Write as a qp ``interp`` ensemble (HDF5 groups meta/data/ancil), readable by
        ``qp.read``: ``meta/pdf_name=[b'interp']``, ``meta/pdf_version=[0]``,
        ``meta/xvals`` (1, G), ``data/yvals`` (N, G)."""
        from cosmoml.catalog.io import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            meta = f.create_group("meta")
            meta.create_dataset("pdf_name", data=np.array([b"interp"]))
            meta.create_dataset("pdf_version", data=np.array([0], dtype=np.int64))
            meta.create_dataset("xvals", data=self.grid[None, :])
            f.create_group("data").create_dataset("yvals", data=self.pdf)
            if ancil:
                g = f.create_group("ancil")
                for k, v in ancil.items():
                    g.create_dataset(k, data=np.asarray(v))
        return path

    @classmethod
    def read_qp(cls, path: str | os.PathLike) -> PDFs:
        """Read a qp ``interp`` ensemble written by qp or by :meth:`write_qp`."""
        with h5py.File(path, "r") as f:
            name = f["meta/pdf_name"][0]
            name = name.decode() if isinstance(name, bytes) else str(name)
            if name != "interp":
                raise ConfigError(f"{path}: qp ensemble of type {name!r}; only 'interp' is read")
            grid = np.asarray(f["meta/xvals"][()]).reshape(-1)
            pdf = np.asarray(f["data/yvals"][()])
        return cls(grid, pdf)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, grid: np.ndarray, column: str = "pdf") -> PDFs:
        return cls(grid, np.stack(df[column].to_numpy()).astype(float))
