"""Tomographic binning and stacked n(z) against exact answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cosmoml.errors import ConfigError
from cosmoml.nz import DES_Y1_EDGES, assign_bins, tomographic_nz
from cosmoml.pdf import PDFs, make_grid


def test_assign_bins_edges_and_outside():
    z = np.array([0.1, 0.2, 0.43, 0.6299, 0.9, 1.29, 1.3, np.nan])
    assert assign_bins(z, DES_Y1_EDGES).tolist() == [-1, 0, 1, 1, 3, 3, -1, -1]
    with pytest.raises(ConfigError, match="increasing"):
        assign_bins(z, [0.5, 0.2])


def test_stacked_means_recover_truth_for_unbiased_gaussians():
    rng = np.random.default_rng(0)
    grid = make_grid(0, 3, 601)
    n = 4000
    z_true = rng.uniform(0.25, 1.25, n)
    mu = z_true + 0.0  # unbiased PDFs centred on the truth
    pdfs = PDFs(grid, stats.norm.pdf(grid[None], mu[:, None], 0.03))
    table, nz = tomographic_nz(pdfs, mu, DES_Y1_EDGES, z_true)
    assert nz.shape == (4, grid.size)
    np.testing.assert_allclose(np.trapezoid(nz, grid, axis=1), 1.0, atol=1e-9)
    assert table["n_objects"].sum() == n
    assert np.abs(table["delta_mean_z"]).max() < 1e-3


def test_injected_shift_is_recovered():
    rng = np.random.default_rng(1)
    grid = make_grid(0, 3, 601)
    z_true = rng.uniform(0.3, 1.2, 3000)
    pdfs = PDFs(grid, stats.norm.pdf(grid[None], z_true[:, None] + 0.02, 0.03))
    table, _ = tomographic_nz(pdfs, z_true, (0.2, 0.7, 1.3), z_true)
    np.testing.assert_allclose(table["delta_mean_z"], 0.02, atol=1e-3)
    np.testing.assert_allclose(
        table["delta_mean_z_scaled"], 0.02 / (1 + table["mean_z_true"]), atol=1e-3
    )
