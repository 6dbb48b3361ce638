"""Plots (matplotlib, Agg backend) and the self-contained HTML report."""

from cosmoml.report.html import photoz_report
from cosmoml.report.plots import plot_nz, plot_pit, plot_zphot_zspec

__all__ = ["photoz_report", "plot_nz", "plot_pit", "plot_zphot_zspec"]
