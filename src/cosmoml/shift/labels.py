"""Wrong spec-z labels from emission-line confusion, found against the photo-z PDFs.

A low-confidence spectrum's redshift is most often wrong because one emission line was
taken for another: the reported redshift is then (1 + z_label) = (1 + z) λ_true / λ_assumed
for a known pair of lines, so the true redshift, if the label is wrong, is one of a few
values fixed by physics. Each training label is modelled as a mixture (fitted by
expectation-maximisation, one wrong-label fraction per confidence flag):

    P(label | x) ∝ (1 − f) p(z_label | x) + f Σ_k π_k(z_k) p(z_k | x) λ_assumed,k / λ_true,k

with z_k = (1 + z_label) λ_assumed,k / λ_true,k − 1 the redshift the galaxy has if pair k
was confused, λ_a / λ_t the Jacobian dz_k / dz_label, and π_k(z) the chance that a wrong
label of a galaxy at true redshift z came from pair k: one over the number of pairs that
can be confused at z (the true line inside the spectrograph's window, the wrong redshift
on the grid), zero where pair k cannot. The prior belongs to the true redshift, not to the
label: a z = 1 galaxy seen through a 3600–9500 Å window shows only [OII], so a label of
0.14 with a PDF at 1.0 is an [OII]→Hα confusion with certainty, not one of four options.
p(z | x) is the object's (out-of-fold) photo-z PDF, itself a mixture: (1 − η) PDF + η the
labels' own histogram, η the fitted rate at which a PDF misses its galaxy. The photometry
decides which labels are implausible *and* where their galaxies really are; a genuine
photo-z outlier is taken for a confusion only when its photo-z happens to sit at one of
its confused redshifts. Written here because no library models spec-z line confusion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from cosmoml.errors import ConfigError
from cosmoml.pdf import PDFs
from cosmoml.selection.steps import CONFUSIONS, LINES, confused_redshift, plausible_confusions


@dataclass
class LabelConfusion:
    """What :func:`line_confusion` returns."""

    #: fitted wrong-label fraction per flag value (key -1: objects without a flag)
    fractions: dict[int, float]
    #: fitted rate at which a PDF misses its galaxy's true redshift (photo-z outliers)
    miss_rate: float
    #: per object, probability that its label is a line confusion
    p_wrong: np.ndarray
    #: per object, expected true redshift: the label weighted by P(right), each confused
    #: redshift by its posterior probability
    expected_z: np.ndarray
    #: (objects × pairs) confused redshifts (NaN where off the grid) and their probabilities
    z_alt: np.ndarray
    p_alt: np.ndarray


def confused_alternatives(z_label: np.ndarray, pairs=CONFUSIONS) -> tuple[np.ndarray, np.ndarray]:
    """(objects × pairs) true redshifts implied if the label came from confusing each pair,
    and the Jacobians λ_assumed / λ_true."""
    z_label = np.asarray(z_label, dtype=float)
    # the inverse of a confusion is the confusion with the lines swapped
    alt = np.column_stack([confused_redshift(z_label, a, t) for t, a in pairs])
    return alt, np.array([LINES[a] / LINES[t] for t, a in pairs])


def line_confusion(pdfs: PDFs, z_label: np.ndarray, flags: np.ndarray | None = None,
                   pairs=CONFUSIONS, smooth: float = 0.03, n_iter: int = 200,
                   tol: float = 1e-7,
                   wavelength_range: tuple[float, float] | None = None) -> LabelConfusion:
    """Fit the line-confusion mixture to labels ``z_label`` given each object's photo-z
    PDF (use out-of-fold PDFs for the training objects). ``flags`` (optional, integers):
    one wrong-label fraction per flag value. The PDFs are first smoothed by a Gaussian of
    ``smooth`` in redshift: confusions move a label by far more (except [OIII]↔Hβ, by
    0.03 (1 + z), which hardly matters), and spiky PDFs would otherwise turn chance
    coincidences with a confused redshift into near-certain label errors (with kNN PDFs
    on 2,000 objects, *hand*: 311 labels called wrong of 26 unsmoothed, 24 smoothed).
    ``wavelength_range`` (Å): the spectrograph's window, where the confused line must
    have been seen (e.g. (5500, 9500) for VIMOS LR-Red, (3600, 9800) for DESI); None
    allows any wavelength and only asks that both redshifts lie on the grid."""
    z_label = np.asarray(z_label, dtype=float)
    n = z_label.size
    if len(pdfs) != n:
        raise ConfigError(f"line_confusion: {len(pdfs)} PDFs for {n} labels")
    flags = np.full(n, -1) if flags is None else np.asarray(flags).astype(int)
    if flags.shape != (n,):
        raise ConfigError(f"line_confusion: {flags.size} flags for {n} labels")
    lo, hi = pdfs.grid[0], pdfs.grid[-1]
    if smooth > 0:  # spiky PDFs (kNN, forests) would make chance coincidences look certain
        step = float(np.median(np.diff(pdfs.grid)))
        pdfs = PDFs(pdfs.grid, gaussian_filter1d(np.nan_to_num(pdfs.pdf), smooth / step, axis=1,
                                                 mode="constant"), normalised=True)
    z_alt, jac = confused_alternatives(z_label, pairs)
    z_alt = np.where((z_alt >= lo) & (z_alt <= hi), z_alt, np.nan)
    ok = np.isfinite(z_alt)
    # a PDF that misses: the label is then drawn from the labels' own distribution (a
    # histogram of 0.1 in z, half a count per bin against empty ones)
    edges = np.arange(lo, hi + 0.1, 0.1)
    counts = np.histogram(np.clip(z_label, lo, hi), edges)[0] + 0.5
    dens = counts / (counts.sum() * np.diff(edges))
    u = dens[np.clip(np.searchsorted(edges, z_label, side="right") - 1, 0, dens.size - 1)]
    good_pdf = np.nan_to_num(pdfs.pdf_at(z_label))
    alt_lik = np.zeros(z_alt.shape)
    for k in range(z_alt.shape[1]):
        rows = ok[:, k]
        if rows.any():
            # π_k(z_k): pair k among the confusions possible for a galaxy at z_k
            can = np.isfinite(plausible_confusions(z_alt[rows, k], (lo, hi), wavelength_range,
                                                   pairs))
            prior = can[:, k] / np.maximum(can.sum(axis=1), 1)
            alt_lik[rows, k] = np.nan_to_num(pdfs[np.flatnonzero(rows)].pdf_at(
                z_alt[rows, k])) * jac[k] * prior
    alt_sum = alt_lik.sum(axis=1)
    groups = {int(g): flags == g for g in np.unique(flags)}
    f = np.full(n, 0.05)
    eta = 0.05
    resp = np.zeros(n)
    for _ in range(n_iter):
        a = (1 - f) * ((1 - eta) * good_pdf + eta * u)  # label right
        c = f * ((1 - eta) * alt_sum + eta * u)  # label confused
        new = c / (a + c)
        # the photo-z outlier rate among right labels: their share on the uniform term
        miss = (1 - new) * (1 - f) * eta * u / a
        eta = float(np.clip(miss.sum() / max((1 - new).sum(), 1e-12), 1e-4, 0.5))
        for m in groups.values():
            f[m] = np.clip(new[m].mean(), 1.0 / max(m.sum(), 1) / 10, 0.5)
        change = float(np.max(np.abs(new - resp)))
        resp = new
        if change < tol:
            break
    p_alt = np.where(alt_sum[:, None] > 0, resp[:, None] * alt_lik
                     / np.maximum(alt_sum, 1e-300)[:, None], 0.0)
    expected = (1 - resp) * z_label + np.nansum(p_alt * np.nan_to_num(z_alt), axis=1)
    fractions = {g: float(resp[m].mean()) for g, m in groups.items()}
    return LabelConfusion(fractions, eta, resp, expected, z_alt, p_alt)
