"""Library calls behind ``cosmoml nz`` and ``cosmoml shift ...`` (files in, files out).

``cosmoml nz TRAIN SCIENCE --output DIR`` writes to DIR:

``nz.parquet``
    one row per tomographic bin: ``bin``, ``z_lo``, ``z_hi``, ``mean_z``, ``mean_z_err``,
    ``covered_fraction``, ``n_objects`` and ``nz`` (the n(z) on the grid, whose
    ``[zmin, zmax, n]`` is in the file metadata ``grid``);
``assignments.parquet``
    one row per science object, same order: id (if present), ``bin`` (−1 outside all bins
    or without usable photometry), ``z_phot`` (PDF median) and ``covered``;
``diagnostics.json``
    the shift diagnostics and the correction's summary;
``summary.html``
    the diagnostics, the per-bin table and the n(z) plot;
``nz.sacc``, ``nz_2pt.fits``, ``nz_qp.hdf5``
    the n(z) per bin for likelihood codes: SACC (LSST DESC; one NZ tracer per bin and
    each bin's ``mean_z_err`` as a Δz prior), the 2pt FITS extension of DES/KiDS
    pipelines (CosmoSIS) and a qp ensemble (RAIL).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cosmoml import __version__
from cosmoml.catalog.columns import ColumnMap, resolve_columns
from cosmoml.catalog.io import atomic_path, read_columns, read_table, write_table
from cosmoml.engine.parts import expand_inputs
from cosmoml.errors import CatalogError, ConfigError
from cosmoml.model import grid_json, redshift_labels
from cosmoml.nz import DES_Y1_EDGES
from cosmoml.nz.pipeline import NZResult, estimate_nz, shift_features, survey_labels
from cosmoml.nz.science import SAMPLE_ROWS, ScienceFiles
from cosmoml.registry import DEFAULT_ESTIMATOR
from cosmoml.shift import ShiftDiagnostics, correct, diagnose


def load_pair(
    train: str | os.PathLike,
    science: str | os.PathLike,
    bands: Sequence[str] | None = None,
    mag_pattern: str | None = None,
    err_pattern: str | None = None,
    z_column: str | None = None,
    id_column: str | None = None,
    group: str | None = None,
    extra_train_columns: Sequence[str] = (),
    sample_rows: int | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, ColumnMap, ColumnMap]:
    """Read a training (spec-z) and a science catalogue with the same photometry columns
    (and ``extra_train_columns`` of the training catalogue, e.g. its confidence flags);
    of a science catalogue larger than ``sample_rows`` a seeded random sample of that
    many rows."""
    df_t, cols_t = load_train(train, bands, mag_pattern, err_pattern, z_column, id_column,
                              group, extra_train_columns)
    files = science_files(cols_t, science, group, sample_rows)
    return df_t, files.sample(seed)[0], cols_t, files.columns


def load_train(train: str | os.PathLike, bands=None, mag_pattern=None, err_pattern=None,
               z_column=None, id_column=None, group=None, extra_train_columns=()
               ) -> tuple[pd.DataFrame, ColumnMap]:
    """The training catalogue's columns (resolved as ``cosmoml train`` does) and its rows."""
    train_available = read_columns(train, group)
    missing = [c for c in extra_train_columns if c not in train_available]
    if missing:
        raise CatalogError(f"{train}: no column(s) {missing} in the training catalogue")
    cols_t = resolve_columns(train_available, str(train), bands, mag_pattern,
                             err_pattern, z_column, id_column, need_z=True)
    need_t = cols_t.photometry_columns() + [cols_t.z_column] + (
        [cols_t.id_column] if cols_t.id_column else []) + list(extra_train_columns)
    df_t = read_table(train, need_t, group)
    if len(df_t) == 0:
        raise CatalogError(f"{train}: catalogue has no rows")
    return df_t, cols_t


def science_files(cols_t: ColumnMap, science, group=None, sample_rows: int | None = None,
                  **kw) -> ScienceFiles:
    """The science catalogue (a file, a directory of files or a glob) with the training
    set's photometry columns, and their errors and id where its (first) file has them;
    ``sample_rows`` (None: :data:`cosmoml.nz.science.SAMPLE_ROWS`) and ``kw`` as
    :class:`cosmoml.nz.science.ScienceFiles` takes them."""
    files = expand_inputs(science)
    sci_available = read_columns(files[0], group)
    cols_s = ColumnMap(cols_t.bands, cols_t.mag_pattern,
                       cols_t.err_pattern if all(c in sci_available for c in cols_t.err_columns)
                       else None, None,
                       cols_t.id_column if cols_t.id_column in sci_available else None)
    cols_s.check(sci_available, str(files[0]))
    return ScienceFiles(files, cols_s, SAMPLE_ROWS if sample_rows is None else sample_rows,
                        group=group, **kw)


