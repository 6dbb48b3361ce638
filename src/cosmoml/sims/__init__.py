"""Simulated inputs for calibration methods: wide/deep survey pairs and clustered mock skies
(lognormal, with unknown, reference and random samples)."""

from cosmoml.sims.deepfield import WideDeepPair, lsst_noise, simulate_wide_deep
from cosmoml.sims.mocks import MockSky, lognormal_mock

__all__ = ["MockSky", "WideDeepPair", "lognormal_mock", "lsst_noise", "simulate_wide_deep"]
