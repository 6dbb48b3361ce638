"""Photo-z estimators sharing one API (see :mod:`cosmoml.estimators.base`).

``ESTIMATORS`` maps the names used on the command line and in model files to classes,
with the feature set each works in; the names, feature sets and defaults themselves live in
:mod:`cosmoml.registry` (import-light, for the CLI). ``DEFAULT_ESTIMATOR`` is the most
accurate one on the DC2 benchmark (``benchmarks/photoz_dc2.py``).

The estimator classes are imported on first use: loading a neural-network model does not
pay for LightGBM, scikit-learn's ensembles and skops (seconds per worker process at survey
scale).
"""

from __future__ import annotations

import importlib

from cosmoml.errors import ConfigError
from cosmoml.estimators.base import PhotoZEstimator
from cosmoml.registry import DEFAULT_ESTIMATOR, SPECS

#: class name -> module inside this package
_MODULES = {
    "NNEnsemblePhotoZ": "nn",
    "LightGBMPhotoZ": "lgbm",
    "KNNPhotoZ": "knn",
    "ForestPhotoZ": "forest",
    "AdaBoostPhotoZ": "adaboost",
}
#: extra constructor defaults per name (where two names share a class)
ESTIMATOR_DEFAULTS: dict[str, dict] = {name: spec.defaults for name, spec in SPECS.items()}


def estimator_class(name: str) -> type[PhotoZEstimator]:
    """The class behind a registry name (imported now if it was not yet)."""
    if name not in SPECS:
        raise ConfigError(f"unknown estimator {name!r}; choose one of {sorted(SPECS)}")
    cls = SPECS[name].cls
    return getattr(importlib.import_module(f"cosmoml.estimators.{_MODULES[cls]}"), cls)


def make_estimator(name: str, **params) -> PhotoZEstimator:
    """A new estimator by registry name, with ``params`` overriding its defaults."""
    return estimator_class(name)(**{**ESTIMATOR_DEFAULTS.get(name, {}), **params})


def __getattr__(attr: str):
    if attr in _MODULES:
        return getattr(importlib.import_module(f"cosmoml.estimators.{_MODULES[attr]}"), attr)
    if attr == "ESTIMATORS":
        #: name -> (class, feature options for PhotometryFeatures, one-line description)
        return {name: (estimator_class(name), spec.features, spec.description)
                for name, spec in SPECS.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = [
    "DEFAULT_ESTIMATOR",
    "ESTIMATORS",
    "AdaBoostPhotoZ",
    "ForestPhotoZ",
    "KNNPhotoZ",
    "LightGBMPhotoZ",
    "NNEnsemblePhotoZ",
    "PhotoZEstimator",
    "estimator_class",
    "make_estimator",
]
