"""Covariate shift between a spec-z training set and the science sample: diagnostics,
corrections (weights, strata, SOM cells, culling) for the estimators and the n(z) code."""

from cosmoml.shift.culling import (
    CULL_METHODS,
    DEFAULT_FRACTIONS,
    cull_mask,
    culling_curve,
    culling_scores,
)
from cosmoml.shift.diagnostics import (
    ShiftDiagnostics,
    classifier_auc,
    classifier_propensity,
    coverage,
    diagnose,
    effective_sample_size,
    feature_shift,
)
from cosmoml.shift.labels import LabelConfusion, line_confusion
from cosmoml.shift.stratified import StratifiedPhotoZ, stratum_groups
from cosmoml.shift.weights import (
    METHODS,
    Correction,
    SOMCells,
    classifier_weights,
    correct,
    lima_weights,
    no_correction,
    propensity_strata,
    som_weights,
    stratlearn_weights,
    success_weights,
    train_som,
)

__all__ = [
    "CULL_METHODS", "DEFAULT_FRACTIONS", "METHODS", "Correction", "LabelConfusion", "SOMCells",
    "ShiftDiagnostics",
    "StratifiedPhotoZ", "classifier_auc", "classifier_propensity", "classifier_weights",
    "correct", "coverage", "cull_mask", "culling_curve", "culling_scores", "diagnose",
    "effective_sample_size", "feature_shift", "lima_weights", "line_confusion", "no_correction",
    "propensity_strata", "som_weights", "stratlearn_weights", "stratum_groups",
    "success_weights", "train_som",
]
