"""Model files: round trip, and refusal of tampered, unsafe or mismatched files."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LinearRegression

from cosmoml.catalog import resolve_columns
from cosmoml.errors import CatalogError, ModelFileError
from cosmoml.model import PhotoZModel
from tests.conftest import synthetic_catalog

FAST = {
    "nn": {"n_members": 2, "epochs": 10, "hidden": 32},
    "nn-fast": {"epochs": 10, "hidden": 32},
    "lgbm": {"n_estimators": 20, "n_bins": 20},
    "knn": {},
    "forest": {"n_estimators": 10},
    "extratrees": {"n_estimators": 10},
    "adaboost": {"n_estimators": 5},
}


@pytest.fixture(scope="module")
def train_test():
    return synthetic_catalog(800, seed=5), synthetic_catalog(200, seed=6)


@pytest.mark.parametrize("name", list(FAST))
def test_round_trip_gives_identical_predictions(tmp_path, train_test, name):
    train, test = train_test
    model = PhotoZModel(name, estimator_params=FAST[name]).fit(
        train, resolve_columns(train.columns, need_z=True)
    )
    before = model.predict_frame(test)
    path = model.save(tmp_path / "m.cosmoml")
    loaded = PhotoZModel.load(path)
    after = loaded.predict_frame(test)
    np.testing.assert_array_equal(before["z_median"].to_numpy(), after["z_median"].to_numpy())
    np.testing.assert_array_equal(np.stack(before["pdf"]), np.stack(after["pdf"]))
    assert loaded.describe()["bands"] == ["u", "g", "r", "i", "z", "y"]
    assert loaded.cosmoml_version_


@pytest.fixture(scope="module")
def saved(tmp_path_factory, train_test):
    train, _ = train_test
    path = tmp_path_factory.mktemp("m") / "forest.cosmoml"
    PhotoZModel("forest", estimator_params=FAST["forest"]).fit(
        train, resolve_columns(train.columns, need_z=True)
    ).save(path)
    return path


def _rewrite(src, dst, doc_fn=None, arrays_fn=None, fix_checksum=True):
    with zipfile.ZipFile(src) as z:
        doc = json.loads(z.read("model.json"))
        blob = z.read("arrays.npz")
    if arrays_fn:
        with np.load(io.BytesIO(blob)) as npz:
            arrays = arrays_fn({k: npz[k] for k in npz.files})
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        blob = buf.getvalue()
    if doc_fn:
        doc = doc_fn(doc)
    if fix_checksum:
        import hashlib

        doc["arrays_sha256"] = hashlib.sha256(blob).hexdigest()
    with zipfile.ZipFile(dst, "w") as z:
        z.writestr("model.json", json.dumps(doc))
        z.writestr("arrays.npz", blob)
    return dst


def test_corrupted_bytes_fail_checksum(tmp_path, saved):
    def flip(arrays):
        arrays["leaf_offsets_"] = arrays["leaf_offsets_"] + 1
        return arrays

    bad = _rewrite(saved, tmp_path / "bad.cosmoml", arrays_fn=flip, fix_checksum=False)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        PhotoZModel.load(bad)


class Evil:
    """Stands for any class an attacker might embed."""


def test_untrusted_or_unexpected_embedded_type_refused(tmp_path, saved):
    def swap_to(obj):
        def swap(arrays):
            arrays["forest"] = np.frombuffer(sio.dumps(obj), np.uint8)
            return arrays

        return swap

    bad = _rewrite(saved, tmp_path / "evil.cosmoml", arrays_fn=swap_to(Evil()))
    with pytest.raises(ModelFileError, match="untrusted types.*Evil"):
        PhotoZModel.load(bad)
    lin = LinearRegression().fit([[0], [1]], [0, 1])
    bad = _rewrite(saved, tmp_path / "lin.cosmoml", arrays_fn=swap_to(lin))
    with pytest.raises(ModelFileError, match="a LinearRegression, expected RandomForestRegressor"):
        PhotoZModel.load(bad)


def test_unknown_estimator_version_and_params_refused(tmp_path, saved):
    b1 = _rewrite(saved, tmp_path / "a.cosmoml", doc_fn=lambda d: {**d, "estimator": "os.system"})
    with pytest.raises(ModelFileError, match="unknown estimator 'os.system'"):
        PhotoZModel.load(b1)
    b2 = _rewrite(saved, tmp_path / "b.cosmoml", doc_fn=lambda d: {**d, "format_version": 99})
    with pytest.raises(ModelFileError, match="format version 99 is not supported"):
        PhotoZModel.load(b2)
    b3 = _rewrite(
        saved, tmp_path / "c.cosmoml", doc_fn=lambda d: {**d, "params": {**d["params"], "evil": 1}}
    )
    with pytest.raises(ModelFileError, match=r"unknown parameters \['evil'\]"):
        PhotoZModel.load(b3)


def test_pickle_and_garbage_refused(tmp_path):
    p = tmp_path / "model.pkl"
    p.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelFileError, match="not a readable cosmoml model file"):
        PhotoZModel.load(p)
    with pytest.raises(ModelFileError, match="no such model file"):
        PhotoZModel.load(tmp_path / "nope.cosmoml")


def test_mismatched_catalogue_refused(saved, train_test):
    _, test = train_test
    model = PhotoZModel.load(saved)
    with pytest.raises(CatalogError, match=r"photo.parquet: missing column\(s\) \['mag_z_lsst'"):
        model.predict_frame(test.drop(columns=["mag_z_lsst"]), source="photo.parquet")


def test_nondetections_and_garbage_rows_flagged(saved, train_test):
    _, test = train_test
    model = PhotoZModel.load(saved)
    df = test.copy()
    mags = [f"mag_{b}_lsst" for b in "ugrizy"]
    df.loc[0, mags] = 99.0  # nothing detected
    df.loc[1, "mag_u_lsst"] = 99.0  # one band missing: limit policy
    df.loc[2, "mag_g_lsst"] = 0.0  # a zero "missing" code is a non-detection too
    df.loc[3, "mag_y_lsst"] = -1.0
    out = model.predict_frame(df)
    assert len(out) == len(df) and out["id"].tolist() == df["id"].tolist()
    # bitmask: 1 no prediction, 2 a non-detected band (policy applied), 4 a bad value
    assert out["flag"].tolist()[:5] == [3, 2, 2, 2, 0]
    assert np.isnan(out.loc[0, "z_median"]) and np.isfinite(out.loc[1:3, "z_median"]).all()
    # a text value: an error naming the column, or (bad_values="flag") a non-detection
    text = df.astype({"mag_r_lsst": object})
    text.loc[4, "mag_r_lsst"] = "n/a"
    with pytest.raises(CatalogError, match="'mag_r_lsst' has non-numeric value.*'n/a'"):
        model.predict_frame(text, source="t.parquet")
    flagged = model.predict_frame(text, bad_values="flag")
    assert flagged["flag"].tolist()[:6] == [3, 2, 2, 2, 6, 0]
    as_nondetection = df.copy()
    as_nondetection.loc[4, "mag_r_lsst"] = 99.0
    np.testing.assert_array_equal(flagged["z_median"],
                                  model.predict_frame(as_nondetection)["z_median"])
    text["mag_r_lsst"] = "x"  # a column with no number at all is a malformed part
    with pytest.raises(CatalogError, match="'mag_r_lsst' holds no numbers"):
        model.predict_frame(text, bad_values="flag")


def test_nan_policy_with_lightgbm_predicts_rows_with_missing_bands():
    train = synthetic_catalog(1500, seed=8)
    rng = np.random.default_rng(0)
    holes = rng.random(len(train)) < 0.2
    train.loc[holes, "mag_u_lsst"] = 99.0  # u undetected for a fifth of the galaxies
    cols = resolve_columns(train.columns, need_z=True)
    model = PhotoZModel("lgbm", policy="nan", estimator_params={"n_estimators": 80}).fit(
        train, cols
    )
    test = synthetic_catalog(400, seed=9)
    test.loc[:199, "mag_u_lsst"] = np.nan
    out = model.predict_frame(test)
    assert (out["flag"] == np.where(np.arange(400) < 200, 2, 0)).all()  # predicted, u flagged
    e = (out["z_median"] - test["redshift"]) / (1 + test["redshift"])
    assert np.percentile(np.abs(e[:200]), 68) < 0.05  # still informative without u
    assert model.features_.nondetected_fraction_[0] == pytest.approx(holes.mean())


def test_training_without_enough_detections_names_the_file_and_columns():
    """A band never detected, or too few usable rows, is a catalogue error naming the file
    (not the features' or estimator's internal message)."""
    train = synthetic_catalog(300, seed=11)
    cols = resolve_columns(train.columns, need_z=True)
    dark = train.copy()
    dark["mag_u_lsst"] = 99.0
    with pytest.raises(CatalogError, match=r"spec.fits: column\(s\) \['mag_u_lsst'\] have no "
                                           "detection.*'limit' non-detection policy"):
        PhotoZModel("knn").fit(dark, cols, source="spec.fits")
    # the 'drop' policy keeps only fully detected rows: 19 of them are too few, 20 are enough
    holes = train.copy()
    holes.loc[19:, "mag_g_lsst"] = -99.0
    with pytest.raises(CatalogError, match="spec.fits: 19 of its 300 rows can be trained on "
                                           r"\(a detection under the 'drop'"):
        PhotoZModel("knn", policy="drop").fit(holes, cols, source="spec.fits")
    holes.loc[19, "mag_g_lsst"] = train.loc[19, "mag_g_lsst"]
    model = PhotoZModel("knn", policy="drop").fit(holes, cols, source="spec.fits")
    assert model.training_["n_used"] == 20


def test_a_nullable_id_column_passes_through_exactly(saved, train_test):
    """64-bit ids with missing values (a FITS TNULL, a nullable column) are not rounded
    through float64."""
    import pandas as pd

    _, test = train_test
    big = np.arange(len(test), dtype=np.int64) + 2**62 + 1
    df = test.assign(id=pd.arrays.IntegerArray(big, np.arange(len(test)) == 3))
    out = PhotoZModel.load(saved).predict_frame(df)
    assert out["id"].dtype == "Int64" and pd.isna(out["id"][3])
    assert (out["id"].drop(index=3) == np.delete(big, 3)).all()
