"""The estimator registry as plain data: names, feature sets, descriptions, defaults.

Kept free of heavy imports (no torch, LightGBM or scikit-learn) so that the command line
can list estimators in its help instantly; :mod:`cosmoml.estimators` attaches the classes.
"""

from __future__ import annotations

from typing import NamedTuple


class EstimatorSpec(NamedTuple):
    """How a registry name is built: class name, PhotometryFeatures options, defaults."""

    cls: str
    features: dict
    description: str
    defaults: dict


#: The most accurate estimator on the DC2 benchmark (``benchmarks/photoz_dc2.py``).
DEFAULT_ESTIMATOR = "nn"

SPECS: dict[str, EstimatorSpec] = {
    "nn": EstimatorSpec(
        "NNEnsemblePhotoZ",
        {"use_errors": True},
        "ensemble of PyTorch MLPs, binned-softmax head (ANNz2-like)",
        {},
    ),
    "nn-fast": EstimatorSpec(
        "NNEnsemblePhotoZ",
        {"use_errors": True},
        "a single MLP: the fastest estimator with PDFs",
        {"n_members": 1, "hidden": 128, "depth": 3, "epochs": 60},
    ),
    "lgbm": EstimatorSpec(
        "LightGBMPhotoZ",
        {"use_errors": True},
        "LightGBM classification over redshift bins",
        {},
    ),
    "knn": EstimatorSpec(
        "KNNPhotoZ",
        {"use_errors": True, "magnitudes": "reference"},
        "k nearest neighbours in colour + i space (distance or error-aware chi2 weights)",
        {},
    ),
    "forest": EstimatorSpec(
        "ForestPhotoZ",
        {"use_errors": False},
        "random forest, PDFs from leaf populations (TPZ-like)",
        {},
    ),
    "extratrees": EstimatorSpec(
        "ForestPhotoZ",
        {"use_errors": False},
        "extremely randomised trees, leaf-population PDFs",
        {"kind": "extra"},
    ),
    "adaboost": EstimatorSpec(
        "AdaBoostPhotoZ",
        {"use_errors": False},
        "AdaBoost regression trees, PDF from members",
        {},
    ),
}
