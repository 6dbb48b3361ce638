"""Point, PDF and n(z) metrics exactly as DESIGN.md §3 defines them."""

from __future__ import annotations

import numpy as np

from cosmoml.metrics.pdf import (
    anderson_darling_uniform,
    cde_loss,
    crps,
    pdf_metrics,
    pit_metrics,
)
from cosmoml.metrics.point import point_metrics, scaled_residuals
from cosmoml.pdf import PDFs

__all__ = [
    "anderson_darling_uniform",
    "cde_loss",
    "crps",
    "evaluate",
    "pdf_metrics",
    "pit_metrics",
    "point_metrics",
    "scaled_residuals",
]


def evaluate(pdfs: PDFs, z_true: np.ndarray, point: str = "z_median") -> dict:
    """Point metrics of the chosen point estimate plus PDF metrics, in one dict."""
    z_phot = pdfs.point_estimates()[point]
    out = {"point_estimate": point, **point_metrics(z_phot, z_true)}
    out.update(pdf_metrics(pdfs, z_true))
    return out
