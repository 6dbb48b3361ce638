"""``cosmoml nz``, ``cosmoml shift ...`` and ``cosmoml experiment shift`` end to end."""

from __future__ import annotations

import json
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

from cosmoml.datasets import load_buzzard
from cosmoml.selection import MagnitudeLimit, SuccessCurve, Survey

from .test_cli import CLI, run


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("shift_cli")
    cat = load_buzzard(12_000, seed=4)
    sci = cat[cat["i"] < 24.0].reset_index(drop=True)
    spec = Survey([MagnitudeLimit("i", 24.0), SuccessCurve("i", m50=23.0, width=0.4)]).select(
        sci, seed=2)
    spec.drop(columns=["redshift", "z_flag", "z_wrong", "survey"]).to_parquet(d / "spec.parquet")
    sci.drop(columns="redshift").to_parquet(d / "science.parquet")
    return d, spec, sci


def test_nz_writes_bins_assignments_and_summary(pair):
    d, _, sci = pair
    out = d / "nz_out"
    stale = out / "assignments.parquet.parts"  # a stopped part-by-part run's, not resumed
    stale.mkdir(parents=True)
    (stale / "fit.pkl").write_bytes(b"x")
    r = run("nz", d / "spec.parquet", d / "science.parquet", "--output", out, "--method",
            "lima", "--estimator", "knn", "--edges", "0.2,0.5,0.9,1.3", "--n-boot", "10",
            "--seed", "3", "-q")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "assignments.parquet", "diagnostics.json", "nz.parquet", "nz.sacc", "nz_2pt.fits",
        "nz_qp.hdf5", "summary.html"]
    nz = pd.read_parquet(out / "nz.parquet")
    # the same n(z) for likelihood codes: SACC (with the Δz priors), 2pt FITS, qp
    import sacc

    from cosmoml.nz.export import read_twopoint_nz
    from cosmoml.pdf import PDFs

    grid, values = np.linspace(0, 3, 301), np.stack(nz["nz"].to_numpy())
    s = sacc.Sacc.load_fits(str(out / "nz.sacc"))
    assert sorted(s.tracers) == ["source_0", "source_1", "source_2"]
    for b in range(3):
        t = s.tracers[f"source_{b}"]
        assert t.quantity == "galaxy_shear"
        np.testing.assert_allclose(t.z, grid)
        np.testing.assert_allclose(t.nz, values[b], rtol=1e-6, atol=1e-9)
        # a likelihood reading the file sees the bin's reported mean redshift
        assert abs(np.trapezoid(t.z * t.nz, t.z) / np.trapezoid(t.nz, t.z)
                   - nz["mean_z"][b]) < 1e-3
    dz = s.tracer_uncertainties["delta_z"]
    assert dz.tracer_names == ["source_0", "source_1", "source_2"]
    np.testing.assert_allclose(np.diag(dz.linear_transformation), nz["mean_z_err"])
    assert s.metadata["method"] == "lima" and "all science" in s.metadata["objects"]
    z_mid, n2 = read_twopoint_nz(out / "nz_2pt.fits", "nz_source")
    np.testing.assert_allclose(z_mid, grid)
    np.testing.assert_allclose(n2, values, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(PDFs.read_qp(out / "nz_qp.hdf5").pdf, values, rtol=1e-5, atol=1e-9)
    assert list(nz.columns[:7]) == ["bin", "z_lo", "z_hi", "mean_z", "mean_z_err",
                                    "covered_fraction", "n_objects"]
    assert list(nz["z_lo"]) == [0.2, 0.5, 0.9] and len(nz["nz"].iloc[0]) == 301
    # no bin claims an error below the stacking bias its calibration objects show
    assert np.all(nz["mean_z_err"] >= nz["calibration_bias"].abs())
    a = pd.read_parquet(out / "assignments.parquet")
    assert len(a) == len(sci) and (a["id"].to_numpy() == sci["id"].to_numpy()).all()
    assert set(a["bin"].unique()) <= {-1, 0, 1, 2}
    assert nz["n_objects"].sum() == (a["bin"] >= 0).sum()
    assert a["covered"].mean() > 0.8
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["method"] == "lima" and diag["seed"] == "3"
    assert diag["diagnostics"]["shift_detected"]
    assert "cosmoml n(z)" in (out / "summary.html").read_text()
    # each bin's mean is close to the truth of its objects (the sample is covered)
    truth = sci["redshift"].to_numpy()
    for row in nz.itertuples():
        sel = a["bin"].to_numpy() == row.bin
        assert abs(row.mean_z - truth[sel].mean()) < 0.05


def test_nz_of_a_catalogue_larger_than_the_sample_held_in_memory(pair, tmp_path):
    """SCIENCE as a directory of two files, more rows than --sample-rows: read and
    predicted part by part, every object assigned in catalogue order."""
    d, _, sci = pair
    parts = tmp_path / "science"
    parts.mkdir()
    half = len(sci) // 2
    sci.drop(columns="redshift").iloc[:half].to_parquet(parts / "a.parquet")
    sci.drop(columns="redshift").iloc[half:].to_parquet(parts / "b.parquet")
    out = tmp_path / "nz_out"
    r = run("nz", d / "spec.parquet", parts, "--output", out, "--estimator", "knn",
            "--n-boot", "10", "--sample-rows", "2500", "-q")
    assert r.returncode == 0, r.stderr
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["science_rows"] == str(len(sci)) and diag["sample_rows"] == "2500"
    assert diag["method"] == "lima+ppi+lines+cull"
    a = pd.read_parquet(out / "assignments.parquet")
    assert (a["id"].to_numpy() == sci["id"].to_numpy()).all()
    nz = pd.read_parquet(out / "nz.parquet")
    assert nz["n_objects"].sum() == (a["bin"] >= 0).sum()
    truth = sci["redshift"].to_numpy()
    for row in nz.itertuples():
        sel = (a["bin"].to_numpy() == row.bin) & a["covered"].to_numpy()
        assert abs(row.mean_z - truth[sel].mean()) < 0.05
    # SOM calibration too (the science objects' counts per cell, summed part by part), with
    # the progress bar (not -q), the parts predicted by the workers of a Dask cluster
    r = run("nz", d / "spec.parquet", parts, "--output", tmp_path / "som", "--method", "som",
            "--estimator", "knn", "--n-boot", "10", "--sample-rows", "2500",
            "--engine", "dask", "--workers", "2")
    assert r.returncode == 0, r.stderr
    a = pd.read_parquet(tmp_path / "som" / "assignments.parquet")
    nz = pd.read_parquet(tmp_path / "som" / "nz.parquet")
    assert len(a) == len(sci) and 0.5 < a["covered"].mean() <= 1
    assert (a["id"].to_numpy() == sci["id"].to_numpy()).all()
    assert sorted(p.name for p in (tmp_path / "som").iterdir()) == [
        "assignments.parquet", "diagnostics.json", "nz.parquet", "nz.sacc", "nz_2pt.fits",
        "nz_qp.hdf5", "summary.html"]
    import sacc

    meta = sacc.Sacc.load_fits(str(tmp_path / "som" / "nz.sacc")).metadata
    assert meta["objects"] == "covered (gold) science objects only"  # SOM: the gold n(z)
    for row in nz.itertuples():  # the gold objects' n(z)
        sel = (a["bin"].to_numpy() == row.bin) & a["covered"].to_numpy()
        assert abs(row.mean_z - truth[sel].mean()) < 0.05
    # the diagnostics and the weights alone: of a random sample of the directory's rows
    r = run("shift", "diagnose", d / "spec.parquet", parts, "--sample-rows", "2500",
            "--json", tmp_path / "d.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "d.json").read_text())["n_science"] == 2500
    r = run("shift", "weights", d / "spec.parquet", parts, "--sample-rows", "2500",
            "--output", tmp_path / "w.parquet")
    assert r.returncode == 0, r.stderr
    w = pd.read_parquet(tmp_path / "w.parquet")["weight"]
    assert w.mean() == pytest.approx(1.0) and w.std() > 0.1


def test_nz_killed_and_run_again_resumes(pair, tmp_path):
    """``cosmoml nz`` on a catalogue read part by part, SIGKILLed in its science pass (a
    real process), then run again: the rerun says it resumed, reuses the fit and the parts
    done, and writes exactly what an uninterrupted run writes; nothing of the stopped run
    is left."""
    d, _, sci = pair
    parts = tmp_path / "science"
    parts.mkdir()
    cuts = np.linspace(0, len(sci), 21).astype(int)
    for k in range(20):
        sci.drop(columns="redshift").iloc[cuts[k]:cuts[k + 1]].to_parquet(
            parts / f"p{k:02d}.parquet")
    args = ["nz", d / "spec.parquet", parts, "--estimator", "knn", "--n-boot", "10",
            "--sample-rows", "2500", "-q"]
    r = run(*args, "--output", tmp_path / "ref")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    state = out / "assignments.parquet.parts"
    proc = subprocess.Popen([*CLI, *map(str, args), "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and not any(
            state.glob("*.sums")):
        time.sleep(0.002)
    proc.kill()  # SIGKILL: no clean-up runs
    proc.wait()
    done = len(list(state.glob("*.sums")))
    assert 1 <= done < 20 and (state / "fit.pkl").exists()
    assert not (out / "nz.parquet").exists() and not (out / "assignments.parquet").exists()
    r = run(*args, "--output", out)
    assert r.returncode == 0, r.stderr
    assert f"resumed a stopped run: its fit reused, {done} of 20 parts" in r.stderr
    assert json.loads((out / "diagnostics.json").read_text())["resumed"] == {
        "fit": True, "parts": done, "of": 20}
    for name in ("nz.parquet", "assignments.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / name),
                                      pd.read_parquet(tmp_path / "ref" / name),
                                      check_exact=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "assignments.parquet", "diagnostics.json", "nz.parquet", "nz.sacc", "nz_2pt.fits",
        "nz_qp.hdf5", "summary.html"]


def test_shift_diagnose_and_weights(pair):
    d, spec, _ = pair
    r = run("shift", "diagnose", d / "spec.parquet", d / "science.parquet", "--json",
            d / "diag.json")
    assert r.returncode == 0, r.stderr
    assert "verdict: SHIFTED, COVERED" in r.stdout and "AUC" in r.stdout
    assert json.loads((d / "diag.json").read_text())["verdict"] == "shifted, covered"
    r = run("shift", "weights", d / "spec.parquet", d / "science.parquet", "--method", "som",
            "--output", d / "w.parquet")
    assert r.returncode == 0, r.stderr
    w = pd.read_parquet(d / "w.parquet")
    assert len(w) == len(spec) and w["weight"].mean() == pytest.approx(1.0)
    # faint objects are under-represented in the spec-z sample: they get larger weights
    faint = w["i"] > 23.3
    assert w.loc[faint, "weight"].mean() > 2 * w.loc[~faint, "weight"].mean()
    # the weights feed 'cosmoml train --weight-column'
    r = run("train", d / "w.parquet", "--model", d / "w.cosmoml", "--estimator", "knn",
            "--weight-column", "weight", "-q")
    assert r.returncode == 0, r.stderr


def test_shift_weights_success_follow_the_redshift_dependent_success(pair):
    d, _, sci = pair
    curve = SuccessCurve("i", m50=23.5, width=0.4, z_nodes=(0.8, 1.2), z_success=(1.0, 0.3))
    spec = Survey([MagnitudeLimit("i", 24.0), curve]).select(sci, seed=3)
    spec.drop(columns=["redshift", "z_flag", "z_wrong", "survey"]).to_parquet(
        d / "spec_zs.parquet")
    r = run("shift", "weights", d / "spec_zs.parquet", d / "science.parquet", "--method",
            "success", "--output", d / "w_zs.parquet")
    assert r.returncode == 0, r.stderr
    w = pd.read_parquet(d / "w_zs.parquet")["weight"].to_numpy()
    true = 1 / curve.probability(spec["i"].to_numpy(), spec["redshift"].to_numpy())
    z = spec["z_spec"].to_numpy()
    # beyond the step the true weights are 6.3x those below it (magnitudes differ too): the
    # fitted ones, from 1,622 objects, give 6.9x (with 10x the default smoothing: at the
    # default a few labels took the weight, 57x, and the fit raised it); Lima's 4.2x
    got = w[z > 1.3].mean() / w[z < 0.7].mean()
    want = true[z > 1.3].mean() / true[z < 0.7].mean()
    assert 0.8 * want < got < 1.2 * want, (got, want)
    # the weighted spec-z mean moves to the science sample's: -0.088 -> -0.005 (the true
    # weights: -0.010; Lima's: -0.032)
    z_sci = sci["redshift"].mean()
    assert abs(np.average(z, weights=w) - z_sci) < 0.2 * abs(z.mean() - z_sci)
    # and drive 'cosmoml nz': the fit's balance is reported with the correction
    out = d / "nz_success"
    r = run("nz", d / "spec_zs.parquet", d / "science.parquet", "--output", out, "--method",
            "success", "--nz-from", "ppi", "--estimator", "knn", "--n-boot", "10", "-q")
    assert r.returncode == 0, r.stderr
    corr = json.loads((out / "diagnostics.json").read_text())["correction"]
    assert corr["method"] == "success" and corr["balance_chi2"] < corr["balance_chi2_unweighted"]
    assert np.all(np.isfinite(pd.read_parquet(out / "nz.parquet")["mean_z"]))
    assert "do not balance" not in r.stderr
    # a spec-z set that stops at i < 22.5 is outside the model (the weights cannot reach
    # the faint science objects that share its cells): the n(z) still comes, with a warning
    red = spec[spec["i"] < 22.5]
    red.drop(columns=["redshift", "z_flag", "z_wrong", "survey"]).to_parquet(
        d / "spec_red.parquet")
    r = run("nz", d / "spec_red.parquet", d / "science.parquet", "--output", d / "nz_red",
            "--method", "success", "--estimator", "knn", "--n-boot", "5", "-q")
    assert r.returncode == 0, r.stderr
    assert "do not balance the photometry" in r.stderr
    assert any("do not balance" in w for w in json.loads(
        (d / "nz_red" / "diagnostics.json").read_text())["diagnostics"]["warnings"])


def test_bad_science_file_is_named_and_nothing_written(pair, tmp_path):
    d, _, sci = pair
    sci.drop(columns=["redshift", "r"]).to_parquet(tmp_path / "bad.parquet")
    out = tmp_path / "o"
    r = run("nz", d / "spec.parquet", tmp_path / "bad.parquet", "--output", out, "-q")
    assert r.returncode == 2
    assert "bad.parquet" in r.stderr and "'r'" in r.stderr
    assert not out.exists() or not any(out.iterdir())
    # a value that is not a number: the file, the column and the row are named, for the
    # n(z) and for the diagnostics
    text = sci.drop(columns=["redshift"]).astype({"g": object})
    text.loc[7, "g"] = "faint?"
    text.to_csv(tmp_path / "text.csv", index=False)
    for cmd in (["nz"], ["shift", "diagnose"]):
        r = run(*cmd, d / "spec.parquet", tmp_path / "text.csv",
                *(["--output", out, "-q"] if cmd == ["nz"] else []))
        assert r.returncode == 2, r.stderr
        assert "text.csv: column 'g' has non-numeric value(s) such as 'faint?' (rows [7])" \
            in r.stderr, r.stderr
    assert not out.exists() or not any(out.iterdir())
    r = run("shift", "weights", d / "spec.parquet", d / "science.parquet", "--method", "magic",
            "--output", tmp_path / "w.parquet")
    assert r.returncode == 2 and "unknown correction 'magic'" in r.stderr
    assert not (tmp_path / "w.parquet").exists()
    for args, msg in ((["--edges", "0.2,a"], "--edges: '0.2,a' is not comma-separated numbers"),
                      (["--n-boot", "1"], "n_boot must be at least 2")):
        r = run("nz", d / "spec.parquet", d / "science.parquet", "--output", out, *args)
        assert r.returncode == 2 and msg in r.stderr, r.stderr
        assert not out.exists()


def test_bad_training_labels_are_named_and_nothing_written(pair, tmp_path):
    d = pair[0]
    spec = pd.read_parquet(d / "spec.parquet")
    spec.loc[3, "z_spec"] = np.nan
    spec.to_parquet(tmp_path / "nanz.parquet")
    out = tmp_path / "o"
    r = run("nz", tmp_path / "nanz.parquet", d / "science.parquet", "--output", out, "-q")
    assert r.returncode == 2 and "nanz.parquet: column 'z_spec' has 1 non-finite" in r.stderr
    assert "first rows [3]" in r.stderr and not out.exists()
    w = tmp_path / "w.parquet"
    r = run("shift", "weights", tmp_path / "nanz.parquet", d / "science.parquet", "--method",
            "success", "--output", w)
    assert r.returncode == 2 and "nanz.parquet: column 'z_spec'" in r.stderr
    assert not w.exists()
    # photometric weights do not read the labels: a missing one does not stop them
    r = run("shift", "weights", tmp_path / "nanz.parquet", d / "science.parquet", "--method",
            "lima", "--output", w)
    assert r.returncode == 0, r.stderr
    assert len(pd.read_parquet(w)) == len(spec)


def test_too_few_usable_objects_are_named_and_nothing_written(pair, tmp_path):
    """A science file with (almost) no detections, or a handful of labels, stops with the
    file named, not a traceback from inside the diagnostics or the fold models."""
    d, _, sci = pair
    from cosmoml.nz.pipeline import MIN_SCIENCE, MIN_TRAIN

    mags = [c for c in ("u", "g", "r", "i", "z", "y") if c in sci.columns]
    dark = sci.drop(columns="redshift").copy()
    dark.loc[MIN_SCIENCE - 1:, mags] = 99.0  # only MIN_SCIENCE - 1 rows keep a detection
    dark.to_parquet(tmp_path / "dark.parquet")
    out, w = tmp_path / "o", tmp_path / "w.parquet"
    msg = (f"dark.parquet: only {MIN_SCIENCE - 1} of its {len(dark):,} rows have a detection "
           "in any band")
    for cmd in (["nz", "--output", out, "-q"], ["shift", "diagnose"],
                ["shift", "weights", "--method", "lima", "--output", w]):
        r = run(*cmd[:1 + (cmd[0] == "shift")], d / "spec.parquet", tmp_path / "dark.parquet",
                *cmd[1 + (cmd[0] == "shift"):])
        assert r.returncode == 2 and msg in r.stderr, (cmd, r.stderr)
        assert "Traceback" not in r.stderr
    assert not out.exists() and not w.exists()
    # one more detection and the same file runs
    dark.loc[MIN_SCIENCE - 1, mags] = sci.loc[MIN_SCIENCE - 1, mags]
    dark.to_parquet(tmp_path / "dark.parquet")
    r = run("shift", "diagnose", d / "spec.parquet", tmp_path / "dark.parquet")
    assert r.returncode == 0, r.stderr
    pd.read_parquet(d / "spec.parquet").iloc[:MIN_TRAIN - 1].to_parquet(tmp_path / "few.parquet")
    r = run("nz", tmp_path / "few.parquet", d / "science.parquet", "--output", out, "-q")
    assert r.returncode == 2, r.stderr
    assert f"few.parquet: {MIN_TRAIN - 1} training objects; an n(z) needs at least " \
        f"{MIN_TRAIN}" in r.stderr
    assert not out.exists()
    r = run("nz", d / "spec.parquet", d / "science.parquet", "--output", out,
            "--edges", "0.2,nan,0.9")
    assert r.returncode == 2 and "need at least two finite, increasing" in r.stderr, r.stderr
    assert not out.exists()


def test_demo_experiment_is_a_valid_quick_config():
    from cosmoml.experiment import DEMO_EXPERIMENT

    DEMO_EXPERIMENT.validate()
    assert DEMO_EXPERIMENT.estimator == "nn-fast" and len(DEMO_EXPERIMENT.methods) <= 5


def test_experiment_config_file_and_unknown_key(tmp_path):
    cfg = tmp_path / "shift.toml"
    cfg.write_text('n = 12000\nsurveys = ["vvds"]\nestimator = "knn"\n'
                   'methods = ["none", "som"]\nn_boot = 5\n')
    out = tmp_path / "exp"
    r = run("experiment", "shift", "--config", cfg, "--output-dir", out, "--seed", "1", "-q")
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["seed"] == 1 and res["config"]["surveys"] == ["vvds"]
    t = pd.read_parquet(out / "nz_methods.parquet")
    assert set(t["method"]) == {"none", "som"} and np.isfinite(t["delta_mean_z"]).all()
    c = pd.read_parquet(out / "culling.parquet")
    assert set(c["sample"]) == {"validation", "science"}
    assert (c.groupby(["sample", "method"])["n_kept"].apply(lambda s: s.is_monotonic_decreasing)
            .all())
    html = (out / "report.html").read_text()
    for part in ("validation vs science", "Δ⟨z⟩ per bin", "culled fraction", "coverage",
                 "shift of ⟨z⟩ against no correction"):
        assert part in html
    cfg.write_text('surveys = ["vvds"]\ncolour = "blue"\n')
    r = run("experiment", "shift", "--config", cfg, "--output-dir", out)
    assert r.returncode == 2 and "unknown key(s) ['colour']" in r.stderr
    # a value of the wrong type is refused naming the file and the key, nothing written
    for text, msg in (('n = "abc"\n', "n must be an integer, got 'abc'"),
                      ('surveys = "vvds"\n', "surveys must be a list of strings"),
                      ('edges = [0.2, "x"]\n', "edges must be a list of numbers"),
                      ('edges = [0.5, 0.2]\n', "edges must be at least two increasing"),
                      ("n_boot = 1\n", "need n_boot >= 2")):
        cfg.write_text(text)
        r = run("experiment", "shift", "--config", cfg, "--output-dir", tmp_path / "never")
        assert r.returncode == 2 and f"shift.toml: {msg}" in r.stderr, r.stderr
        assert not (tmp_path / "never").exists()


def test_nz_with_ppi_and_the_line_confusion_model(pair):
    from cosmoml.selection import FlagCut, LineConfusion

    d, _, sci = pair
    spec = Survey([MagnitudeLimit("i", 24.0), LineConfusion(), FlagCut(3)]).select(sci, seed=5)
    spec.drop(columns=["redshift", "z_wrong", "survey"]).to_parquet(d / "spec_flags.parquet")
    out = d / "nz_lines"
    args = ("nz", d / "spec_flags.parquet", d / "science.parquet", "--output", out,
            "--method", "none", "--nz-from", "ppi", "--estimator", "knn", "--n-boot", "10",
            "--line-confusion", "-q")
    r = run(*args, "--flag-column", "z_flag")
    assert r.returncode == 0, r.stderr
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["method"] == "none+ppi+lines"
    fit = diag["correction"]["label_confusion"]
    assert set(fit["fractions"]) == {"3", "4"}
    # the fitted wrong-label count is of the order of the simulated one
    n_wrong = int(spec["z_wrong"].sum())
    assert 0.3 * n_wrong < fit["expected_wrong"] < 3 * n_wrong
    nz = pd.read_parquet(out / "nz.parquet")
    assert np.all(np.isfinite(nz["mean_z"])) and np.all(nz["mean_z_err"] > 0)
    # the spectrograph's window reaches the model and is recorded
    r = run(*args, "--flag-column", "z_flag", "--line-window", "3600,9500")
    assert r.returncode == 0, r.stderr
    fit = json.loads((out / "diagnostics.json").read_text())["correction"]["label_confusion"]
    assert fit["wavelength_range"] == [3600.0, 9500.0]
    assert 0.3 * n_wrong < fit["expected_wrong"] < 3 * n_wrong
    for bad in ("9500,3600", "3600"):
        r = run(*args, "--line-window", bad)
        assert r.returncode != 0 and "--line-window" in r.stderr
    r = run(*args, "--flag-column", "quality")
    assert r.returncode != 0 and "quality" in r.stderr and "spec_flags.parquet" in r.stderr


def test_success_per_survey_from_the_command_line(pair, tmp_path):
    # a compilation: a colour-selected survey and a brighter magnitude-limited one; the
    # survey column reaches the per-footprint 'success' fit in both commands
    from cosmoml.selection import ColourCuts, combine_surveys

    d, _, sci = pair
    spec = combine_surveys([
        Survey([ColourCuts("(g - r) < 0.6"), SuccessCurve("i", m50=23.5, width=0.4)],
               name="blue").select(sci, seed=5),
        Survey([MagnitudeLimit("i", 23.0)], name="bright").select(sci, seed=6)])
    spec.drop(columns=["redshift", "z_flag", "z_wrong"]).to_parquet(tmp_path / "c.parquet")
    r = run("shift", "weights", tmp_path / "c.parquet", d / "science.parquet", "--method",
            "success", "--survey-column", "survey", "--output", tmp_path / "w.parquet")
    assert r.returncode == 0, r.stderr
    w = pd.read_parquet(tmp_path / "w.parquet")
    assert len(w) == len(spec) and w["weight"].mean() == pytest.approx(1.0)
    out = tmp_path / "nz"
    r = run("nz", tmp_path / "c.parquet", d / "science.parquet", "--output", out, "--method",
            "success", "--survey-column", "survey", "--estimator", "knn", "--n-boot", "5",
            "-q")
    assert r.returncode == 0, r.stderr
    corr = json.loads((out / "diagnostics.json").read_text())["correction"]
    # (with 1,368 objects the blue+bright region is one of the small ones: a single weight)
    assert set(corr["regions"]) | set(corr["small_regions"]) == {"blue", "blue+bright",
                                                                 "bright"}
    r = run("nz", tmp_path / "c.parquet", d / "science.parquet", "--output", tmp_path / "x",
            "--method", "success", "--survey-column", "nosuch", "-q")
    assert r.returncode != 0 and "nosuch" in r.stderr
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
    spec.assign(survey=spec["survey"].where(spec.index != 3)).drop(
        columns=["redshift", "z_flag", "z_wrong"]).to_parquet(tmp_path / "gap.parquet")
    r = run("shift", "weights", tmp_path / "gap.parquet", d / "science.parquet", "--method",
            "success", "--survey-column", "survey", "--output", tmp_path / "w2.parquet")
    assert r.returncode != 0 and "gap.parquet" in r.stderr and "1 missing" in r.stderr
    assert not (tmp_path / "w2.parquet").exists()
