"""Simulated inputs for calibration methods: wide/deep survey pairs (and, later, clustered
mock skies)."""

from cosmoml.sims.deepfield import WideDeepPair, lsst_noise, simulate_wide_deep

__all__ = ["WideDeepPair", "lsst_noise", "simulate_wide_deep"]
