"""One contract suite run over every estimator (cf. scikit-learn's parametrize_with_checks)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from cosmoml.catalog import PhotometryFeatures
from cosmoml.errors import ConfigError
from cosmoml.estimators import ESTIMATORS, make_estimator
from cosmoml.metrics import evaluate, point_metrics
from tests.conftest import BANDS, synthetic_catalog

#: small, fast settings per estimator for the unit tests
FAST = {
    "nn": {"n_members": 2, "epochs": 25, "hidden": 64, "depth": 3},
    "nn-fast": {"epochs": 30, "hidden": 64},
    "lgbm": {"n_estimators": 150},
    "knn": {},
    "forest": {"n_estimators": 30},
    "extratrees": {"n_estimators": 30},
    "adaboost": {"n_estimators": 20},
}
#: the accuracy each must reach on the synthetic relation (sigma68 of (zp - z)/(1 + z))
TOL = {
    "nn": 0.03,
    "nn-fast": 0.035,
    "lgbm": 0.04,
    "knn": 0.03,
    "forest": 0.03,
    "extratrees": 0.03,
    "adaboost": 0.04,
}


def features(df, name):
    opts = ESTIMATORS[name][1]
    f = PhotometryFeatures(BANDS, **opts)
    mags = df[[f"mag_{b}_lsst" for b in BANDS]].to_numpy()
    errs = df[[f"mag_err_{b}_lsst" for b in BANDS]].to_numpy()
    f.fit(mags, errs)
    return f.transform(mags, errs)[0]


@pytest.fixture(scope="module")
def data():
    train = synthetic_catalog(3000, seed=0)
    test = synthetic_catalog(1500, seed=1)
    return train, test


@pytest.fixture(scope="module")
def fitted(data):
    train, _ = data
    out = {}
    for name in ESTIMATORS:
        est = make_estimator(name, **FAST[name])
        out[name] = est.fit(features(train, name), train["redshift"].to_numpy())
    return out


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_learns_known_relation(name, data, fitted):
    _, test = data
    pdfs = fitted[name].predict_pdf(features(test, name))
    assert pdfs.pdf.shape == (len(test), 301)
    np.testing.assert_allclose(np.trapezoid(pdfs.pdf, pdfs.grid, axis=1), 1.0, atol=1e-4)
    m = evaluate(pdfs, test["redshift"].to_numpy())
    assert m["sigma68"] < TOL[name], m
    assert abs(m["bias_median"]) < 0.01
    assert m["outlier_frac"] < 0.02
    assert m["pit_ks"] < 0.15  # calibrated on a hold-out: roughly uniform


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_clone_and_determinism(name, data, fitted):
    train, test = data
    est = fitted[name]
    c = clone(est)
    assert c.get_params() == est.get_params()
    assert not hasattr(c, "grid_")
    X, Xt = features(train, name), features(test, name)
    again = c.fit(X, train["redshift"].to_numpy()).predict(Xt)
    np.testing.assert_allclose(again, est.predict(Xt), atol=1e-5)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_pickle_round_trip(name, data, fitted):
    """A fitted estimator, already used, pickles (as Dask sends it to worker processes)
    and predicts the same PDFs; nn leaves its cached networks behind (they would hold GPU
    tensors after a CUDA run) and rebuilds them."""
    import pickle

    _, test = data
    Xt = features(test, name)
    est = fitted[name]
    before = est.predict_pdf(Xt).pdf
    back = pickle.loads(pickle.dumps(est))
    if name.startswith("nn"):
        assert est._net_cache is not None and back._net_cache is None
    np.testing.assert_array_equal(back.predict_pdf(Xt).pdf, before)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_sample_weight_selects_the_weighted_population(name, data):
    """Two populations with the same photometry but redshifts 0.3 apart: the weights
    decide which one the model learns. (AdaBoost raises the weight of badly fitted
    objects at each round, so a tiny weight is not an exclusion there: it gets 0.)"""
    train, test = data
    X = features(train, name)
    z = train["redshift"].to_numpy()
    Xd = np.vstack([X, X])
    zd = np.concatenate([z, z + 0.3])
    small = 0.0 if name == "adaboost" else 1e-3
    w = np.concatenate([np.ones_like(z), np.full_like(z, small)])
    w_low = make_estimator(name, **FAST[name]).fit(Xd, zd, sample_weight=w)
    w_high = make_estimator(name, **FAST[name]).fit(Xd, zd, sample_weight=w[::-1].copy())
    Xt, zt = features(test, name), test["redshift"].to_numpy()
    shift = np.median(w_high.predict(Xt) - w_low.predict(Xt))
    assert shift == pytest.approx(0.3, abs=0.08)
    assert point_metrics(w_low.predict(Xt), zt)["bias_median"] == pytest.approx(0, abs=0.03)
    # the caller's weights are not modified
    assert w[0] == 1.0 and w[-1] == small


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_input_validation(name, data, fitted):
    train, _ = data
    est = fitted[name]
    X = features(train, name)
    with pytest.raises(ConfigError, match="features"):
        est.predict_pdf(X[:, :-1])
    with pytest.raises(ConfigError, match="NaN or inf"):
        make_estimator(name, **FAST[name]).fit(X, np.full(len(X), np.nan))
    with pytest.raises(ValueError, match="[Nn]egative"):
        make_estimator(name, **FAST[name]).fit(
            X, train["redshift"].to_numpy(), sample_weight=-np.ones(len(X))
        )


def test_unknown_estimator_named_in_error():
    with pytest.raises(ConfigError, match="unknown estimator 'bogus'.*knn"):
        make_estimator("bogus")
