"""Data sets shipped inside cosmoml, with provenance and licence (see data/README.md).

All are simulations. Rows are shuffled with a fixed seed at conversion, because the
upstream files are ordered in redshift slabs: any slice of these tables is a fair sample.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from cosmoml.errors import ConfigError

BANDS = ("u", "g", "r", "i", "z", "y")
_DATA = "cosmoml.datasets.data"


def data_path(name: str) -> Path:
    """Path of a shipped file, e.g. ``data_path('dc2_training.parquet')``."""
    path = Path(str(resources.files(_DATA).joinpath(name)))
    if not path.exists():
        raise ConfigError(f"no shipped data file {name!r}")
    return path


def load_dc2(split: str = "training", n: int | None = None) -> pd.DataFrame:
    """CosmoDC2 test photometry from LSST DESC RAIL (MIT).

    Parameters
    ----------
    split
        ``"training"`` (10,225 galaxies) or ``"validation"`` (20,449).
    n
        Keep the first ``n`` rows (rows are pre-shuffled, so this is a random subset).

    Returns
    -------
    DataFrame with ``id``, ``mag_{b}_lsst`` and ``mag_err_{b}_lsst`` (AB mag, 99 =
    non-detection) for b in ugrizy, and ``redshift``.
    """
    if split not in ("training", "validation"):
        raise ConfigError(f"DC2 split {split!r} not in ('training', 'validation')")
    df = pd.read_parquet(data_path(f"dc2_{split}.parquet"))
    return df.iloc[:n].reset_index(drop=True) if n is not None else df


def load_buzzard(
    n: int | None = None,
    years: float = 10.0,
    seed: int = 0,
    noise: bool = True,
    i_max: float | None = None,
) -> pd.DataFrame:
    """Buzzard mock galaxies from pzflow (MIT) with LSST noise from ``photerr``.

    Parameters
    ----------
    n
        Number of galaxies (first ``n`` of the pre-shuffled 100,000).
    years
        LSST observing years for the error model (``photerr.LsstErrorModel(nYrObs=...)``).
    seed
        Seed of the noise realisation.
    noise
        When False, return the noise-free magnitudes (no error columns).
    i_max
        Keep galaxies with observed i < i_max (applied after the noise).

    Returns
    -------
    DataFrame with ``id`` (row in the upstream file), ``redshift``, ``u g r i z y`` (AB
    mag; 99 = non-detection below signal-to-noise 1) and ``u_err ... y_err``.
    """
    df = pd.read_parquet(data_path("buzzard_truth.parquet"))
    if n is not None:
        df = df.iloc[:n]
    df = df.rename(columns={"source_row": "id"}).reset_index(drop=True)
    if noise:
        from photerr import LsstErrorModel

        model = LsstErrorModel(nYrObs=years, ndFlag=99.0, sigLim=1.0)
        noisy = model(
            df[["redshift", *BANDS]].astype(float), random_state=np.random.default_rng(seed)
        )
        df = pd.concat([df[["id"]], noisy], axis=1)
    if i_max is not None:
        df = df[df["i"] < i_max].reset_index(drop=True)
    return df
