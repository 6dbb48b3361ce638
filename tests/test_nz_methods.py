"""n(z) estimators, uncertainties and the estimate_nz pipeline against known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cosmoml.catalog.columns import ColumnMap
from cosmoml.datasets import load_buzzard
from cosmoml.errors import ConfigError
from cosmoml.model import PhotoZModel
from cosmoml.nz import pipeline, tomographic_nz
from cosmoml.nz.methods import (
    binned_mean_std,
    bootstrap_std,
    calibration_noise,
    dir_nz,
    grid_counts,
    mean_z,
    point_nz,
    shift_nz,
    som_nz,
)
from cosmoml.nz.pipeline import estimate_nz, shift_features
from cosmoml.nz.tomo import DES_Y1_EDGES, assign_bins
from cosmoml.pdf import PDFs, make_grid
from cosmoml.selection import MagnitudeLimit, Survey
from cosmoml.shift import correct

GRID = make_grid(0.0, 3.0, 301)


def gaussian_pdfs(mu, sigma=0.05):
    return PDFs(GRID, np.exp(-0.5 * ((GRID[None, :] - np.asarray(mu)[:, None]) / sigma) ** 2))


def test_mean_z_of_a_gaussian_and_an_empty_row():
    nz = np.exp(-0.5 * ((GRID - 0.8) / 0.1) ** 2)
    np.testing.assert_allclose(mean_z(np.vstack([nz, 0 * nz]), GRID)[0], 0.8, atol=1e-6)
    assert np.isnan(mean_z(np.vstack([nz, 0 * nz]), GRID)[1])


def test_known_shift_of_a_distribution_is_recovered():
    """PDFs centred 0.03 above the truth: every bin's Δ⟨z⟩ is +0.03."""
    rng = np.random.default_rng(0)
    z_true = rng.uniform(0.25, 1.25, 20_000)
    pdfs = gaussian_pdfs(z_true + 0.03)
    table, _ = tomographic_nz(pdfs, z_true + 0.03, z_true=z_true)
    np.testing.assert_allclose(table["delta_mean_z"], 0.03, atol=2e-4)


def test_point_and_dir_histograms_recover_means():
    rng = np.random.default_rng(1)
    z = rng.normal(0.7, 0.1, 50_000)
    bins = (z > 0.7).astype(int)
    nz = point_nz(z, bins, GRID, 2)
    want = [z[bins == 0].mean(), z[bins == 1].mean()]
    np.testing.assert_allclose(mean_z(nz, GRID), want, atol=2e-3)  # grid spacing 0.01
    w = np.where(z > 0.75, 3.0, 1.0)
    np.testing.assert_allclose(mean_z(dir_nz(z, bins, GRID, 2, w), GRID)[1],
                               np.average(z[bins == 1], weights=w[bins == 1]), atol=2e-3)


def test_som_nz_reduces_to_dir_in_one_cell_and_weights_cells():
    rng = np.random.default_rng(2)
    z_t = rng.uniform(0, 2, 5000)
    b_t = (z_t > 1).astype(int)
    one = np.zeros(5000, dtype=int)
    nz = som_nz(one, z_t, b_t, np.zeros(100, int), np.r_[np.zeros(50), np.ones(50)].astype(int),
                GRID, 2)
    np.testing.assert_allclose(nz, dir_nz(z_t, b_t, GRID, 2), atol=1e-12)
    # two cells with different redshifts; the science sample lives 3:1 in cell 0
    cells = (z_t > 0.5).astype(int)
    sci_cells = np.r_[np.zeros(300), np.ones(100)].astype(int)
    nz = som_nz(cells, z_t, np.zeros(5000, int), sci_cells, np.zeros(400, int), GRID, 1)
    want = 0.75 * z_t[cells == 0].mean() + 0.25 * z_t[cells == 1].mean()
    assert mean_z(nz, GRID)[0] == pytest.approx(want, abs=3e-3)


