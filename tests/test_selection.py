"""Selection simulators against their definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from cosmoml.datasets import load_buzzard
from cosmoml.errors import CatalogError, ConfigError
from cosmoml.selection import (
    CONFUSIONS,
    FLAG_PURITY,
    LINES,
    CatalogView,
    ColourCuts,
    FlagCut,
    LineConfusion,
    MagnitudeLimit,
    ManyBandPhotoZ,
    RatioGridMatch,
    SelectionStep,
    SuccessCurve,
    Survey,
    combine_surveys,
    confused_redshift,
    deep2_like,
    evaluate_expression,
    zcosmos_like,
)


@pytest.fixture(scope="module")
def cat() -> pd.DataFrame:
    return load_buzzard(40_000, seed=3)


def test_magnitude_limit_keeps_exactly_the_objects_it_should(cat):
    out = Survey([MagnitudeLimit("i", 23.0, bright=18.0)]).select(cat)
    expect = (cat["i"] < 23.0) & (cat["i"] >= 18.0)  # 99 = non-detection fails i < 23
    assert len(out) == int(expect.sum())
    np.testing.assert_array_equal(out["id"].to_numpy(), cat.loc[expect, "id"].to_numpy())
    np.testing.assert_array_equal(out["z_spec"], out["redshift"])  # labels untouched
    assert (out["survey"] == "survey").all() and not out["z_wrong"].any()


def test_colour_cut_expression_matches_numpy(cat):
    expr = "(g - r) < 2.45 * (r - i) - 0.2976 or (r - i) > 1.1 and 20 < i < 24"
    view = CatalogView(cat)
    got = evaluate_expression(expr, view)
    g, r, i = (np.where(np.abs(cat[b]) > 90, np.inf, cat[b]) for b in "gri")
    with np.errstate(invalid="ignore"):
        want = ((g - r) < 2.45 * (r - i) - 0.2976) | (((r - i) > 1.1) & (i > 20) & (i < 24))
    np.testing.assert_array_equal(got, want)
    assert len(Survey([ColourCuts(expr)]).select(cat)) == int(want.sum())


@pytest.mark.parametrize("bad", ["__import__('os').system('true')", "g.real", "g ** 2",
                                 "[g for g in r]", "g -"])
def test_expressions_admit_only_arithmetic_on_bands(cat, bad):
    with pytest.raises(ConfigError, match="expression"):
        evaluate_expression(bad, CatalogView(cat))


def test_missing_band_column_is_named(cat):
    with pytest.raises(CatalogError, match="mag_i_lsst"):
        Survey([MagnitudeLimit("i", 23)]).select(cat, mag_pattern="mag_{band}_lsst")


class RedTargets(SelectionStep):
    """A user's own step: red targets (u − i > 1.5, both detected), labels quantised to 1e-3."""

    def keep(self, view, labels, rng):
        return view.colour("u", "i") > 1.5  # NaN (a non-detection) fails

    def relabel(self, view, labels, rng):
        return labels.assign(z_spec=np.round(labels["z_spec"].to_numpy(), 3))


def test_a_user_defined_step_composes_with_the_built_in_ones(cat):
    out = Survey([MagnitudeLimit("i", 23.0), RedTargets()], name="red").select(cat, seed=2)
    u, i = (np.where(np.abs(cat[b]) > 90, np.nan, cat[b]) for b in "ui")
    with np.errstate(invalid="ignore"):
        expect = (i < 23.0) & (u - i > 1.5)
    assert (np.isnan(u) & (i < 23.0)).sum() > 50  # u non-detections for the NaN rule
    np.testing.assert_array_equal(out["id"].to_numpy(), cat.loc[expect, "id"].to_numpy())
    np.testing.assert_allclose(out["z_spec"], out["redshift"], atol=5e-4 + 1e-9)
    z3 = out["z_spec"].to_numpy() * 1000
    np.testing.assert_allclose(z3, np.round(z3), atol=1e-6)
    assert (out["survey"] == "red").all() and (out["z_flag"] == 4).all()

    class Broken(SelectionStep):
        def keep(self, view, labels, rng):
            return np.ones(3, dtype=bool)

    with pytest.raises(ConfigError, match="Broken.*shape"):
        Survey([Broken()]).select(cat)


def test_line_confusion_redshifts_follow_wavelength_ratios(cat):
    out = Survey([MagnitudeLimit("i", 25.0), LineConfusion()]).select(cat, seed=2)
    wrong = out[out["z_wrong"]]
    assert len(wrong) > 100
    ratio = (1 + wrong["z_spec"].to_numpy()) / (1 + wrong["redshift"].to_numpy())
    allowed = np.array([LINES[a] / LINES[b] for a, b in CONFUSIONS])
    assert np.all(np.min(np.abs(ratio[:, None] - allowed[None, :]), axis=1) < 1e-9)
    np.testing.assert_allclose(confused_redshift(0.0, "OII", "Ha"), 3727.09 / 6564.61 - 1)
    right = out[~out["z_wrong"]]
    np.testing.assert_array_equal(right["z_spec"], right["redshift"])


