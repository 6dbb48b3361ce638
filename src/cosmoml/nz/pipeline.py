"""From a spec-z training catalogue and a science catalogue to tomographic n(z) with a
covariate-shift correction, honest per-bin uncertainties and coverage.

This is the library call behind ``cosmoml nz``:

1. shift features (colours + the reference magnitude, non-detections at the limit) of both
   samples; :func:`cosmoml.shift.diagnose`;
2. the correction (``none``, ``lima``, ``classifier``, ``stratlearn``, ``som``; ``auto``
   picks by :func:`choose_method`), optionally culling the uncovered science objects;
3. a photo-z model trained with the correction's weights (per propensity stratum for
   ``stratlearn``), PDFs of the science objects, bins by the PDF median (predicted
   :data:`SCIENCE_BLOCK` objects at a time and summarised: the science PDFs are never
   all held in memory);
4. n(z) per bin by stacking the science PDFs (SOM cells for ``som``), and the mean
   redshift's uncertainty: a bootstrap over science objects added in quadrature to the
   calibration sample's shot noise (:func:`cosmoml.nz.methods.calibration_noise`) and to
   the stacking bias the weighted calibration sample shows in the bin
   (``calibration_bias``: out-of-fold PDF means minus labels) and to the uncovered
   objects' leverage (their fraction in the bin times the bin's n(z) width: nothing
   constrains their redshifts). For ``som``, a bootstrap over training and science objects
   together; for ``som`` and DIR, the stacking-bias term is replaced by their photo-z
   closure (the same calibration run on the training objects' out-of-fold photo-z against
   the science objects' mean photo-z, ``calibration_bias`` in the table). ``ppi``
   subtracts the stacking bias instead of budgeting it (see :func:`estimate_nz`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from cosmoml.catalog.columns import ColumnMap
from cosmoml.catalog.features import PhotometryFeatures
from cosmoml.errors import ConfigError
from cosmoml.model import PhotoZModel, _photometry, redshift_labels
from cosmoml.nz.methods import (
    binned_mean_std,
    bootstrap_std,
    calibration_noise,
    dir_nz,
    mean_z,
    point_nz,
    shift_nz,
    som_nz,
    std_z,
)
from cosmoml.nz.tomo import DES_Y1_EDGES, assign_bins
from cosmoml.pdf import PDFs
from cosmoml.registry import DEFAULT_ESTIMATOR
from cosmoml.shift import Correction, ShiftDiagnostics, correct, diagnose, stratum_groups
from cosmoml.shift.labels import line_confusion

log = logging.getLogger(__name__)

NZ_METHODS = ("auto", "none", "lima", "classifier", "stratlearn", "som", "success")
#: How a bin's n(z) is formed (besides SOM): stacked PDFs, weighted spec-z histogram, or the
#: histogram of the science objects' point estimates (the naive baseline).
NZ_FROM = ("stack", "dir", "point", "ppi")
#: Science objects predicted at a time: their PDFs are summarised and dropped, never all held.
SCIENCE_BLOCK = 100_000


def choose_method(diag: ShiftDiagnostics) -> tuple[str, bool, str, str]:
    """The ``auto`` rule, from the diagnostics only (no labels, no truth): returns
    (correction, cull, nz_from, label_model). Always the prediction-powered n(z) with the
    line-confusion label model; no detectable shift → no weights, nothing culled;
    otherwise Lima weights with the n(z) restricted to the covered ("gold") science
    objects. In ``benchmarks/shift.py`` ``lima+ppi+lines`` has the smallest mean |Δ⟨z⟩|
    of all methods over the bins of the covered scenarios (0.0016; 14 of 16 bins within
    0.002 (1 + z)) and ``lima+ppi+cull`` over those of the poorly covered ones (0.0054);
    the label model changed nothing where no label was wrong; and culling never claims to
    speak for objects no training object resembles."""
    if diag.shift_detected:
        return "lima", True, "ppi", "lines"
    return "none", False, "ppi", "lines"


def shift_features(train: pd.DataFrame, science: pd.DataFrame, columns: ColumnMap,
                   science_columns: ColumnMap | None = None,
                   sources: tuple[str, str] = ("training catalogue", "science catalogue")):
    """Colours + reference magnitude of both samples (limits learned on the training set).

    Returns ``(X_train, X_science, valid_science, names)``; training rows must all be valid.
    ``sources``: how errors name the two catalogues (their files, from the CLI).
    """
    mags_t = _photometry(train, columns, sources[0])[0]
    mags_s = _photometry(science, science_columns or columns, sources[1])[0]
    feats = PhotometryFeatures(columns.bands, policy="limit", magnitudes="reference").fit(mags_t)
    X_t, valid_t = feats.transform(mags_t)
    X_s, valid_s = feats.transform(mags_s)
    if not valid_t.all():
        raise ConfigError(
            f"{sources[0]}: {int((~valid_t).sum())} rows have no detection in any band; "
            "remove them"
        )
    return X_t, X_s, valid_s, feats.feature_names


def survey_labels(train: pd.DataFrame, survey_column: str | None,
                  source: str = "training catalogue") -> np.ndarray | None:
    """The training objects' survey labels from ``survey_column`` (None: no column)."""
    if survey_column is None:
        return None
    if survey_column not in train.columns:
        raise ConfigError(f"{source}: no survey column {survey_column!r}")
    missing = int(train[survey_column].isna().sum())
    if missing:
        raise ConfigError(f"{source}: survey column {survey_column!r} has {missing} missing "
                          "values")
    return train[survey_column].to_numpy()


