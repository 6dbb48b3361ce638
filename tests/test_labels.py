"""The line-confusion label model against simulated wrong labels with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from cosmoml.errors import ConfigError
from cosmoml.pdf import PDFs, make_grid
from cosmoml.selection.steps import (
    CONFUSIONS,
    LINES,
    SPECTROGRAPH_WINDOW,
    confused_redshift,
    plausible_confusions,
)
from cosmoml.shift.labels import confused_alternatives, line_confusion

GRID = make_grid(0.0, 3.0, 301)


def _sample(n=12_000, wrong_frac=(0.01, 0.08), outlier_frac=0.05, seed=0, window=None):
    """True z, PDFs (5% photo-z outliers centred anywhere), labels with line confusions at
    a rate set by a two-valued flag, drawn among the pairs seen in ``window`` (Å)."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.1, 1.5, n)
    centre = z + rng.normal(0, 0.03 * (1 + z))
    out = rng.random(n) < outlier_frac
    centre[out] = rng.uniform(0.1, 2.5, out.sum())
    sig = 0.05 * (1 + centre)
    pdfs = PDFs(GRID, np.exp(-0.5 * ((GRID[None] - centre[:, None]) / sig[:, None]) ** 2))
    flag = np.where(rng.random(n) < 0.5, 4, 3)
    alts = plausible_confusions(z, (0.0, 3.0), window)
    wrong = (rng.random(n) < np.where(flag == 4, *wrong_frac)) & np.isfinite(alts).any(axis=1)
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


def test_plausible_confusions_follow_the_spectrograph_window():
    # at z = 1 only [OII] (7454 Å) lies in 3600-9500 Å: Hβ 9725, [OIII] 10016, Hα 13129
    # and Lyα 2431 Å do not; without a window four pairs give a wrong z in [0, 3]
    z = np.array([1.0])
    seen = np.isfinite(plausible_confusions(z, (0.0, 3.0), SPECTROGRAPH_WINDOW))[0]
    assert [CONFUSIONS[k] for k in np.flatnonzero(seen)] == [("OII", "Ha")]
    anywhere = plausible_confusions(z, (0.0, 3.0))[0]
    assert np.isfinite(anywhere).sum() == 4
    np.testing.assert_allclose(anywhere[0], 2.0 * LINES["OII"] / LINES["Ha"] - 1)


def test_the_window_sharpens_the_model_where_one_line_is_seen():
    # confusions drawn as a 3600-9500 Å spectrograph makes them; told the window, the
    # model knows a z ≈ 1 galaxy can only have had [OII] taken for Hα
    z, centre, pdfs, lab, flag, wrong, _ = _sample(seed=5, window=SPECTROGRAPH_WINDOW)
    blind = line_confusion(pdfs, lab, flag)
    told = line_confusion(pdfs, lab, flag, wavelength_range=SPECTROGRAPH_WINDOW)
    b = (centre > 0.9) & (centre < 1.3)
    far = b & wrong & (np.abs(lab - z) > 0.3)
    assert far.sum() > 30
    assert told.p_wrong[far].mean() > blind.p_wrong[far].mean() + 0.08
    before = abs(blind.expected_z[b].mean() - z[b].mean())
    after = abs(told.expected_z[b].mean() - z[b].mean())
    assert after < 0.5 * before, (before, after)
    # right labels are not called wrong more often for it
    assert np.mean(told.p_wrong[~wrong] > 0.5) < 1.5 * np.mean(blind.p_wrong[~wrong] > 0.5) + 1e-3
