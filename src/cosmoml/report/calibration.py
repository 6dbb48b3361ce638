"""The n(z) calibration report: each method's n(z) per bin, the table of mean redshifts
with the combination and consistency test, flags, and the C_ℓ cost of the uncalibrated
(baseline) n(z) if the calibrated one is right."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from cosmoml.nz.combine import combine_long
from cosmoml.nz.methods import mean_z


def _on_grid(z: np.ndarray, nz: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """n(z) rows interpolated onto ``grid`` (zero outside) and renormalised to unit area."""
    out = np.array([np.interp(grid, z, np.nan_to_num(row), left=0, right=0) for row in nz])
    area = np.trapezoid(out, grid, axis=1)[:, None]
    return np.divide(out, area, out=np.zeros_like(out), where=area > 0)


def calibration_report(
    path: str | os.PathLike,
    methods: dict[str, tuple[pd.DataFrame, np.ndarray, np.ndarray]],
    baseline: tuple[np.ndarray, np.ndarray] | None = None,
    f_sky: float = 0.3,
    n_gal_arcmin2: float = 10.0,
    sigma_e: float = 0.26,
    p_threshold: float = 0.01,
    cosmo=None,
) -> dict:
    """Write the report and return its summary.

    ``methods``: {name: (table with bin, mean_z, sigma [, bias_flag], z, nz (n_bins, len z))}
    as :mod:`cosmoml.workflows_calibration` writes them; ``baseline``: (z, nz) of the
    photo-z n(z) being calibrated. Where a method's n(z) is non-negative (deep field: yes;
    clustering: noisy, usually not) the shear and clustering C_ℓ under the baseline are
    compared with those under that method's n(z) for the survey (``f_sky``,
    ``n_gal_arcmin2`` over all bins, ``sigma_e``), with each bin's equivalent Δz.
    """
    from cosmoml.cosmology import ccl_cosmology, cl_bias
    from cosmoml.report.html import photoz_report
    from cosmoml.report.plots import plot_calibrated_nz, plot_cl_bias

    curves = {name: (z, nz) for name, (_, z, nz) in methods.items()}
    means = pd.concat([t.assign(method=name)[["method", "bin", "mean_z", "sigma"]]
                       for name, (t, _, _) in methods.items()], ignore_index=True)
    method_means = means
    notes, tables, figures, summary = [], {}, {}, {"methods": list(methods)}
    if baseline is not None:
        zb, nzb = baseline
        curves = {"baseline (photo-z)": (zb, nzb), **curves}
        base_mean = mean_z(nzb, zb)
        means = pd.concat([pd.DataFrame({"method": "baseline (photo-z)",
                                         "bin": np.arange(len(nzb)), "mean_z": base_mean,
                                         "sigma": np.nan}), means], ignore_index=True)
        means["dz_vs_baseline"] = means["mean_z"] - base_mean[means["bin"].astype(int)]
    tables["Mean redshift per bin and method"] = means
    for name, (t, _, _) in methods.items():
        if {"bias_index_fit", "bias_index_fit_sigma"} <= set(t.columns):
            g, gs = float(t["bias_index_fit"].iloc[0]), float(t["bias_index_fit_sigma"].iloc[0])
            summary[f"{name}/bias_index_fit"] = [g, gs]
            if abs(g) > 3 * gs:
                notes.append(f"FLAG {name}: the unknown sample's bias evolves, γ = {g:+.2f} ± "
                             f"{gs:.2f} (b ∝ (1+z)^γ, from the bins' clustering amplitudes, "
                             "> 3σ from 0): uncorrected, its means are biased high for γ > 0; "
                             "use --fit-bias-index (corrects most, not all, of it).")
        if "bias_flag" in t.columns and t["bias_flag"].any():
            bins = t.loc[t["bias_flag"].astype(bool), "bin"].astype(int).tolist()
            notes.append(f"FLAG {name}: in bin(s) {bins} the unknown sample's bias evolution "
                         "(prior on γ in b ∝ (1+z)^γ) moves the mean more than the statistical "
                         "error; its sigma includes this term, but an independent bias "
                         "measurement would tighten it.")
    if len(methods) > 1:
        comb = combine_long(method_means, "mean_z", p_threshold)
        tables["Combination (inverse variance) and consistency"] = comb
        bad = comb.loc[comb["inconsistent"], "bin"].tolist()
        summary["inconsistent_bins"] = bad
        if bad:
            notes.append(f"FLAG: the methods disagree in bin(s) {bad} (χ² p < {p_threshold}); "
                         "the combined σ is inflated by √(χ²/dof).")
    figures["n(z) per bin and method (triangles: mean ± σ)"] = plot_calibrated_nz(
        curves, means.dropna(subset=["sigma"]))
    if baseline is not None:
        cosmo = cosmo or ccl_cosmology()
        zb, nzb = baseline
        est = _on_grid(zb, nzb, zb)
        for name, (_, z, nz) in methods.items():
            finite = np.nan_to_num(nz)
            if (finite < 0).any() or len(nz) != len(nzb):
                notes.append(f"{name}: n(z) has negative (noisy) values or another number "
                             "of bins; no C_ℓ comparison (its mean shifts are in the table).")
                continue
            true = _on_grid(z, finite, zb)
            for kind in ("shear", "clustering"):
                cb = cl_bias(zb, true, est, kind=kind, f_sky=f_sky,
                             n_gal_arcmin2=n_gal_arcmin2, sigma_e=sigma_e, cosmo=cosmo)
                key = f"{name}/{kind}"
                summary[key] = {"chi2": cb.attrs["chi2"], "n_band_powers": len(cb),
                                "max_abs_rel_bias": float(cb["rel_bias"].abs().max()),
                                "equivalent_dz": cb.attrs["equivalent_dz"]}
                figures[f"{kind} C_ℓ: baseline n(z) against {name}"] = plot_cl_bias(
                    cb, f"{kind}, f_sky {f_sky:g}")
            notes.append(f"C_ℓ cost of the baseline n(z) if {name} is right: shear χ² "
                         f"{summary[f'{name}/shear']['chi2']:.1f}, clustering χ² "
                         f"{summary[f'{name}/clustering']['chi2']:.1f} over "
                         f"{summary[f'{name}/shear']['n_band_powers']} band powers each "
                         f"(f_sky {f_sky:g}, {n_gal_arcmin2:g} galaxies/arcmin², σ_e "
                         f"{sigma_e:g}); equivalent Δz per bin "
                         + ", ".join(f"{v:+.4f}" for v in
                                     summary[f"{name}/shear"]["equivalent_dz"]))
    else:
        notes.append("No baseline n(z) given: no C_ℓ comparison.")
    photoz_report(path, "cosmoml n(z) calibration", {"methods": ", ".join(methods)},
                  figures, notes=notes, tables=tables)
    return summary