@dataclass
class NZResult:
    """What :func:`estimate_nz` returns (see ``cosmoml nz`` for the files it becomes)."""

    method: str
    table: pd.DataFrame
    nz: np.ndarray
    grid: np.ndarray
    assignments: pd.DataFrame
    diagnostics: ShiftDiagnostics | None
    correction: Correction
    #: mean redshift of the whole science sample's stacked n(z) (objects the method uses)
    mean_z_all: float = float("nan")
    #: the science objects the n(z) speaks for (all, or the covered ones when culled / SOM)
    used: np.ndarray | None = None

    @property
    def warnings(self) -> list[str]:
        """The diagnostics' warnings and the correction's own (e.g. a misfit)."""
        own = self.correction.info.get("warning")
        return [*(self.diagnostics.warnings if self.diagnostics else []), *([own] if own else [])]


def estimate_nz(
    train: pd.DataFrame,
    science: pd.DataFrame,
    columns: ColumnMap,
    method: str = "auto",
    estimator: str = DEFAULT_ESTIMATOR,
    edges: Sequence[float] = DES_Y1_EDGES,
    seed: int = 0,
    n_boot: int = 100,
    science_columns: ColumnMap | None = None,
    z_true: np.ndarray | None = None,
    estimator_params: dict | None = None,
    labels_column: str | None = None,
    cull: bool | None = None,
    diagnostics: ShiftDiagnostics | None = None,
    nz_from: str | None = None,
    sample_weight: np.ndarray | None = None,
    label_model: str | None = None,
    flag_column: str | None = None,
    line_window: tuple[float, float] | None = None,
    survey_column: str | None = None,
    train_source: str = "training catalogue",
    science_source: str = "science catalogue",
) -> NZResult:
    """Tomographic n(z) of ``science`` calibrated on ``train`` (see the module docstring).

    ``z_true`` (simulations only) adds the truth columns ``mean_z_true``, ``delta_mean_z``
    and ``delta_mean_z_scaled`` to the table; it is never used to estimate anything.
    ``labels_column`` trains on another label column than ``columns.z_column``.
    ``cull`` restricts each bin's n(z) (and its truth) to the covered science objects, as
    SOM calibration always does (the "gold" sample); None lets ``auto`` decide (no culling
    for an explicit method). ``diagnostics`` from an earlier call on the same samples are
    reused instead of recomputed. ``nz_from`` (None: ``ppi`` under ``auto``, else
    ``stack``): ``"dir"`` replaces the stacked science PDFs by DIR (Lima et al. 2008):
    each bin's n(z) is the weighted histogram of the labels of the training objects whose
    out-of-fold photo-z falls in it, with a bootstrap over those objects as its
    uncertainty; ``nz_from="point"`` is the histogram of the science objects' point
    estimates (a naive baseline);
    ``nz_from="ppi"`` stacks the science PDFs and shifts each bin's n(z) by the (weighted)
    mean residual, PDF mean minus label, of the training objects in the bin: the
    difference estimator of survey sampling, "prediction-powered inference" (Angelopoulos
    et al. 2023) with covariate-shift weights. Training and science objects are predicted
    by the same cross-fitted fold models, so the residual measured on one is that of the
    other; its error is the bootstrap of both means. Unbiased where the weights are right
    and the labels true; the residual has far less scatter than the labels, so it needs
    fewer training objects than DIR for the same error.
    ``sample_weight``: survey weights of the training objects (e.g. a spectroscopic
    survey's published target-sampling × success-rate weights), multiplied into the
    correction's weights.
    ``label_model`` (None: ``lines`` under ``auto``, else none; ``"none"`` turns it off)
    ``"lines"``: wherever the training labels calibrate the n(z) (``ppi``, DIR,
    SOM, the stacking bias), each label is replaced by its expected true redshift under
    the line-confusion mixture fitted against the out-of-fold PDFs
    (:func:`cosmoml.shift.labels.line_confusion`; one wrong-label fraction per value of
    ``flag_column`` when given); the fit is in ``correction.info["label_confusion"]``.
    ``line_window`` (Å): the spectrograph's wavelength range, where a confused line must
    have been seen; it sharpens the model (a z = 1 galaxy shows only [OII] in 3600–9500 Å,
    so its wrong label can only be [OII]→Hα). None: any wavelength.
    ``survey_column``: the training objects' survey, for a compilation of surveys; the
    ``success`` correction then fits one success surface per combination of the surveys'
    targeting footprints (:func:`cosmoml.shift.weights.success_weights`, ``groups``); other
    corrections ignore it. ``train_source``, ``science_source``: how errors name the two
    catalogues (their files, from the CLI).
    """
    if n_boot < 2:
        raise ConfigError(f"n_boot must be at least 2 (the per-bin errors are bootstrap "
                          f"spreads), got {n_boot}")
    if label_model not in (None, "none", "lines"):
        raise ConfigError(f"label_model must be 'none' or 'lines', got {label_model!r}")
    if flag_column is not None and flag_column not in train.columns:
        raise ConfigError(f"{train_source}: no flag column {flag_column!r}")
    groups = survey_labels(train, survey_column, train_source)
    z_spec = redshift_labels(train, labels_column or columns.z_column, train_source)
    if nz_from is not None and nz_from not in NZ_FROM:
        raise ConfigError(f"nz_from must be one of {NZ_FROM}, got {nz_from!r}")
    if method not in NZ_METHODS:
        raise ConfigError(f"unknown n(z) method {method!r}; choose one of {NZ_METHODS}")
    edges = np.asarray(edges, dtype=float)
    n_bins = edges.size - 1
    sci_cols = science_columns or columns
    X_t, X_s_all, valid_s, names = shift_features(train, science, columns, sci_cols,
                                                  (train_source, science_source))
    X_s = X_s_all[valid_s]
    diag = diagnostics or diagnose(X_t, X_s, names, random_state=seed)
    if method == "auto":
        chosen, auto_cull, auto_form, auto_labels = choose_method(diag)
        cull = auto_cull if cull is None else cull
        nz_from = auto_form if nz_from is None else nz_from
        label_model = auto_labels if label_model is None else label_model
        log.info("auto: %s+%s%s (verdict %s)", chosen, nz_from, " + cull" if cull else "",
                 diag.verdict)
    else:
        chosen, cull = method, bool(cull)
        nz_from = nz_from or "stack"
    label_model = None if label_model == "none" else label_model
    if nz_from == "ppi" and chosen in ("stratlearn", "som"):
        raise ConfigError(f"nz_from='ppi' needs a weighting correction (none, lima, "
                          f"classifier, success), not {chosen!r}: it shifts stacked PDFs by the "
                          "weighted calibration residual of one predictor")
    corr = correct(chosen, X_t, X_s, random_state=seed, z_train=z_spec, groups=groups)
    sw = None
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=float)
        if sw.shape != (len(train),) or not np.all(np.isfinite(sw)) or np.any(sw < 0) \
                or sw.sum() <= 0:
            raise ConfigError(f"sample_weight: need {len(train)} finite, non-negative "
                              "weights (one per training object), not all zero")
        w = corr.weights * sw
        corr = replace(corr, weights=w * (w.size / w.sum()))

    # photo-z model(s) trained with the correction's weights
    params = dict(estimator_params or {})
    params.setdefault("random_state", seed)
    sci = science.reset_index(drop=True)
    fit_cols = columns if labels_column is None else ColumnMap(
        **{**columns.__dict__, "z_column": labels_column})
    # the training set's own bins come from out-of-fold predictions: in-sample ones are too
    # good (a forest's leaves contain the object itself), which would make the bins look
    # cleaner than the science sample's. For ``ppi`` the science objects are predicted by
    # the same fold models (each by one drawn at random), so that the residuals measured on
    # the training objects are those of the predictor the science objects see.
    pdfs_train, fold_models, folds_sci = _out_of_fold_pdfs(
        train, fit_cols, corr.weights, estimator, params, seed,
        n_science=len(sci) if nz_from == "ppi" else None)
    if nz_from == "ppi":
        models, route = fold_models, folds_sci
    elif chosen == "stratlearn":
        models, route = _stratified_models(train, sci, fit_cols, corr, valid_s, estimator,
                                           params)
    else:
        models = {0: PhotoZModel(estimator, estimator_params=params).fit(
            train, fit_cols, sample_weight=corr.weights)}
        route = np.zeros(len(sci), dtype=np.int64)
    covered = np.zeros(len(sci), dtype=bool)
    covered[valid_s] = corr.covered
    used = covered if cull or chosen == "som" else np.ones(len(sci), dtype=bool)
    science_pass = _science_pass(sci, models, route, edges, used, science_source)
    if label_model == "lines":
        flags = None if flag_column is None else train[flag_column].to_numpy()
        lc = line_confusion(pdfs_train, z_spec, flags, wavelength_range=line_window)
        z_spec = lc.expected_z
        corr = replace(corr, info={**corr.info, "label_confusion": {
            "fractions": lc.fractions, "miss_rate": lc.miss_rate,
            "expected_wrong": float(lc.p_wrong.sum()),
            "wavelength_range": None if line_window is None else list(line_window)}})
    z_point, bins = science_pass.z_point, science_pass.bins
    bins_train = assign_bins(pdfs_train.median(), edges)
    grid = science_pass.grid
    obj_mean = science_pass.obj_mean  # per-object PDF means (NaN without a prediction)
    cal_bias = np.full(n_bins, np.nan)
    oof_mean = pdfs_train.mean()  # out-of-fold photo-z of the training objects
    zhat_train = np.where(np.isfinite(oof_mean), oof_mean, z_spec)  # labels where none
    residual = oof_mean - z_spec  # out-of-fold PDF mean minus label, per training object
    if chosen == "som":  # SOM n(z) speaks only for the gold objects
        cells_t, cells_s = corr.info["cells_train"], corr.info["cells_science"]
        b_valid = bins[valid_s]
        nz = som_nz(cells_t, z_spec, bins_train, cells_s, b_valid, grid, n_bins)
        mu = mean_z(nz, grid)

        def stat(idx):  # resample training and science objects together
            j = idx % len(cells_s)
            i = idx[: len(cells_t)] % len(cells_t)
            return mean_z(som_nz(cells_t[i], z_spec[i], bins_train[i], cells_s[j],
                                 b_valid[j], grid, n_bins), grid)

        err = bootstrap_std(stat, max(len(cells_t), len(cells_s)), n_boot, seed)
        cal_bias = _closure(som_nz(cells_t, zhat_train, bins_train, cells_s, b_valid, grid,
                                   n_bins), grid, obj_mean, bins, used, n_bins)
        err = np.sqrt(err**2 + np.nan_to_num(cal_bias) ** 2)
    elif nz_from == "dir":
        nz = dir_nz(z_spec, bins_train, grid, n_bins, corr.weights)
        mu = mean_z(nz, grid)
        _, err = binned_mean_std(z_spec, bins_train, n_bins, weights=corr.weights,
                                 n_boot=n_boot, seed=seed)
        err = np.hypot(err, _weight_spread(corr, sw, z_spec, bins_train, n_bins))
        cal_bias = _closure(dir_nz(zhat_train, bins_train, grid, n_bins, corr.weights), grid,
                            obj_mean, bins, used, n_bins)
        err = np.sqrt(err**2 + np.nan_to_num(cal_bias) ** 2)
    elif nz_from == "point":
        ok = (bins >= 0) & used
        nz = point_nz(z_point[ok], bins[ok], grid, n_bins)
        mu = mean_z(nz, grid)
        _, err = binned_mean_std(z_point[ok], bins[ok], n_bins, n_boot=n_boot, seed=seed)
    else:  # stacked science PDFs ("stack", and "ppi" shifted by the calibration residual)
        ok = (bins >= 0) & used
        nz = np.array([science_pass.stack(b) for b in range(n_bins)])
        _, err_sci = binned_mean_std(obj_mean[ok], bins[ok], n_bins, n_boot=n_boot, seed=seed)
        if nz_from == "ppi":
            # the (weighted) calibration sample's mean residual per bin is the stacking bias
            # of this predictor; each bin's n(z) is shifted by it
            cal_bias, err_res = binned_mean_std(residual, bins_train, n_bins,
                                                weights=corr.weights, n_boot=n_boot, seed=seed)
            err_res = np.hypot(err_res, _weight_spread(corr, sw, residual, bins_train, n_bins))
            nz = shift_nz(nz, grid, -np.nan_to_num(cal_bias))
            err = np.sqrt(err_sci**2 + np.where(np.isfinite(cal_bias), err_res, np.inf) ** 2)
        else:
            err_cal = calibration_noise(nz, grid, bins_train, n_bins, corr.weights)
            # the stacking bias the (weighted) calibration sample shows in each bin; not
            # subtracted (it is only as good as the weights and the labels), but no bin
            # claims an error below it
            cal_bias, _ = binned_mean_std(residual, bins_train, n_bins,
                                          weights=corr.weights, n_boot=0)
            err = np.sqrt(err_sci**2 + err_cal**2 + np.nan_to_num(cal_bias) ** 2)
        mu = mean_z(nz, grid)

    # the uncovered objects a bin still speaks for: nothing in the training set constrains
    # their redshifts, so they may move the bin's mean by about their fraction times the
    # bin's width; said in the error rather than hidden (zero when culled, and for SOM)
    uncovered = np.array([np.mean(~covered[(bins == b) & used]) if ((bins == b) & used).any()
                          else 0.0 for b in range(n_bins)])
    err = np.sqrt(err**2 + np.nan_to_num(uncovered * std_z(nz, grid)) ** 2)

    has_mean = np.isfinite(obj_mean) & used
    mean_all = float(np.mean(obj_mean[has_mean])) if has_mean.any() else np.nan
    if nz_from == "ppi":  # the whole sample's mean, corrected by the whole training set
        mean_all -= float(np.average(residual, weights=corr.weights))
    rows = []
    for b in range(n_bins):
        sel = bins == b
        row = {
            "bin": b, "z_lo": edges[b], "z_hi": edges[b + 1], "mean_z": mu[b],
            "mean_z_err": err[b], "covered_fraction": float(covered[sel].mean()) if sel.any()
            else np.nan, "n_objects": int(sel.sum()), "calibration_bias": cal_bias[b],
        }
        if z_true is not None:
            zt = np.asarray(z_true, dtype=float)[sel & used]
            mt = zt.mean() if zt.size else np.nan
            row.update(mean_z_true=mt, delta_mean_z=mu[b] - mt,
                       delta_mean_z_scaled=abs(mu[b] - mt) / (1 + mt))
        rows.append(row)
    table = pd.DataFrame(rows)
    assignments = pd.DataFrame({"bin": bins.astype(np.int16), "z_phot": z_point,
                                "covered": covered})
    if sci_cols.id_column and sci_cols.id_column in sci.columns:
        assignments.insert(0, sci_cols.id_column, sci[sci_cols.id_column].to_numpy())
    name = (chosen + ("" if nz_from == "stack" else f"+{nz_from}")
            + ("+lines" if label_model else "") + ("+cull" if cull else ""))
    return NZResult(name, table, nz, grid, assignments, diag, corr, mean_all, used)


