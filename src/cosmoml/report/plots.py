"""The key photo-z plots. Each returns a matplotlib Figure; nothing is shown.

Figures are built with matplotlib's object API (``Figure``), not pyplot, so importing
cosmoml never changes the user's backend or keeps figures alive in pyplot's registry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cosmoml.pdf import PDFs


def plot_zphot_zspec(z_phot: np.ndarray, z_spec: np.ndarray, title: str = "") -> Figure:
    """Density of z_phot against z_spec, with the |e| = 0.15 outlier lines."""
    fig = Figure(figsize=(5.2, 4.6))
    ax = fig.add_subplot()
    ok = np.isfinite(z_phot) & np.isfinite(z_spec)
    zmax = float(max(np.nanmax(z_spec[ok]), np.nanmax(z_phot[ok])))
    hb = ax.hexbin(
        z_spec[ok],
        z_phot[ok],
        gridsize=80,
        bins="log",
        cmap="viridis",
        mincnt=1,
        extent=(0, zmax, 0, zmax),
    )
    fig.colorbar(hb, ax=ax, label="galaxies")
    zz = np.linspace(0, zmax, 50)
    ax.plot(zz, zz, "w-", lw=0.8)
    for s in (1, -1):
        ax.plot(zz, zz + s * 0.15 * (1 + zz), "w--", lw=0.6)
    ax.set(
        xlabel="z_spec", ylabel="z_phot (PDF median)", xlim=(0, zmax), ylim=(0, zmax), title=title
    )
    fig.tight_layout()
    return fig


def plot_pit(pit: np.ndarray, nbins: int = 20, title: str = "") -> Figure:
    """PIT histogram with the uniform expectation and its ±1σ Poisson band."""
    pit = np.asarray(pit)[np.isfinite(pit)]
    fig = Figure(figsize=(5.2, 3.6))
    ax = fig.add_subplot()
    ax.hist(pit, bins=nbins, range=(0, 1), density=True, color="C0", alpha=0.8)
    expect = pit.size / nbins
    band = np.sqrt(expect) / expect
    ax.axhspan(1 - band, 1 + band, color="k", alpha=0.12)
    ax.axhline(1, color="k", lw=0.8)
    ax.set(xlabel="PIT", ylabel="density", xlim=(0, 1), title=title)
    fig.tight_layout()
    return fig


def plot_nz(
    grid: np.ndarray,
    nz: np.ndarray,
    table: pd.DataFrame,
    z_true: np.ndarray | None = None,
    bins: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """Stacked-PDF n(z) per tomographic bin, with the true redshift histogram if known."""
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.add_subplot()
    for b, row in table.iterrows():
        color = f"C{b % 10}"
        frac = row["n_objects"] / max(table["n_objects"].sum(), 1)
        ax.plot(
            grid,
            nz[b] * frac,
            color=color,
            lw=1.5,
            label=f"bin {b}: {row['z_lo']:.2f}–{row['z_hi']:.2f}",
        )
        if z_true is not None and bins is not None and row["n_objects"] > 0:
            h, e = np.histogram(
                z_true[bins == b], bins=np.linspace(grid[0], grid[-1], 121), density=True
            )
            ax.step(e[:-1], h * frac, where="post", color=color, lw=0.8, alpha=0.7)
    ax.set(
        xlabel="z",
        ylabel="n(z) (stacked PDFs; steps: truth)",
        xlim=(grid[0], min(grid[-1], 3.0)),
        title=title,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pdf_examples(pdfs: PDFs, z_true: np.ndarray | None = None, n: int = 6, seed: int = 0) -> Figure:
    """A few PDFs drawn at random, with their true redshift."""
    rng = np.random.default_rng(seed)
    ok = np.flatnonzero(~np.isnan(pdfs.pdf[:, 0]))
    pick = rng.choice(ok, size=min(n, ok.size), replace=False)
    fig = Figure(figsize=(7.5, 4))
    axes = fig.subplots(2, 3, sharex=True)
    for ax, i in zip(axes.ravel(), pick, strict=False):
        ax.plot(pdfs.grid, pdfs.pdf[i], lw=1)
        if z_true is not None:
            ax.axvline(z_true[i], color="k", ls="--", lw=0.8)
    fig.supxlabel("z")
    fig.tight_layout()
    return fig
