"""Photo-z estimators sharing one API (see :mod:`cosmoml.estimators.base`).

``ESTIMATORS`` maps the names used on the command line and in model files to classes,
with the feature set each works in; the names, feature sets and defaults themselves live in
:mod:`cosmoml.registry` (import-light, for the CLI). ``DEFAULT_ESTIMATOR`` is the most
accurate one on the DC2 benchmark (``benchmarks/photoz_dc2.py``).
"""

from __future__ import annotations

from cosmoml.errors import ConfigError
from cosmoml.estimators.adaboost import AdaBoostPhotoZ
from cosmoml.estimators.base import PhotoZEstimator
from cosmoml.estimators.forest import ForestPhotoZ
from cosmoml.estimators.knn import KNNPhotoZ
from cosmoml.estimators.lgbm import LightGBMPhotoZ
from cosmoml.estimators.nn import NNEnsemblePhotoZ
from cosmoml.registry import DEFAULT_ESTIMATOR, SPECS

_CLASSES = {
    cls.__name__: cls
    for cls in (NNEnsemblePhotoZ, LightGBMPhotoZ, KNNPhotoZ, ForestPhotoZ, AdaBoostPhotoZ)
}
#: name -> (class, feature options for PhotometryFeatures, one-line description)
ESTIMATORS: dict[str, tuple[type[PhotoZEstimator], dict, str]] = {
    name: (_CLASSES[spec.cls], spec.features, spec.description) for name, spec in SPECS.items()
}
#: extra constructor defaults per name (where two names share a class)
ESTIMATOR_DEFAULTS: dict[str, dict] = {name: spec.defaults for name, spec in SPECS.items()}


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