def test_bootstrap_and_calibration_noise_match_sigma_over_root_n():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2.0, 400)
    s = bootstrap_std(lambda idx: np.array([x[idx].mean()]), x.size, n_boot=400)
    assert s[0] == pytest.approx(2.0 / 20, rel=0.15)
    m, e = binned_mean_std(x, np.zeros(400, int), 1, n_boot=400)
    assert m[0] == pytest.approx(x.mean()) and e[0] == pytest.approx(0.1, rel=0.15)
    nz = np.exp(-0.5 * ((GRID - 1.0) / 0.1) ** 2)[None, :]
    cal = calibration_noise(nz, GRID, np.zeros(100, int), 1)
    assert cal[0] == pytest.approx(0.1 / 10, rel=0.02)
    assert np.isinf(calibration_noise(nz, GRID, np.ones(100, int), 1)[0])  # no training object


COLS = ColumnMap(list("ugrizy"), "{band}", "{band}_err", z_column="z_spec", id_column="id")


@pytest.mark.parametrize("method", ["lima", "classifier", "som"])
def test_weights_remove_most_of_a_selection_bias_in_the_spec_z_mean(shifted_samples, method):
    train, sci = shifted_samples
    X_t, X_s, valid, _ = shift_features(train, sci, COLS)
    c = correct(method, X_t, X_s[valid])
    bias_before = train["z_spec"].mean() - sci["redshift"].mean()
    bias_after = np.average(train["z_spec"], weights=c.weights) - sci["redshift"].mean()
    assert bias_before < -0.05
    assert abs(bias_after) < 0.25 * abs(bias_before), (bias_before, bias_after)


def test_estimate_nz_end_to_end(shifted_samples):
    train, sci = shifted_samples
    res = estimate_nz(train, sci, COLS, method="auto", estimator="knn", n_boot=20,
                      z_true=sci["redshift"].to_numpy())
    # auto: a shift is detected, so Lima weights and the gold (covered) objects only, the
    # prediction-powered n(z) and the line-confusion label model
    assert res.method == "lima+ppi+lines+cull" and res.diagnostics.shift_detected
    assert "label_confusion" in res.correction.info
    assert res.used.sum() == res.assignments["covered"].sum()
    t = res.table
    assert list(t["bin"]) == [0, 1, 2, 3]
    assert {"mean_z", "mean_z_err", "covered_fraction", "n_objects", "delta_mean_z"} <= set(t)
    assert np.all(t["mean_z_err"] > 0) and np.all(t["mean_z"].between(t["z_lo"] - 0.1,
                                                                      t["z_hi"] + 0.1))
    a = res.assignments
    assert len(a) == len(sci) and (a["id"].to_numpy() == sci["id"].to_numpy()).all()
    assert t["n_objects"].sum() == int((a["bin"] >= 0).sum())
    assert np.all(np.abs(t["delta_mean_z"]) < 0.05)
    with pytest.raises(ConfigError, match="unknown n\\(z\\) method"):
        estimate_nz(train, sci, COLS, method="magic")


