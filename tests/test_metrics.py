"""Metrics against hand-computed values and analytic results."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cosmoml.metrics import (
    anderson_darling_uniform,
    cde_loss,
    crps,
    evaluate,
    pit_metrics,
    point_metrics,
)
from cosmoml.pdf import PDFs, make_grid


def test_point_metrics_hand_computed():
    z_spec = np.zeros(10)
    e = np.array([-0.3, -0.1, -0.05, -0.01, 0.0, 0.0, 0.02, 0.04, 0.1, 0.5])
    m = point_metrics(e, z_spec)  # z_spec = 0 so e = z_phot
    assert m["n"] == 10
    assert m["bias"] == pytest.approx(0.02)
    assert m["bias_median"] == pytest.approx(0.0)
    p16, p84 = np.percentile(e, [15.865, 84.135])
    assert m["sigma68"] == pytest.approx((p84 - p16) / 2)
    assert m["sigma_iqr"] == pytest.approx((np.percentile(e, 75) - np.percentile(e, 25)) / 1.349)
    # |e - median| sorted: 0,0,0.01,0.02,0.04,0.05,0.1,0.1,0.3,0.5 -> median 0.045
    assert m["sigma_nmad"] == pytest.approx(1.4826 * 0.045)
    assert m["outlier_frac"] == pytest.approx(0.2)  # -0.3 and 0.5
    thr = max(0.06, 3 * m["sigma_iqr"])
    assert m["catastrophic_frac"] == pytest.approx(np.mean(np.abs(e) > thr))


def test_scaled_residual_uses_one_plus_zspec():
    m = point_metrics(np.array([1.1, 2.2]), np.array([1.0, 2.0]))
    # e = 0.1/2 = 0.05 and 0.2/3
    assert m["bias"] == pytest.approx((0.05 + 0.2 / 3) / 2)


def test_sigma68_of_gaussian_residuals():
    rng = np.random.default_rng(1)
    z = rng.uniform(0, 2, 200_000)
    e = rng.normal(0, 0.03, z.size)
    m = point_metrics(z + e * (1 + z), z)
    assert m["sigma68"] == pytest.approx(0.03, rel=0.01)
    assert m["sigma_nmad"] == pytest.approx(0.03, rel=0.01)
    assert m["sigma95"] == pytest.approx(0.06, rel=0.02)


def test_pit_statistics_match_scipy_and_detect_nonuniformity():
    rng = np.random.default_rng(2)
    u = rng.uniform(size=4000)
    m = pit_metrics(u)
    assert m["pit_ks"] == pytest.approx(stats.kstest(u, "uniform").statistic)
    assert m["pit_cvm"] == pytest.approx(stats.cramervonmises(u, "uniform").statistic)
    assert m["pit_ks"] < 0.03
    skewed = pit_metrics(u**2)
    assert skewed["pit_ks"] > 0.2 and skewed["pit_ad"] > 50 * max(m["pit_ad"], 0.1)
    assert pit_metrics(np.array([0.0, 0.5, 1.0, 0.99995]))["pit_outlier_frac"] == pytest.approx(
        0.75
    )


def test_anderson_darling_formula_against_large_sample_expectation():
    # E[A^2] = 1 for uniform samples (asymptotically)
    rng = np.random.default_rng(3)
    vals = [anderson_darling_uniform(rng.uniform(size=500)) for _ in range(200)]
    assert np.mean(vals) == pytest.approx(1.0, abs=0.15)


def _gaussian_pdfs(mu, sigma, grid):
    return PDFs(grid, stats.norm.pdf(grid[None, :], mu[:, None], sigma[:, None]))


def test_crps_matches_closed_form_for_gaussians():
    grid = make_grid(0, 3, 3001)
    mu = np.array([1.0, 1.2, 0.8])
    sigma = np.array([0.05, 0.1, 0.2])
    y = np.array([1.03, 1.0, 1.1])
    zs = (y - mu) / sigma
    exact = sigma * (
        zs * (2 * stats.norm.cdf(zs) - 1) + 2 * stats.norm.pdf(zs) - 1 / np.sqrt(np.pi)
    )
    assert crps(_gaussian_pdfs(mu, sigma, grid), y) == pytest.approx(exact, rel=2e-3)


def test_cde_loss_matches_closed_form_for_gaussians():
    grid = make_grid(0, 3, 3001)
    mu, sigma = np.full(2, 1.5), np.array([0.1, 0.2])
    y = np.array([1.5, 1.7])
    exact = np.mean(1 / (2 * sigma * np.sqrt(np.pi))) - 2 * np.mean(stats.norm.pdf(y, mu, sigma))
    assert cde_loss(_gaussian_pdfs(mu, sigma, grid), y) == pytest.approx(exact, rel=1e-3)


def test_pit_uniform_for_well_specified_model():
    rng = np.random.default_rng(4)
    grid = make_grid()
    n = 5000
    mu = rng.uniform(0.3, 2.5, n)
    sigma = 0.05 * (1 + mu)
    z_true = rng.normal(mu, sigma)
    res = evaluate(_gaussian_pdfs(mu, sigma, grid), z_true)
    assert res["pit_ks"] < 0.025
    overconfident = evaluate(_gaussian_pdfs(mu, sigma / 2, grid), z_true)
    assert overconfident["pit_ks"] > 0.1
    assert overconfident["pit_outlier_frac"] > res["pit_outlier_frac"]
