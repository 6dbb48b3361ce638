"""A simulated wide survey and deep field from the shipped Buzzard galaxies.

The population is the 100,000 Buzzard galaxies (noise-free magnitudes from pzflow). The
deep field is a random subset of ``n_deep`` of them (without replacement) with LSST noise
at ``deep_years`` of observing (far deeper than the wide), no cut, many-band-photo-z labels
with scatter and outliers (:class:`cosmoml.selection.ManyBandPhotoZ`, COSMOS-like) and a
patch index for the jackknife. The wide survey draws ``n_wide`` galaxies from the whole
population with replacement, each with its own LSST noise at ``wide_years`` and a
magnitude cut, so that its bins' true mean redshifts are the population's (shot noise
negligible for ``n_wide`` ≳ 10⁵) while the deep field is a finite sample of it, as a real
deep field is of the sky. Both keep the true redshift, so the calibration's error is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cosmoml.datasets import load_buzzard

BANDS = list("ugrizy")


def lsst_noise(years: float) -> Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]:
    """``f(df, rng)``: LSST noise of ``years`` observing added to magnitude columns
    ``u..y`` (photerr; 99 = non-detection below signal-to-noise 1; errors ``<band>_err``)."""
    from photerr import LsstErrorModel

    model = LsstErrorModel(nYrObs=years, ndFlag=99.0, sigLim=1.0)

    def add(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        bands = [b for b in BANDS if b in df.columns]
        return model(df[bands].astype(float), random_state=rng).reset_index(drop=True)

    return add


@dataclass
class WideDeepPair:
    """``wide``: id, redshift (truth), u..y, u_err..y_err. ``deep``: the same at deep
    depth plus ``z_label`` (many-band label), ``label_wrong`` and ``patch``."""

    wide: pd.DataFrame
    deep: pd.DataFrame
    wide_noise: Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]


def simulate_wide_deep(
    n_deep: int = 50_000,
    n_wide: int = 400_000,
    wide_years: float = 1.0,
    deep_years: float = 30.0,
    wide_i_max: float = 24.0,
    label_sigma: float = 0.01,
    outlier_frac: float = 0.01,
    n_patches: int = 8,
    seed: int = 0,
) -> WideDeepPair:
    """Draw a deep field and a wide sample from the Buzzard population, with noise and labels.

    Defaults: a 1-year-deep wide survey cut at i < 24, a deep field 30 years deep (about
    1.8 mag deeper) with COSMOS-like labels (σ = 0.01 (1 + z), 1% outliers) in 8 patches.
    """
    from cosmoml.selection import ManyBandPhotoZ, Survey

    rng = np.random.default_rng(seed)
    truth = load_buzzard(noise=False)
    if n_deep > len(truth):
        raise ValueError(f"n_deep must be <= {len(truth)}")
    deep_t = truth.iloc[rng.permutation(len(truth))[:n_deep]].reset_index(drop=True)
    wide_t = truth.iloc[rng.integers(0, len(truth), n_wide)].reset_index(drop=True)
    wide_noise = lsst_noise(wide_years)
    wide = pd.concat([wide_t[["id", "redshift"]], wide_noise(wide_t, rng)], axis=1)
    wide = wide[wide["i"] < wide_i_max].reset_index(drop=True)
    deep = pd.concat([deep_t[["id", "redshift"]], lsst_noise(deep_years)(deep_t, rng)], axis=1)
    labelled = Survey([ManyBandPhotoZ(label_sigma, outlier_frac)]).select(
        deep, seed=int(rng.integers(2**31)))  # no selection: every row, in order
    deep["z_label"] = labelled["z_spec"].to_numpy()
    deep["label_wrong"] = labelled["z_wrong"].to_numpy()
    deep["patch"] = rng.integers(0, n_patches, len(deep))
    return WideDeepPair(wide, deep, wide_noise)