def test_label_errors_follow_flag_purity_and_rise_with_faintness(cat):
    step = LineConfusion()
    out = Survey([MagnitudeLimit("i", 25.5), step]).select(cat, seed=4)
    # objects that have a plausible confusion: observed line inside the window
    z = out["redshift"].to_numpy()
    lo, hi = step.wavelength_range
    possible = np.zeros(len(out), bool)
    for a, b in CONFUSIONS:
        zw = confused_redshift(z, a, b)
        possible |= (LINES[a] * (1 + z) >= lo) & (LINES[a] * (1 + z) <= hi) & (zw >= 0) & (
            zw <= step.z_max)
    for flag, purity in FLAG_PURITY.items():
        sel = possible & (out["z_flag"].to_numpy() == flag)
        n = sel.sum()
        frac = out["z_wrong"].to_numpy()[sel].mean()
        assert abs(frac - (1 - purity)) < 4 * np.sqrt(purity * (1 - purity) / n) + 1e-3, flag
    i = out["i"].to_numpy()
    assert out["z_wrong"][i > 24].mean() > 3 * out["z_wrong"][i < 22].mean()
    # a stricter flag cut buys purity with completeness
    s3 = Survey([MagnitudeLimit("i", 25.5), LineConfusion(), FlagCut(3)]).select(cat, seed=4)
    s4 = Survey([MagnitudeLimit("i", 25.5), LineConfusion(), FlagCut(4)]).select(cat, seed=4)
    assert len(s4) < len(s3) < len(out)
    assert s4["z_wrong"].mean() < s3["z_wrong"].mean() < out["z_wrong"].mean()


def test_success_curve_is_reproduced_statistically(cat):
    step = SuccessCurve("i", m50=23.5, width=0.4, p_max=0.9, z_nodes=(0.0, 1.0, 1.5),
                        z_success=(1.0, 1.0, 0.2))
    out = Survey([step]).select(cat, seed=5)
    kept = np.isin(cat["id"], out["id"])
    p = step.probability(np.where(np.abs(cat["i"]) > 90, np.inf, cat["i"]), cat["redshift"])
    edges = np.quantile(p, np.linspace(0, 1, 9))
    for a, b in itertools.pairwise(edges):
        sel = (p >= a) & (p <= b)
        expect, n = p[sel].mean(), sel.sum()
        assert abs(kept[sel].mean() - expect) < 5 * np.sqrt(max(expect * (1 - expect), 1e-3) / n)


def test_many_band_labels_scatter_and_outliers(cat):
    out = Survey([ManyBandPhotoZ(sigma=0.02, outlier_frac=0.05)]).select(cat, seed=6)
    assert len(out) == len(cat)
    e = (out["z_spec"] - out["redshift"]) / (1 + out["redshift"])
    core = e[~out["z_wrong"]]
    assert abs(np.std(core) - 0.02) < 0.002
    assert abs(out["z_wrong"].mean() - 0.05) < 0.006


def test_ratio_grid_match_mimics_the_reference(cat):
    ref = deep2_like().select(cat.iloc[:20_000], seed=1)
    pool = cat.iloc[20_000:].reset_index(drop=True)
    match = Survey([RatioGridMatch(ref, features=["i", "g - r", "r - i"], bins=8)]).select(
        pool, seed=2)
    assert len(match) > 300
    for col in ("i", "redshift"):
        gap_before = abs(pool[col][pool["i"] < 30].mean() - ref[col].mean())
        gap_after = abs(match[col].mean() - ref[col].mean())
        assert gap_after < 0.3 * gap_before, col


def test_surveys_are_seeded_and_combine_without_duplicates(cat):
    a = zcosmos_like(min_flag=3)
    s1, s2 = a.select(cat, seed=1), a.select(cat, seed=1)
    pd.testing.assert_frame_equal(s1, s2)
    assert not s1.equals(a.select(cat, seed=2))
    assert (s1["i"] < 22.5).all() and (s1["z_flag"] >= 3).all()
    b = deep2_like(max_objects=500).select(cat, seed=3)
    assert len(b) == 500 and (b["r"] < 24.1).all()
    both = combine_surveys([s1, b])
    assert both["id"].is_unique
    assert len(both) == len(set(s1["id"]) | set(b["id"]))
    # the first survey wins a duplicate
    dup = set(s1["id"]) & set(b["id"])
    if dup:
        assert (both[both["id"].isin(dup)]["survey"] == "zcosmos-like").all()
