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
   all held in memory; a catalogue too large to hold at all is a
   :class:`cosmoml.nz.science.ScienceFiles`, read part by part, its correction fitted on a
   random sample of it);
4. n(z) per bin by stacking the science PDFs (SOM cells for ``som``), and the mean
   redshift's uncertainty: a bootstrap over science objects added in quadrature to the
   calibration sample's shot noise (:func:`cosmoml.nz.methods.calibration_noise`) and to
   the stacking bias the weighted calibration sample shows in the bin
   (``calibration_bias``: out-of-fold PDF means minus labels) and to the uncovered
   objects' leverage (their fraction in the bin times the bin's n(z) width: nothing
   constrains their redshifts). For ``som``, a bootstrap over training and science objects
   together (read part by part: the training objects and a Poisson draw of the science
   counts per cell); for ``som`` and DIR, the stacking-bias term is replaced by their photo-z
   closure (the same calibration run on the training objects' out-of-fold photo-z against
   the science objects' mean photo-z, ``calibration_bias`` in the table). ``ppi``
   subtracts the stacking bias instead of budgeting it (see :func:`estimate_nz`).
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from cosmoml.catalog.columns import ColumnMap
from cosmoml.catalog.features import PhotometryFeatures
from cosmoml.catalog.io import as_frame
from cosmoml.errors import CatalogError, ConfigError, CosmomlError
from cosmoml.model import PhotoZModel, _photometry, grid_json, redshift_labels
from cosmoml.nz.methods import (
    binned_mean_std,
    bootstrap_std,
    calibration_noise,
    counts_nz,
    dir_nz,
    grid_counts,
    mean_z,
    shift_nz,
    som_nz,
    som_nz_counts,
    std_z,
)
from cosmoml.nz.science import SCIENCE_BLOCK, ScienceFiles, assignment_writer
from cosmoml.nz.tomo import DES_Y1_EDGES, assign_bins, check_edges
from cosmoml.pdf import PDFs
from cosmoml.registry import DEFAULT_ESTIMATOR
from cosmoml.shift import Correction, ShiftDiagnostics, correct, diagnose, stratum_groups
from cosmoml.shift.labels import line_confusion

log = logging.getLogger(__name__)

NZ_METHODS = ("auto", "none", "lima", "classifier", "stratlearn", "som", "success")
#: How a bin's n(z) is formed (besides SOM): stacked PDFs, weighted spec-z histogram, or the
#: histogram of the science objects' point estimates (the naive baseline).
NZ_FROM = ("stack", "dir", "point", "ppi")
#: fewest science objects with a detection the shift diagnostics can compare (their
#: classifier test is 3-fold cross-validated, their kNN scale needs neighbours)
MIN_SCIENCE = 20
#: fewest training objects ``estimate_nz`` trains on: its 3 out-of-fold models see about
#: two thirds each, and an estimator needs 20
MIN_TRAIN = 60


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
    train, science = as_frame(train, sources[0]), as_frame(science, sources[1])
    feats, X_t = _fit_shift_features(train, columns, sources[0])
    X_s, valid_s = _shift_transform(feats, science, science_columns or columns, sources[1])
    _check_science_rows(valid_s, sources[1])
    return X_t, X_s, valid_s, feats.feature_names


def _check_science_rows(valid: np.ndarray, source: str, sampled: bool = False) -> None:
    """Raise if fewer than :data:`MIN_SCIENCE` science rows have a detection in any band."""
    n = int(valid.sum())
    if n < MIN_SCIENCE:
        of = f"of the {valid.size:,} rows sampled" if sampled else f"of its {valid.size:,} rows"
        raise CatalogError(f"{source}: only {n} {of} have a detection in any band (a "
                           "magnitude that is finite, positive and not a 99/-99 sentinel); "
                           f"comparing it with the training set needs at least {MIN_SCIENCE}")


def _fit_shift_features(train: pd.DataFrame, columns: ColumnMap, source: str
                        ) -> tuple[PhotometryFeatures, np.ndarray]:
    """The shift features fitted on the training set, and its rows (all must be valid)."""
    mags = _photometry(train, columns, source)[0]
    feats = PhotometryFeatures(columns.bands, policy="limit", magnitudes="reference").fit(mags)
    X_t, valid_t = feats.transform(mags)
    if not valid_t.all():
        raise ConfigError(f"{source}: {int((~valid_t).sum())} rows have no detection in any "
                          "band; remove them")
    return feats, X_t


def _shift_transform(feats: PhotometryFeatures, df: pd.DataFrame, columns: ColumnMap,
                     source: str) -> tuple[np.ndarray, np.ndarray]:
    """Shift features of ``df``'s rows and which rows have them (a detection somewhere)."""
    return feats.transform(_photometry(df, columns, source)[0])


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
    #: a catalogue read part by part whose earlier run was stopped: what this run reused of
    #: it (``fit``: its fitted correction and models; ``parts``: parts done, of ``of``)
    resumed: dict | None = None

    @property
    def warnings(self) -> list[str]:
        """The diagnostics' warnings and the correction's own (e.g. a misfit)."""
        own = self.correction.info.get("warning")
        return [*(self.diagnostics.warnings if self.diagnostics else []), *([own] if own else [])]


def _in_session(fn: Callable) -> Callable:
    """Run ``fn(train, science, ...)`` inside ``science.session()`` when ``science`` is a
    :class:`ScienceFiles` (one Dask cluster for all its passes)."""
    @functools.wraps(fn)
    def wrapper(train, science, *args, **kwargs):
        if not isinstance(science, ScienceFiles):
            return fn(train, science, *args, **kwargs)
        with science.session():
            return fn(train, science, *args, **kwargs)
    return wrapper


@_in_session
def estimate_nz(
    train: pd.DataFrame,
    science: pd.DataFrame | ScienceFiles,
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
    progress: Callable[[int, int], None] | None = None,
) -> NZResult:
    """Tomographic n(z) of ``science`` calibrated on ``train`` (see the module docstring).

    ``science``: a DataFrame, or a :class:`cosmoml.nz.science.ScienceFiles` for a catalogue
    too large to hold: the diagnostics and the correction then see its random sample of
    ``sample_rows`` rows, each object's coverage comes from the correction's rule
    (``Correction.covers``), ``ppi``'s fold model of each row from its row number, the
    per-object results go to its ``assignments`` file (``assignments`` returned None), the
    science shot noise in ``mean_z_err`` is σ/√n per bin instead of a bootstrap (``som``:
    a Poisson bootstrap of the science counts per cell; ``stratlearn``: each row's stratum
    from the mean of the cross-fitted propensity classifiers), and ``z_true`` is refused.

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
    catalogues (their files, from the CLI). ``progress(done, total)``, if given, is called
    after each block of science objects predicted (rows so far, all rows).
    """
    if n_boot < 2:
        raise ConfigError(f"n_boot must be at least 2 (the per-bin errors are bootstrap "
                          f"spreads), got {n_boot}")
    check_edges(edges)
    train = as_frame(train, train_source)
    if not isinstance(science, ScienceFiles):
        science = as_frame(science, science_source)
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
    files = science if isinstance(science, ScienceFiles) else None
    settings = dict(method=method, estimator=estimator, seed=seed,
                    estimator_params=estimator_params, labels_column=labels_column, cull=cull,
                    diagnostics=diagnostics, nz_from=nz_from, sample_weight=sample_weight,
                    label_model=label_model, groups=groups, z_spec=z_spec)
    if files is not None:
        if z_true is not None:
            raise ConfigError("z_true needs the science sample in memory (a DataFrame)")
        science_source = files.source
        # what a rerun after a killed run may reuse (fit.pkl): keyed by everything it
        # depends on (cloudpickle: estimator parameters may be any object; one that pickles
        # differently in another process only costs a refit)
        import cloudpickle

        key = files.run_key(cloudpickle.dumps((columns, edges, flag_column, line_window,
                                               survey_column, settings)),
                            _frame_checksum(train))
        fit = files.load_fit(key)
        fit_reused = fit is not None
        if fit is None:
            # the diagnostics and the correction see a random sample of the rows
            fit = _calibrate(train, files.sample(seed)[0], files.columns, columns,
                             train_source, science_source, files=files, **settings)
            files.save_fit(key, fit)
    else:
        key, sci, fit_reused = None, science.reset_index(drop=True), False
        fit = _calibrate(train, sci, science_columns or columns, columns, train_source,
                         science_source, **settings)
    diag, chosen, corr, name = fit.diag, fit.chosen, fit.corr, fit.name
    nz_from, label_model, sw, pdfs_train = fit.nz_from, fit.label_model, fit.sw, fit.pdfs_train
    if files is None:
        covered = np.zeros(len(sci), dtype=bool)
        covered[fit.valid_s] = corr.covered
        cells = None
        if fit.n_cells:
            cells = np.full(len(sci), -1)  # no cell: no photometry, so no PDF and no bin
            cells[fit.valid_s] = corr.info["cells_science"]
        route = fit.route
        blocks = ((sci.iloc[a:a + SCIENCE_BLOCK], covered[a:a + SCIENCE_BLOCK],
                   route[a:a + SCIENCE_BLOCK], None if cells is None else
                   cells[a:a + SCIENCE_BLOCK]) for a in range(0, len(sci), SCIENCE_BLOCK))
        sp = _science_pass(blocks, fit.models, edges, fit.restrict, science_source,
                           n_cells=fit.n_cells, progress=None if progress is None
                           else (lambda k: progress(k, len(sci))))
    else:
        job = _PassJob(files, fit.feats, corr, fit.models,
                       seed if nz_from == "ppi" else None, fit.n_folds, edges, fit.restrict,
                       fit.n_cells)
        meta = {**files.metadata, "method": name, "grid": grid_json(pdfs_train.grid)}
        sp = _files_pass(job, meta, None if progress is None
                         else (lambda k: progress(k, files.n_rows)))
    if label_model == "lines":
        flags = None if flag_column is None else train[flag_column].to_numpy()
        lc = line_confusion(pdfs_train, z_spec, flags, wavelength_range=line_window)
        z_spec = lc.expected_z
        corr = replace(corr, info={**corr.info, "label_confusion": {
            "fractions": lc.fractions, "miss_rate": lc.miss_rate,
            "expected_wrong": float(lc.p_wrong.sum()),
            "wavelength_range": None if line_window is None else list(line_window)}})
    bins_train = assign_bins(pdfs_train.median(), edges)
    grid = sp.grid
    cal_bias = np.full(n_bins, np.nan)
    oof_mean = pdfs_train.mean()  # out-of-fold photo-z of the training objects
    zhat_train = np.where(np.isfinite(oof_mean), oof_mean, z_spec)  # labels where none
    residual = oof_mean - z_spec  # out-of-fold PDF mean minus label, per training object
    if chosen == "som":  # SOM n(z) speaks only for the gold objects
        cells_t = corr.info["cells_train"]
        nz = som_nz_counts(cells_t, z_spec, bins_train, sp.cell_counts, grid)
        mu = mean_z(nz, grid)
        if files is None:
            cells_s, b_valid = corr.info["cells_science"], sp.bins[fit.valid_s]

            def stat(idx):  # resample training and science objects together
                j = idx % len(cells_s)
                i = idx[: len(cells_t)] % len(cells_t)
                return mean_z(som_nz(cells_t[i], z_spec[i], bins_train[i], cells_s[j],
                                     b_valid[j], grid, n_bins), grid)

            err = bootstrap_std(stat, max(len(cells_t), len(cells_s)), n_boot, seed)
        else:
            err = _som_poisson_err(cells_t, z_spec, bins_train, sp.cell_counts, grid,
                                   n_boot, seed)
        cal_bias = mean_z(som_nz_counts(cells_t, zhat_train, bins_train, sp.cell_counts,
                                        grid), grid) - sp.bin_mean()
        err = np.sqrt(err**2 + np.nan_to_num(cal_bias) ** 2)
    elif nz_from == "dir":
        nz = dir_nz(z_spec, bins_train, grid, n_bins, corr.weights)
        mu = mean_z(nz, grid)
        _, err = binned_mean_std(z_spec, bins_train, n_bins, weights=corr.weights,
                                 n_boot=n_boot, seed=seed)
        err = np.hypot(err, _weight_spread(corr, sw, z_spec, bins_train, n_bins))
        cal_bias = mean_z(dir_nz(zhat_train, bins_train, grid, n_bins, corr.weights),
                          grid) - sp.bin_mean()
        err = np.sqrt(err**2 + np.nan_to_num(cal_bias) ** 2)
    elif nz_from == "point":  # the histogram of the used objects' point estimates
        nz = counts_nz(sp.point_counts, grid)
        mu = mean_z(nz, grid)
        err = sp.bin_mean_err(n_boot, seed, of="point")
    else:  # stacked science PDFs ("stack", and "ppi" shifted by the calibration residual)
        nz = np.array([sp.stack(b) for b in range(n_bins)])
        err_sci = sp.bin_mean_err(n_boot, seed)
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
    uncovered = np.divide(sp.n_used_uncovered, sp.n_used, out=np.zeros(n_bins),
                          where=sp.n_used > 0)
    err = np.sqrt(err**2 + np.nan_to_num(uncovered * std_z(nz, grid)) ** 2)

    mean_all = sp.all_sum / sp.all_n if sp.all_n else np.nan
    if nz_from == "ppi":  # the whole sample's mean, corrected by the whole training set
        mean_all -= float(np.average(residual, weights=corr.weights))
    rows = []
    for b in range(n_bins):
        row = {
            "bin": b, "z_lo": edges[b], "z_hi": edges[b + 1], "mean_z": mu[b],
            "mean_z_err": err[b], "covered_fraction": sp.n_covered[b] / sp.n[b] if sp.n[b]
            else np.nan, "n_objects": int(sp.n[b]), "calibration_bias": cal_bias[b],
        }
        if z_true is not None:
            zt = np.asarray(z_true, dtype=float)[(sp.bins == b) & sp.used]
            mt = zt.mean() if zt.size else np.nan
            row.update(mean_z_true=mt, delta_mean_z=mu[b] - mt,
                       delta_mean_z_scaled=abs(mu[b] - mt) / (1 + mt))
        rows.append(row)
    table = pd.DataFrame(rows)
    assignments = None
    if files is None:
        assignments = _assignments(sci, (science_columns or columns).id_column, sp.bins,
                                   sp.z_point, sp.covered)
    resumed = None
    if files is not None and (fit_reused or sp.resumed_parts):
        resumed = {"fit": fit_reused, "parts": sp.resumed_parts, "of": len(files.parts)}
    return NZResult(name, table, nz, grid, assignments, diag, corr, mean_all, sp.used,
                    resumed)


def _frame_checksum(df: pd.DataFrame) -> bytes:
    """The content of ``df`` as bytes to hash: pandas' row hashes, or, where a column holds
    unhashable values (arrays, lists), the pickled table."""
    try:
        return pd.util.hash_pandas_object(df).to_numpy().tobytes()
    except TypeError:
        import cloudpickle

        return cloudpickle.dumps(df)


@dataclass
class _Fit:
    """What :func:`estimate_nz` learns before the science pass (kept by a run read part by
    part for a rerun, :meth:`ScienceFiles.save_fit`): the diagnostics, the method and form
    chosen, the correction, the photo-z models and the training set's out-of-fold PDFs;
    for a sample in memory also its rows' models (``route``) and which have photometry."""

    feats: PhotometryFeatures
    diag: ShiftDiagnostics
    chosen: str
    nz_from: str
    label_model: str | None
    corr: Correction
    sw: np.ndarray | None
    pdfs_train: PDFs
    models: dict[int, PhotoZModel]
    n_folds: int
    name: str
    restrict: bool
    n_cells: int
    route: np.ndarray | None = None
    valid_s: np.ndarray | None = None


def _calibrate(train: pd.DataFrame, sci: pd.DataFrame, sci_cols: ColumnMap,
               columns: ColumnMap, train_source: str, science_source: str, *, method: str,
               estimator: str, seed: int, estimator_params: dict | None,
               labels_column: str | None, cull: bool | None,
               diagnostics: ShiftDiagnostics | None, nz_from: str | None,
               sample_weight: np.ndarray | None, label_model: str | None,
               groups: np.ndarray | None, z_spec: np.ndarray,
               files: ScienceFiles | None = None) -> _Fit:
    """:func:`estimate_nz` up to the science pass (its arguments; ``sci``: the science
    sample, or the random sample of ``files``)."""
    if len(train) < MIN_TRAIN:
        raise CatalogError(f"{train_source}: {len(train)} training objects; an n(z) needs at "
                           f"least {MIN_TRAIN} (it trains 3 out-of-fold photo-z models)")
    feats, X_t = _fit_shift_features(train, columns, train_source)
    names = feats.feature_names
    X_s_all, valid_s = _shift_transform(feats, sci, sci_cols, science_source)
    _check_science_rows(valid_s, science_source, sampled=files is not None)
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
    if files is not None and corr.covers is None:
        raise ConfigError(f"a science catalogue read part by part ({files.n_rows} rows, more "
                          f"than the {files.sample_rows} sampled) needs a correction with a "
                          f"coverage rule for the rows it did not see; {chosen!r} has none")
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
    fit_cols = columns if labels_column is None else ColumnMap(
        **{**columns.__dict__, "z_column": labels_column})
    # the training set's own bins come from out-of-fold predictions: in-sample ones are too
    # good (a forest's leaves contain the object itself), which would make the bins look
    # cleaner than the science sample's. For ``ppi`` the science objects are predicted by
    # the same fold models (each by one drawn at random), so that the residuals measured on
    # the training objects are those of the predictor the science objects see.
    pdfs_train, fold_models, folds_sci = _out_of_fold_pdfs(
        train, fit_cols, corr.weights, estimator, params, seed,
        n_science=len(sci) if nz_from == "ppi" and files is None else None)
    if nz_from == "ppi":
        models, route = fold_models, folds_sci
    elif chosen == "stratlearn":
        models, route = _stratified_models(train, sci, fit_cols, corr, valid_s, estimator,
                                           params, every_stratum=files is not None)
    else:
        models = {0: PhotoZModel(estimator, estimator_params=params).fit(
            train, fit_cols, sample_weight=corr.weights)}
        route = np.zeros(len(sci), dtype=np.int64)
    name = (chosen + ("" if nz_from == "stack" else f"+{nz_from}")
            + ("+lines" if label_model else "") + ("+cull" if cull else ""))
    restrict = bool(cull) or chosen == "som"  # the n(z) speaks for the covered objects only
    n_cells = corr.info["n_cells"] if chosen == "som" else 0  # SOM: count objects per cell
    in_memory = files is None  # else the sample's rows are not the ones predicted
    return _Fit(feats, diag, chosen, nz_from, label_model, corr, sw, pdfs_train, models,
                len(fold_models), name, restrict, n_cells, route if in_memory else None,
                valid_s if in_memory else None)


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


def _stratified_models(train, sci, columns, corr, valid_s, estimator, params,
                       every_stratum: bool = False
                       ) -> tuple[dict[int, PhotoZModel], np.ndarray]:
    """StratLearn: one model per propensity stratum (neighbours borrowed when too few) that
    holds science objects (``every_stratum``: every stratum, for rows not yet seen), and
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
        if not (every_stratum or (s_sci == s).any()):
            continue
        sel = (s_train >= lo) & (s_train <= hi)
        models[s] = PhotoZModel(estimator, estimator_params=params).fit(
            train[sel].reset_index(drop=True), columns)
    return models, s_sci


@dataclass
class _SciencePass:
    """What the n(z) needs of the science PDFs, summed over the science objects: per bin,
    the objects, the covered ones, the *used* ones (all, or the covered ones when the n(z)
    is restricted to them), the used uncovered ones, the used objects' PDF sum and the sum
    and sum of squares of their PDF means; over all used objects with a PDF, the sum and
    count of PDF means. Per bin also the used objects' point estimates: their counts on the
    grid (:func:`cosmoml.nz.methods.grid_counts`), sum and sum of squares; and with
    ``n_cells`` (SOM) the used objects' counts per cell. With ``keep_objects`` also per
    object (in catalogue order): point estimate (PDF median), PDF mean, bin (−1: outside
    all bins or no PDF), covered, used; otherwise those are None."""

    grid: np.ndarray
    n_bins: int
    keep_objects: bool = True
    n_cells: int = 0
    #: parts whose sums an earlier, stopped run left (:func:`_files_pass`)
    resumed_parts: int = 0

    def __post_init__(self) -> None:
        self.pdf_sum, self.point_counts = np.zeros((2, self.n_bins, self.grid.size))
        self.n, self.n_covered, self.n_used, self.n_used_uncovered = np.zeros((4, self.n_bins))
        self.mean_sum, self.mean_sumsq = np.zeros((2, self.n_bins))
        self.point_sum, self.point_sumsq = np.zeros((2, self.n_bins))
        self.cell_counts = np.zeros((self.n_bins, self.n_cells))
        self.all_sum, self.all_n = 0.0, 0
        self._objects: list[tuple] = []

    def add(self, pdf: np.ndarray | None, covered: np.ndarray, used: np.ndarray,
            edges: np.ndarray, cells: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """Add a block of objects (``pdf``: their PDFs, NaN rows without one; None: no row
        has one; ``cells``: their SOM cells, with ``n_cells``); returns their point
        estimates and bins."""
        n = covered.size
        z_point, obj_mean = np.full(n, np.nan), np.full(n, np.nan)
        if pdf is not None:
            p = PDFs(self.grid, pdf, normalised=True)
            z_point, obj_mean = p.median(), p.mean()
        bins = assign_bins(z_point, edges)  # −1 where there is no PDF
        for b in range(self.n_bins):
            sel = bins == b
            use = sel & used
            self.n[b] += sel.sum()
            self.n_covered[b] += (sel & covered).sum()
            self.n_used[b] += use.sum()
            self.n_used_uncovered[b] += (use & ~covered).sum()
            if use.any():
                self.pdf_sum[b] += pdf[use].sum(axis=0, dtype=np.float64)
                self.mean_sum[b] += obj_mean[use].sum()
                self.mean_sumsq[b] += np.square(obj_mean[use]).sum()
                z_use = z_point[use]
                self.point_counts[b] += grid_counts(z_use, np.ones(z_use.size), self.grid)
                self.point_sum[b] += z_use.sum()
                self.point_sumsq[b] += np.square(z_use).sum()
                if self.n_cells:
                    self.cell_counts[b] += np.bincount(cells[use], minlength=self.n_cells)
        has = used & np.isfinite(obj_mean)
        self.all_sum += float(obj_mean[has].sum())
        self.all_n += int(has.sum())
        if self.keep_objects:
            self._objects.append((z_point, obj_mean, bins, covered, used))
        return z_point, bins

    def merge(self, other: _SciencePass) -> None:
        """Add another pass's sums (of other objects; neither keeps objects)."""
        if self.keep_objects or other.keep_objects:
            raise ValueError("only passes that keep no objects can be merged")
        for name in ("pdf_sum", "point_counts", "n", "n_covered", "n_used",
                     "n_used_uncovered", "mean_sum", "mean_sumsq", "point_sum",
                     "point_sumsq", "cell_counts"):
            getattr(self, name).__iadd__(getattr(other, name))
        self.all_sum += other.all_sum
        self.all_n += other.all_n

    def finish(self) -> _SciencePass:
        """Join the kept per-object arrays."""
        names = ("z_point", "obj_mean", "bins", "covered", "used")
        joined = ([np.concatenate(c) for c in zip(*self._objects, strict=True)]
                  if self._objects else [None] * 5)
        for name, value in zip(names, joined, strict=True):
            setattr(self, name, value)
        self._objects = []
        return self

    def stack(self, b: int) -> np.ndarray:
        """Bin ``b``'s stacked n(z), as :meth:`cosmoml.pdf.PDFs.stack` of its used objects."""
        if self.n_used[b] == 0:
            return np.zeros(self.grid.size)
        return PDFs(self.grid, self.pdf_sum[b][None], normalised=True).stack()

    def bin_mean(self) -> np.ndarray:
        """Per bin, the mean of the used objects' PDF means (NaN for an empty bin). DIR and
        SOM compare it with the same calibration run on the training objects' out-of-fold
        photo-z (their *closure*): where the photo-z are known on both sides, how far the
        weighted training set misses the science sample."""
        return np.divide(self.mean_sum, self.n_used, out=np.full(self.n_bins, np.nan),
                         where=self.n_used > 0)

    def bin_mean_err(self, n_boot: int, seed: int, of: str = "pdf_mean") -> np.ndarray:
        """Per bin, the standard error of the used objects' mean PDF mean (:meth:`bin_mean`;
        ``of="point"``: of their point estimates) over the science objects: their bootstrap
        when the objects are kept, else σ/√n from the sums (what the bootstrap estimates;
        with millions of objects it is far below every other error)."""
        if self.keep_objects:
            ok = (self.bins >= 0) & self.used
            values = self.obj_mean if of == "pdf_mean" else self.z_point
            return binned_mean_std(values[ok], self.bins[ok], self.n_bins,
                                   n_boot=n_boot, seed=seed)[1]
        total, total_sq = ((self.mean_sum, self.mean_sumsq) if of == "pdf_mean"
                           else (self.point_sum, self.point_sumsq))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / self.n_used
            var = np.maximum(total_sq / self.n_used - mean**2, 0.0)
            return np.where(self.n_used > 1, np.sqrt(var / self.n_used), np.nan)


def _science_pass(blocks: Iterable[tuple[pd.DataFrame, np.ndarray, np.ndarray,
                                         np.ndarray | None]],
                  models: dict[int, PhotoZModel], edges, restrict: bool,
                  source: str = "science catalogue", keep_objects: bool = True,
                  write: Callable[[pd.DataFrame], None] | None = None,
                  id_column: str | None = None, n_cells: int = 0,
                  progress: Callable[[int], None] | None = None) -> _SciencePass:
    """Predict the science sample block by block — ``(rows, covered, route, cells)``: each
    row by ``models[route]`` (no model: no prediction); ``cells``: SOM cells of the rows
    (with ``n_cells``), else None — keeping only what :class:`_SciencePass` sums: memory is
    then a few numbers per object (``keep_objects``) or none, instead of a PDF per object
    (1.2 KB on the default grid). ``restrict``: the n(z) uses the covered objects only.
    ``write``, if given, receives each block's assignment rows; ``progress``, the rows done
    after each block. A row's PDF does not depend on the rows predicted with it, so this
    equals predicting the whole sample at once (up to the summation order of the sums)."""
    grid, edges = _models_grid(models), np.asarray(edges, dtype=float)
    out = _SciencePass(grid, edges.size - 1, keep_objects, n_cells)
    done = 0
    for df, covered, route, cells in blocks:
        pdf = None  # in the estimator's own precision (float32 or float64)
        for key, model in models.items():
            mine = route == key
            if mine.any():
                p, _ = model.predict_pdf(df[mine].reset_index(drop=True), source)
                if pdf is None:
                    pdf = np.full((len(df), grid.size), np.nan, dtype=p.pdf.dtype)
                pdf[mine] = p.pdf
        used = covered if restrict else np.ones(len(df), dtype=bool)
        z_point, bins = out.add(pdf, covered, used, edges, cells)
        if write is not None:
            write(_assignments(df, id_column, bins, z_point, covered))
        done += len(df)
        if progress is not None:
            progress(done)
    return out.finish()


def _models_grid(models: dict[int, PhotoZModel]) -> np.ndarray:
    """The redshift grid the models' PDFs are on (all share it)."""
    return next(iter(models.values())).estimator_.grid_


def _assignments(df: pd.DataFrame, id_column: str | None, bins, z_point, covered
                 ) -> pd.DataFrame:
    """The per-object output rows (``assignments.parquet``)."""
    out = pd.DataFrame({"bin": np.asarray(bins).astype(np.int16), "z_phot": z_point,
                        "covered": covered})
    if id_column and id_column in df.columns:
        out.insert(0, id_column, df[id_column].array)  # a nullable id stays exact
    return out


def _som_poisson_err(cells_t, z_spec, bins_train, counts_sci, grid, n_boot: int,
                     seed: int) -> np.ndarray:
    """Bootstrap standard deviation of the SOM n(z)'s mean per bin from the science counts
    per (bin, cell) (a catalogue read part by part): the training objects resampled
    (:func:`cosmoml.nz.methods.bootstrap_std`), each science count drawn from a Poisson of
    its value (the Poisson bootstrap, which for counts of millions is the ordinary one;
    one draw per resample, in order, from ``default_rng([seed, 13])``)."""
    poisson = np.random.default_rng([seed, 13])
    return bootstrap_std(lambda i: mean_z(som_nz_counts(
        cells_t[i], z_spec[i], bins_train[i], poisson.poisson(counts_sci), grid), grid),
        len(cells_t), n_boot, seed)


#: Rows per draw of the ``ppi`` fold routing of a catalogue read part by part: a fixed
#: size, so that the routing (and so the result) does not depend on the block size.
_ROUTE_BLOCK = 1 << 16


def _fold_routes(seed: int, start: int, n: int, n_folds: int) -> np.ndarray:
    """The fold model of catalogue rows ``start .. start + n − 1`` (``ppi``, read part by
    part): row r's from ``default_rng([seed, 8, r // _ROUTE_BLOCK])``."""
    first, last = start // _ROUTE_BLOCK, (start + n - 1) // _ROUTE_BLOCK
    routes = np.concatenate([np.random.default_rng([seed, 8, j]).integers(
        0, n_folds, _ROUTE_BLOCK) for j in range(first, last + 1)])
    offset = start - first * _ROUTE_BLOCK
    return routes[offset:offset + n]


def _file_blocks(blocks: Iterable[tuple[int, str, pd.DataFrame]], columns: ColumnMap,
                 feats: PhotometryFeatures, corr: Correction, route_seed: int | None,
                 n_folds: int
                 ) -> Iterator[tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray | None]]:
    """``(rows, covered, route, cells)`` of each block ``(first row, file, rows)`` of a
    catalogue read part by part (:meth:`ScienceFiles.part_blocks`): coverage by the correction's
    rule, the model by :func:`_fold_routes` (``route_seed``; None: one model) or, for
    ``stratlearn``, the propensity stratum (−1: no photometry), the SOM cells for ``som``
    (−1: no photometry; else None)."""
    som, strata = corr.method == "som", corr.method == "stratlearn"
    for start, path, df in blocks:
        X, valid = _shift_transform(feats, df, columns, path)
        covered = np.zeros(len(df), dtype=bool)
        cell = np.full(len(df), -1)  # SOM cell or propensity stratum; −1: no photometry
        if valid.any() and corr.covers_cells is not None:  # the rule and its cells at once
            covered[valid], cell[valid] = corr.covers_cells(X[valid])
        elif valid.any():
            covered[valid] = corr.covers(X[valid])
        cells = cell if som else None
        if strata:
            route = cell
        elif route_seed is None:
            route = np.zeros(len(df), dtype=np.int64)
        else:
            route = _fold_routes(route_seed, start, len(df), n_folds)
        yield df, covered, route, cells


