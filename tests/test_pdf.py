"""The PDF container: normalisation, summaries, I/O (parquet and qp HDF5)."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cosmoml.errors import ConfigError
from cosmoml.pdf import PDFs, make_grid


@pytest.fixture
def gauss():
    grid = make_grid()
    mu = np.array([0.5, 1.0, 2.0])
    sig = np.array([0.05, 0.1, 0.2])
    return PDFs(grid, 7.0 * stats.norm.pdf(grid[None], mu[:, None], sig[:, None])), mu, sig


def test_normalised_and_summaries(gauss):
    p, mu, sig = gauss
    integral = np.trapezoid(p.pdf, p.grid, axis=1)
    np.testing.assert_allclose(integral, 1.0, atol=1e-12)
    np.testing.assert_allclose(p.mean(), mu, atol=1e-4)
    np.testing.assert_allclose(p.median(), mu, atol=2e-3)
    np.testing.assert_allclose(p.mode(), mu, atol=0.006)
    np.testing.assert_allclose(p.std(), sig, rtol=5e-3)
    lo, hi = p.interval(0.6827)
    np.testing.assert_allclose(hi - lo, 2 * sig, rtol=0.02)
    np.testing.assert_allclose(p.quantile(0.975), mu + 1.96 * sig, atol=5e-3)


def test_cdf_ends_at_one_and_pit_matches_normal_cdf(gauss):
    p, mu, sig = gauss
    assert np.allclose(p.cdf()[:, -1], 1.0)
    z = mu + 0.5 * sig
    np.testing.assert_allclose(p.pit(z), stats.norm.cdf(0.5), atol=5e-3)
    assert p.pit(np.array([-1.0, 0.5, 5.0]))[[0, 2]].tolist() == [0.0, 1.0]


def test_empty_row_is_nan_and_negative_clipped():
    grid = make_grid(0, 1, 11)
    arr = np.zeros((2, 11))
    arr[1, 5] = 1.0
    arr[1, 4] = -0.5
    p = PDFs(grid, arr)
    assert np.isnan(p.pdf[0]).all() and np.isnan(p.median()[0])
    assert p.pdf[1].min() == 0.0 and p.mode()[1] == pytest.approx(0.5)


def test_bad_grid_rejected():
    with pytest.raises(ConfigError, match="strictly increasing"):
        PDFs(np.array([0.0, 0.2, 0.1]), np.ones((1, 3)))
    with pytest.raises(ConfigError, match="columns"):
        PDFs(make_grid(), np.ones((1, 3)))


def test_stack_is_weighted_mean(gauss):
    p, _, _ = gauss
    w = np.array([1.0, 0.0, 3.0])
    nz = p.stack(w)
    np.testing.assert_allclose(nz, (p.pdf[0] + 3 * p.pdf[2]) / 4, rtol=1e-10)


def test_qp_layout_and_round_trip(tmp_path, gauss):
    p, _, _ = gauss
    path = p.write_qp(tmp_path / "e.hdf5", ancil={"id": np.arange(3)})
    with h5py.File(path) as f:
        assert f["meta/pdf_name"][0] == b"interp"
        assert f["meta/pdf_version"][0] == 0
        assert f["meta/xvals"].shape == (1, p.grid.size)
        assert f["data/yvals"].shape == (3, p.grid.size)
        assert list(f["ancil/id"][()]) == [0, 1, 2]
    q = PDFs.read_qp(path)
    np.testing.assert_allclose(q.pdf, p.pdf, rtol=1e-12)
    assert not any(x.name.startswith(".") for x in tmp_path.iterdir())


def test_parquet_round_trip(tmp_path, gauss):
    p, _, _ = gauss
    df = p.to_frame()
    df.to_parquet(tmp_path / "p.parquet")
    back = PDFs.from_frame(pd.read_parquet(tmp_path / "p.parquet"), p.grid)
    np.testing.assert_allclose(back.pdf, p.pdf, rtol=1e-6, atol=1e-30)  # float32 storage
