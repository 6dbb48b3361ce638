"""Shared fixtures: small synthetic catalogues with a known colour–redshift relation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

BANDS = ["u", "g", "r", "i", "z", "y"]


def synthetic_catalog(n: int = 3000, seed: int = 0, noise: float = 0.02) -> pd.DataFrame:
    """Galaxies whose colours are smooth functions of redshift plus Gaussian noise.

    Each adjacent colour c_k = a_k sin(b_k z + p_k) + noise, i = 20 + 3 z + noise; the
    mapping colours -> z is one-to-one over 0 < z < 2, so a good estimator recovers z to
    about the noise level.
    """
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.05, 2.0, n)
    i = 21.0 + 1.5 * z + rng.normal(0, 0.3, n)
    colours = np.column_stack([0.8 * np.sin(1.3 * z + k) + 0.25 * z * (k % 2) for k in range(5)])
    colours += rng.normal(0, noise, colours.shape)
    mags = np.empty((n, 6))
    mags[:, 3] = i
    for k in (2, 1, 0):  # blueward: m_k = m_{k+1} + c_k
        mags[:, k] = mags[:, k + 1] + colours[:, k]
    for k in (4, 5):  # redward: m_k = m_{k-1} - c_{k-1}
        mags[:, k] = mags[:, k - 1] - colours[:, k - 1]
    df = pd.DataFrame({"id": np.arange(n, dtype=np.int64)})
    for j, b in enumerate(BANDS):
        df[f"mag_{b}_lsst"] = mags[:, j]
        df[f"mag_err_{b}_lsst"] = np.full(n, noise / np.sqrt(2))
    df["redshift"] = z
    return df


@pytest.fixture(scope="session")
def synth() -> pd.DataFrame:
    return synthetic_catalog()


@pytest.fixture(scope="session")
def shifted_samples():
    """A covered but strongly shifted spec-z sample drawn from the science sample itself
    (as spec-z targets are): success falls steeply with magnitude."""
    from cosmoml.datasets import load_buzzard
    from cosmoml.selection import MagnitudeLimit, SuccessCurve, Survey

    cat = load_buzzard(25_000, seed=2)
    sci = cat[cat["i"] < 24.0].reset_index(drop=True)
    survey = Survey([MagnitudeLimit("i", 24.0), SuccessCurve("i", m50=23.0, width=0.4)])
    return survey.select(sci, seed=1), sci


@pytest.fixture
def forbid_whole_reads(monkeypatch):
    """``forbid(*names)``: from then on, reading any of the named catalogue files whole is
    an error — a pandas CSV read without ``chunksize`` (a header read, ``nrows=0``, is
    allowed) or a FITS read through ``read_fits_rows`` (which maps or loads row ranges);
    so a test shows a file is streamed, not merely cut into chunks after a whole read."""
    from pathlib import Path

    import cosmoml.catalog.io as io

    def forbid(*names: str) -> None:
        real_csv, real_fits = pd.read_csv, io.read_fits_rows

        def read_csv(src, *a, **k):
            if Path(str(src)).name in names and not k.get("chunksize") and k.get("nrows") != 0:
                raise AssertionError(f"{src} read whole")
            return real_csv(src, *a, **k)

        def read_fits_rows(path, *a, **k):
            if Path(str(path)).name in names:
                raise AssertionError(f"{path} read whole")
            return real_fits(path, *a, **k)

        monkeypatch.setattr(pd, "read_csv", read_csv)
        monkeypatch.setattr(io, "read_fits_rows", read_fits_rows)

    return forbid