@dataclass
class _PassJob:
    """What the science pass of a catalogue read part by part needs besides the rows: sent
    to every worker once (``engine="dask"``)."""

    files: ScienceFiles
    feats: PhotometryFeatures
    corr: Correction
    models: dict[int, PhotoZModel]
    route_seed: int | None
    n_folds: int
    edges: np.ndarray
    restrict: bool
    n_cells: int


def _pass_part(job: _PassJob, item: tuple[int, int],
               progress: Callable[[int], None] | None = None) -> _SciencePass:
    """A worker's task: :func:`_science_pass` of part ``item = (index, first catalogue
    row)`` of ``job.files`` (sums only), its assignment rows to
    :meth:`ScienceFiles.part_file` (atomically; not written without an assignments file);
    ``progress``: its rows done after each block."""
    i, start = item
    files = job.files
    blocks = _file_blocks(files.part_blocks(files.parts[i], start), files.columns, job.feats,
                          job.corr, job.route_seed, job.n_folds)
    out = None if files.state_dir is None else files.part_file(i)
    with assignment_writer(out, {}) as write:
        return _science_pass(blocks, job.models, job.edges, job.restrict, files.source,
                             keep_objects=False, write=write,
                             id_column=files.columns.id_column, n_cells=job.n_cells,
                             progress=progress)