def nz(
    train: str | os.PathLike,
    science: str | os.PathLike,
    output_dir: str | os.PathLike,
    method: str = "auto",
    estimator: str = DEFAULT_ESTIMATOR,
    edges: Sequence[float] = DES_Y1_EDGES,
    seed: int = 0,
    n_boot: int = 100,
    params: dict | None = None,
    cull: bool | None = None,
    nz_from: str | None = None,
    line_confusion: bool | None = None,
    flag_column: str | None = None,
    line_window: tuple[float, float] | None = None,
    survey_column: str | None = None,
    sample_rows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    dask_processes: bool = False,
    sample: str = "source",
    **columns,
) -> NZResult:
    """Tomographic n(z) of SCIENCE calibrated on TRAIN; writes the files listed above.

    SCIENCE may be a file, a directory of files or a glob. Up to ``sample_rows`` (default
    :data:`cosmoml.nz.science.SAMPLE_ROWS`) science rows are held in memory; a larger
    catalogue is read and predicted part by part, its diagnostics and correction from a
    seeded random sample of ``sample_rows`` rows (:class:`cosmoml.nz.science.ScienceFiles`),
    with memory that does not grow with it; ``engine="dask"`` has the parts predicted by
    the workers of a Dask cluster (``scheduler``, ``workers``, ``dask_processes``: as
    :class:`cosmoml.nz.science.ScienceFiles` takes them), with the same result.
    ``progress(done, total)``: science rows predicted after each block (part).
    The n(z) is also written for likelihood codes (:mod:`cosmoml.nz.export`): ``nz.sacc``
    (SACC, with each bin's ``mean_z_err`` as its Δz prior), ``nz_2pt.fits`` (2pt FITS
    extension ``nz_{sample}``) and ``nz_qp.hdf5`` (qp); ``sample`` (``source`` or
    ``lens``) names the tracers and their quantity (galaxy_shear / galaxy_density).
    """
    if sample not in SAMPLES:
        raise ConfigError(f"sample must be one of {tuple(SAMPLES)}, got {sample!r}")
    out = Path(output_dir)
    df_t, cols_t = load_train(train, **columns,
                              extra_train_columns=[c for c in (flag_column, survey_column)
                                                   if c])
    files = science_files(cols_t, science, columns.get("group"), sample_rows,
                          assignments=out / "assignments.parquet", engine=engine,
                          scheduler=scheduler, workers=workers,
                          dask_processes=dask_processes)
    cols_s = files.columns
    meta = {"cosmoml_version": __version__, "estimator": estimator, "seed": str(seed),
            "train": str(train), "science": str(science), "science_rows": str(files.n_rows),
            "sample_rows": str(min(files.sample_rows, files.n_rows))}
    files.metadata = dict(meta)  # what the assignments file records when written part by part
    # held in memory (the per-object results too) unless larger than the sample
    sci = files.sample(seed)[0] if files.n_rows <= files.sample_rows else files
    res = estimate_nz(df_t, sci, cols_t, method=method, estimator=estimator, edges=edges,
                      seed=seed, n_boot=n_boot, science_columns=cols_s,
                      estimator_params=params, cull=cull, nz_from=nz_from,
                      label_model=None if line_confusion is None
                      else ("lines" if line_confusion else "none"), flag_column=flag_column,
                      line_window=line_window, survey_column=survey_column,
                      train_source=str(train), science_source=str(science),
                      progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    meta.update(method=res.method, grid=grid_json(res.grid))
    table = res.table.copy()
    table["nz"] = list(res.nz.astype(np.float32))
    write_table(table, out / "nz.parquet", metadata=meta)
    _export_nz(out, res, meta, sample)
    if res.assignments is not None:  # else written part by part by estimate_nz
        write_table(res.assignments, out / "assignments.parquet", metadata=meta)
    doc = {**meta, **({"resumed": res.resumed} if res.resumed else {}),
           "diagnostics": {**res.diagnostics.to_dict(), "warnings": res.warnings},
           "correction": _jsonable(res.correction.summary())}
    with atomic_path(out / "diagnostics.json") as tmp:
        tmp.write_text(json.dumps(doc, indent=1, default=float))
    _summary_html(out / "summary.html", res, meta)
    if sci is not files:  # held in memory, nothing to resume: a stopped run's folder goes
        shutil.rmtree(files.state_dir, ignore_errors=True)
    return res


#: ``cosmoml nz --sample``: the tracers' SACC quantity per kind of sample
SAMPLES = {"source": "galaxy_shear", "lens": "galaxy_density"}


def _export_nz(out: Path, res: NZResult, meta: dict, sample: str) -> None:
    """The n(z) for likelihood codes: SACC, 2pt FITS and qp (see :func:`nz`)."""
    from cosmoml.nz.export import write_qp_nz, write_sacc_nz, write_twopoint_nz

    t = res.table
    gold = "+cull" in res.method or res.method.split("+")[0] == "som"
    info = {"cosmoml_version": meta["cosmoml_version"], "method": res.method,
            "estimator": meta["estimator"], "seed": meta["seed"], "train": meta["train"],
            "science": meta["science"],
            "objects": "covered (gold) science objects only" if gold else "all science objects"}
    write_sacc_nz(out / "nz.sacc", res.grid, res.nz, t["mean_z_err"].to_numpy(),
                  prefix=f"{sample}_", quantity=SAMPLES[sample], metadata=info)
    write_twopoint_nz(out / "nz_2pt.fits", res.grid, res.nz, name=f"nz_{sample}",
                      mean_z=t["mean_z"].to_numpy(), mean_z_err=t["mean_z_err"].to_numpy())
    write_qp_nz(out / "nz_qp.hdf5", res.grid, res.nz,
                ancil={c: t[c].to_numpy() for c in ("bin", "z_lo", "z_hi", "n_objects",
                                                     "mean_z", "mean_z_err")})


def _jsonable(d: dict) -> dict:
    """The scalars of ``d``, its lists of scalars and its nested dicts (arrays such as SOM
    cells left out)."""
    scalar = int | float | str | bool
    return {k: _jsonable(v) if isinstance(v, dict) else v for k, v in d.items()
            if isinstance(v, scalar | dict)
            or (isinstance(v, list) and all(isinstance(x, scalar) for x in v))}


def _summary_html(path: Path, res: NZResult, meta: dict) -> None:
    from cosmoml.report.html import photoz_report
    from cosmoml.report.plots import plot_nz

    d = res.diagnostics
    notes = [f"method: {res.method} (estimator {meta['estimator']}, seed {meta['seed']})",
             *d.summary().splitlines()[:5], *(f"WARNING: {w}" for w in res.warnings)]
    photoz_report(path, "cosmoml n(z)", {"verdict": d.verdict, "auc": d.auc,
                                         "covered_fraction": d.covered_fraction,
                                         "effective_sample_size": res.correction.ess},
                  {"n(z) per bin": plot_nz(res.grid, res.nz, res.table)},
                  nz_table=res.table, notes=notes)


def shift_diagnose(
    train: str | os.PathLike,
    science: str | os.PathLike,
    json_file: str | os.PathLike | None = None,
    seed: int = 0,
    sample_rows: int | None = None,
    **columns,
) -> ShiftDiagnostics:
    """Diagnostics of TRAIN against SCIENCE, or a random sample of ``sample_rows`` of it
    (default :data:`cosmoml.nz.science.SAMPLE_ROWS`); optionally written as JSON."""
    df_t, df_s, cols_t, cols_s = load_pair(train, science, **columns, sample_rows=sample_rows,
                                           seed=seed)
    X_t, X_s, valid, names = shift_features(df_t, df_s, cols_t, cols_s,
                                            (str(train), str(science)))
    diag = diagnose(X_t, X_s[valid], names, random_state=seed)
    if json_file:
        with atomic_path(json_file) as tmp:
            tmp.write_text(json.dumps(diag.to_dict(), indent=1, default=float))
    return diag


def shift_weights(
    train: str | os.PathLike,
    science: str | os.PathLike,
    output: str | os.PathLike,
    method: str = "lima",
    seed: int = 0,
    weight_column: str = "weight",
    survey_column: str | None = None,
    sample_rows: int | None = None,
    **columns,
):
    """TRAIN with a ``weight_column`` from the correction ``method``, written to OUTPUT
    (``survey_column``: the training objects' survey, for ``success`` on a compilation;
    the science catalogue, or a random sample of ``sample_rows`` of it)."""
    df_t, df_s, cols_t, cols_s = load_pair(
        train, science, **columns, extra_train_columns=[survey_column] if survey_column else [],
        sample_rows=sample_rows, seed=seed)
    X_t, X_s, valid, _ = shift_features(df_t, df_s, cols_t, cols_s, (str(train), str(science)))
    # only the 'success' weights read the training redshifts
    z_train = (redshift_labels(df_t, cols_t.z_column, str(train)) if method == "success"
               else None)
    corr = correct(method, X_t, X_s[valid], random_state=seed, z_train=z_train,
                   groups=survey_labels(df_t, survey_column, str(train)))
    full = read_table(train, None, columns.get("group"))
    if weight_column in full.columns:
        raise CatalogError(f"{train}: already has a column {weight_column!r}; choose another "
                           "name with --weight-column")
    full[weight_column] = corr.weights
    write_table(full, output, metadata={"cosmoml_version": __version__, "method": method,
                                        "seed": str(seed), "science": str(science)})
    return corr

