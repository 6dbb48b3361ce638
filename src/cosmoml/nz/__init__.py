"""Tomographic binning and n(z) by stacking PDFs, with per-bin mean-redshift biases."""

from cosmoml.nz.tomo import DES_Y1_EDGES, assign_bins, tomographic_nz

__all__ = ["DES_Y1_EDGES", "assign_bins", "tomographic_nz"]