def _weight_spread(corr, sw, values, bins_train, n_bins: int) -> np.ndarray:
    """Per bin, the standard deviation of the weighted mean of ``values`` over the
    correction's weight draws (its fit's own uncertainty; zero for corrections without
    draws), the survey weights ``sw`` multiplied in."""
    if corr.weight_draws is None:
        return np.zeros(n_bins)
    means = [binned_mean_std(values, bins_train, n_bins, n_boot=0,
                             weights=w if sw is None else w * sw)[0]
             for w in corr.weight_draws()]
    return np.nan_to_num(np.std(means, axis=0, ddof=1))


def _closure(nz_of_photoz: np.ndarray, grid: np.ndarray, obj_mean: np.ndarray,
             bins: np.ndarray, used: np.ndarray, n_bins: int) -> np.ndarray:
    """Per bin, the calibration run on the training objects' out-of-fold photo-z instead
    of their labels, minus the science objects' own mean photo-z: where the photo-z are
    known on both sides, how far the (weighted) training set misses the science sample.
    A DIR or SOM bin's labels inherit that mismatch; it is added to the error, not
    subtracted (the photo-z are a proxy for the redshift, not the redshift)."""
    sci = np.array([np.nanmean(obj_mean[(bins == b) & used])
                    if ((bins == b) & used & np.isfinite(obj_mean)).any() else np.nan
                    for b in range(n_bins)])
    return mean_z(nz_of_photoz, grid) - sci


