"""The line-confusion label model against simulated wrong labels with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from cosmoml.errors import ConfigError
from cosmoml.pdf import PDFs, make_grid
from cosmoml.selection.steps import CONFUSIONS, LINES, confused_redshift
from cosmoml.shift.labels import confused_alternatives, line_confusion

GRID = make_grid(0.0, 3.0, 301)


def _sample(n=12_000, wrong_frac=(0.01, 0.08), outlier_frac=0.05, seed=0):
    """True z, PDFs (5% photo-z outliers centred anywhere), labels with line confusions at
    a rate set by a two-valued flag."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.1, 1.5, n)
    centre = z + rng.normal(0, 0.03 * (1 + z))
    out = rng.random(n) < outlier_frac
    centre[out] = rng.uniform(0.1, 2.5, out.sum())
    sig = 0.05 * (1 + centre)
    pdfs = PDFs(GRID, np.exp(-0.5 * ((GRID[None] - centre[:, None]) / sig[:, None]) ** 2))
    flag = np.where(rng.random(n) < 0.5, 4, 3)
    alts = np.column_stack([confused_redshift(z, t, a) for t, a in CONFUSIONS])
    alts[(alts < 0) | (alts > 3)] = np.nan
    wrong = rng.random(n) < np.where(flag == 4, *wrong_frac)
    lab = z.copy()
    for i in np.flatnonzero(wrong):
        c = alts[i][np.isfinite(alts[i])]
        lab[i] = rng.choice(c)
    return z, centre, pdfs, lab, flag, wrong, out


def test_confused_alternatives_invert_the_wavelength_ratio():
    z = np.array([0.3, 1.0])
    for k, (t, a) in enumerate(CONFUSIONS):
        alt, jac = confused_alternatives(confused_redshift(z, t, a))
        np.testing.assert_allclose(alt[:, k], z, atol=1e-12)
        assert jac[k] == pytest.approx(LINES[a] / LINES[t])


def test_line_confusion_recovers_wrong_fractions_and_bin_means():
    z, centre, pdfs, lab, flag, wrong, out = _sample()
    r = line_confusion(pdfs, lab, flag)
    # per-flag wrong-label rates (1% and 8%); OIII↔Hβ swaps move a label by only
    # ±0.03 (1 + z), inside the PDF, and are found less often: they barely matter
    assert r.fractions[4] == pytest.approx(wrong[flag == 4].mean(), abs=0.01)
    assert r.fractions[3] == pytest.approx(wrong[flag == 3].mean(), abs=0.02)
    assert r.fractions[3] > 3 * r.fractions[4]
    assert r.miss_rate == pytest.approx(out.mean(), abs=0.02)
    # right labels with a good PDF are left alone; genuine photo-z outliers mostly too
    assert np.mean(r.p_wrong[~wrong & ~out] > 0.5) < 0.002
    assert np.mean(r.p_wrong[~wrong & out] > 0.5) < 0.1
    # the bins' mean labels: wrong labels bias them by 0.01-0.02; the expected true
    # redshifts remove at least 3/4 of that
    for lo, hi in [(0.2, 0.5), (0.5, 0.8), (0.8, 1.2)]:
        b = (centre > lo) & (centre < hi)
        before = abs(lab[b].mean() - z[b].mean())
        after = abs(r.expected_z[b].mean() - z[b].mean())
        assert before > 0.005 and after < 0.25 * before, (lo, before, after)


def test_clean_labels_are_left_alone_and_bad_input_is_refused():
    z, _, pdfs, _, flag, _, _ = _sample(n=4000, wrong_frac=(0.0, 0.0), seed=3)
    r = line_confusion(pdfs, z, flag)
    assert max(r.fractions.values()) < 0.01
    assert abs(r.expected_z.mean() - z.mean()) < 1e-3
    with pytest.raises(ConfigError, match="labels"):
        line_confusion(pdfs, z[:-1])
    with pytest.raises(ConfigError, match="flags"):
        line_confusion(pdfs, z, flag[:-1])
