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


def plot_culling_curve(curve: pd.DataFrame, metric: str = "sigma68") -> Figure:
    """A metric against the culled fraction, one line per sample (validation, science)."""
    fig = Figure(figsize=(5.6, 3.8))
    ax = fig.add_subplot()
    for (sample, method), g in curve.groupby(["sample", "method"], sort=False):
        ls = "-" if sample == "science" else "--"
        ax.plot(g["culled_fraction"], g[metric], ls, marker="o", ms=3,
                label=f"{sample} ({method})")
    ax.set(xlabel="culled fraction", ylabel=metric,
           title="metrics vs culled fraction: validation (dashed) vs science (solid)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_coverage_map(x_sci: np.ndarray, y_sci: np.ndarray, covered: np.ndarray,
                      x_train: np.ndarray, y_train: np.ndarray, xlabel: str,
                      ylabel: str) -> Figure:
    """Covered fraction of the science sample in a colour–colour plane, training overlaid."""
    fig = Figure(figsize=(5.6, 4.4))
    ax = fig.add_subplot()
    lo = np.nanpercentile(np.r_[x_sci, x_train], 0.5), np.nanpercentile(np.r_[y_sci, y_train], 0.5)
    hi = np.nanpercentile(np.r_[x_sci, x_train], 99.5), np.nanpercentile(np.r_[y_sci, y_train],
                                                                        99.5)
    edges = [np.linspace(lo[0], hi[0], 41), np.linspace(lo[1], hi[1], 41)]
    n_all, _, _ = np.histogram2d(x_sci, y_sci, bins=edges)
    n_cov, _, _ = np.histogram2d(x_sci[covered], y_sci[covered], bins=edges)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(n_all >= 3, n_cov / n_all, np.nan)
    im = ax.pcolormesh(edges[0], edges[1], frac.T, cmap="RdYlGn", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label="science covered fraction")
    pick = np.random.default_rng(0).permutation(len(x_train))[:3000]
    ax.scatter(x_train[pick], y_train[pick], s=1, c="k", alpha=0.3, label="training")
    ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_delta_z(table: pd.DataFrame, requirement: float = 0.002) -> Figure:
    """Δ⟨z⟩ per bin for each method, with the reported uncertainty and the Stage IV band
    ±requirement (1 + ⟨z⟩). ``table`` has columns method, bin, delta_mean_z, mean_z_err,
    mean_z_true."""
    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.add_subplot()
    methods = list(dict.fromkeys(table["method"]))
    width = 0.8 / max(len(methods), 1)
    for k, m in enumerate(methods):
        g = table[table["method"] == m]
        ax.errorbar(g["bin"] + (k - (len(methods) - 1) / 2) * width, g["delta_mean_z"],
                    yerr=np.where(np.isfinite(g["mean_z_err"]), g["mean_z_err"], 0),
                    fmt="o", ms=4, capsize=2, label=m)
    g = table[table["method"] == methods[0]]
    req = requirement * (1 + g["mean_z_true"].to_numpy())
    for b, r in zip(g["bin"], req, strict=True):
        ax.fill_between([b - 0.45, b + 0.45], -r, r, color="0.85", zorder=0)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="tomographic bin", ylabel="Δ⟨z⟩ = estimated − true",
           xticks=sorted(g["bin"].unique()))
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_calibrated_nz(curves: dict[str, tuple[np.ndarray, np.ndarray]],
                       means: pd.DataFrame | None = None) -> Figure:
    """n(z) of each bin (one panel per bin) from each calibration method. ``curves``:
    {name: (z, nz of shape (n_bins, len(z)))}; ``means`` (optional: method, bin, mean_z,
    sigma) marks each method's mean redshift with its error bar."""
    n_bins = max(len(nz) for _, nz in curves.values())
    fig = Figure(figsize=(3.2 * min(n_bins, 4), 2.9 * int(np.ceil(n_bins / 4))))
    axes = fig.subplots(int(np.ceil(n_bins / 4)), min(n_bins, 4), squeeze=False).ravel()
    for k, (name, (z, nz)) in enumerate(curves.items()):
        for b in range(min(len(nz), n_bins)):
            ax = axes[b]
            style = {"drawstyle": "steps-mid"} if len(z) < 100 else {}
            ax.plot(z, nz[b], color=f"C{k}", lw=1.2, label=name, **style)
            if means is not None:
                m = means[(means["method"] == name) & (means["bin"] == b)]
                if len(m):
                    top = np.nanmax(nz[b]) if np.isfinite(nz[b]).any() else 1.0
                    ax.errorbar(m["mean_z"], [top * (1.05 + 0.08 * k)] * len(m),
                                xerr=m["sigma"], fmt="v", color=f"C{k}", ms=4, capsize=2)
    for b, ax in enumerate(axes):
        if b >= n_bins:
            ax.set_visible(False)
            continue
        ax.axhline(0, color="k", lw=0.5)
        ax.set(xlabel="z", title=f"bin {b}", xlim=(0, 2.0))
        if b == 0:
            ax.set_ylabel("n(z) (unit integral)")
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_cl_bias(cb: pd.DataFrame, title: str = "") -> Figure:
    """Relative C_ℓ bias (C_est/C_true − 1) against ℓ for each bin pair; the grey band is
    the statistical error ±σ(C_ℓ)/C_ℓ of each auto-spectrum (Knox), so a curve outside
    its band is a bias larger than the survey's error. ``cb``: :func:`cosmology.cl_bias`."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    autos = cb[cb["i"] == cb["j"]]
    for (i, j), g in cb.groupby(["i", "j"]):
        ax.plot(g["ell"], g["rel_bias"], color=f"C{i}" if i == j else "0.5",
                lw=1.6 if i == j else 0.6, label=f"{i}{j}" if i == j else None)
    for i, g in autos.groupby("i"):
        ax.fill_between(g["ell"], -g["sigma_rel"], g["sigma_rel"], color=f"C{i}", alpha=0.08)
    ax.axhline(0, color="k", lw=0.6)
    chi2 = cb.attrs.get("chi2")
    ax.set(xscale="log", xlabel="ℓ", ylabel="C_ℓ[est] / C_ℓ[true] − 1",
           title=title + (f"  (χ² = {chi2:.1f} over {len(cb)} band powers)" if chi2 else ""))
    ax.legend(fontsize=7, title="auto (grey: cross)", title_fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