def _out_of_fold_pdfs(train, columns, weights, estimator, params, seed, n_folds: int = 3,
                      n_science: int | None = None
                      ) -> tuple[PDFs, dict[int, PhotoZModel], np.ndarray | None]:
    """PDFs of each training object from a model that did not see it (seeded folds), the
    fold models, and, if ``n_science`` is given, which fold model predicts each science
    object (drawn at random: cross-fitting, so that both samples see statistically the same
    predictor)."""
    rng = np.random.default_rng([seed, 7])
    folds = rng.integers(0, n_folds, len(train))
    folds_sci = None if n_science is None else rng.integers(0, n_folds, n_science)
    out = None
    models = {}
    for f in range(n_folds):
        fit, pred = folds != f, folds == f
        models[f] = PhotoZModel(estimator, estimator_params=params).fit(
            train[fit].reset_index(drop=True), columns, sample_weight=weights[fit])
        p, _ = models[f].predict_pdf(train[pred].reset_index(drop=True), "training catalogue")
        if out is None:
            out = np.empty((len(train), p.grid.size), dtype=np.float32)
        out[pred] = p.pdf
    return PDFs(p.grid, out, normalised=True), models, folds_sci


def _stratified_models(train, sci, columns, corr, valid_s, estimator, params
                       ) -> tuple[dict[int, PhotoZModel], np.ndarray]:
    """StratLearn: one model per propensity stratum (neighbours borrowed when too few), and
    each science object's stratum (−1: no prediction)."""
    s_train = corr.info["strata_train"]
    s_sci = np.full(len(sci), -1)
    s_sci[valid_s] = corr.info["strata_science"]
    n_strata = corr.info["n_strata"]
    # a stratum's model sees at least a fifth of the training set (500 objects at least):
    # science-heavy strata hold few training objects, and a photo-z model fitted on a few
    # hundred is dominated by its noise
    groups = stratum_groups(s_train, n_strata, min_train=min(max(500, len(train) // 5),
                                                             len(train)))
    models = {}
    for s, (lo, hi) in enumerate(groups):
        if not (s_sci == s).any():
            continue
        sel = (s_train >= lo) & (s_train <= hi)
        models[s] = PhotoZModel(estimator, estimator_params=params).fit(
            train[sel].reset_index(drop=True), columns)
    return models, s_sci


@dataclass
class _SciencePass:
    """What the n(z) needs of the science PDFs: per-object point estimate (PDF median),
    mean and bin, and per bin the sum and count of the used objects' PDFs."""

    grid: np.ndarray
    z_point: np.ndarray
    obj_mean: np.ndarray
    bins: np.ndarray
    pdf_sum: np.ndarray  # (n_bins, grid) float64
    pdf_count: np.ndarray  # (n_bins,)

    def stack(self, b: int) -> np.ndarray:
        """Bin ``b``'s stacked n(z), as :meth:`cosmoml.pdf.PDFs.stack` of its used objects."""
        if self.pdf_count[b] == 0:
            return np.zeros(self.grid.size)
        return PDFs(self.grid, self.pdf_sum[b][None], normalised=True).stack()


def _science_pass(sci, models: dict[int, PhotoZModel], route: np.ndarray, edges, used,
                  source: str = "science catalogue", block: int | None = None
                  ) -> _SciencePass:
    """Predict the science sample ``block`` rows (default :data:`SCIENCE_BLOCK`) at a time,
    each row by ``models[route]`` (no model: no prediction), keeping only what
    :class:`_SciencePass` holds: memory is then a few numbers per object instead of a PDF
    per object (1.2 KB on the default grid). A row's PDF does not depend on the rows
    predicted with it, so this equals predicting the whole sample at once (up to the
    summation order of the stacks)."""
    block = block or SCIENCE_BLOCK
    grid = next(iter(models.values())).estimator_.grid_
    n, n_bins = len(sci), len(edges) - 1
    z_point, obj_mean = np.full(n, np.nan), np.full(n, np.nan)
    bins = np.full(n, -1, dtype=np.int64)
    pdf_sum, pdf_count = np.zeros((n_bins, grid.size)), np.zeros(n_bins)
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        pdf = None  # in the estimator's own precision (float32 or float64)
        for key, model in models.items():
            mine = route[rows] == key
            if mine.any():
                p, _ = model.predict_pdf(sci.iloc[rows[mine]].reset_index(drop=True), source)
                if pdf is None:
                    pdf = np.full((rows.size, grid.size), np.nan, dtype=p.pdf.dtype)
                pdf[mine] = p.pdf
        if pdf is None:  # no row of this block has a model: no estimates, no bins
            continue
        p = PDFs(grid, pdf, normalised=True)
        z_point[rows], obj_mean[rows] = p.median(), p.mean()
        b_rows = assign_bins(z_point[rows], edges)  # −1 where there is no PDF
        bins[rows] = b_rows
        for b in range(n_bins):
            sel = used[rows] & (b_rows == b)
            if sel.any():
                pdf_sum[b] += pdf[sel].sum(axis=0, dtype=np.float64)
                pdf_count[b] += sel.sum()
    return _SciencePass(grid, z_point, obj_mean, bins, pdf_sum, pdf_count)
