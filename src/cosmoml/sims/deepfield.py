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

A deep field larger than the shipped population allows (1 deg² at LSST deep-field depth
holds ~4 × 10⁵ galaxies, the shipped population 10⁵) comes from :func:`expand_population`:
new galaxies interpolated between neighbours in (redshift, magnitude, colours) space. The
deep field's size can be given as an area, through the LSST Science Book's counts
(:func:`galaxies_per_deg2`).
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


def galaxies_per_deg2(i_max: float) -> float:
    """Galaxies per deg² brighter than ``i_max`` (AB): N(< i) = 46 × 10^(0.31 (i − 25))
    arcmin⁻² (LSST Science Book, 2009, eq. 3.7; fitted for 20.5 < i < 25.5)."""
    return 46.0 * 10 ** (0.31 * (i_max - 25.0)) * 3600.0


def expand_population(truth: pd.DataFrame, n: int, k: int = 8, seed: int = 0) -> pd.DataFrame:
    """``n`` galaxies like ``truth`` (columns redshift, u..y, noise-free magnitudes): each
    is a random point on the segment between a random galaxy and one of its ``k`` nearest
    neighbours in standardised (redshift, i, adjacent colours) space, redshift and
    magnitudes interpolated alike (SMOTE's interpolation, Chawla et al. 2002).

    Interpolating between close neighbours keeps the colour–redshift relation, its
    scatter and its degeneracies (a kernel density in 7 dimensions with a global bandwidth
    would blur them); a galaxy of ``truth`` is the k = 0 limit. ``id`` is 0..n−1."""
    from sklearn.neighbors import NearestNeighbors

    if n < 1 or k < 1:
        raise ValueError("n and k must be >= 1")
    bands = [b for b in BANDS if b in truth.columns]
    mags = truth[bands].to_numpy(float)
    x = np.column_stack([truth["redshift"].to_numpy(float), mags[:, bands.index("i")],
                         -np.diff(mags, axis=1)])
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    nbr = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x, return_distance=False)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(truth), n)
    b = nbr[a, rng.integers(1, k + 1, n)]  # column 0 is the galaxy itself
    u = rng.random(n)[:, None]
    vals = np.column_stack([truth["redshift"].to_numpy(float), mags])
    new = vals[a] + u * (vals[b] - vals[a])
    out = pd.DataFrame(new, columns=["redshift", *bands])
    out.insert(0, "id", np.arange(n))
    return out


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
    population: int | None = None,
    deep_area_deg2: float | None = None,
    population_seed: int = 0,
    seed: int = 0,
) -> WideDeepPair:
    """Draw a deep field and a wide sample from the Buzzard population, with noise and labels.

    Defaults: a 1-year-deep wide survey cut at i < 24, a deep field 30 years deep (about
    1.8 mag deeper) with COSMOS-like labels (σ = 0.01 (1 + z), 1% outliers) in 8 patches.
    ``population``: draw from :func:`expand_population` of that size (seeded by
    ``population_seed``, so that every ``seed`` samples the same sky) instead of the
    100,000 shipped galaxies. ``deep_area_deg2`` (instead of ``n_deep``):
    as many deep galaxies as that area holds, the population's fraction at i < 25 matched
    to :func:`galaxies_per_deg2` (25); the population grows to 2.5× the deep field if
    needed, so the deep field stays a sample of it.
    """
    from cosmoml.selection import ManyBandPhotoZ, Survey

    rng = np.random.default_rng(seed)
    truth = load_buzzard(noise=False)
    if deep_area_deg2 is not None:
        frac_bright = float((truth["i"] < 25.0).mean())
        n_deep = round(deep_area_deg2 * galaxies_per_deg2(25.0) / frac_bright)
        population = max(population or len(truth), int(2.5 * n_deep))
    if population is not None and population != len(truth):
        truth = expand_population(truth, population, seed=population_seed)
    if n_deep > len(truth):
        raise ValueError(f"n_deep must be <= the population ({len(truth)})")
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
