"""Tomographic binning and n(z) by stacking PDFs, with per-bin mean-redshift biases."""

from cosmoml.nz.methods import (
    binned_mean_std,
    bootstrap_std,
    calibration_noise,
    dir_nz,
    mean_z,
    method_shifts,
    point_nz,
    shift_nz,
    som_nz,
)
from cosmoml.nz.tomo import DES_Y1_EDGES, assign_bins, tomographic_nz

__all__ = [
    "DES_Y1_EDGES", "assign_bins", "binned_mean_std", "bootstrap_std", "calibration_noise",
    "dir_nz", "mean_z", "method_shifts", "point_nz", "shift_nz", "som_nz", "tomographic_nz",
]
