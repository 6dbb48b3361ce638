"""The cosmoml command end to end on a small subset of the shipped data."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cosmoml.datasets import load_dc2

CLI = [sys.executable, "-m", "cosmoml.cli"]


def run_subprocess(*args, cwd=None):
    """``cosmoml ARGS`` as a separate process: the installed entry point itself."""
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def run(*args, cwd=None):
    """``cosmoml ARGS`` through the same entry point (``cosmoml.cli.main``) in this process,
    reported as ``subprocess.run`` would: exit status, stdout and stderr (log records and
    Python warnings included). A process per call costs ~3.5 s of imports (torch,
    scikit-learn) on the CI machine, minutes over the suite; ``run_subprocess`` checks the
    real process boundary where that matters."""
    import contextlib
    import io
    import logging
    import os
    import warnings
    from unittest import mock

    from cosmoml import cli

    argv = ["cosmoml", *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    root, here = logging.getLogger(), os.getcwd()
    code = 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(sys, "argv", argv))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("default")  # as a fresh interpreter shows them
        root.addHandler(handler)
        stack.callback(root.removeHandler, handler)
        stack.callback(os.chdir, here)
        if cwd is not None:
            os.chdir(cwd)
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def train(files, model, estimator, *extra):
    """``cosmoml train`` on the small training file, quietly."""
    return run(
        "train", files / "train.parquet", "--model", model, "--estimator", estimator, "-q", *extra
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    load_dc2("training", n=2000).to_parquet(d / "train.parquet")
    va = load_dc2("validation", n=1000)
    va.drop(columns="redshift").to_parquet(d / "photo.parquet")
    va[["id", "redshift"]].to_parquet(d / "truth.parquet")
    return d


def test_help_lists_estimators_and_example():
    r = run("train", "--help")
    assert r.returncode == 0
    for name in ("nn", "lgbm", "knn", "forest", "extratrees", "adaboost", "Example:"):
        assert name in r.stdout
    top = run_subprocess("--help")  # the real process: entry point and lazy imports
    assert top.returncode == 0 and "cosmoml demo" in top.stdout and "predict" in top.stdout
    # usage errors (a missing argument, a bad option value): one message, exit 2, no traceback
    for args, msg in ((["nz", "train.parquet"], "Missing argument"),
                      (["nz", "a", "b", "-o", "o", "--line-window", "9500,3600"], "0 < LO < HI")):
        r = run_subprocess(*args)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def trained(files):
    model = files / "pz.cosmoml"
    explicit = "--bands u,g,r,i,z,y --mag-pattern mag_{band}_lsst --err-pattern mag_err_{band}_lsst"
    r = train(
        files,
        model,
        "forest",
        *explicit.split(),
        "--z-column",
        "redshift",
        "--param",
        "n_estimators=30",
        "--seed",
        "3",
    )
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and model.exists()
    return model


def test_train_predict_evaluate(files, trained):
    model = trained
    out = files / "pz.parquet"
    r = run("predict", model, files / "photo.parquet", "--output", out, "-q")
    assert r.returncode == 0, r.stderr
    pred = pd.read_parquet(out)
    photo = pd.read_parquet(files / "photo.parquet")
    assert len(pred) == len(photo)
    assert pred["id"].tolist() == photo["id"].tolist()
    for c in ("z_mode", "z_mean", "z_median", "z_lo68", "z_hi68", "pdf"):
        assert c in pred.columns
    assert (pred["z_lo68"] <= pred["z_median"]).all() and (pred["z_median"] <= pred["z_hi68"]).all()
    assert len(pred["pdf"].iloc[0]) == 301
    r = run("evaluate", out, "--truth", files / "truth.parquet", "--json", files / "m.json")
    assert r.returncode == 0, r.stderr
    m = json.loads((files / "m.json").read_text())
    assert m["n"] == 1000 and m["sigma68"] < 0.06 and m["outlier_frac"] < 0.08
    assert "sigma68" in r.stdout and "tomographic" in r.stdout
    # point-only output and a qp HDF5 ensemble
    r = run(
        "predict",
        model,
        files / "photo.parquet",
        "--output",
        files / "p2.parquet",
        "--no-pdf",
        "-q",
    )
    assert r.returncode == 0 and "pdf" not in pd.read_parquet(files / "p2.parquet").columns
    r = run("predict", model, files / "photo.parquet", "--output", files / "p.hdf5", "-q")
    assert r.returncode == 0, r.stderr
    r = run(
        "evaluate",
        files / "p.hdf5",
        "--truth",
        files / "truth.parquet",
        "--json",
        files / "m2.json",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads((files / "m2.json").read_text())["sigma68"] == pytest.approx(
        m["sigma68"], rel=1e-3
    )


def test_bad_input_exit_code_and_no_partial_output(files, trained):
    model = trained
    broken = pd.read_parquet(files / "photo.parquet").drop(columns=["mag_r_lsst"])
    broken.to_parquet(files / "broken.parquet")
    out = files / "never.parquet"
    # a separate process: the exit status a shell script sees
    r = run_subprocess("predict", model, files / "broken.parquet", "--output", out, "-q")
    assert r.returncode == 2
    assert "broken.parquet" in r.stderr and "mag_r_lsst" in r.stderr
    assert not out.exists()
    assert not [p for p in files.iterdir() if p.name.startswith(".")]
    text = pd.read_parquet(files / "photo.parquet")
    text["mag_g_lsst"] = text["mag_g_lsst"].astype(str)
    text.loc[5, "mag_g_lsst"] = "bright"
    text.to_parquet(files / "text.parquet")
    r = run("predict", model, files / "text.parquet", "--output", out, "-q",
            "--bad-values", "raise")
    assert (
        r.returncode == 2 and "'mag_g_lsst' has non-numeric value(s) such as 'bright'" in r.stderr
    )
    assert not out.exists()
    r = run("predict", model, files / "text.parquet", "--output", out, "-q")  # default: flag
    assert r.returncode == 0 and "1 with a value that is not a number" in r.stdout
    assert pd.read_parquet(out)["flag"].iloc[5] & 4
    out.unlink()
    r = run("train", files / "photo.parquet", "--model", files / "x.cosmoml", "-q")
    assert r.returncode == 2 and "no redshift column" in r.stderr
    r = run("predict", model, files / "photo.parquet", "--output", files / "p.csv", "-q")
    assert r.returncode == 2 and "p.csv: predictions are written as .parquet" in r.stderr
    assert not (files / "p.csv").exists()
    pd.read_parquet(files / "train.parquet").iloc[:0].to_parquet(files / "none.parquet")
    r = run("train", files / "none.parquet", "--model", files / "x.cosmoml", "-q")
    assert r.returncode == 2 and "none.parquet: catalogue has no rows" in r.stderr
    assert not (files / "x.cosmoml").exists()
    r = run("predict", files / "photo.parquet", files / "photo.parquet", "--output", out, "-q")
    assert r.returncode == 2 and "not a readable cosmoml model file" in r.stderr


def test_seeded_training_is_reproducible(files):
    outs = []
    for k in range(2):
        model = files / f"r{k}.cosmoml"
        r = train(files, model, "knn", "--seed", "7")
        assert r.returncode == 0, r.stderr
        r = run(
            "predict", model, files / "photo.parquet", "--output", files / f"r{k}.parquet", "-q"
        )
        outs.append(pd.read_parquet(files / f"r{k}.parquet"))
    np.testing.assert_array_equal(np.stack(outs[0]["pdf"]), np.stack(outs[1]["pdf"]))


def test_demo_writes_report(tmp_path):
    out = tmp_path / "demo"
    # the shift story is exercised by test_cli_shift.py (the same runner); here only DC2
    r = run("demo", "--output-dir", out, "--estimator", "knn", "--no-shift", "-q")
    assert r.returncode == 0, r.stderr
    assert "report:" in r.stdout and not (out / "shift").exists()
    for name in ("model.cosmoml", "predictions.parquet", "metrics.json", "report.html"):
        assert (out / name).exists(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 20_449 and m["sigma68"] < 0.03 and m["pit_ks"] < 0.06
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4
    for caption in ("z_phot vs z_spec", "PIT histogram", "n(z) per tomographic bin"):
        assert caption in html


def test_evaluate_matches_rows_by_id(files, trained):
    out = files / "ids.parquet"
    r = run("predict", trained, files / "photo.parquet", "--output", out, "-q")
    assert r.returncode == 0, r.stderr
    truth = pd.read_parquet(files / "truth.parquet")
    shuffled = truth.sample(frac=1.0, random_state=1)
    shuffled.to_parquet(files / "truth_shuffled.parquet")
    r1 = run("evaluate", out, "--truth", files / "truth.parquet", "--json", files / "a.json")
    r2 = run(
        "evaluate", out, "--truth", files / "truth_shuffled.parquet", "--json", files / "b.json"
    )
    assert r1.returncode == 0 and r2.returncode == 0, r2.stderr
    a = json.loads((files / "a.json").read_text())
    b = json.loads((files / "b.json").read_text())
    assert a["sigma68"] == b["sigma68"] and a["crps"] == b["crps"]
    shuffled.drop(columns="id").iloc[:10].to_parquet(files / "short.parquet")
    r3 = run("evaluate", out, "--truth", files / "short.parquet")
    assert r3.returncode == 2 and "10 rows" in r3.stderr and "no shared id column" in r3.stderr