def _files_pass(job: _PassJob, meta: dict[str, str],
                progress: Callable[[int], None] | None) -> _SciencePass:
    """The science pass of a catalogue read part by part, part after part here
    (``engine="local"``) or on a Dask cluster (``"dask"``): each part's assignment rows
    and sums are kept in ``job.files.state_dir`` (those an earlier run of the same fit
    left there are reused, not recomputed), the sums are added in part order, the
    assignment files joined in it into ``job.files.assignments``, and the folder removed.
    An error in the input removes it too; any other stop (a killed run) leaves it for a
    rerun."""
    files = job.files
    state = files.state_dir
    total = _SciencePass(_models_grid(job.models), job.edges.size - 1, keep_objects=False,
                         n_cells=job.n_cells)
    # the parts an earlier run finished (their sums read again when their turn comes, not
    # all held: a resumed run of 10^4 parts would hold a few hundred MB of them)
    resumed = {i for i in range(len(files.parts)) if files.load_sums(i) is not None}
    pending = [(i, start) for i, start in enumerate(files.part_starts) if i not in resumed]
    done = sum(files.parts[i].n_rows for i in resumed)  # rows predicted, resumed ones too
    total.resumed_parts = len(resumed)
    waiting: dict[int, _SciencePass] = {}  # new parts' sums not yet added (out of order)

    def add_ready(nxt: int) -> int:
        """Add the sums of parts ``nxt, nxt + 1, ...`` while they are at hand, in part
        order (so the result depends neither on timing nor on what was resumed); returns
        the first part not yet added."""
        while nxt in waiting or nxt in resumed:
            sp = waiting.pop(nxt) if nxt in waiting else files.load_sums(nxt)
            if sp is None:  # (removed or damaged since this run started)
                raise RuntimeError(f"{files.part_file(nxt, 'sums')}: the kept sums of part "
                                   f"{nxt} can no longer be read; run again")
            total.merge(sp)
            nxt += 1
        return nxt

    results: Iterator[tuple[int, _SciencePass]] = iter(())
    try:
        if state is not None:
            state.mkdir(parents=True, exist_ok=True)
        if files.engine == "local":
            def rows(k: int) -> None:
                progress(done + k)

            results = ((i, _pass_part(job, (i, start), progress and rows))
                       for i, start in pending)
        else:
            results = ((pending[j][0], sp) for j, sp in files._map(_pass_part, job, pending))
        nxt = 0
        for i, sp in results:
            files.save_sums(i, sp)
            waiting[i] = sp
            done += files.parts[i].n_rows
            if progress is not None and files.engine != "local":  # (local: per block)
                progress(done)
            nxt = add_ready(nxt)
        if add_ready(nxt) != len(files.parts):
            raise RuntimeError("a part's sums went missing during the run")
        if progress is not None and not pending:
            progress(done)
        with assignment_writer(files.assignments, meta) as out:
            for i in range(len(files.parts) if state is not None else 0):
                path = files.part_file(i)
                if path.exists():  # (an empty part writes none); as Arrow: 1.7x faster
                    out(pq.read_table(path))
    except CosmomlError:  # bad input: what was kept cannot be reused
        getattr(results, "close", lambda: None)()  # (Dask: the parts running end first)
        if state is not None:
            shutil.rmtree(state, ignore_errors=True)
        raise
    if state is not None:
        shutil.rmtree(state, ignore_errors=True)
    return total.finish()
