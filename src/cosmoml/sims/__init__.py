"""Simulated inputs for calibration methods: wide/deep survey pairs and clustered mock skies
(lognormal or GLASS, with unknown, reference and random samples)."""

from cosmoml.sims.deepfield import (
    WideDeepPair,
    expand_population,
    galaxies_per_deg2,
    lsst_noise,
    simulate_wide_deep,
)
from cosmoml.sims.glass_mock import glass_mock
from cosmoml.sims.mocks import MockSky, lognormal_mock

__all__ = ["MockSky", "WideDeepPair", "expand_population", "galaxies_per_deg2", "glass_mock",
           "lognormal_mock", "lsst_noise", "simulate_wide_deep"]
