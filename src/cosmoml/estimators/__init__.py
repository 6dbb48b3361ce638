"""Photo-z estimators sharing one API (see :mod:`cosmoml.estimators.base`).

``ESTIMATORS`` maps the names used on the command line and in model files to classes,
with the feature set each works in. ``DEFAULT_ESTIMATOR`` is the most accurate one on the
DC2 benchmark (``benchmarks/photoz_dc2.py``).
"""

from __future__ import annotations

from cosmoml.errors import ConfigError
from cosmoml.estimators.adaboost import AdaBoostPhotoZ
from cosmoml.estimators.base import PhotoZEstimator
from cosmoml.estimators.forest import ForestPhotoZ
from cosmoml.estimators.knn import KNNPhotoZ
from cosmoml.estimators.lgbm import LightGBMPhotoZ
from cosmoml.estimators.nn import NNEnsemblePhotoZ

#: name -> (class, feature options for PhotometryFeatures, one-line description)
ESTIMATORS: dict[str, tuple[type[PhotoZEstimator], dict, str]] = {
    "nn": (
        NNEnsemblePhotoZ,
        {"use_errors": True},
        "ensemble of PyTorch MLPs, binned-softmax head (ANNz2-like)",
    ),
    "nn-fast": (
        NNEnsemblePhotoZ,
        {"use_errors": True},
        "a single MLP: the fastest estimator with PDFs",
    ),
    "lgbm": (LightGBMPhotoZ, {"use_errors": True}, "LightGBM classification over redshift bins"),
    "knn": (
        KNNPhotoZ,
        {"use_errors": True, "magnitudes": "reference"},
        "k nearest neighbours, error-aware weights",
    ),
    "forest": (
        ForestPhotoZ,
        {"use_errors": False},
        "random forest, PDFs from leaf populations (TPZ-like)",
    ),
    "extratrees": (
        ForestPhotoZ,
        {"use_errors": False},
        "extremely randomised trees, leaf-population PDFs",
    ),
    "adaboost": (
        AdaBoostPhotoZ,
        {"use_errors": False},
        "AdaBoost regression trees, PDF from members",
    ),
}
#: extra constructor defaults per name (where two names share a class)
ESTIMATOR_DEFAULTS: dict[str, dict] = {
    "extratrees": {"kind": "extra"},
    "nn-fast": {"n_members": 1, "hidden": 128, "depth": 3, "epochs": 60},
}

DEFAULT_ESTIMATOR = "nn"


def make_estimator(name: str, **params) -> PhotoZEstimator:
    """A new estimator by registry name, with ``params`` overriding its defaults."""
    if name not in ESTIMATORS:
        raise ConfigError(f"unknown estimator {name!r}; choose one of {sorted(ESTIMATORS)}")
    cls = ESTIMATORS[name][0]
    return cls(**{**ESTIMATOR_DEFAULTS.get(name, {}), **params})


__all__ = [
    "DEFAULT_ESTIMATOR",
    "ESTIMATORS",
    "AdaBoostPhotoZ",
    "ForestPhotoZ",
    "KNNPhotoZ",
    "LightGBMPhotoZ",
    "NNEnsemblePhotoZ",
    "PhotoZEstimator",
    "make_estimator",
]
