"""Shipped data: sizes, shuffling, provenance, and the seeded photerr noise."""

from __future__ import annotations

import numpy as np
import pytest

from cosmoml.datasets import data_path, load_buzzard, load_dc2


def test_dc2_sizes_columns_and_shuffled():
    tr, va = load_dc2("training"), load_dc2("validation")
    assert len(tr) == 10_225 and len(va) == 20_449
    assert {"id", "redshift", "mag_i_lsst", "mag_err_y_lsst"} <= set(tr.columns)
    assert va["redshift"].min() > 0.0 and va["redshift"].max() < 3.05
    # upstream files are ordered in redshift slabs; shipped rows must not be
    for df in (tr, va):
        first = df["redshift"].iloc[: len(df) // 2]
        assert abs(first.mean() - df["redshift"].mean()) < 0.05
        assert abs(np.corrcoef(np.arange(len(df)), df["redshift"])[0, 1]) < 0.05
    assert (tr["mag_u_lsst"] == 99.0).any()  # non-detections kept as the sentinel
    assert "MIT" in data_path("README.md").read_text()


def test_buzzard_noise_is_seeded_and_depends_on_years():
    a = load_buzzard(n=2000, seed=1)
    b = load_buzzard(n=2000, seed=1)
    c = load_buzzard(n=2000, seed=2)
    assert a.equals(b) and not a.equals(c)
    one = load_buzzard(n=2000, seed=1, years=1)
    ok = (a["r"] < 30) & (one["r"] < 30)
    assert np.median(one.loc[ok, "r_err"]) > 2 * np.median(a.loc[ok, "r_err"])
    truth = load_buzzard(n=2000, noise=False)
    assert "r_err" not in truth and len(truth) == 2000
    det = a["i"] < 25
    assert np.std((a["i"] - truth["i"])[det] / a["i_err"][det]) == pytest.approx(1.0, abs=0.15)
    cut = load_buzzard(n=2000, seed=1, i_max=24.0)
    assert cut["i"].max() < 24.0