def test_science_pass_equals_predicting_the_whole_sample_at_once(shifted_samples):
    """The science PDFs are predicted block by block and summarised, never all held: point
    estimates, means, bins, per-bin stacks, point-estimate histograms and (SOM) counts per
    cell must equal those of the whole PDF matrix."""
    train, sci = shifted_samples
    sci = sci.iloc[:3000].reset_index(drop=True)
    model = PhotoZModel("knn").fit(train, COLS)
    covered = np.random.default_rng(0).random(len(sci)) < 0.7
    route = np.zeros(len(sci), dtype=np.int64)
    route[::97] = -1  # rows no model predicts: no estimate, no bin
    route[:701] = -1  # a whole block without a model
    cells = np.random.default_rng(1).integers(0, 7, len(sci))

    def blocks():
        return ((sci.iloc[a:a + 701], covered[a:a + 701], route[a:a + 701], cells[a:a + 701])
                for a in range(0, len(sci), 701))

    sp = pipeline._science_pass(blocks(), {0: model}, DES_Y1_EDGES, restrict=True)
    sums = pipeline._science_pass(blocks(), {0: model}, DES_Y1_EDGES, restrict=True,
                                  keep_objects=False, n_cells=7)
    assert sp.cell_counts.shape == (4, 0)  # no SOM: no cells counted
    assert sums.bins is None and sums.z_point is None
    pdfs, _ = model.predict_pdf(sci)
    pdfs.pdf[route == -1] = np.nan
    np.testing.assert_array_equal(sp.z_point, pdfs.median())
    np.testing.assert_array_equal(sp.obj_mean, pdfs.mean())
    bins = assign_bins(pdfs.median(), DES_Y1_EDGES)
    np.testing.assert_array_equal(sp.bins, bins)
    assert np.all(sp.bins[route == -1] == -1)
    np.testing.assert_array_equal(sp.used, covered)
    means = pdfs.mean()
    assert sp.all_n == int((covered & (route == 0)).sum())
    assert sp.all_sum / sp.all_n == pytest.approx(means[covered & (route == 0)].mean(),
                                                  rel=1e-12)
    for b in range(4):
        sel = (bins == b) & covered
        assert sp.n_used[b] == sums.n_used[b] == sel.sum() > 50
        assert sp.n[b] == (bins == b).sum() and sp.n_covered[b] == sel.sum()
        np.testing.assert_allclose(sp.stack(b), pdfs[sel].stack(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(sums.stack(b), sp.stack(b), rtol=1e-12, atol=1e-12)
        z = pdfs.median()[sel]
        np.testing.assert_array_equal(sums.point_counts[b], grid_counts(z, np.ones(z.size),
                                                                        model.estimator_.grid_))
        np.testing.assert_array_equal(sums.cell_counts[b], np.bincount(cells[sel], minlength=7))
        assert sums.bin_mean_err(0, 0, of="point")[b] == pytest.approx(
            z.std() / np.sqrt(z.size), rel=1e-9)
        assert sp.bin_mean()[b] == pytest.approx(means[sel].mean(), rel=1e-12)
        # without the objects, the error is σ/√n, which the bootstrap estimates
        assert sums.bin_mean_err(0, 0)[b] == pytest.approx(means[sel].std() / np.sqrt(
            sel.sum()), rel=1e-9)
        assert sp.bin_mean_err(400, 0)[b] == pytest.approx(sums.bin_mean_err(0, 0)[b],
                                                           rel=0.12)


@pytest.mark.parametrize("kw", [{"method": "lima", "nz_from": "ppi", "cull": True},
                                {"method": "stratlearn"}])
def test_the_result_does_not_depend_on_the_science_block_size(shifted_samples, monkeypatch,
                                                              kw):
    train, sci = shifted_samples
    sci = sci.iloc[:3000]
    whole = estimate_nz(train, sci, COLS, estimator="knn", n_boot=10, **kw)
    monkeypatch.setattr(pipeline, "SCIENCE_BLOCK", 701)
    blocks = estimate_nz(train, sci, COLS, estimator="knn", n_boot=10, **kw)
    pd.testing.assert_frame_equal(blocks.assignments, whole.assignments)
    np.testing.assert_allclose(blocks.nz, whole.nz, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(blocks.table, whole.table, rtol=1e-12, atol=1e-12)


def test_stratlearn_pipeline_predicts_every_valid_object(shifted_samples):
    train, sci = shifted_samples
    res = estimate_nz(train, sci.iloc[:3000], COLS, method="stratlearn", estimator="knn",
                      n_boot=10)
    assert res.method == "stratlearn"
    assert (res.assignments["z_phot"].notna()).all()
    assert isinstance(res.table, pd.DataFrame) and res.table["n_objects"].sum() > 2000


def test_dir_nz_is_the_weighted_label_histogram_of_each_bin(shifted_samples):
    train, sci = shifted_samples
    res = estimate_nz(train, sci.iloc[:3000], COLS, method="lima", estimator="knn", n_boot=10,
                      nz_from="dir", cull=True)
    assert res.used.sum() == res.assignments["covered"].sum() < 3000
    mz = res.table["mean_z"].to_numpy()
    # every bin's mean is a weighted mean of training labels: inside the labels' range, and
    # the weights pull it towards the fainter (higher-z) science sample
    assert np.all((mz > 0) & (mz < train["z_spec"].max()))
    assert np.all(res.table["mean_z_err"] > 0)
    # the photo-z closure is in the error: no bin claims less than it
    assert np.all(np.isfinite(res.table["calibration_bias"]))
    assert np.all(res.table["mean_z_err"] >= res.table["calibration_bias"].abs())
    som = estimate_nz(train, sci.iloc[:3000], COLS, method="som", estimator="knn", n_boot=5)
    t = som.table[som.table["n_objects"] > 0]
    assert np.all(np.isfinite(t["calibration_bias"]))
    assert np.all(t["mean_z_err"] >= t["calibration_bias"].abs())
    with pytest.raises(ConfigError, match="nz_from"):
        estimate_nz(train, sci, COLS, method="none", nz_from="histogram")
    naive = estimate_nz(train, sci.iloc[:3000], COLS, method="none", estimator="knn", n_boot=5,
                        nz_from="point")
    assert naive.method == "none+point"
    # the point-estimate histogram's mean is the bin's mean point estimate (grid-rounded)
    a = naive.assignments
    for row in naive.table.itertuples():
        sel = a["bin"].to_numpy() == row.bin
        assert abs(row.mean_z - a["z_phot"].to_numpy()[sel].mean()) < 0.003


def test_method_names_parse_and_bad_ones_are_refused():
    from cosmoml.experiment import parse_method

    assert parse_method("lima+dir+cull") == ("lima", True, "dir", None, False)
    assert parse_method("som") == ("som", False, "stack", None, False)
    assert parse_method("none+point") == ("none", False, "point", None, False)
    assert parse_method("lima+ppi+lines+cull") == ("lima", True, "ppi", "lines", False)
    assert parse_method("success+survey+ppi") == ("success", False, "ppi", None, True)
    for bad in ("magic", "lima+fast", "cull", "lima+dir+point", "lima+ppi+dir"):
        with pytest.raises(ConfigError, match="unknown method"):
            parse_method(bad)


def test_method_shifts_between_tables():
    from cosmoml.nz import method_shifts

    a = pd.DataFrame({"bin": [0, 1], "mean_z": [0.30, 0.60], "mean_z_err": [0.003, 0.004]})
    b = pd.DataFrame({"bin": [0, 1], "mean_z": [0.33, 0.60], "mean_z_err": [0.004, 0.003]})
    s = method_shifts({"none": a, "lima": b}, "none")
    assert list(s["method"]) == ["lima", "lima"]
    np.testing.assert_allclose(s["shift"], [0.03, 0.0], atol=1e-12)
    np.testing.assert_allclose(s["shift_err"], [0.005, 0.005])
    np.testing.assert_allclose(s["significance"], [6.0, 0.0], atol=1e-9)


@pytest.mark.parametrize("nz_from", ["stack", "dir"])
def test_errors_are_honest_where_coverage_is_poor(nz_from):
    """A bright spec-z sample (i < 22.5) for an i < 24 science sample: the uncorrected
    estimate is biased, and the reported errors must say so instead of hiding it (DIR
    also through its photo-z closure: the bright training objects' photo-z fall short of
    the science sample's in every bin, by 0.02-0.04 in the upper two)."""
    cat = load_buzzard(25_000, seed=5)
    sci = cat[cat["i"] < 24.0].reset_index(drop=True)
    spec = Survey([MagnitudeLimit("i", 22.5)]).select(sci, seed=1)
    res = estimate_nz(spec, sci, COLS, method="none", estimator="knn", n_boot=10,
                      z_true=sci["redshift"].to_numpy(), nz_from=nz_from)
    if nz_from == "dir":  # the bright training set's photo-z are lower in every bin
        assert np.all(res.table["calibration_bias"] < 0)
        assert np.all(res.table["calibration_bias"].iloc[2:] < -0.01)
    t = res.table
    poor = t["covered_fraction"] < 0.7
    assert poor.any() and np.all(t.loc[poor, "mean_z_err"] > 0.02)
    assert np.all(np.abs(t["delta_mean_z"]) <= 2 * t["mean_z_err"])


def test_shift_nz_moves_each_row_mean_by_its_shift():
    nz = np.exp(-0.5 * ((GRID[None, :] - np.array([[0.5], [1.2]])) / 0.1) ** 2)
    moved = shift_nz(nz, GRID, [0.037, -0.052])
    np.testing.assert_allclose(mean_z(moved, GRID) - mean_z(nz, GRID), [0.037, -0.052],
                               atol=1e-4)
    assert np.all(moved >= 0)


def test_ppi_removes_an_injected_stacking_bias(monkeypatch):
    """A predictor whose PDFs all sit 0.04 too high, calibrated on a representative spec-z
    sample: stacking is off by ~+0.04 in every bin; the prediction-powered n(z) (stack
    shifted by the calibration residual) recovers the truth within its error."""
    from cosmoml.model import PhotoZModel
    from cosmoml.nz.methods import shift_nz as shift

    class Biased(PhotoZModel):
        def predict_pdf(self, *a, **kw):
            p, extra = super().predict_pdf(*a, **kw)
            return PDFs(p.grid, shift(p.pdf, p.grid, 0.04), normalised=True), extra

    monkeypatch.setattr("cosmoml.nz.pipeline.PhotoZModel", Biased)
    cat = load_buzzard(25_000, seed=4)
    cat = cat[cat["i"] < 24.0].reset_index(drop=True)
    train = cat.iloc[::2].reset_index(drop=True).assign(z_spec=lambda d: d["redshift"])
    sci = cat.iloc[1::2].reset_index(drop=True)
    z = sci["redshift"].to_numpy()
    kw = dict(estimator="knn", n_boot=20, z_true=z, edges=[0.2, 0.5, 0.8, 1.2])
    stack = estimate_nz(train, sci, COLS, method="none", **kw).table
    ppi = estimate_nz(train, sci, COLS, method="none", nz_from="ppi", **kw)
    t = ppi.table
    assert ppi.method == "none+ppi"
    assert np.all(np.abs(stack["delta_mean_z"] - 0.04) < 0.01), stack["delta_mean_z"]
    np.testing.assert_allclose(t["calibration_bias"], 0.04, atol=0.01)
    assert np.all(np.abs(t["delta_mean_z"]) < 0.006), t["delta_mean_z"]
    assert np.all(np.abs(t["delta_mean_z"]) < 3 * t["mean_z_err"])
    with pytest.raises(ConfigError, match="ppi"):
        estimate_nz(train, sci, COLS, method="stratlearn", nz_from="ppi")


def test_survey_weights_multiply_into_the_correction(shifted_samples):
    train, sci = shifted_samples
    sw = np.where(train["i"] > 23.0, 3.0, 1.0)
    res = estimate_nz(train, sci.iloc[:2000], COLS, method="none", estimator="knn", n_boot=5,
                      sample_weight=sw, nz_from="dir")
    np.testing.assert_allclose(res.correction.weights, sw * sw.size / sw.sum())
    for bad in (sw[:-1], -sw, np.full(sw.size, np.nan)):
        with pytest.raises(ConfigError, match="sample_weight"):
            estimate_nz(train, sci, COLS, method="none", estimator="knn", sample_weight=bad)


def test_weight_draws_widen_the_bins_by_their_spread():
    # two draws put 1:3 and 3:1 weight on values 0 and 1 in bin 0: weighted means 0.25 and
    # 0.75, standard deviation 0.354; bin 1 has one value whatever the weights; survey
    # weights multiply in
    from cosmoml.nz.pipeline import _weight_spread
    from cosmoml.shift import Correction

    values = np.array([0.0, 1.0, 5.0])
    bins = np.array([0, 0, 1])
    draws = [np.array([3.0, 1.0, 1.0]), np.array([1.0, 3.0, 1.0])]
    corr = Correction("test", np.ones(3), np.ones(1, bool), weight_draws=lambda: iter(draws))
    np.testing.assert_allclose(_weight_spread(corr, None, values, bins, 2),
                               [np.std([0.25, 0.75], ddof=1), 0.0])
    sw = np.array([1.0, 3.0, 1.0])  # turns the draws into 3:3 and 1:9
    np.testing.assert_allclose(_weight_spread(corr, sw, values, bins, 2),
                               [np.std([0.5, 0.9], ddof=1), 0.0])
    plain = Correction("none", np.ones(3), np.ones(1, bool))
    np.testing.assert_array_equal(_weight_spread(plain, None, values, bins, 2), 0.0)
