"""The shared kernel and calibration helpers against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cosmoml.estimators.base import (
    fit_temperature,
    kernel_pdf,
    linear_assign,
    smoothing_matrix,
    temper,
    weighted_ks_uniform,
)
from cosmoml.pdf import PDFs, make_grid


def test_linear_assign_conserves_position():
    grid = make_grid()
    z = np.array([0.0, 0.005, 1.234, 2.999, 3.0])
    lo, hi, t = linear_assign(grid, z)
    np.testing.assert_allclose(grid[lo] * (1 - t) + grid[hi] * t, z, atol=1e-12)


def test_smoothing_rows_integrate_to_one():
    grid = make_grid()
    k = smoothing_matrix(grid, 0.02)
    np.testing.assert_allclose(np.trapezoid(k, grid, axis=1), 1.0, atol=1e-12)


def test_kernel_pdf_matches_direct_gaussian_sum():
    rng = np.random.default_rng(0)
    grid = make_grid()
    centres = rng.uniform(0.3, 2.5, (50, 8))
    weights = rng.uniform(0.1, 1.0, (50, 8))
    bw = 0.03
    got = PDFs(grid, kernel_pdf(grid, centres, weights, bw))
    s = bw * (1 + centres)
    direct = (weights[..., None] * stats.norm.pdf(grid, centres[..., None], s[..., None])).sum(1)
    want = PDFs(grid, direct)
    np.testing.assert_allclose(got.mean(), want.mean(), atol=2e-4)
    np.testing.assert_allclose(got.std(), want.std(), rtol=0.01)
    assert np.abs(got.pdf - want.pdf).max() < 0.02 * want.pdf.max()


def test_temperature_recovers_known_miscalibration():
    rng = np.random.default_rng(1)
    grid = make_grid()
    mu = rng.uniform(0.5, 2.0, 3000)
    true_sigma = 0.05
    z = rng.normal(mu, true_sigma)
    too_wide = stats.norm.pdf(grid, mu[:, None], 2 * true_sigma)  # p^(1/T) with T = 1/4 fixes it
    t = fit_temperature(grid, too_wide, z)
    assert t == pytest.approx(0.25, rel=0.15)
    fixed = PDFs(grid, temper(too_wide, t, grid))
    np.testing.assert_allclose(np.median(fixed.std()), true_sigma, rtol=0.1)


def test_weighted_ks_reduces_to_scipy_and_respects_weights():
    from scipy import stats

    rng = np.random.default_rng(2)
    u = rng.uniform(size=1000)
    assert weighted_ks_uniform(u) == pytest.approx(stats.kstest(u, "uniform").statistic)
    # a uniform half plus a pile at 0.9 that carries (almost) no weight is still uniform
    mixed = np.concatenate([u, np.full(1000, 0.9)])
    w = np.concatenate([np.ones(1000), np.full(1000, 1e-9)])
    assert weighted_ks_uniform(mixed, w) == pytest.approx(weighted_ks_uniform(u), abs=1e-6)
    assert weighted_ks_uniform(mixed) > 0.3
